"""`octo-mlx eval` on an action dataset: decode every test step's call at batch 1, score it
against the gold call, and report with intervals.

The pipeline: load the test split (checked line by line, then against its domains), load the
action model (an action adapter on its base, or a fully fine-tuned action model), refuse a split
with a domain the model does not serve, warm up, then decode each step alone (batch 1, the
latency that counts), timed; with ``unconstrained`` each step is decoded a second time without
the call grammar, interleaved step by step with the constrained decode. Every decode is scored
against the gold call:

- **function**: the function the output named (the parsed call's, else the one its problem
  names: an output with a bad argument still named a function) is the gold function (``none``
  for a step no function serves).
- **full call**: the output is a valid call, its function is the gold one and every argument
  equals the gold argument under :func:`values_equal` (per schema type: numbers as numbers,
  times, dates and phone numbers normalised, other strings case- and space-normalised; an
  argument left out on one side equals the schema's default).
- **valid**: the first decode parsed and passed the schema; any problem is invalid (there is no
  retry, repair or fallback).
- **"no function"**: precision = right ``none`` calls / ``none`` calls made; recall = right
  ``none`` calls / gold ``none`` steps.
- **latency**: per decode, time to first token (the generation's) and the whole call (wall
  clock around :meth:`ActionModel.act`: prompt, decode, parse), median and p90.

All of it overall, per gold function, per domain and per kind of step (independent / dependent),
every rate with a Wilson 95% interval. The report records the config and the sha256 of every
weights file that made it.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from octo_mlx.action.constrain import DEFAULT_MAX_TOKENS
from octo_mlx.errors import OctoError
from octo_mlx.files import fingerprint, read_json_object, write_atomic
from octo_mlx.functions.calls import NO_CALL
from octo_mlx.stats import Rate

REPORT_SCHEMA_VERSION = "octo-mlx.eval.action/1"
ACTIVE = ("model", "example")  # which domains' functions may be called for a step
KINDS = ("independent", "dependent")

# --- comparing arguments ------------------------------------------------------------------------

_MISSING = object()
_SAMPLES = {  # a pattern that accepts one of these (and rejects plain words) holds that kind
    "time": ("07:05", "23:59"),
    "phone": ("+14155550123", "+442071838750"),
    "date": ("2025-06-15", "2025-06-15-08-45", "2025-06-15T08:45"),
}
_FORMATS = {"time": "time", "date": "date", "date-time": "date", "phone": "phone", "tel": "phone"}
_TIME = re.compile(r"(\d{1,2})\s*[:h.]\s*(\d{2})(?::(\d{2}))?(?:\s*([ap])\.?\s*m\.?)?", re.IGNORECASE)
_HOUR = re.compile(r"(\d{1,2})\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_DATE_LIKE = re.compile(r"\d{1,4}(?:\s*[-/.:T ]\s*\d{1,4}){2,6}")
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{3,40}")


def string_kind(name: str, schema: Mapping[str, Any] | None) -> str:
    """How a string argument is compared: "time", "date", "phone" or "text".

    From the schema's ``format``; else from its ``pattern`` (one that accepts a sample of a kind,
    "07:05", "+14155550123" or "2025-06-15", and rejects a plain word); else from the argument's
    name (a part ``time``, ``date``, ``phone``). The bundled domains' HH:MM times, E.164 numbers,
    dates and YYYY-MM-DD-HH-MM stamps are told apart by their patterns.
    """
    schema = schema if isinstance(schema, Mapping) else {}
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None and not compiled.search("hello world"):
            for kind, samples in _SAMPLES.items():
                if any(compiled.search(s) for s in samples):
                    return kind
        return "text"
    parts = set(re.split(r"[_\W]+", name.lower()))
    if "phone" in parts or "tel" in parts:
        return "phone"
    if "date" in parts or "day" in parts:
        return "date"
    if "time" in parts:
        return "time"
    return "text"


def normalise_text(value: str) -> str:
    """Unicode NFKC, case folded, runs of whitespace as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def normalise_time(value: str) -> tuple[int, ...] | None:
    """(hour, minute[, second]) of "07:05", "7:05", "7.05", "07:05:00", "7:05 pm", "7 pm"; None
    when ``value`` is not a clock time."""
    text = value.strip()
    match = _TIME.fullmatch(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        second = int(match.group(3)) if match.group(3) else 0
        half = match.group(4)
    else:
        match = _HOUR.fullmatch(text)
        if not match:
            return None
        hour, minute, second, half = int(match.group(1)), 0, 0, match.group(2)
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return (hour, minute, second) if second else (hour, minute)


def normalise_date(value: str) -> tuple[int, ...] | None:
    """The numbers of a date or time stamp ("2025-06-15-08-45", "2025-6-15 08:45" -> (2025, 6,
    15, 8, 45)); None when ``value`` is not digits between separators."""
    text = value.strip()
    if not _DATE_LIKE.fullmatch(text):
        return None
    return tuple(int(n) for n in re.findall(r"\d+", text))


def normalise_phone(value: str) -> str | None:
    """The digits of a phone number ("+1 (555) 010-2000" -> "15550102000"; the leading + and the
    spaces, dots, dashes and brackets are dropped); None when it holds other characters."""
    text = value.strip()
    if not _PHONE_LIKE.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    return digits or None


def normalise_string(value: str, kind: str) -> Any:
    """``value`` as it is compared for its kind (:func:`string_kind`): a time, a date or a phone
    number that does not parse as one is compared as text."""
    if kind == "time":
        norm = normalise_time(value) or normalise_date(value)
    elif kind == "date":
        norm = normalise_date(value) or normalise_time(value)
    elif kind == "phone":
        norm = normalise_phone(value)
    else:
        norm = None
    return ("text", normalise_text(value)) if norm is None else (kind, norm)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(gold: Any, predicted: Any, schema: Mapping[str, Any] | None = None, name: str = "") -> bool:
    """Whether two argument values are the same value, compared per type.

    Numbers as numbers (``1 == 1.0``; a boolean is never a number); strings by their kind
    (:func:`string_kind`: times, dates and phone numbers normalised, other text case- and
    space-normalised); lists item by item; objects argument by argument
    (:func:`argument_mismatches`); anything else with ``==``. Under ``anyOf``/``oneOf`` any
    alternative that finds them equal will do.

    Args:
        gold, predicted: the two values.
        schema: the argument's JSON schema (decides string kinds, nested properties, defaults).
        name: the argument's name (a hint for a string's kind when the schema gives none).
    """
    schema = schema if isinstance(schema, Mapping) else {}
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            rest = {k: v for k, v in schema.items() if k != key}
            return any(
                values_equal(gold, predicted, {**rest, **o} if isinstance(o, Mapping) else rest, name)
                for o in options
            )
    if isinstance(gold, bool) or isinstance(predicted, bool):
        return isinstance(gold, bool) and isinstance(predicted, bool) and gold == predicted
    if _is_number(gold) and _is_number(predicted):
        return math.isclose(gold, predicted, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(gold, str) and isinstance(predicted, str):
        kind = string_kind(name, schema)
        return normalise_string(gold, kind) == normalise_string(predicted, kind)
    if isinstance(gold, list) and isinstance(predicted, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        return len(gold) == len(predicted) and all(
            values_equal(g, p, items, name) for g, p in zip(gold, predicted)
        )
    if isinstance(gold, Mapping) and isinstance(predicted, Mapping):
        return not argument_mismatches(gold, predicted, schema)
    return type(gold) is type(predicted) and gold == predicted


def argument_mismatches(
    gold: Mapping[str, Any], predicted: Mapping[str, Any], schema: Mapping[str, Any]
) -> list[str]:
    """The names of the arguments whose values differ (empty: the same arguments).

    An argument given on one side only equals the schema's ``default`` for it, when it has one;
    without a default, an argument missing on one side is a mismatch.

    Args:
        gold, predicted: the two argument objects.
        schema: the parameters' JSON schema (an object schema with ``properties``).
    """
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    properties = properties if isinstance(properties, Mapping) else {}
    names = list(dict.fromkeys([*gold, *predicted]))
    out = []
    for name in names:
        sub = properties.get(name) if isinstance(properties.get(name), Mapping) else {}
        default = sub.get("default", _MISSING)
        g = gold.get(name, default)
        p = predicted.get(name, default)
        if g is _MISSING or p is _MISSING or not values_equal(g, p, sub, name):
            out.append(name)
    return out


# --- one decode, scored ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """One decode of one step, scored against its gold call.

    text: the model's output; call: the parsed, schema-checked call ``{"function",
    "arguments"}`` or None; problem: why not (``{"kind", "message", "function"}``) or None;
    function: the function the output named (the call's, else the problem's, else None);
    valid: a call came out of the first decode; function_correct, call_correct: the verdicts;
    mismatched: the arguments that differ from gold (when the function is right); timings in
    seconds (first token and generation: the generator's; call: wall clock of the whole act);
    steps: decoding steps (forward passes; fewer than gen_tokens under jump-forward and lookup);
    constraint_seconds: time in the grammar; closed: the token budget wrote the call's ending
    (valid, its last value cut short: octo_mlx.action.closing).
    """

    text: str
    call: dict[str, Any] | None
    problem: dict[str, Any] | None
    function: str | None
    valid: bool
    function_correct: bool
    call_correct: bool
    mismatched: list[str]
    prompt_tokens: int
    gen_tokens: int
    steps: int
    first_token_seconds: float
    generation_seconds: float
    call_seconds: float
    constraint_seconds: float = 0.0
    closed: bool = False

    @property
    def predicted_none(self) -> bool:
        """The output is a valid "no function" call."""
        return self.call is not None and self.call["function"] == NO_CALL


def score_decoded(gold, decoded, functions: Mapping[str, Any], call_seconds: float | None = None) -> Outcome:
    """Score one decode against its gold call.

    Args:
        gold: the gold :class:`octo_mlx.functions.calls.Call`.
        decoded: a :class:`octo_mlx.action.constrain.DecodedCall` (or anything with its
            ``text``, ``call``, ``problem``, ``generation``, ``steps``, ``constraint_seconds``).
        functions: function name -> Function (the gold function's schema decides comparisons).
        call_seconds: wall clock of the whole call (default: the generation's seconds).
    """
    g = decoded.generation
    call, problem = decoded.call, decoded.problem
    named = call.function if call is not None else getattr(problem, "function", None)
    valid = call is not None
    function_correct = named == gold.function
    mismatched: list[str] = []
    if valid and function_correct and not gold.is_none:
        schema = functions[gold.function].parameters if gold.function in functions else {}
        mismatched = argument_mismatches(gold.arguments, call.arguments, schema)
    return Outcome(
        text=decoded.text,
        call=call.to_dict() if call is not None else None,
        problem=None
        if problem is None
        else {"kind": problem.kind, "message": problem.message, "function": problem.function},
        function=named,
        valid=valid,
        function_correct=function_correct,
        call_correct=valid and function_correct and not mismatched,
        mismatched=mismatched,
        prompt_tokens=g.prompt_tokens,
        gen_tokens=g.gen_tokens,
        steps=decoded.steps,
        first_token_seconds=g.first_token_seconds,
        generation_seconds=g.seconds,
        call_seconds=g.seconds if call_seconds is None else call_seconds,
        constraint_seconds=decoded.constraint_seconds,
        closed=bool(getattr(decoded, "closed", False)),
    )


@dataclass
class StepRecord:
    """One test step as a report keeps it: what it was and its gold call; a subclass adds each
    side's :class:`Outcome` (read by :func:`side_metrics` by the side's name)."""

    id: str
    step: str
    domains: list[str]
    template: str
    dependent: bool
    has_observation: bool
    gold: dict[str, Any]

    @property
    def kind(self) -> str:
        return "dependent" if self.dependent else "independent"

    @classmethod
    def of(cls, example, **outcomes):
        """The record of ``example`` (an action test example) with ``outcomes`` (side -> Outcome,
        and any other field of the subclass)."""
        return cls(
            id=example.id,
            step=example.step,
            domains=list(example.domains),
            template=example.template,
            dependent=example.dependent,
            has_observation=example.observation is not None,
            gold=example.call.to_dict(),
            **outcomes,
        )


@dataclass
class ActionExampleResult(StepRecord):
    """One test step: what it was, its gold call, and each decode's outcome."""

    constrained: Outcome
    unconstrained: Outcome | None = None


# --- metrics --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile: the smallest value with at least ``q`` of the values at or
    below it (q = 0.5 of 10 values: the 5th smallest; q = 0.9: the 9th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Latency:
    """Per-call timings at batch 1 over ``n`` decodes: medians and p90 (nearest rank), means of
    tokens and steps, and the grammar's share of generation time."""

    n: int
    first_token_median_s: float
    first_token_p90_s: float
    call_median_s: float
    call_p90_s: float
    prompt_tokens_mean: float
    gen_tokens_mean: float
    steps_mean: float
    constraint_share: float

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Latency | None:
        if not outcomes:
            return None
        first = [o.first_token_seconds for o in outcomes]
        call = [o.call_seconds for o in outcomes]
        generation = sum(o.generation_seconds for o in outcomes)
        return cls(
            n=len(outcomes),
            first_token_median_s=statistics.median(first),
            first_token_p90_s=percentile(first, 0.9),
            call_median_s=statistics.median(call),
            call_p90_s=percentile(call, 0.9),
            prompt_tokens_mean=statistics.fmean(o.prompt_tokens for o in outcomes),
            gen_tokens_mean=statistics.fmean(o.gen_tokens for o in outcomes),
            steps_mean=statistics.fmean(o.steps for o in outcomes),
            constraint_share=sum(o.constraint_seconds for o in outcomes) / generation
            if generation > 0
            else 0.0,
        )


@dataclass
class Scores:
    """Every measure over one group of decodes (each rate with its Wilson 95% interval).

    function_accuracy, call_accuracy, validity: over all ``n`` decodes; none_precision: right
    "no function" calls over the "no function" calls made; none_recall: right "no function"
    calls over the gold "no function" steps; problems: kind -> count; closed: valid calls whose
    ending the token budget wrote.
    """

    n: int
    function_accuracy: Rate
    call_accuracy: Rate
    validity: Rate
    none_precision: Rate
    none_recall: Rate
    latency: Latency | None
    problems: dict[str, int] = field(default_factory=dict)
    closed: int = 0


def score_group(pairs: Sequence[tuple[ActionExampleResult, Outcome]]) -> Scores:
    """The :class:`Scores` of (example, its outcome on one side) pairs."""
    outcomes = [o for _, o in pairs]
    n = len(outcomes)
    gold_none = [o for r, o in pairs if r.gold["function"] == NO_CALL]
    said_none = [o for o in outcomes if o.predicted_none]
    right_none = sum(o.predicted_none for o in gold_none)
    problems = Counter(o.problem["kind"] for o in outcomes if o.problem is not None)
    return Scores(
        n=n,
        function_accuracy=Rate.of(sum(o.function_correct for o in outcomes), n),
        call_accuracy=Rate.of(sum(o.call_correct for o in outcomes), n),
        validity=Rate.of(sum(o.valid for o in outcomes), n),
        none_precision=Rate.of(right_none, len(said_none)),
        none_recall=Rate.of(right_none, len(gold_none)),
        latency=Latency.of(outcomes),
        problems=dict(sorted(problems.items())),
        closed=sum(o.closed for o in outcomes),
    )


@dataclass
class SideMetrics:
    """One way of decoding (constrained or not): overall, per gold function, per domain (an
    example counts under each of its domains) and per kind of step (independent / dependent)."""

    overall: Scores
    by_function: dict[str, Scores]
    by_domain: dict[str, Scores]
    by_kind: dict[str, Scores]


def side_metrics(results: Sequence[StepRecord], side: str = "constrained") -> SideMetrics:
    """The metrics of one side (``"constrained"`` or ``"unconstrained"``, or another
    :class:`StepRecord`'s outcome field) of ``results``."""
    pairs = [(r, getattr(r, side)) for r in results if getattr(r, side) is not None]
    by_function: dict[str, list] = defaultdict(list)
    by_domain: dict[str, list] = defaultdict(list)
    by_kind: dict[str, list] = defaultdict(list)
    for r, o in pairs:
        by_function[r.gold["function"]].append((r, o))
        for d in r.domains or ["(none)"]:
            by_domain[d].append((r, o))
        by_kind[r.kind].append((r, o))
    return SideMetrics(
        overall=score_group(pairs),
        by_function={k: score_group(v) for k, v in sorted(by_function.items())},
        by_domain={k: score_group(v) for k, v in sorted(by_domain.items())},
        by_kind={k: score_group(by_kind[k]) for k in KINDS if k in by_kind},
    )


@dataclass
class ActionMetrics:
    """The constrained decode's metrics, and the unconstrained one's when it ran."""

    constrained: SideMetrics
    unconstrained: SideMetrics | None = None


def compute_action_metrics(results: Sequence[ActionExampleResult]) -> ActionMetrics:
    """Both sides' metrics (the unconstrained one when every example has its outcome)."""
    free = bool(results) and all(r.unconstrained is not None for r in results)
    return ActionMetrics(
        constrained=side_metrics(results, "constrained"),
        unconstrained=side_metrics(results, "unconstrained") if free else None,
    )


# --- configuration and report ---------------------------------------------------------------------


@dataclass(frozen=True)
class ActionEvalConfig:
    """Everything that decides an action evaluation's numbers (recorded in the report).

    Args:
        data: the action test split (``DIR/test.jsonl``).
        adapter: the action adapter (`octo-mlx train` on an action dataset); None: ``model`` is a
            fully fine-tuned action model.
        model: the base for ``adapter`` (default: the one it names), or the full action model.
        force: use the adapter on a base other than its own (with a warning).
        max_tokens: most tokens per call.
        limit: evaluate only the first ``limit`` test examples.
        domains: domain names or files to check the split against (default: the manifest's).
        active: "model" (every domain the action model serves may be called: the agent's case)
            or "example" (each step's own domains only).
        unconstrained: also decode every step without the call grammar (interleaved), to report
            the unconstrained rates beside the constrained ones.
        jump_forward: append the tokens the grammar forces without a decoding step each.
        warmup: decodes per side (and per active domain set) before timing, not scored.
    """

    data: str
    adapter: str | None = None
    model: str | None = None
    force: bool = False
    max_tokens: int = DEFAULT_MAX_TOKENS
    limit: int | None = None
    domains: tuple[str, ...] | None = None
    active: str = "model"
    unconstrained: bool = False
    jump_forward: bool = True
    warmup: int = 1

    def __post_init__(self):
        if self.adapter is None and self.model is None:
            raise OctoError(
                "the action task needs --adapter ACTION_ADAPTER (or --model a fully fine-tuned action model)",
                "--adapter",
            )
        if self.active not in ACTIVE:
            raise OctoError(f"unknown value {self.active!r} (choose from {', '.join(ACTIVE)})", "--active")
        if self.max_tokens < 1:
            raise OctoError(f"must be >= 1, got {self.max_tokens}", "--max-tokens")
        if self.limit is not None and self.limit < 1:
            raise OctoError(f"must be >= 1 (or not given: every example), got {self.limit}", "--limit")
        if self.warmup < 0:
            raise OctoError(f"must be >= 0, got {self.warmup}", "warmup")


@dataclass
class ActionEvalReport:
    """What `octo-mlx eval` writes for an action model: config, fingerprints, metrics, examples."""

    config: dict[str, Any]
    fingerprints: dict[str, Any]
    metrics: ActionMetrics
    examples: list[ActionExampleResult]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA_VERSION, "task": "action", **asdict(self)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ActionEvalReport:
        """The report :meth:`to_json` wrote.

        Raises:
            OctoError: another schema (a planner report, a newer version).
        """
        if not isinstance(value, Mapping) or value.get("schema") != REPORT_SCHEMA_VERSION:
            got = value.get("schema") if isinstance(value, Mapping) else type(value).__name__
            raise OctoError(f"not an action evaluation report ({REPORT_SCHEMA_VERSION}), got {got!r}")
        m = value["metrics"]
        return cls(
            config=dict(value["config"]),
            fingerprints=dict(value["fingerprints"]),
            metrics=ActionMetrics(
                constrained=_side_from_json(m["constrained"]),
                unconstrained=None if m.get("unconstrained") is None else _side_from_json(m["unconstrained"]),
            ),
            examples=[_example_from_json(e) for e in value["examples"]],
            warnings=list(value.get("warnings", [])),
        )


def _scores_from_json(v: Mapping[str, Any]) -> Scores:
    rates = {
        k: Rate(**v[k])
        for k in ("function_accuracy", "call_accuracy", "validity", "none_precision", "none_recall")
    }
    latency = None if v.get("latency") is None else Latency(**v["latency"])
    problems = dict(v.get("problems", {}))
    return Scores(n=v["n"], latency=latency, problems=problems, closed=v.get("closed", 0), **rates)


def _side_from_json(v: Mapping[str, Any]) -> SideMetrics:
    return SideMetrics(
        overall=_scores_from_json(v["overall"]),
        **{
            k: {name: _scores_from_json(s) for name, s in v[k].items()}
            for k in ("by_function", "by_domain", "by_kind")
        },
    )


def _example_from_json(v: Mapping[str, Any]) -> ActionExampleResult:
    fields = dict(v)
    fields["constrained"] = Outcome(**v["constrained"])
    fields["unconstrained"] = None if v.get("unconstrained") is None else Outcome(**v["unconstrained"])
    return ActionExampleResult(**fields)


def write_action_report(report: ActionEvalReport, path: str | Path) -> Path:
    """Write the report as indented JSON."""
    return write_atomic(path, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")


def read_action_report(path: str | Path) -> ActionEvalReport:
    """Read a report :func:`write_action_report` wrote."""
    return ActionEvalReport.from_json(read_json_object(path))


def check_action_outputs(out: str | Path | None = None, plots: str | Path | None = None) -> None:
    """Refuse, before any work starts, every path the evaluation will write that cannot be
    written: the report (``--out``), the plots folder and its files (``--plots``).

    Raises:
        OctoError: a folder where a file goes, a file where a folder goes, no write permission.
    """
    from octo_mlx.eval.plots import ACTION_PLOT_FILES
    from octo_mlx.eval.run import check_report_paths

    check_report_paths(out, plots, ACTION_PLOT_FILES)


# --- the run --------------------------------------------------------------------------------------


def load_action_split(data: str | Path, domain_names: Sequence[str] | None, limit: int | None = None):
    """(examples, domains): the action split checked line by line, then against its domains.

    Raises:
        OctoError: a bad line (``file:line: reason``), domains that do not load, no examples.
    """
    from octo_mlx.action_data import read_split
    from octo_mlx.eval.run import load_test_split

    return load_test_split(data, domain_names, limit, read_split)


def check_served(examples: Sequence, served: Sequence[str], data: str | Path) -> None:
    """Raises OctoError: a step of ``examples`` (from the split ``data``) has a domain not in
    ``served`` (the domains the model serves)."""
    unserved = sorted({d for e in examples for d in e.domains} - set(served))
    if unserved:
        raise OctoError(
            f"the action model serves {', '.join(served)}; the test split has steps of {', '.join(unserved)}",
            data,
        )


def active_domains(active: str, example) -> list[str] | None:
    """The domains whose functions may be called for ``example`` under ``active`` (:data:`ACTIVE`):
    None (every domain served) for "model", the step's own for "example"."""
    return None if active == "model" else list(example.domains)


def warm_up(sides: Sequence, examples: Sequence, active: str, warmup: int) -> None:
    """``warmup`` untimed decodes by each of ``sides`` (backends with ``act``) for the first step
    of each active domain set (its grammar built, the first decodes not timed)."""
    warmed: set = set()
    for e in examples:
        key = None if active == "model" else tuple(sorted(e.domains))
        if key in warmed:
            continue
        warmed.add(key)
        for _ in range(warmup):
            for side in sides:
                side.act(e.step, e.observation, active_domains(active, e))


def timed_act(backend, example, active: list[str] | None) -> tuple[Any, float]:
    """(``backend.act``'s decode of ``example``, the wall-clock seconds it took: prompt, decode,
    parse)."""
    tic = time.perf_counter()
    decoded = backend.act(example.step, example.observation, active)
    return decoded, time.perf_counter() - tic


def run_action_eval(config: ActionEvalConfig, action_model=None) -> ActionEvalReport:
    """Evaluate an action model on an action test split.

    Args:
        config: the evaluation settings.
        action_model: an already loaded :class:`octo_mlx.action.model.ActionModel` to use
            instead of loading ``config.adapter`` (its ``path`` is fingerprinted).

    Raises:
        OctoError: bad input (a malformed split, a domain the model does not serve, a folder that
            holds no action model), before the first step is decoded.
    """
    from octo_mlx.action.model import ActionModel

    examples, domains = load_action_split(config.data, config.domains, config.limit)
    if action_model is None:
        folder = config.adapter if config.adapter is not None else config.model
        base = config.model if config.adapter is not None else None
        action_model = ActionModel.load(
            folder,
            model=base,
            force=config.force,
            domains=domains,
            jump_forward=config.jump_forward,
            max_tokens=config.max_tokens,
        )
    else:
        action_model = replace(action_model, max_tokens=config.max_tokens, jump_forward=config.jump_forward)
    constrained = replace(action_model, constrained=True)
    served = [d.name for d in action_model.domains]
    check_served(examples, served, config.data)
    functions = {f.name: f for d in domains for f in d.functions}
    sides = [constrained] + ([replace(action_model, constrained=False)] if config.unconstrained else [])
    warm_up(sides, examples, config.active, config.warmup)

    results = []
    for e in examples:
        outcomes = []
        for side in sides:  # the two sides interleaved step by step
            decoded, seconds = timed_act(side, e, active_domains(config.active, e))
            outcomes.append(score_decoded(e.call, decoded, functions, seconds))
        results.append(
            ActionExampleResult.of(
                e, constrained=outcomes[0], unconstrained=outcomes[1] if len(outcomes) > 1 else None
            )
        )
    cfg = asdict(config)
    cfg.update(
        model_path=str(action_model.path) if action_model.path else None,
        domains=[d.name for d in domains],
        served_domains=served,
        slots=len(action_model.slots),
        n_examples=len(examples),
    )
    warnings = []
    if config.force:
        warnings.append("--force: the adapter ran on a base other than its own")
    return ActionEvalReport(
        config=cfg,
        fingerprints={
            "model": fingerprint(action_model.path) if action_model.path else {},
            "adapter": fingerprint(config.adapter) if config.adapter else {},
        },
        metrics=compute_action_metrics(results),
        examples=results,
        warnings=warnings,
    )
