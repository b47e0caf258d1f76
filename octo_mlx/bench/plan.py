"""`octo-mlx bench plan`: the paper's latency claim, measured.

In one run and on the same test queries, the fine-tuned planner (bare query, functions
internalised) against the same base model prompted the way a general agent framework does it
(a system prompt with every function as OpenAI tools JSON, plus a few worked examples, asking for
the same ``<nexa_split>``-joined output so the same parser and judge apply). Per side: prompt
tokens, time to first token, time to the full plan, memory over the loaded weights (KV cache +
activations) and deterministic-judge accuracy. Queries run one at a time (the on-device case),
the two sides interleaved query by query so that machine-load drift hits both alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.data import PlanExample, format_plan
from octo_mlx.errors import OctoError
from octo_mlx.eval.judges import judge_plan
from octo_mlx.eval.run import fit_resolver, load_test_split
from octo_mlx.files import fingerprint
from octo_mlx.stats import Rate

INSTRUCTION = """You are the planner of an on-device assistant. You can use these functions:
{tools}

Break the user's request into the steps needed to fulfil it, in order, 1 to 5 steps. Each step is \
one short instruction that calls exactly one of the functions above. Write only the steps, \
separated by <nexa_split>, and nothing else. If no function can help, write a single step saying \
that no function applies."""


@dataclass(frozen=True)
class BenchPlanConfig:
    """What `octo-mlx bench plan` compares.

    Args:
        data: the test split (DIR/test.jsonl); DIR/train.jsonl gives the few-shot examples and
            trains the judge's resolver.
        model: the base model (the in-context side); default: the adapter's original base, else
            the default model.
        adapter: the fine-tuned planner as an adapter on ``model`` (its own base when it added tokens).
        planner_model: the fine-tuned planner as a full model folder (instead of ``adapter``).
        n: test queries timed (the first n).
        shots: worked examples in the in-context prompt.
        tools: "json" (OpenAI tools JSON, what agent frameworks send) or "text" (name: description).
        max_tokens: most generated tokens per plan, both sides.
        warmup: untimed queries per side first (the first call pays for allocation).
        domains: domain names (default: the dataset manifest's).
        seed: resolver seed.
    """

    data: str
    model: str | None = None
    adapter: str | None = None
    planner_model: str | None = None
    n: int = 20
    shots: int = 3
    tools: str = "json"
    max_tokens: int = 128
    warmup: int = 1
    domains: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self):
        if (self.adapter is None) == (self.planner_model is None):
            raise OctoError("give the fine-tuned planner as --adapter or as --planner-model (one of them)")
        if self.tools not in ("json", "text"):
            raise OctoError(f"--tools must be json or text, got {self.tools!r}")
        if self.n < 1 or self.shots < 0 or self.max_tokens < 1:
            raise OctoError("--n and --max-tokens must be >= 1, --shots >= 0")


@dataclass
class Side:
    """One side's measurements, one entry per timed query."""

    name: str
    prompt_tokens: list[int] = field(default_factory=list)
    gen_tokens: list[int] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    plan_seconds: list[float] = field(default_factory=list)
    extra_memory_gb: list[float] = field(default_factory=list)  # peak minus weights, per query
    correct: list[bool] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add(self, plan, extra_memory_gb: float, correct: bool) -> None:
        """Record one timed query: its plan (octo_mlx.planner.PlanOutput), memory and verdict."""
        self.prompt_tokens.append(plan.prompt_tokens)
        self.gen_tokens.append(plan.gen_tokens)
        self.ttft.append(plan.first_token_seconds)
        self.plan_seconds.append(plan.seconds)
        self.extra_memory_gb.append(extra_memory_gb)
        self.correct.append(correct)
        self.texts.append(plan.text)

    def summary(self) -> dict[str, Any]:
        n = len(self.plan_seconds)
        return {
            "queries": n,
            "prompt_tokens_mean": statistics.fmean(self.prompt_tokens),
            "gen_tokens_mean": statistics.fmean(self.gen_tokens),
            "ttft_median_s": statistics.median(self.ttft),
            "plan_median_s": statistics.median(self.plan_seconds),
            "plan_p90_s": sorted(self.plan_seconds)[min(n - 1, int(0.9 * n))],
            "extra_memory_gb_max": max(self.extra_memory_gb),
            "accuracy": asdict(Rate.of(sum(self.correct), len(self.correct))),
        }


@dataclass
class BenchPlanResult:
    """Both sides, their ratios and everything that made them."""

    config: dict[str, Any]
    fingerprints: dict[str, Any]
    machine: str
    resolver_accuracy: float
    fine_tuned: Side
    in_context: Side
    warnings: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, float]:
        ft, ic = self.fine_tuned.summary(), self.in_context.summary()
        return {
            "plan_speedup": ic["plan_median_s"] / max(ft["plan_median_s"], 1e-9),
            "ttft_speedup": ic["ttft_median_s"] / max(ft["ttft_median_s"], 1e-9),
            "prompt_token_share": ft["prompt_tokens_mean"] / max(ic["prompt_tokens_mean"], 1e-9),
        }

    def goals(self) -> dict[str, bool]:
        """The issue's bar: >= 5x faster to the plan, <= 10% of the prompt tokens, higher accuracy.

        ``more_accurate`` compares point estimates; ``accuracy_separated`` asks more: the
        fine-tuned Wilson lower bound above the in-context upper bound.
        """
        r = self.ratios()
        acc_ft = self.fine_tuned.summary()["accuracy"]
        acc_ic = self.in_context.summary()["accuracy"]
        return {
            "5x_faster": r["plan_speedup"] >= 5,
            "10pct_prompt": r["prompt_token_share"] <= 0.10,
            "more_accurate": acc_ft["p"] > acc_ic["p"],
            "accuracy_separated": acc_ft["low"] > acc_ic["high"],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchPlanResult:
        """Rebuild a result from :meth:`to_json` output (e.g. to re-render the markdown)."""
        keep = {"config", "fingerprints", "machine", "resolver_accuracy", "warnings"}
        return cls(
            **{k: data[k] for k in keep},
            fine_tuned=Side(**data["fine_tuned"]),
            in_context=Side(**data["in_context"]),
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = {"fine_tuned": self.fine_tuned.summary(), "in_context": self.in_context.summary()}
        out["ratios"], out["goals"] = self.ratios(), self.goals()
        return out


def tools_text(functions: Sequence, fmt: str) -> str:
    """The function list as an agent framework sends it: OpenAI tools JSON or one line each."""
    if fmt == "json":
        return json.dumps([f.to_tool() for f in functions], ensure_ascii=False)
    return "\n".join(f"- {f.name}: {f.description}" for f in functions)


def pick_shots(train: Sequence[PlanExample], k: int) -> list[PlanExample]:
    """k worked examples with as many different step counts as possible (1, 2, 3... steps first)."""
    by_count: dict[int, list[PlanExample]] = {}
    for e in train:
        by_count.setdefault(e.n_steps, []).append(e)
    out: list[PlanExample] = []
    rank = 0
    while len(out) < k and any(len(v) > rank for v in by_count.values()):
        for count in sorted(by_count):
            if len(out) < k and len(by_count[count]) > rank:
                out.append(by_count[count][rank])
        rank += 1
    return out


def in_context_messages(query: str, functions: Sequence, shots: Sequence[PlanExample], fmt: str = "json"):
    """System prompt with every function, the worked examples as chat turns, then the query."""
    msgs = [{"role": "system", "content": INSTRUCTION.format(tools=tools_text(functions, fmt))}]
    for e in shots:
        msgs += [{"role": "user", "content": e.query}, {"role": "assistant", "content": format_plan(e.steps)}]
    msgs.append({"role": "user", "content": query})
    return msgs


def _time_one(model, tok, prompt: list[int], max_tokens: int):
    import mlx.core as mx

    from octo_mlx.planner import plan_prompts

    mx.synchronize()
    before = mx.get_active_memory() / 1e9
    outs, run = plan_prompts(model, tok, [prompt], max_tokens=max_tokens, batch_size=1)
    return outs[0], max(0.0, run.peak_memory_gb - before)


def _load_sides(config: BenchPlanConfig):
    """((model, tokenizer, folder) of the fine-tuned planner, the same of the base model).

    An adapter loads on its own base (`octo-mlx train` writes OUT/base when it added tokens);
    the in-context side is the original base model the adapter was trained from.
    """
    from octo_mlx.adapters.folder import adapter_base, load_with_adapter, read_adapter_config

    base = config.model
    if config.adapter is None:
        return load_with_adapter(config.planner_model, None), load_with_adapter(base, None)
    acfg = read_adapter_config(config.adapter)
    own_base = adapter_base(None, acfg, config.adapter) if acfg.get("base_model") else base
    if base is None and acfg.get("model") and Path(acfg["model"]).is_dir():
        base = acfg["model"]
    return load_with_adapter(own_base, config.adapter), load_with_adapter(base, None)


def run_bench_plan(config: BenchPlanConfig) -> BenchPlanResult:
    """Time both sides on the same queries and judge their plans (see the module docstring)."""
    from octo_mlx.data import read_split
    from octo_mlx.generation import encode_prompt
    from octo_mlx.planner import clock_of, plan_prompt

    load_before = os.getloadavg()[0]  # other work on the machine slows both sides: record it
    examples, domains = load_test_split(config.data, config.domains, config.n)
    functions = [f for d in domains for f in d.functions]
    resolver, validation, warnings, _ = fit_resolver(config.data, domains, examples, None, config.seed)
    train_path = Path(config.data).parent / "train.jsonl"
    shots = pick_shots(read_split(train_path, domains), config.shots) if train_path.is_file() else []
    if len(shots) < config.shots:
        warnings.append(f"only {len(shots)} worked examples available (no {train_path})")
    (ft_model, ft_tok, ft_path), (ic_model, ic_tok, ic_path) = _load_sides(config)
    clock = clock_of(config.adapter, config.planner_model)
    ft_prompts = [plan_prompt(ft_tok, e.query, clock) for e in examples]
    ic_prompts = [
        encode_prompt(ic_tok, in_context_messages(e.query, functions, shots, config.tools)) for e in examples
    ]
    for i in range(min(config.warmup, len(examples))):
        _time_one(ft_model, ft_tok, ft_prompts[i], config.max_tokens)
        _time_one(ic_model, ic_tok, ic_prompts[i], config.max_tokens)
    ft, ic = (
        Side("fine-tuned, bare query"),
        Side(f"base in context ({config.tools} tools + {len(shots)} shots)"),
    )
    for e, p_ft, p_ic in zip(examples, ft_prompts, ic_prompts):
        for side, model, tok, prompt in ((ft, ft_model, ft_tok, p_ft), (ic, ic_model, ic_tok, p_ic)):
            out, extra = _time_one(model, tok, prompt, config.max_tokens)
            side.add(out, extra, bool(judge_plan(out.steps, e.functions, resolver).correct))
    cfg = asdict(config)
    cfg.update(
        fine_tuned_path=str(ft_path),
        base_path=str(ic_path),
        domains=[d.name for d in domains],
        shots_ids=[e.id for e in shots],
    )
    return BenchPlanResult(
        config=cfg,
        fingerprints={
            "fine_tuned": fingerprint(ft_path),
            "base": fingerprint(ic_path),
            "adapter": fingerprint(config.adapter) if config.adapter else {},
        },
        machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {_device()}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        resolver_accuracy=validation.accuracy,
        fine_tuned=ft,
        in_context=ic,
        warnings=warnings,
    )


def _device() -> str:
    import mlx.core as mx

    from octo_mlx.runtime.blas import blas_in_use

    return f"MLX {mx.__version__} on {mx.default_device()}, {blas_in_use()}"
