"""What a synthesis run is asked (SynthConfig), what it reports as it goes (ProgressEvent) and at
the end (SynthReport)."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from octo_mlx.data import BALANCES, MAX_STEPS, TASKS
from octo_mlx.errors import OctoError

DEFAULT_STEPS = {k: 1.0 for k in range(1, MAX_STEPS + 1)}  # the paper: 200 per step count of 1000


def parse_steps(text: str) -> dict[int, float]:
    """Step-count weights from ``"1,2,3,4,5"`` (equal) or ``"1:0.1,2:0.3,3:0.6"`` (weighted).

    Raises:
        OctoError: a count outside 1..5, a negative weight, or all weights zero.
    """
    weights: dict[int, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        k, _, w = part.partition(":")
        try:
            count, weight = int(k), float(w) if w else 1.0
        except ValueError:
            raise OctoError(f"bad --steps item {part!r}: use '1,2,3' or '1:0.2,2:0.8'") from None
        if not 1 <= count <= MAX_STEPS or weight < 0:
            raise OctoError(f"bad --steps item {part!r}: counts are 1..{MAX_STEPS}, weights >= 0")
        weights[count] = weights.get(count, 0.0) + weight
    if not weights or sum(weights.values()) <= 0:
        raise OctoError(f"--steps {text!r} gives no step count a positive weight")
    return weights


@dataclass
class SynthConfig:
    """Everything that determines a synthesized dataset (recorded in its manifest, minus secrets).

    Args:
        domains: bundled domain names or JSON/YAML spec paths.
        n: examples requested (tasks planned).
        out: output folder.
        seed: makes tasks, splits and request seeds reproducible.
        steps: step count -> weight.
        irrelevant: share of queries that need no function.
        multi_domain: workflows mixing the domains' functions with equal probability.
        offline: use the offline generator (the default when base_url is None).
        base_url, model, api_key_env: the teacher endpoint; the key is read from that env var.
        judge_model, judge_base_url: the judge (default: the teacher itself).
        concurrency: requests in flight at once.
        attempts: tries per task (a rejected task is asked again with a new style and seed).
        temperature: for the query request (the paper raises it for diversity).
        fractions: train/valid/test shares.
        holdout: offline only: share of paraphrase families kept for the test split.
        cache_dir: request cache (default OUT/.synth/cache); share it between runs to reuse replies.
        timeout, max_retries, backoff: per-request timeout (s), retries, first retry delay (s).
        response_format: auto | json_schema | json_object | none.
        price_in, price_out: USD per 1M prompt / completion tokens, for the cost estimate.
        overwrite: replace an output folder that already holds something (a dataset, other
            files); without it such a folder is refused before any work. A teacher run's own
            work folder (``OUT/.synth`` of a killed run) is resumed either way.
        replan: offline planner data only: share of multi-step plans that also give a re-plan
            example (a step failed in the simulated world -> the steps left;
            :mod:`octo_mlx.synth.replan`), added to the plan's own split.
        generic_phrasing: offline only: phrase every domain from its functions' specs alone
            (octo_mlx.synth.phrasebank.generic), even a bundled domain that has a hand-written
            bank (to measure the generic synthesizer against the bank).
        balance: offline only: "domain" (examples rotate over the domains: each domain gets the
            same share) or "function" (domains weighted by their function count: each function
            gets about the same share); None = "function" for action data, "domain" for plans.
        task: "plan" (planner examples, with each step's gold call) or "action" (action-model
            examples made from the steps of such plans: offline, ``n`` counts them; with a
            teacher, ``n`` counts the plans asked for, as it does for "plan").
    """

    domains: list[str] = field(default_factory=lambda: ["android"])
    n: int = 1000
    out: str = "data/planner"
    seed: int = 0
    steps: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_STEPS))
    irrelevant: float = 0.0
    multi_domain: bool = False
    offline: bool = False
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    judge_model: str | None = None
    judge_base_url: str | None = None
    concurrency: int = 4
    attempts: int = 2
    temperature: float = 1.0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    holdout: float | None = None
    cache_dir: str | None = None
    timeout: float = 120.0
    max_retries: int = 6
    backoff: float = 0.5
    response_format: str = "auto"
    price_in: float | None = None
    price_out: float | None = None
    overwrite: bool = False
    task: str = "plan"
    replan: float = 0.0
    generic_phrasing: bool = False
    balance: str | None = None

    def __post_init__(self):
        if self.n < 1:
            raise OctoError(f"--n must be >= 1, got {self.n}")
        if not 0 <= self.irrelevant < 1:
            raise OctoError(f"--irrelevant is a share in [0, 1), got {self.irrelevant}")
        if self.concurrency < 1 or self.attempts < 1:
            raise OctoError("--concurrency and --attempts must be >= 1")
        for flag, value, ok, want in (
            ("--temperature", self.temperature, self.temperature >= 0, ">= 0"),
            ("--timeout", self.timeout, self.timeout > 0, "> 0"),
            ("--max-retries", self.max_retries, self.max_retries >= 0, ">= 0"),
            ("--holdout", self.holdout, self.holdout is None or 0 <= self.holdout <= 1, "in [0, 1]"),
            ("--replan", self.replan, 0 <= self.replan <= 1, "in [0, 1]"),
            ("--price-in", self.price_in, self.price_in is None or self.price_in >= 0, ">= 0"),
            ("--price-out", self.price_out, self.price_out is None or self.price_out >= 0, ">= 0"),
        ):
            if not ok or (value is not None and not math.isfinite(value)):  # NaN compares False
                raise OctoError(f"must be {want}, got {value}", flag)
        if self.task not in TASKS:
            raise OctoError(f"bad --task {self.task!r}: {' or '.join(TASKS)}")
        if self.replan and (self.task != "plan" or self.uses_teacher):
            raise OctoError("--replan makes offline planner data only (--task plan, no --base-url)")
        if self.balance is not None and self.balance not in BALANCES:
            raise OctoError(f"bad --balance {self.balance!r}: {' or '.join(BALANCES)}")
        if self.balance is not None and self.uses_teacher:
            raise OctoError("is for the offline synthesizer (no --base-url)", "--balance")
        if self.balance is None and not self.uses_teacher:
            self.balance = "function" if self.task == "action" else "domain"
        if self.generic_phrasing and self.uses_teacher:
            raise OctoError("is for the offline synthesizer (no --base-url)", "--generic-phrasing")
        if self.multi_domain and len(self.domains) < 2:
            raise OctoError("--multi-domain needs at least two --domain")
        if self.response_format not in ("auto", "json_schema", "json_object", "none"):
            raise OctoError(
                f"bad --response-format {self.response_format!r}: auto, json_schema, json_object or none"
            )
        if not self.offline and self.base_url and not self.model:
            raise OctoError("--base-url needs --model (for mlx_lm.server: any name, e.g. default_model)")
        if self.uses_teacher:  # a URL that is not one fails here, not after a minute of retries
            from octo_mlx.llm import check_base_url

            check_base_url(self.base_url, "--base-url")
            if self.judge_base_url:
                check_base_url(self.judge_base_url, "--judge-base-url")

    @property
    def uses_teacher(self) -> bool:
        return not self.offline and self.base_url is not None

    def public(self) -> dict[str, Any]:
        """The config as recorded in dataset.json: no key, only the name of its variable."""
        d = asdict(self)
        del d["overwrite"]  # how the folder was written, not what the data is
        d["steps"] = {str(k): v for k, v in self.steps.items()}
        for k in ("base_url", "judge_base_url"):
            if d[k]:
                from octo_mlx.llm import safe_base_url

                d[k] = safe_base_url(d[k])
        return d

    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback after every finished task attempt (from worker threads)."""

    total: int
    done: int
    accepted: int
    rejected: int
    paid_requests: int
    cached_requests: int


@dataclass
class SynthReport:
    """The run summary: what was asked, kept, dropped and paid."""

    out: str
    generator: str
    requested: int
    accepted: int
    splits: dict[str, int]
    rejected: dict[str, int] = field(default_factory=dict)  # category -> rejected attempts
    prompt_tokens: int = 0
    completion_tokens: int = 0
    paid_requests: int = 0
    cached_requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    resumed_records: int = 0  # outcomes taken from an earlier (killed) run's records
    estimated_cost_usd: float | None = None
    seconds: float = 0.0
