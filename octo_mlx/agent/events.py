"""What the agent reports while it runs: one frozen dataclass per kind, handed to a callback.

The loop (:mod:`octo_mlx.agent.loop`) never prints; a REPL, a test or a server renders these.
Every event has a ``kind`` ("plan_token", "plan", "call", "confirm", "result", "replan", "done",
"error") so a consumer can switch on a string as well as on the class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from octo_mlx.agent.trace import Timing, Trace


@dataclass(frozen=True)
class PlanToken:
    """New text of the plan being written (``replan``: of a re-plan), as soon as it can no longer
    change; ``<nexa_split>`` appears as written."""

    kind: ClassVar[str] = "plan_token"
    text: str
    replan: bool = False


@dataclass(frozen=True)
class PlanMade:
    """The plan: its steps in order (empty when the planner wrote none) and what writing it cost."""

    kind: ClassVar[str] = "plan"
    steps: tuple[str, ...]
    timing: Timing


@dataclass(frozen=True)
class CallMade:
    """The call the action model wrote for step ``index`` (from 1), checked before anything runs.

    function / arguments: the call (function None when the model wrote none that is valid);
    side_effects: the function changes the device (it needs a confirmation); attempt: 1, or 2 for
    the retry after a refused call; problem: why the call cannot run (it will not), or None.
    """

    kind: ClassVar[str] = "call"
    index: int
    step: str
    function: str | None
    arguments: dict = field(hash=False)
    side_effects: bool
    attempt: int
    problem: str | None
    timing: Timing


@dataclass(frozen=True)
class Confirmation:
    """The answer to "run this call that changes the device?": ``approved`` False when denied
    (or when no one could be asked: the agent fails closed)."""

    kind: ClassVar[str] = "confirm"
    index: int
    function: str
    arguments: dict = field(hash=False)
    approved: bool


@dataclass(frozen=True)
class StepResult:
    """Step ``index`` finished: its ``status`` ("ok", "failed", "denied", "invalid", "no_function")
    and ``observation`` (``{"function", "arguments", "ok", "result", "error"}``, what the next step
    reads); execute_seconds: time in the function (0 when nothing ran)."""

    kind: ClassVar[str] = "result"
    index: int
    step: str
    status: str
    observation: dict = field(hash=False)
    execute_seconds: float


@dataclass(frozen=True)
class Replanned:
    """After step ``after`` failed, the planner wrote ``steps`` to replace the rest of the plan
    (empty: it wrote none, and the run ends); ``prompt``: the re-plan input it read."""

    kind: ClassVar[str] = "replan"
    after: int
    prompt: str
    steps: tuple[str, ...]
    timing: Timing


@dataclass(frozen=True)
class RunError:
    """Something went wrong that is reported, not raised: a refused call (``retrying``: it is asked
    again), a plan with no steps, a function that raised."""

    kind: ClassVar[str] = "error"
    message: str
    index: int | None = None
    retrying: bool = False


@dataclass(frozen=True)
class RunDone:
    """The run is over (whatever its status); ``trace`` is what :meth:`Agent.run` returns."""

    kind: ClassVar[str] = "done"
    trace: Trace


Event = PlanToken | PlanMade | CallMade | Confirmation | StepResult | Replanned | RunError | RunDone
OnEvent = Callable[[Event], Any]
