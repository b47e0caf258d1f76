"""Setting the agent up, and a session of requests against one simulated device.

:func:`open_session` loads the base once with the planner and action adapters resident on it
(:class:`octo_mlx.resident.AdapterPool`), puts the planner and the action model on pool views (the
switch happens when each runs), and seeds the simulated device. A :class:`Session` runs requests
one after another on that device, keeps their traces, and can show what the requests changed and
start over (`octo-mlx chat`'s ``/state`` and ``/reset``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.agent.events import CallMade, OnEvent
from octo_mlx.agent.loop import Agent
from octo_mlx.agent.trace import Trace
from octo_mlx.domains.world import new_state
from octo_mlx.functions.simulator import DeviceState
from octo_mlx.generation import DEFAULT_LOOKUP

PLANNER, ACTION = "planner", "action"  # the adapters' names on the pool
SESSION_SCHEMA = "octo-mlx/chat-session/1"
DEFAULT_PLAN_TOKENS = 128  # a 5-step plan of the bundled domains is < 100 tokens


@dataclass
class Session:
    """Requests run one after another on one simulated device.

    Args:
        agent: the agent (its ``state`` is the session's device).
        seed: the seed the device was made from (``/reset`` makes it again).
        pool: the AdapterPool the models run on (None for models built otherwise).
    """

    agent: Agent
    seed: int = 0
    pool: Any = None
    traces: list[Trace] = field(default_factory=list)
    initial: DeviceState | None = None

    def __post_init__(self):
        if self.initial is None:
            self.initial = copy.deepcopy(self.agent.state)

    @property
    def state(self) -> DeviceState:
        return self.agent.state

    def run(
        self, query: str, on_event: OnEvent | None = None, cancel: Callable[[], bool] | None = None
    ) -> Trace:
        """One request (:meth:`Agent.run`); its trace is kept in :attr:`traces`."""
        trace = self.agent.run(query, on_event, cancel)
        self.traces.append(trace)
        return trace

    def reset(self) -> None:
        """A freshly seeded device, as when the session began; the traces are forgotten."""
        self.agent.state = new_state(self.seed)
        self.initial = copy.deepcopy(self.agent.state)
        self.traces.clear()

    def changes(self) -> dict[str, dict]:
        """What the requests changed on the device since the session began (or ``/reset``)."""
        return state_changes(self.initial, self.agent.state)

    def plan(self, query: str, cancel: Callable[[], bool] | None = None) -> tuple[str, ...]:
        """Only the plan of ``query`` (``/plan``): nothing acts, the device is untouched.

        Raises:
            OctoError: the request cannot be planned (it does not fit the model's context).
        """
        from octo_mlx.errors import OctoError

        steps, _, problem = self.agent.plan(query, cancel=cancel)
        if problem is not None:
            raise OctoError(problem)
        return steps

    def save(self, path: str | Path) -> Path:
        """Write the session (``/save``): its seed, the device as it was seeded and as it is now,
        and every request's trace, as one JSON object (written whole or not at all)."""
        from octo_mlx.files import write_atomic

        body = {
            "schema": SESSION_SCHEMA,
            "seed": self.seed,
            "initial": self.initial.to_dict(),
            "state": self.agent.state.to_dict(),
            "traces": [t.to_dict() for t in self.traces],
        }
        return write_atomic(path, json.dumps(body, ensure_ascii=False, indent=1) + "\n")

    def load(self, path: str | Path) -> int:
        """Continue a saved session (``/load``): its seed and its device, as it was seeded and as
        it was left; returns how many requests it had run (their traces stay in the file).

        Raises:
            OctoError: not a session file, or a device state that does not read (naming the key).
        """
        from octo_mlx.errors import OctoError
        from octo_mlx.files import read_json_object

        body = read_json_object(path)
        traces = body.get("traces")
        seed = body.get("seed")
        if body.get("schema") != SESSION_SCHEMA or not isinstance(seed, int) or not isinstance(traces, list):
            raise OctoError(f"not an octo-mlx chat session ({SESSION_SCHEMA})", path)
        initial = DeviceState.from_dict(body.get("initial"), path)  # both read before anything changes
        state = DeviceState.from_dict(body.get("state"), path)
        self.seed, self.initial, self.agent.state = body["seed"], initial, state
        self.traces.clear()
        return len(traces)


def state_changes(before: DeviceState, after: DeviceState) -> dict[str, dict]:
    """``section.field`` -> ``{"added": [...]}`` for a list that only grew, else ``{"was", "now"}``,
    for every field that differs (the id counter left out: it is not the device's)."""
    old, new = before.to_dict(), after.to_dict()
    out: dict[str, dict] = {}

    def compare(path: str, a: Any, b: Any) -> None:
        if a == b:
            return
        if isinstance(a, list) and isinstance(b, list) and b[: len(a)] == a:
            out[path] = {"added": b[len(a) :]}
        else:
            out[path] = {"was": a, "now": b}

    for key in new:
        if key in ("next_id", "seed"):
            continue
        if isinstance(new[key], dict) and isinstance(old.get(key), dict) and key != "call_log":
            for sub in new[key]:
                compare(f"{key}.{sub}", old[key].get(sub), new[key][sub])
        else:
            compare(key, old.get(key), new[key])
    return out


SHIPPED = Path(__file__).resolve().parents[2] / "adapters"  # a checkout's (or editable install's) adapters/


def shipped_adapters(folder: Path = SHIPPED) -> tuple[Path, Path]:
    """(planner, action): the trained adapters a checkout of octo-mlx ships in ``adapters/``
    (adapters/README.md says how each was made and measured; adapters/MANIFEST holds their
    sha256).

    Raises:
        OctoError: they are not there (an install without the repository).
    """
    from octo_mlx.errors import OctoError

    pair = folder / PLANNER, folder / ACTION
    for p in pair:
        if not (p / "adapter_config.json").is_file():
            raise OctoError(
                "no shipped adapter here (a checkout of octo-mlx has them); give --planner and --action", p
            )
    return pair


def open_session(
    planner: str | Path | None = None,
    action: str | Path | None = None,
    model: str | Path | None = None,
    domains: Iterable[str | Path] | None = None,
    confirm: Callable[[CallMade], bool] | None = None,
    seed: int = 0,
    max_replans: int = 1,
    max_plan_tokens: int = DEFAULT_PLAN_TOKENS,
    force: bool = False,
    lookup: int = DEFAULT_LOOKUP,
) -> Session:
    """Load the base once with both adapters resident, and seed the device: `octo-mlx chat`.

    Args:
        planner: the planner adapter folder (`octo-mlx train` on planner data); None: the
            shipped one (:func:`shipped_adapters`).
        action: the action adapter folder (`octo-mlx train` on action data); None: the shipped one.
        model: the base (default: the one the action adapter names).
        domains: the active domains: bundled names, tool files or ``module:DOMAIN`` (Python
            functions, run for real); default: every domain the action adapter serves.
        confirm: approves each call with side effects (None: every such call is refused).
        seed: the simulated device's seed.
        max_replans: re-plans per request after a failed step.
        max_plan_tokens: most tokens per plan.
        force: use adapters trained on other base weights (warns).
        lookup: draft tokens the planner and the action model check per forward pass (prompt
            lookup, :func:`octo_mlx.generation.lookup_draft`): the same plans and calls, sooner.

    Raises:
        OctoError: a folder that is not an adapter of this kind or of this base, an unknown
            domain, a domain the action adapter does not serve.
    """
    from octo_mlx.action.model import ActionModel
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.errors import OctoError
    from octo_mlx.planner import Planner, clock_for
    from octo_mlx.resident import AdapterPool

    if max_plan_tokens < 1:
        raise OctoError(f"must be >= 1, got {max_plan_tokens}", "max_plan_tokens")
    if lookup < 0:
        raise OctoError(f"must be >= 0, got {lookup}", "lookup")
    if planner is None or action is None:
        shipped = shipped_adapters()
        planner, action = planner or shipped[0], action or shipped[1]
    pool = AdapterPool.with_adapters(model, {ACTION: action, PLANNER: planner}, force)
    if pool.adapters[PLANNER].task != "plan":
        raise OctoError(f"not a planner adapter (its task is {pool.adapters[PLANNER].task!r})", planner)
    active = load_domains(list(domains)) if domains else None
    actor = ActionModel.on_pool(pool, ACTION, domains=active, lookup=lookup)
    agent = Agent(
        Planner(
            pool.view(PLANNER),
            pool.tokenizer,
            max_tokens=max_plan_tokens,
            clock=clock_for(pool.adapters[PLANNER].config),
            lookup=lookup,
        ),
        actor,
        new_state(seed),
        confirm=confirm,
        max_replans=max_replans,
        domains=active,
        adapters=adapters_used(pool),
    )
    return Session(agent, seed, pool)


def adapters_used(pool) -> Mapping[str, str]:
    """Role -> folder of each resident adapter, and the base, for the trace."""
    return {**{name: str(a.path) for name, a in pool.adapters.items()}, "base": str(pool.folder)}
