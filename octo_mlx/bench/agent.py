"""The agent end to end: requests run on a seeded simulated device, scored by the state they leave.

A request (:class:`AgentRequest`) is a query, the seed of its device, its gold calls and, for
some, a fault seeded into the device (:mod:`octo_mlx.domains.faults`) so that one of its steps
fails at first. Its **expected outcome** is computed from the gold calls alone: each runs in
order on that device; a call that fails changes nothing, and a step that names a failed (or
dropped) step's result is dropped. The agent **succeeds** when the device it leaves equals the
expected device (the same state digest) and every read-only gold call that worked was made by
the agent too, with the same arguments (defaults filled in, strings compared without case).

A request whose device makes one step fail with steps still to run after it is *recoverable*
(it needs one re-plan): without re-planning the agent stops at the failure and the steps left
are never run; with it, the planner is asked for the rest (:mod:`octo_mlx.synth.replan` teaches
it). Runs with ``max_replans`` 0 and 1 on the same requests measure what re-planning recovers;
a request that needs more re-plans than allowed fails in "all" and is also reported apart.

Request sets are made from the test split of offline planner data (held-out phrasing families,
:func:`make_requests`) and committed (benchmarks/splits/agent-v1), so that every session scores
the same requests.
"""

from __future__ import annotations

import copy
import json
import random
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.domains import world
from octo_mlx.domains.faults import KINDS, inject
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call
from octo_mlx.functions.simulator import DeviceState, execute
from octo_mlx.generation import DEFAULT_LOOKUP
from octo_mlx.stats import wilson_interval
from octo_mlx.synth.offline import state_digest

SCHEMA = "octo-mlx/agent-bench/1"
REQUEST_FIELDS = ("id", "query", "domains", "seed", "calls", "dependent", "fault")


@dataclass(frozen=True)
class AgentRequest:
    """One request of an agent test set.

    Args:
        id: the planner example it was made from.
        query: what the user types.
        domains: the domains its functions come from.
        seed: the device's world seed (:func:`octo_mlx.domains.world.new_state`).
        calls: the gold call of each step.
        dependent: per step, whether it names the previous step's result.
        fault: ``{"step": k, "kind": name}`` (0-based step) seeded into the device, or None.
    """

    id: str
    query: str
    domains: tuple[str, ...]
    seed: int
    calls: tuple[Call, ...]
    dependent: tuple[bool, ...]
    fault: Mapping[str, Any] | None = None

    @property
    def n_steps(self) -> int:
        return len(self.calls)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "query": self.query,
            "domains": list(self.domains),
            "seed": self.seed,
            "calls": [c.to_dict() for c in self.calls],
            "dependent": list(self.dependent),
            "fault": dict(self.fault) if self.fault else None,
        }

    @classmethod
    def from_record(cls, record: Any, where: str) -> AgentRequest:
        if not isinstance(record, dict) or set(record) != set(REQUEST_FIELDS):
            raise OctoError(
                f"a request is an object with exactly the fields {', '.join(REQUEST_FIELDS)}", where
            )
        calls, dependent, fault = record["calls"], record["dependent"], record["fault"]
        domains = record["domains"]
        ok = (
            isinstance(record["query"], str)
            and isinstance(record["seed"], int)
            and not isinstance(record["seed"], bool)
            and record["seed"] >= 0
            and isinstance(domains, list)
            and all(isinstance(d, str) for d in domains)
            and isinstance(calls, list)
            and calls
            and isinstance(dependent, list)
            and len(dependent) == len(calls)
            and all(isinstance(d, bool) for d in dependent)
        )
        if not ok:
            raise OctoError(
                "bad request: query text, seed >= 0, domains a list of names, calls and dependent "
                "of one length",
                where,
            )
        if fault is not None and not (
            isinstance(fault, dict)
            and set(fault) == {"step", "kind"}
            and fault["kind"] in KINDS
            and isinstance(fault["step"], int)
            and 0 <= fault["step"] < len(calls)
        ):
            raise OctoError(
                f"bad fault: {{'step': 0..{len(calls) - 1}, 'kind': one of {', '.join(KINDS)}}}", where
            )
        try:
            parsed = tuple(Call.from_dict(c) for c in calls)
        except (KeyError, TypeError, ValueError, OctoError) as e:
            raise OctoError(f"bad call: {e}", where) from None
        return cls(
            str(record["id"]),
            record["query"],
            tuple(record["domains"]),
            record["seed"],
            parsed,
            tuple(dependent),
            fault,
        )


def read_requests(path: str | Path) -> list[AgentRequest]:
    """A request set (JSON Lines); the first bad line is an OctoError ``file:line: reason``."""
    from octo_mlx.files import read_text

    path = Path(path)
    out = []
    for i, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise OctoError(f"malformed JSON: {e.msg}", f"{path}:{i}") from None
        request = AgentRequest.from_record(record, f"{path}:{i}")
        device_for(request, f"{path}:{i}")  # its fault applies: checked now, not after a model loads
        out.append(request)
    if not out:
        raise OctoError("no requests", path)
    return out


def write_requests(path: str | Path, requests: Iterable[AgentRequest]) -> Path:
    from octo_mlx.files import write_atomic

    text = "".join(json.dumps(r.to_record(), ensure_ascii=False) + "\n" for r in requests)
    write_atomic(path, text)
    return Path(path)


def make_requests(domains: Sequence, n: int, seed: int = 0, fault_share: float = 1.0) -> list[AgentRequest]:
    """``n`` requests from the test split of offline planner data for ``domains`` (held-out
    phrasings; the split is a tenth of what is made), about ``fault_share`` of the multi-step ones
    with a fault seeded where one makes a step before the last fail (:func:`octo_mlx.synth.replan.
    seeded_failure`; some steps fail in the world as it is seeded, without one)."""
    from octo_mlx.synth.offline import synthesize_offline
    from octo_mlx.synth.replan import seeded_failure

    functions = {f.name: f for d in domains for f in d.functions}
    ds = synthesize_offline(domains, n * 10, seed)
    r = random.Random(f"agent-requests:{seed}")
    out = []
    for ex in ds.splits["test"][:n]:
        gold = ds.gold.get(ex.id)
        if not gold:  # a request no function serves: not an agent request
            continue
        fault = None
        if len(gold) > 1 and r.random() < fault_share:
            failure = seeded_failure(ex, gold, functions, r)
            if failure is not None:
                fault = {"step": failure.step, "kind": failure.fault}
        out.append(
            AgentRequest(
                ex.id,
                ex.query,
                ex.domains,
                ex.world["seed"],
                tuple(g.call for g in gold),
                tuple(g.dependent for g in gold),
                fault,
            )
        )
    return out


# --- the expected outcome and the score --------------------------------------------------------------


def device_for(request: AgentRequest, where: str | None = None) -> DeviceState:
    """The request's device: its seeded world, with its fault when it has one.

    Raises:
        OctoError: the fault does not apply to its step's call (naming ``where``).
    """
    state = world.new_state(request.seed)
    if request.fault:
        k = request.fault["step"]
        if not 0 <= k < request.n_steps or not inject(
            state, request.fault["kind"], request.calls[k].arguments
        ):
            raise OctoError(f"request {request.id}: its fault {dict(request.fault)} does not apply", where)
    return state


@dataclass(frozen=True)
class Expected:
    """What the gold calls leave: the device's digest, the read-only calls that worked (function,
    normalised arguments), the first step that fails (None: none) and how many re-plans an agent
    needs to get there (each failed step followed by a step that still runs)."""

    state_sha256: str
    reads: tuple[tuple[str, str], ...]
    fails_at: int | None
    replans_needed: int = 0  # failed steps with a step that still runs after them: one re-plan each


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def call_key(function: str, arguments: Mapping[str, Any]) -> tuple[str, str]:
    """A call as compared: its function and its arguments (as executed: defaults filled) without case."""
    return function, json.dumps(_normal(dict(arguments)), sort_keys=True)


def expected(request: AgentRequest, functions: Mapping) -> Expected:
    """The outcome of the request's gold calls on its device (see the module docstring)."""
    state = device_for(request)
    reads, failed, ran, skipped = [], [], [], False
    for k, (call, dep) in enumerate(zip(request.calls, request.dependent)):
        if dep and skipped:
            continue
        function = functions[call.function]
        obs = execute(function, dict(call.arguments), state)
        ran.append(k)
        skipped = not obs.ok
        if not obs.ok:
            failed.append(k)
        if obs.ok and not function.side_effects:
            reads.append(call_key(obs.function, obs.arguments))
    needed = sum(1 for k in failed if any(j > k for j in ran))
    return Expected(state_digest(state), tuple(reads), failed[0] if failed else None, needed)


def score(trace, state: DeviceState, want: Expected) -> tuple[bool, str]:
    """(success, why not) of one agent run: its device against the expected digest, its reads
    against the gold reads."""
    made = {
        call_key(s.observation["function"], s.observation.get("arguments") or {})
        for s in trace.steps
        if s.ok and s.observation.get("function")
    }
    missing = [f for f, args in want.reads if (f, args) not in made]
    if missing:
        return False, f"read call not made as the gold made it: {missing[0]}"
    if state_digest(state) != want.state_sha256:
        return False, "the device differs from the gold calls' device"
    return True, ""


# --- the run ----------------------------------------------------------------------------------


OURS, PEER = "octo-mlx", "in-context"


@dataclass
class RequestResult:
    id: str
    steps: int
    fails_at: int | None
    replans_needed: int
    max_replans: int
    success: bool
    why: str
    status: str
    replans: int
    seconds: float
    stages: dict[str, float]
    plan: list[str]
    calls: list[dict]
    agent: str = OURS  # which agent ran it: ours, or the in-context peer
    tokens: list[int] = field(default_factory=list)  # [prompt, generated] over the whole run

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AgentBenchResult:
    """Every request under every ``max_replans`` setting, and what the runs ran on."""

    requests: str
    adapters: dict[str, str]
    results: list[RequestResult] = field(default_factory=list)
    seconds: float = 0.0

    def rows(
        self, max_replans: int, where: Callable[[RequestResult], bool] = lambda r: True, agent: str = OURS
    ) -> list[RequestResult]:
        return [r for r in self.results if r.agent == agent and r.max_replans == max_replans and where(r)]

    def rate(
        self, max_replans: int, where: Callable[[RequestResult], bool] = lambda r: True, agent: str = OURS
    ) -> dict[str, Any]:
        rows = self.rows(max_replans, where, agent)
        k, n = sum(r.success for r in rows), len(rows)
        low, high = wilson_interval(k, n) if n else (0.0, 0.0)
        return {"success": k, "n": n, "rate": k / n if n else None, "low": low, "high": high}

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in sorted({r.max_replans for r in self.results if r.agent == OURS}):
            rows = self.rows(m)
            steps = sorted({r.steps for r in rows})
            two = [r.seconds for r in rows if r.steps == 2 and r.success]
            out[f"max_replans={m}"] = {
                "all": self.rate(m),
                "recoverable": self.rate(m, lambda r: r.replans_needed == 1),
                "needs_more_replans": self.rate(m, lambda r: r.replans_needed > 1),
                "no_failure": self.rate(m, lambda r: r.fails_at is None),
                "by_steps": {str(s): self.rate(m, lambda r, s=s: r.steps == s) for s in steps},
                "median_seconds": statistics.median(r.seconds for r in rows) if rows else None,
                "median_seconds_two_step_done": statistics.median(two) if two else None,
                "median_stage_seconds": {
                    k: statistics.median(r.stages.get(k, 0.0) for r in rows)
                    for k in ("plan", "action", "execute")
                }
                if rows
                else {},
                "median_tokens": _median_tokens(rows),
            }
        peer = self.rows(0, agent=PEER)
        if peer:
            ours = {r.id: r for r in self.rows(0)}
            paired = [(ours[r.id].seconds, r.seconds) for r in peer if r.id in ours]
            out[PEER] = {
                "all": self.rate(0, agent=PEER),
                "by_steps": {
                    str(s): self.rate(0, lambda r, s=s: r.steps == s, PEER)
                    for s in sorted({r.steps for r in peer})
                },
                "median_seconds": statistics.median(r.seconds for r in peer),
                "median_tokens": _median_tokens(peer),
                # per request, the peer's wall time over ours (max_replans=0), then the median
                "median_speedup": statistics.median(p / o for o, p in paired if o > 0) if paired else None,
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "requests": self.requests,
            "adapters": self.adapters,
            "seconds": self.seconds,
            "summary": self.summary(),
            "results": [r.to_json() for r in self.results],
        }


def _median_tokens(rows: Sequence[RequestResult]) -> list[float] | None:
    """[prompt, generated] tokens per request, medians."""
    counted = [r.tokens for r in rows if r.tokens]
    if not counted:
        return None
    return [statistics.median(t[0] for t in counted), statistics.median(t[1] for t in counted)]


def run_agent_bench(
    session,
    requests: Sequence[AgentRequest],
    source: str = "",
    replans: Sequence[int] = (0, 1),
    progress: Callable[[int, int], None] | None = None,
    peer=None,
) -> AgentBenchResult:
    """Run every request with each ``max_replans`` in ``replans`` on a fresh device of its own, every
    call approved (the user says yes), and score it.

    Args:
        session: an :class:`octo_mlx.agent.session.Session` (its agent is reused; its confirm,
            re-plan bound and device are put back as they were when the run ends).
        requests: the request set.
        source: what to name it in the report (its file).
        progress: called with (done, total) after each run.
        peer: an agent to measure beside ours on the same requests, interleaved (each request:
            ours under every setting, then the peer once on a fresh device of its own); e.g.
            :class:`octo_mlx.agent.incontext.InContextAgent`.
    """
    agent = session.agent
    functions = dict(agent.functions)
    missing = sorted({c.function for r in requests for c in r.calls} - set(functions))
    if missing:
        raise OctoError(f"the agent's domains lack {', '.join(missing[:3])}: activate the requests' domains")
    saved = agent.confirm, agent.max_replans, agent.state
    try:
        return _run_requests(agent, requests, source, replans, progress, functions, peer)
    finally:
        agent.confirm, agent.max_replans, agent.state = saved


def _run_requests(agent, requests, source, replans, progress, functions, peer=None) -> AgentBenchResult:
    agent.confirm = lambda event: True
    result = AgentBenchResult(source, dict(agent.adapters))
    runs = [(agent, m, OURS) for m in replans] + ([(peer, 0, PEER)] if peer is not None else [])
    total, done, t0 = len(requests) * len(runs), 0, time.perf_counter()
    for request in requests:
        want = expected(request, functions)
        for runner, m, name in runs:
            runner.max_replans = m
            runner.state = device_for(request)
            start = time.perf_counter()
            trace = runner.run(request.query)
            seconds = time.perf_counter() - start
            ok, why = score(trace, runner.state, want)
            result.results.append(
                RequestResult(
                    request.id,
                    request.n_steps,
                    want.fails_at,
                    want.replans_needed,
                    m,
                    ok,
                    why,
                    trace.status,
                    len(trace.replans),
                    seconds,
                    trace.stage_seconds(),
                    list(trace.plan),
                    copy.deepcopy(trace.calls),
                    name,
                    list(trace.token_counts()),
                )
            )
            done += 1
            if progress:
                progress(done, total)
    result.seconds = time.perf_counter() - t0
    return result


def bench_agent(
    requests: str | Path,
    planner: str | Path | None = None,
    action: str | Path | None = None,
    model: str | Path | None = None,
    limit: int | None = None,
    replans: Sequence[int] = (0, 1),
    max_plan_tokens: int = 128,
    progress: Callable[[int, int], None] | None = None,
    peer: bool = False,
    lookup: int = DEFAULT_LOOKUP,
) -> AgentBenchResult:
    """`octo-mlx bench agent`: load the base with both adapters (the shipped ones by default), its
    domains those of the requests, and run :func:`run_agent_bench` on the first ``limit``; with
    ``peer``, the same base without an adapter as an in-context agent beside it."""
    from octo_mlx.agent.session import open_session

    chosen = read_requests(requests)[:limit]
    domains = sorted({d for r in chosen for d in r.domains})
    session = open_session(planner, action, model, domains, max_plan_tokens=max_plan_tokens, lookup=lookup)
    other = None
    if peer:
        from octo_mlx.agent.incontext import InContextAgent

        other = InContextAgent(session.pool.view(None), session.pool.tokenizer, session.agent.domains, None)
    return run_agent_bench(session, chosen, str(requests), replans, progress, other)
