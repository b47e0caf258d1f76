"""Plan judges: the deterministic judge (offline, default) and the LLM oracle judge.

The paper's criteria: a plan is correct when every step corresponds to an existing function and
the steps are in the right order. The deterministic judge makes that checkable against the gold
plan: same number of steps, and step k resolves (:mod:`octo_mlx.resolver`) to gold function k.
The LLM judge asks an OpenAI-compatible model (GPT-4 in the paper) with a rubric prompt and
parses a JSON answer. A call that fails or an answer that does not parse is *not judged*, never
counted as incorrect; answers are cached on disk (octo_mlx.llm) so a rerun makes no requests.
Their agreement is Cohen's kappa (octo_mlx.stats).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import cache_root
from octo_mlx.resolver import UNRESOLVED, StepResolver


@dataclass(frozen=True)
class StepVerdict:
    """Step k of a plan: what it resolved to and whether that is the gold function."""

    index: int
    step: str
    resolved: str
    gold: str | None  # None when the plan has more steps than the gold plan
    ok: bool


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one plan. ``correct`` is None when ``judged`` is False."""

    judged: bool
    correct: bool | None
    reason: str
    steps: tuple[StepVerdict, ...] = ()


# --- deterministic judge ------------------------------------------------------------------------


def judge_plan(steps: Sequence[str], gold_functions: Sequence[str], resolver: StepResolver) -> Verdict:
    """Judge one plan against the gold functions, step by step.

    Args:
        steps: the generated plan's steps.
        gold_functions: the gold function of each step (``["none"]`` for an irrelevant query).
        resolver: maps a step's text to a function name.
    """
    resolved = [r.function for r in resolver.resolve(list(steps))]
    verdicts = tuple(
        StepVerdict(
            k + 1,
            s,
            r,
            gold_functions[k] if k < len(gold_functions) else None,
            k < len(gold_functions) and r == gold_functions[k],
        )
        for k, (s, r) in enumerate(zip(steps, resolved))
    )
    problems = []
    if len(steps) != len(gold_functions):
        problems.append(f"wrong count: {len(steps)} step(s), gold has {len(gold_functions)}")
    for v in verdicts:
        if v.gold is None or v.ok:
            continue
        what = "no function" if v.resolved == UNRESOLVED else v.resolved
        problems.append(f"step {v.index} maps to {what}, not {v.gold}")
    correct = not problems
    return Verdict(True, correct, "; ".join(problems) if problems else "correct", verdicts)


ERROR_KINDS = ("correct", "fewer steps", "more steps", "wrong function")


def error_kind(verdict: Verdict, n_gold: int) -> str:
    """What kind of plan a deterministic verdict judged (:data:`ERROR_KINDS`): a wrong step
    count first (steps merged or dropped: fewer; split or added: more), else a wrong function."""
    if verdict.correct:
        return "correct"
    n = len(verdict.steps)
    if n != n_gold:
        return "fewer steps" if n < n_gold else "more steps"
    return "wrong function"


def _literals(value) -> list[str]:
    """The scalar values of a call argument as a step would write them (booleans left out)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _literals(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _literals(v)]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [str(value)] if str(value).strip() else []


def _mentions(text: str, literal: str) -> bool:
    """``literal`` in ``text`` as a whole token run (case-insensitive): "10" is not in "100"."""
    return re.search(rf"(?<!\w){re.escape(literal)}(?!\w)", text, re.IGNORECASE) is not None


def stated_values(gold_step: str, call) -> list[str]:
    """The gold call's argument values that its gold step states in words (a dependent step's
    values, read from an earlier result, are not in its text and are not listed)."""
    if call is None:
        return []
    return [v for value in call.arguments.values() for v in _literals(value) if _mentions(gold_step, v)]


def values_kept(steps: Sequence[str], gold_steps: Sequence[str], calls: Sequence | None) -> bool | None:
    """Whether step k states every value that gold step k states (None without gold calls; False
    when the step counts differ): a plan can map to the right functions and still change
    "ring volume to 10" into "to 9", which the action model would then execute."""
    if calls is None or len(calls) != len(gold_steps):
        return None
    if len(steps) != len(gold_steps):
        return False
    return all(
        _mentions(step, v)
        for step, gold, call in zip(steps, gold_steps, calls)
        for v in stated_values(gold, call)
    )


def exact_match(steps: Sequence[str], gold_steps: Sequence[str]) -> bool:
    """Every step's text equals the gold step's text (whitespace-trimmed), in order."""
    return [s.strip() for s in steps] == [g.strip() for g in gold_steps]


# --- LLM oracle judge ----------------------------------------------------------------------------

RUBRIC = """You are the judge of a planning agent that runs on a phone. The agent breaks a user's \
request into steps; each step must be carried out by calling exactly one of the functions below.

Available functions:
{functions}

User request: {query}

Plan to judge:
{plan}
{reference}
The plan is correct only if BOTH criteria hold:
1. Every step corresponds to one of the available functions (a request that no function can \
serve must get a single step that calls no function).
2. The steps are in the right order to fulfil the request, with no step missing and none extra.

Answer with one JSON object and nothing else: {{"correct": true or false, "reason": "one sentence"}}"""


def rubric_prompt(
    query: str, steps: Sequence[str], functions: Sequence, reference: Sequence[str] | None
) -> str:
    """The judge prompt for one plan.

    Args:
        query: the user's request.
        steps: the plan's steps.
        functions: Function objects (``.name``, ``.description``) the agent can call.
        reference: a gold plan shown as one valid answer, or None for a reference-free judge.
    """
    funcs = "\n".join(f"- {f.name}: {f.description}" for f in functions)
    plan = "\n".join(f"{k}. {s}" for k, s in enumerate(steps, 1)) if steps else "(empty plan)"
    ref = ""
    if reference is not None:
        ref = "\nOne correct plan, for reference (others may also be correct):\n"
        ref += "\n".join(f"{k}. {s}" for k, s in enumerate(reference, 1)) + "\n"
    return RUBRIC.format(functions=funcs, query=query, plan=plan, reference=ref)


_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse_answer(text: str) -> Verdict:
    """Read ``{"correct": bool, "reason": str}`` from a judge's answer (first JSON object in it).

    An answer without such an object is *not judged*, with the reason saying why.
    """
    for candidate in _JSON_OBJECT.findall(text or ""):
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("correct"), bool):
            reason = obj.get("reason")
            return Verdict(True, obj["correct"], reason if isinstance(reason, str) else "")
    snippet = (text or "").strip().replace("\n", " ")[:80]
    return Verdict(False, None, f"unparseable judge answer: {snippet!r}")


def default_cache() -> Path:
    """The judge's answer cache under the one cache root (``$OCTO_MLX_HOME/judge``)."""
    return cache_root() / "judge"


@dataclass(frozen=True)
class LLMJudgeConfig:
    """Where and how to ask the LLM judge. The API key is read from ``api_key_env`` at call time
    and never written anywhere.

    Args:
        base_url: the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1.
        model: the judge model's name (``default_model`` for mlx_lm.server).
        api_key_env: environment variable that holds the key (a placeholder is sent if unset).
        max_tokens: answer length (the JSON answer is ~30 tokens).
        timeout: seconds per request.
        max_retries: retries on timeouts, dropped connections, malformed replies, 408/409/429 and
            5xx (octo_mlx.llm's back-off).
        concurrency: requests in flight.
        cache_dir: on-disk answer cache (None: no cache); default ``judge/`` under the cache root.
        with_reference: show the gold plan as one valid answer.
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = 200
    timeout: float = 60.0
    max_retries: int = 4
    concurrency: int = 4
    cache_dir: Path | None = field(default_factory=default_cache)
    with_reference: bool = True

    def __post_init__(self):
        from octo_mlx.llm import check_base_url

        check_base_url(self.base_url, "--base-url")


@dataclass
class LLMJudgeStats:
    """What a judging run cost: requests sent, answers from the cache, calls that failed."""

    requests: int = 0
    cache_hits: int = 0
    failures: int = 0


class LLMJudge:
    """Judge plans by asking an OpenAI-compatible model (octo_mlx.llm); see :class:`LLMJudgeConfig`."""

    def __init__(self, config: LLMJudgeConfig):
        from octo_mlx.llm import ChatClient, Endpoint, RequestCache, Usage

        self.config = config
        key = os.environ.get(config.api_key_env) or ""  # local servers take any key
        endpoint = Endpoint(
            config.base_url, config.model, key, timeout=config.timeout, max_retries=config.max_retries
        )
        cache = RequestCache(config.cache_dir) if config.cache_dir is not None else None
        self.client = ChatClient(endpoint, cache, Usage())
        self.failures = 0  # calls that still failed after the client's retries
        self._lock = threading.Lock()

    @property
    def stats(self) -> LLMJudgeStats:
        """Requests sent (failed ones included), answers from the cache, calls that failed."""
        usage = self.client.usage
        return LLMJudgeStats(usage.paid_requests + self.failures, usage.cached_requests, self.failures)

    def ask(self, prompt: str) -> Verdict:
        """One judgement: from the cache, or one request (with the client's retries)."""
        from octo_mlx.llm import EndpointError, EndpointUnreachable

        try:
            reply = self.client.complete(
                [{"role": "user", "content": prompt}], temperature=0.0, max_tokens=self.config.max_tokens
            )
        except EndpointUnreachable as e:  # nothing listens there (after the retries): no point going on
            raise OctoError(f"judge endpoint unreachable: {e}", self.config.base_url) from None
        except EndpointError as e:
            with self._lock:
                self.failures += 1
            return Verdict(False, None, f"judge call failed: {e}")
        return parse_answer(reply.text)

    def judge_many(self, prompts: Sequence[str]) -> list[Verdict]:
        """Judge many prompts, ``concurrency`` requests at a time, in input order."""
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            return list(pool.map(self.ask, prompts))
