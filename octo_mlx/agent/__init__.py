"""The agent: plan once, act per step on the previous observation, re-plan after a failure.

Logic only: events out (:mod:`octo_mlx.agent.events`), a JSON trace back
(:mod:`octo_mlx.agent.trace`), nothing printed. :mod:`octo_mlx.agent.loop` is the loop,
:mod:`octo_mlx.agent.session` sets it up on one resident base (`octo-mlx chat`). docs/agent.md.
"""

from octo_mlx.agent.events import (
    CallMade,
    Confirmation,
    Event,
    PlanMade,
    PlanToken,
    Replanned,
    RunDone,
    RunError,
    StepResult,
)
from octo_mlx.agent.loop import Agent
from octo_mlx.agent.session import Session, open_session
from octo_mlx.agent.trace import Timing, Trace, append_trace

__all__ = [
    "Agent",
    "CallMade",
    "Confirmation",
    "Event",
    "PlanMade",
    "PlanToken",
    "Replanned",
    "RunDone",
    "RunError",
    "Session",
    "StepResult",
    "Timing",
    "Trace",
    "append_trace",
    "open_session",
]
