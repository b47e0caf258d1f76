"""`octo-mlx eval`: generate plans for a test split, judge them, and report with intervals.

The pipeline: load the planner (base model + optional adapter, checked against each other), load
the test split checked against its domains, fit the offline step resolver on the train split
and validate it on the gold test steps, generate every plan in batches (greedy by default),
judge each plan (deterministic, LLM or both), then compute accuracies with Wilson 95% intervals.
The report records the config and the sha256 of every weights file that made it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.eval.judges import (
    ERROR_KINDS,
    LLMJudgeConfig,
    Verdict,
    error_kind,
    exact_match,
    judge_plan,
    rubric_prompt,
    values_kept,
)
from octo_mlx.files import check_output_file, check_output_folder, fingerprint, write_atomic
from octo_mlx.resolver import ResolverValidation, StepResolver, validate_resolver
from octo_mlx.stats import Rate, cohen_kappa

REPORT_SCHEMA_VERSION = "octo-mlx.eval/1"
JUDGES = ("deterministic", "llm", "both")


# --- configuration and results ------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides an evaluation's numbers (recorded in the report).

    Args:
        data: the test split (``DIR/test.jsonl``); ``DIR/train.jsonl`` trains the resolver.
        model: model folder (None: the default model).
        adapter: adapter folder (mlx-lm format) or None.
        force: use the adapter on a base whose weights differ from its own (with a warning).
        judge: "deterministic", "llm" or "both".
        batch_size, max_tokens, greedy, temperature, seed: generation settings (temperature only
            when not greedy).
        limit: evaluate only the first ``limit`` test examples (smoke runs).
        resolver_data: train split for the resolver (default: ``train.jsonl`` beside ``data``).
        domains: domain names or files (default: the dataset manifest's, else the examples').
        llm: the LLM judge's endpoint settings (required for judge "llm"/"both").
        step_budget: keep plans to the step budget while decoding (octo_mlx.planner.StepBudget);
            False measures the planner without it.
    """

    data: str
    model: str | None = None
    adapter: str | None = None
    force: bool = False
    judge: str = "deterministic"
    batch_size: int = 16
    max_tokens: int = 128
    greedy: bool = True
    temperature: float = 0.7
    seed: int = 0
    limit: int | None = None
    resolver_data: str | None = None
    domains: tuple[str, ...] | None = None
    llm: LLMJudgeConfig | None = None
    step_budget: bool = True

    def __post_init__(self):
        if self.judge not in JUDGES:
            raise OctoError(f"unknown judge {self.judge!r} (choose from {', '.join(JUDGES)})", "--judge")
        if self.judge != "deterministic" and self.llm is None:
            raise OctoError("the LLM judge needs --base-url and --judge-model", "--judge")
        if self.batch_size < 1 or self.max_tokens < 1:
            raise OctoError("--batch-size and --max-tokens must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise OctoError(f"must be >= 1 (or not given: every example), got {self.limit}", "--limit")
        if not self.temperature >= 0:  # NaN too
            raise OctoError(f"must be >= 0, got {self.temperature}", "--temperature")
        if not 0 <= self.seed < 2**64:
            raise OctoError(f"must be in [0, 2**64), got {self.seed}", "--seed")


@dataclass
class ExampleResult:
    """One test example: gold, prediction, timings and verdicts."""

    id: str
    query: str
    gold_steps: list[str]
    gold_functions: list[str]
    domains: list[str]
    text: str
    steps: list[str]
    prompt_tokens: int
    gen_tokens: int
    seconds: float
    finish_reason: str
    exact: bool
    deterministic: Verdict | None = None
    llm: Verdict | None = None
    values_kept: bool | None = None  # every value a gold step states is in the plan's step (gold calls known)


@dataclass
class Metrics:
    """Accuracies (deterministic judge unless named llm_), each with a Wilson 95% interval."""

    accuracy: Rate | None
    exact_match: Rate
    by_steps: dict[int, Rate] = field(default_factory=dict)
    by_domain: dict[str, Rate] = field(default_factory=dict)
    llm_accuracy: Rate | None = None
    llm_not_judged: int = 0
    kappa: float | None = None
    kappa_n: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    faithful: Rate | None = None
    values_changed: int = 0


def compute_metrics(results: Sequence[ExampleResult]) -> Metrics:
    """Accuracy, exact-match rate, per-step-count and per-domain accuracy, LLM accuracy and kappa,
    the deterministic errors by kind (judges.ERROR_KINDS) and, over examples with gold calls, the
    argument-faithful rate (correct and every value a gold step states kept) with the number of
    correct plans that changed a value.

    The per-step and per-domain breakdowns use the deterministic verdicts when present, else the
    LLM's (over judged examples only). An example counts once under each of its domains.
    """
    det = [r for r in results if r.deterministic is not None]
    llm_judged = [r for r in results if r.llm is not None and r.llm.judged]
    primary = (lambda r: r.deterministic) if det else (lambda r: r.llm)
    scored = det or llm_judged
    by_steps: dict[int, list[bool]] = defaultdict(list)
    by_domain: dict[str, list[bool]] = defaultdict(list)
    for r in scored:
        ok = bool(primary(r).correct)
        by_steps[len(r.gold_steps)].append(ok)
        for d in r.domains or ["(none)"]:
            by_domain[d].append(ok)
    both = [r for r in det if r.llm is not None and r.llm.judged]
    errors = dict.fromkeys(ERROR_KINDS, 0)
    for r in det:
        errors[error_kind(r.deterministic, len(r.gold_functions))] += 1
    known = [r for r in det if r.values_kept is not None]
    faithful = [bool(r.deterministic.correct and r.values_kept) for r in known]
    return Metrics(
        accuracy=Rate.of(sum(bool(r.deterministic.correct) for r in det), len(det)) if det else None,
        exact_match=Rate.of(sum(r.exact for r in results), len(results)),
        by_steps={k: Rate.of(sum(v), len(v)) for k, v in sorted(by_steps.items())},
        by_domain={k: Rate.of(sum(v), len(v)) for k, v in sorted(by_domain.items())},
        llm_accuracy=Rate.of(sum(bool(r.llm.correct) for r in llm_judged), len(llm_judged))
        if any(r.llm is not None for r in results)
        else None,
        llm_not_judged=sum(1 for r in results if r.llm is not None and not r.llm.judged),
        kappa=cohen_kappa([bool(r.deterministic.correct) for r in both], [bool(r.llm.correct) for r in both]),
        kappa_n=len(both),
        errors=errors if det else {},
        faithful=Rate.of(sum(faithful), len(faithful)) if faithful else None,
        values_changed=sum(1 for r in known if r.deterministic.correct and not r.values_kept),
    )


@dataclass
class EvalReport:
    """What `octo-mlx eval` writes: config, fingerprints, resolver check, metrics, examples."""

    config: dict[str, Any]
    fingerprints: dict[str, Any]
    resolver: ResolverValidation | None
    metrics: Metrics
    throughput: dict[str, float]
    examples: list[ExampleResult]
    judge_stats: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        """False when the deterministic judge ran with a resolver below the 98% bar."""
        return self.resolver is None or self.resolver.trusted

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out = {"schema": REPORT_SCHEMA_VERSION, "trusted": self.trusted, **out}
        out["metrics"]["by_steps"] = {str(k): v for k, v in out["metrics"]["by_steps"].items()}
        return out


def check_report_paths(out: str | Path | None, plots: str | Path | None, plot_files) -> None:
    """Refuse a report path (``--out``) or a plots folder (``--plots``, and each of
    ``plot_files`` in it) that cannot be written, before any work starts (both evaluations)."""
    if out is not None:
        check_output_file(out, "--out")
    if plots is not None:
        check_output_folder(plots, "--plots", overwrite=True)  # plots are added to the folder
        for name in plot_files:
            check_output_file(Path(plots) / name, "--plots")


def check_outputs(config: EvalConfig, out: str | Path | None = None, plots: str | Path | None = None) -> None:
    """Refuse, before any work starts, every path the evaluation will write that cannot be
    written: the report (``--out``), the plots folder and its files (``--plots``), the LLM
    judge's answer cache (``--judge-cache``). run_eval checks the cache itself.

    Raises:
        OctoError: a folder where a file goes, a file where a folder goes, no write permission.
    """
    from octo_mlx.eval.plots import PLOT_FILES

    check_report_paths(out, plots, PLOT_FILES)
    if config.llm is not None and config.llm.cache_dir is not None:
        check_output_folder(config.llm.cache_dir, "--judge-cache", overwrite=True)  # a shared cache


def write_report(report: EvalReport, path: str | Path) -> Path:
    """Write the report as indented JSON (NaN-free: undefined values are null)."""
    return write_atomic(path, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")


# --- the test split and the resolver ---------------------------------------------------------------


def load_test_split(
    data: str | Path, domain_names: Sequence[str] | None, limit: int | None = None, read_split=None
):
    """(examples, domains): the split checked line by line, then against its domains.

    Args:
        data: the .jsonl split.
        domain_names: domains to check against (default: the manifest's, else the examples').
        limit: keep only the first ``limit`` examples.
        read_split: the split reader (default: planner examples; action examples pass
            ``octo_mlx.action_data.read_split``).
    """
    from octo_mlx.data import dataset_domains
    from octo_mlx.data import read_split as read_plans

    read_split = read_split or read_plans
    data = Path(data)
    raw = read_split(data)  # structure first, so a malformed line is reported before any loading
    domains = dataset_domains(data.parent, domain_names, {d for e in raw for d in e.domains})
    examples = read_split(data, domains)[:limit]
    if not examples:
        raise OctoError("no examples to evaluate", data)
    return examples, domains


def fit_resolver(
    data: str | Path, domains: Sequence, examples: Sequence, resolver_data: str | None, seed: int = 0
):
    """Fit the step resolver on the train split beside ``data`` (else the valid split beside it:
    a frozen test folder carries its valid split, not its train split) and validate it on
    ``examples``.

    Returns (resolver, validation, warnings, the split it was fitted on or None); a validation
    below 98% adds the "cannot be trusted" warning.
    """
    from octo_mlx.data import read_split

    warnings: list[str] = []
    functions = [f for d in domains for f in d.functions]
    beside = [Path(data).parent / "train.jsonl", Path(data).parent / "valid.jsonl"]
    # never the split being judged itself: the resolver would learn the very gold steps it checks
    beside = [b for b in beside if b.resolve() != Path(data).resolve()]
    candidates = [Path(resolver_data)] if resolver_data else beside
    train_path = next((p for p in candidates if p.is_file()), None)
    pairs: list[tuple[str, str]] = []
    if train_path is not None:
        pairs = [(s, f) for e in read_split(train_path, domains) for s, f in zip(e.steps, e.functions)]
    else:
        warnings.append(
            f"no resolver training split beside {data}: resolver knows function descriptions only"
        )
    resolver = StepResolver.fit(pairs, functions, seed=seed)
    validation = validate_resolver(resolver, examples)
    if not validation.trusted:
        warnings.append(
            f"resolver maps only {validation.accuracy:.1%} of gold test steps to their gold "
            "function (< 98%): the deterministic accuracy cannot be trusted"
        )
    return resolver, validation, warnings, train_path


# --- the run ------------------------------------------------------------------------------------


def run_eval(config: EvalConfig, planner=None) -> EvalReport:
    """Evaluate a planner on a test split.

    Args:
        config: the evaluation settings.
        planner: an already loaded ``(model, tokenizer)`` to use instead of ``config.model``
            (its fingerprint is then taken from ``config.model`` if it is a folder).
    """
    from octo_mlx.adapters.folder import load_with_adapter

    check_outputs(config)
    examples, domains = load_test_split(config.data, config.domains, config.limit)
    warnings: list[str] = []
    validation = resolver = resolver_path = None
    if config.judge in ("deterministic", "both"):
        resolver, validation, warnings, resolver_path = fit_resolver(
            config.data, domains, examples, config.resolver_data, config.seed
        )
    if planner is None:
        model, tok, model_path = load_with_adapter(config.model, config.adapter, config.force)
    else:
        (model, tok), model_path = planner, config.model
    results, run = _plan_examples(model, tok, examples, config)
    if resolver is not None:
        for r in results:
            r.deterministic = judge_plan(r.steps, r.gold_functions, resolver)
    judge_stats = None
    if config.judge in ("llm", "both"):
        judge_stats = _judge_with_llm(
            results, [f for d in domains for f in d.functions], config.llm, warnings
        )
    cfg = asdict(config)
    if config.llm is not None:
        cfg["llm"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config.llm).items()}
    cfg.update(
        model_path=str(model_path),
        domains=[d.name for d in domains],
        n_examples=len(examples),
        resolver_fitted_on=str(resolver_path) if resolver_path else None,
    )
    return EvalReport(
        config=cfg,
        fingerprints={
            "model": fingerprint(model_path) if model_path else {},
            "adapter": fingerprint(config.adapter) if config.adapter else {},
        },
        resolver=validation,
        metrics=compute_metrics(results),
        throughput={
            "queries": run.prompts,
            "prompt_tokens": run.prompt_tokens,
            "gen_tokens": run.gen_tokens,
            "seconds": run.seconds,
            "prompt_tps": run.prompt_tps,
            "gen_tps": run.gen_tps,
            "plans_per_second": run.prompts / run.seconds if run.seconds > 0 else 0.0,
            "peak_memory_gb": run.peak_memory_gb,
            "batch_size": config.batch_size,
        },
        examples=results,
        judge_stats=judge_stats,
        warnings=warnings,
    )


def _plan_examples(model, tok, examples: Sequence, config: EvalConfig):
    """Plan every test query (batched); (ExampleResult per example, the generation run's stats)."""
    from octo_mlx.planner import clock_of, encode_queries, plan_prompts

    # every query checked against the model's context before the first is planned, and asked as
    # the planner was taught (24-hour times written in, when its folder records it)
    labels = [f"{config.data}: example {e.id}" for e in examples]
    clock = clock_of(config.adapter, config.model)
    prompts = encode_queries(model, tok, [e.query for e in examples], config.max_tokens, labels, clock)
    outputs, run = plan_prompts(
        model,
        tok,
        prompts,
        config.max_tokens,
        config.batch_size,
        config.greedy,
        config.temperature,
        config.seed,
        labels,
        config.step_budget,
    )
    results = [
        ExampleResult(
            e.id,
            e.query,
            list(e.steps),
            list(e.functions),
            list(e.domains),
            o.text,
            list(o.steps),
            o.prompt_tokens,
            o.gen_tokens,
            o.seconds,
            o.finish_reason,
            exact_match(o.steps, e.steps),
            values_kept=values_kept(o.steps, e.steps, e.calls),
        )
        for e, o in zip(examples, outputs)
    ]
    return results, run


def _judge_with_llm(
    results: list[ExampleResult], functions: list, llm: LLMJudgeConfig, warnings: list
) -> dict:
    """Ask the LLM judge about every plan (verdicts set in place); returns the judge's counters."""
    from octo_mlx.eval.judges import LLMJudge

    judge = LLMJudge(llm)
    prompts = [
        rubric_prompt(r.query, r.steps, functions, r.gold_steps if llm.with_reference else None)
        for r in results
    ]
    for r, v in zip(results, judge.judge_many(prompts)):
        r.llm = v
    not_judged = sum(not r.llm.judged for r in results)
    if not_judged:
        warnings.append(
            f"{not_judged} of {len(results)} plans were not judged by the LLM judge (see reasons)"
        )
    return asdict(judge.stats)
