"""The agent loop: plan once, then for each step act on the previous observation, check the call,
confirm it when it changes the device, run it, observe; after a failed step, re-plan the rest.

The paper plans once and acts per step (``O_{i+1} = pi_action(tau_i, O_i)``); re-planning from
what was observed is its future work, done here with the same planner reading a re-plan prompt
(:func:`octo_mlx.syntax.replan_query`, the one format its training data must use too), at most
``max_replans`` times per run.

Safety: the action model's output is parsed as JSON and checked against the schema of a function
of the active domains before anything runs (never evaluated); a call of a function with side
effects runs only when ``confirm`` approves it (no ``confirm``: refused, fail closed); a denied
call, an invalid one and a function that raises are observations, never exceptions.

The loop never prints: every stage is an event (:mod:`octo_mlx.agent.events`) handed to
``on_event``, and the run is returned as a :class:`octo_mlx.agent.trace.Trace`.
"""

from __future__ import annotations

import inspect
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from octo_mlx.agent.events import (
    CallMade,
    Confirmation,
    OnEvent,
    PlanMade,
    PlanToken,
    Replanned,
    RunDone,
    RunError,
    StepResult,
)
from octo_mlx.agent.trace import Attempt, Replan, StepRecord, Timing, Trace
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import NO_CALL, Call, CallProblem, check_call
from octo_mlx.functions.contract import Domain, check_unique
from octo_mlx.functions.simulator import DeviceState, Observation, execute
from octo_mlx.syntax import replan_query

DECLINED = "the user declined this call"
NO_FUNCTION = "no function of the active domains does this step"


class PlannerLike(Protocol):
    """What the agent needs of a planner (:class:`octo_mlx.planner.Planner`): ``stream(query)``
    yields text pieces, then an object with ``steps`` (a PlanOutput)."""

    def stream(self, query: str) -> Iterable[Any]: ...


class ActionLike(Protocol):
    """What the agent needs of an action model (:class:`octo_mlx.action.model.ActionModel`):
    ``act(step, observation, active=...)`` -> a DecodedCall (``text``, ``call``, ``problem``,
    ``generation``); taking ``error=`` too lets the agent retry a refused call once."""

    domains: list[Domain]

    def act(self, step: str, observation: Mapping | None = None, active: Iterable[str] | None = None): ...


class _Cancelled(Exception):
    pass


class Agent:
    """Plans a request, acts on each step, re-plans after a failure.

    Args:
        planner: the planner (on the pool: ``Planner(pool.view("planner"), pool.tokenizer)``).
        action: the action model (``ActionModel.on_pool(pool, "action")``).
        state: the simulated device the calls run against (changed in place).
        confirm: asked with the :class:`CallMade` of each call that has side effects; True runs
            it. None refuses every such call (fail closed).
        max_replans: re-plans allowed per run (0: a failed step ends the run).
        domains: the active domains, whose functions alone may be called and which run them
            (default: every domain the action model serves). A domain of typed Python functions
            (``octo_mlx.functions.signatures.domain_from_callables``) without a ``state``
            parameter runs them for real.
        adapters: what to record as the adapters used (role -> adapter folder), for the trace.
    """

    def __init__(
        self,
        planner: PlannerLike,
        action: ActionLike,
        state: DeviceState,
        confirm: Callable[[CallMade], bool] | None = None,
        max_replans: int = 1,
        domains: Iterable[Domain] | None = None,
        adapters: Mapping[str, str] | None = None,
    ):
        if max_replans < 0:
            raise OctoError(f"max_replans must be >= 0, got {max_replans}")
        self.planner, self.action, self.state = planner, action, state
        self.confirm, self.max_replans = confirm, max_replans
        self.domains = list(domains) if domains is not None else list(action.domains)
        check_unique(self.domains)
        served = {d.name for d in action.domains}
        missing = [d.name for d in self.domains if d.name not in served]
        if missing:
            raise OctoError(f"the action model does not serve domain(s) {missing}")
        self.functions = {f.name: f for d in self.domains for f in d}
        self.adapters = dict(adapters or {})
        # an action model that reads why its call was refused is asked once more (the one retry)
        self.retries = "error" in inspect.signature(action.act).parameters

    # --- one run --------------------------------------------------------------------------------

    def run(
        self, query: str, on_event: OnEvent | None = None, cancel: Callable[[], bool] | None = None
    ) -> Trace:
        """Plan ``query``, run its steps, re-plan after a failure; the run's trace.

        Args:
            query: the user's request.
            on_event: called with every event, in order (the last is :class:`RunDone`).
            cancel: polled between tokens of a plan and between stages; True ends the run at
                once with status "cancelled" (a call already approved still runs to its end).
        """
        emit = on_event or (lambda event: None)
        stop = cancel or (lambda: False)
        t0 = time.perf_counter()
        trace = Trace.start(query, self.adapters, self.domains)
        try:
            steps, trace.plan_timing, problem = self._plan(query, emit, stop, replan=False)
            trace.plan = list(steps)
            emit(PlanMade(steps, trace.plan_timing))
            if steps:
                self._run_steps(query, steps, trace, emit, stop)
            else:
                trace.status = "no_plan"
                emit(RunError(problem or "the planner wrote no steps"))
        except _Cancelled:
            trace.status = "cancelled"
        trace.seconds = time.perf_counter() - t0
        emit(RunDone(trace))
        return trace

    def plan(
        self, query: str, on_event: OnEvent | None = None, cancel: Callable[[], bool] | None = None
    ) -> tuple[tuple[str, ...], Timing | None, str | None]:
        """Only the plan of ``query``: (steps, timing, why there are none); nothing acts and the
        device is untouched. ``on_event`` gets each :class:`PlanToken`; a ``cancel`` that turns
        True ends it with no steps, no timing and no reason (the caller knows why)."""
        try:
            return self._plan(
                query, on_event or (lambda event: None), cancel or (lambda: False), replan=False
            )
        except _Cancelled:
            return (), None, None

    def _run_steps(self, query: str, steps: tuple[str, ...], trace: Trace, emit: OnEvent, stop) -> None:
        pending = deque(steps)
        while pending:
            previous = trace.steps[-1].observation if trace.steps else None
            record = self._step(len(trace.steps) + 1, pending.popleft(), previous, emit, stop)
            trace.steps.append(record)
            if record.ok or record.status == "denied":  # denied: the user's choice, go on without it
                continue
            if len(trace.replans) >= self.max_replans:
                trace.status = "failed"
                return
            done = [(s.step, s.observation) for s in trace.steps[:-1]]
            prompt = replan_query(query, done, (record.step, record.observation))
            new, timing, _ = self._plan(prompt, emit, stop, replan=True)
            trace.replans.append(Replan(record.index, prompt, list(new), timing))
            emit(Replanned(record.index, prompt, new, timing))
            if not new:
                trace.status = "failed"
                return
            pending = deque(new)
        trace.status = "denied" if any(s.status == "denied" for s in trace.steps) else "done"

    # --- stages ---------------------------------------------------------------------------------

    def _plan(
        self, query: str, emit: OnEvent, stop, replan: bool
    ) -> tuple[tuple[str, ...], Timing, str | None]:
        """(steps, timing, why there are none) of one plan or re-plan, its text streamed."""
        stage = "replan" if replan else "plan"
        t0 = time.perf_counter()
        out = None
        try:
            stream = self.planner.stream(query)
            try:
                for item in stream:
                    if stop():
                        raise _Cancelled
                    if isinstance(item, str):
                        emit(PlanToken(item, replan))
                    else:
                        out = item
            finally:
                getattr(stream, "close", lambda: None)()
        except OctoError as e:  # a request that does not fit the context, say
            return (), Timing(stage, time.perf_counter() - t0), str(e)
        timing = Timing.of(stage, out, time.perf_counter() - t0)  # a PlanOutput is a Generation
        return tuple(getattr(out, "steps", ()) or ()), timing, None

    def _step(self, index: int, step: str, observation: dict | None, emit: OnEvent, stop) -> StepRecord:
        record = StepRecord(index, step)
        error = None
        for attempt in (1, 2):
            if stop():
                raise _Cancelled
            call, made = self._act(step, observation, error)
            record.attempts.append(made)
            function = self.functions.get(made.function)
            event = CallMade(
                index,
                step,
                made.function,
                dict(made.arguments or {}),
                bool(function and function.side_effects),
                attempt,
                made.problem,
                made.timing,
            )
            emit(event)
            if made.problem is None:
                break
            retry = attempt == 1 and self.retries
            emit(RunError(f"step {index}: {made.problem}", index, retrying=retry))
            if not retry:
                shown = NO_CALL if made.function is None else made.function
                obs = Observation(shown, dict(event.arguments), False, error=f"invalid call: {made.problem}")
                return self._finish(record, "invalid", obs, emit)
            error = made.problem
        if call.is_none:
            return self._finish(
                record, "no_function", Observation(NO_CALL, {}, False, error=NO_FUNCTION), emit
            )
        record.call = call.to_dict()
        record.side_effects = function.side_effects
        if function.side_effects:
            t0 = time.perf_counter()
            approved = bool(self.confirm(event)) if self.confirm is not None else False
            record.confirmed, record.confirm_seconds = approved, time.perf_counter() - t0
            emit(Confirmation(index, function.name, dict(call.arguments), approved))
            if not approved:
                obs = Observation(function.name, dict(call.arguments), False, error=DECLINED)
                return self._finish(record, "denied", obs, emit)
        t0 = time.perf_counter()
        try:
            obs = execute(function, dict(call.arguments), self.state)
        except Exception as e:  # a domain bug (a reader that writes): an observation, not a crash
            obs = Observation(function.name, dict(call.arguments), False, error=f"{type(e).__name__}: {e}")
        record.execute_seconds = time.perf_counter() - t0
        return self._finish(record, "ok" if obs.ok else "failed", obs, emit)

    def _act(self, step: str, observation, error) -> tuple[Call | None, Attempt]:
        """Ask the action model for the step's call and check it: (the call, None when none
        could be read; the attempt's record, whose ``problem`` says why the call is refused)."""
        active = [d.name for d in self.domains]
        extra = {"error": error} if error is not None else {}
        t0 = time.perf_counter()
        try:
            decoded = self.action.act(step, observation, active=active, **extra)
        except OctoError as e:  # an observation too long for the context, say
            timing = Timing("action", time.perf_counter() - t0)
            return None, Attempt("", None, None, str(e), timing)
        timing = Timing.of("action", decoded.generation, time.perf_counter() - t0)
        call, problem = decoded.call, None
        if call is None:
            p = decoded.problem
            problem = f"{p.kind}: {p}" if isinstance(p, CallProblem) else str(p or "no call")
            return None, Attempt(decoded.text, None, None, problem, timing)
        if not call.is_none:
            problem = self._check(call)
        return call, Attempt(decoded.text, call.function, dict(call.arguments), problem, timing)

    def _check(self, call: Call) -> str | None:
        """Why ``call`` may not run (not a function of the active domains, arguments that do not
        fit its schema), or None. The model's decoder checked it too: this does not trust it."""
        function = self.functions.get(call.function)
        if function is None:
            return f"out_of_domain: {call.function} is not a function of the active domains"
        try:
            check_call(call, function)
        except CallProblem as e:
            return f"{e.kind}: {e}"
        return None

    @staticmethod
    def _finish(record: StepRecord, status: str, observation: Observation, emit: OnEvent) -> StepRecord:
        record.status, record.observation = status, observation.to_dict()
        emit(StepResult(record.index, record.step, status, record.observation, record.execute_seconds))
        return record
