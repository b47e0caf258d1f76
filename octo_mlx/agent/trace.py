"""The record of one agent run, as JSON: the plan, every call with its arguments and result, the
re-plans, the timings per stage and the adapters used (docs/agent.md has the format).

A :class:`Trace` is what :meth:`octo_mlx.agent.Agent.run` returns; :meth:`Trace.write` saves one
run as a JSON object, :func:`append_trace` adds one run as a line to a JSON Lines file (a chat
session's ``--trace FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.files import write_atomic

TRACE_VERSION = 1
STATUSES = ("done", "failed", "denied", "cancelled", "no_plan")  # a run's, best first
STEP_STATUSES = ("ok", "failed", "denied", "invalid", "no_function")


@dataclass(frozen=True)
class Timing:
    """What one stage cost: wall ``seconds``; for a generation, its prompt and generated tokens and
    the time to its first token (None for a stage that generates nothing, or a scripted model)."""

    stage: str
    seconds: float
    prompt_tokens: int | None = None
    gen_tokens: int | None = None
    first_token_seconds: float | None = None

    @classmethod
    def of(cls, stage: str, generation: Any, seconds: float) -> Timing:
        """The timing of a stage that made ``generation`` (an octo_mlx.generation.Generation, or
        anything without its fields: only ``seconds`` is kept then)."""
        return cls(
            stage,
            seconds,
            getattr(generation, "prompt_tokens", None),
            getattr(generation, "gen_tokens", None),
            getattr(generation, "first_token_seconds", None),
        )

    @property
    def prompt_tps(self) -> float | None:
        """Prompt tokens per second of prefill (prompt in -> first token)."""
        if self.prompt_tokens is None or not self.first_token_seconds:
            return None
        return self.prompt_tokens / self.first_token_seconds

    @property
    def gen_tps(self) -> float | None:
        """Generated tokens per second after the first one (decoding alone)."""
        if self.gen_tokens is None or self.first_token_seconds is None:
            return None
        decode = self.seconds - self.first_token_seconds
        return (self.gen_tokens - 1) / decode if self.gen_tokens > 1 and decode > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        for key in ("seconds", "first_token_seconds"):
            if key in out:
                out[key] = round(out[key], 6)
        for key, value in (("prompt_tps", self.prompt_tps), ("gen_tps", self.gen_tps)):
            if value is not None:
                out[key] = round(value, 1)
        return out


@dataclass
class Attempt:
    """One call the action model wrote for a step: its raw ``text``, the call read from it (None
    when none is valid), why it was refused (None when it was not), and its timing."""

    text: str
    function: str | None
    arguments: dict | None
    problem: str | None
    timing: Timing

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "timing": self.timing.to_dict()}


@dataclass
class StepRecord:
    """One step run: its attempts, the call that was run (or denied), the confirmation (None when
    the function has no side effects), the status and the observation the next step read."""

    index: int
    step: str
    attempts: list[Attempt] = field(default_factory=list)
    call: dict | None = None
    side_effects: bool = False
    confirmed: bool | None = None
    status: str = "ok"
    observation: dict = field(default_factory=dict)
    execute_seconds: float = 0.0
    confirm_seconds: float = 0.0  # waiting for the user's answer

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "step": self.step,
            "call": self.call,
            "side_effects": self.side_effects,
            "confirmed": self.confirmed,
            "status": self.status,
            "observation": self.observation,
            "attempts": [a.to_dict() for a in self.attempts],
            "timings": {
                "action_seconds": round(sum(a.timing.seconds for a in self.attempts), 6),
                "execute_seconds": round(self.execute_seconds, 6),
                "confirm_seconds": round(self.confirm_seconds, 6),
            },
        }


@dataclass
class Replan:
    """A re-plan after step ``after`` failed: the prompt the planner read, the steps it wrote."""

    after: int
    prompt: str
    steps: list[str]
    timing: Timing

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "timing": self.timing.to_dict()}


@dataclass
class Trace:
    """One run of the agent (see the module docstring); ``status`` is one of :data:`STATUSES`."""

    query: str
    started: str  # ISO 8601, local time with offset
    adapters: dict[str, str]
    domains: list[str]
    plan: list[str] = field(default_factory=list)
    plan_timing: Timing | None = None
    steps: list[StepRecord] = field(default_factory=list)
    replans: list[Replan] = field(default_factory=list)
    status: str = "done"
    seconds: float = 0.0

    @classmethod
    def start(cls, query: str, adapters: Mapping[str, str], domains) -> Trace:
        """A new run's trace, started now (local time with offset), for the given Domain objects."""
        from datetime import datetime

        return cls(
            query=query,
            started=datetime.now().astimezone().isoformat(timespec="seconds"),
            adapters=dict(adapters),
            domains=[d.name for d in domains],
        )

    @property
    def calls(self) -> list[dict]:
        """The calls that ran, in order (``{"function", "arguments"}``)."""
        return [s.call for s in self.steps if s.call is not None and s.confirmed is not False]

    def token_counts(self) -> tuple[int, int]:
        """(prompt tokens, generated tokens) over every generation of the run: the plan, the
        re-plans and each attempt at a call."""
        timings = [self.plan_timing, *(r.timing for r in self.replans)]
        timings += [a.timing for s in self.steps for a in s.attempts]
        timings = [t for t in timings if t is not None]
        return sum(t.prompt_tokens or 0 for t in timings), sum(t.gen_tokens or 0 for t in timings)

    def stage_seconds(self) -> dict[str, float]:
        """Wall time per stage over the run: plan (re-plans included), action, execute, and the
        time spent waiting for confirmations."""
        plan = (self.plan_timing.seconds if self.plan_timing else 0.0) + sum(
            r.timing.seconds for r in self.replans
        )
        action = sum(a.timing.seconds for s in self.steps for a in s.attempts)
        execute = sum(s.execute_seconds for s in self.steps)
        return {
            "plan": plan,
            "action": action,
            "execute": execute,
            "confirm": sum(s.confirm_seconds for s in self.steps),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": TRACE_VERSION,
            "query": self.query,
            "started": self.started,
            "status": self.status,
            "adapters": dict(self.adapters),
            "domains": list(self.domains),
            "plan": list(self.plan),
            "steps": [s.to_dict() for s in self.steps],
            "replans": [r.to_dict() for r in self.replans],
            "timings": {
                "plan": self.plan_timing.to_dict() if self.plan_timing else None,
                "stages_seconds": {k: round(v, 6) for k, v in self.stage_seconds().items()},
                "total_seconds": round(self.seconds, 6),
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def write(self, path: str | Path) -> Path:
        """Save the run as one JSON object (atomically)."""
        return write_atomic(path, self.to_json() + "\n")


def append_trace(path: str | Path, trace: Trace) -> None:
    """Add ``trace`` to a JSON Lines file, one run per line (created when missing)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(trace.to_dict(), ensure_ascii=False) + "\n")
        f.flush()
