"""Gold calls of a teacher's plan: read, checked against the schemas, executed in a seeded world.

The teacher writes each step's call (function and arguments) in its plan reply. A step that acts
on what the step before it returned ("Add the cheapest product found to the cart") cannot be
written before that result exists: the teacher marks it (``uses_previous_result``) and is shown
the previous call's observation, from the seeded simulated world the calls run in, to write its
call then. So a dependent gold call is the one that executing the earlier gold calls makes true,
as in the offline synthesizer (``octo_mlx.synth.offline``), and every call is checked:

- valid against its function's JSON schema (``check_call``): else "invalid call";
- a dependent call names something the previous call returned (:func:`names_result`): else
  "dependent call names nothing" (also when it is the first step, or the previous result is empty);
- it executes there without error (``simulator.execute``): else "call failed".

A plan that passes carries ``calls`` and ``world`` (seed, digest of the final state) exactly like
an offline one; :func:`action_splits` turns accepted plans into action-model examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from octo_mlx.action_data import ActionExample
from octo_mlx.data import NO_FUNCTION, SPLITS, PlanExample
from octo_mlx.domains import world
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call, CallProblem, check_call, parse_arguments
from octo_mlx.functions.simulator import execute
from octo_mlx.synth.checks import Rejection
from octo_mlx.synth.offline import WORLD_SEEDS, first_of_each_step, in_schema_order, state_digest
from octo_mlx.synth.prompts import PlanStep, ReplyError, derive_seed

# The action examples of teacher plans have no step templates (the teacher words each step
# itself), so none can be held out: they all carry this one template id.
TEMPLATE = "teacher"
# A result string shorter than this is too generic to count as named ("ok", "EU", "3")
MIN_NAMED_CHARS = 3

# (step index, the step, the previous call's observation) -> the dependent step's raw arguments
AskCall = Callable[[int, PlanStep, dict], Any]


@dataclass(frozen=True)
class Gold:
    """A plan's executed gold calls: ``dependent[k]``: step k uses step k-1's result;
    ``observations[k]``: what call k returned (``Observation.to_dict()``)."""

    calls: tuple[Call, ...]
    dependent: tuple[bool, ...]
    observations: tuple[dict, ...]
    world: dict


def world_seed(seed: int, task: int, attempt: int) -> int:
    """The simulated world of one task attempt: fixed by the run's seed, like its requests."""
    return derive_seed(seed, "world", task, attempt) % WORLD_SEEDS


def no_function_gold(seed: int) -> Gold:
    """The gold of a request no function serves: the ``none`` call, in an untouched world."""
    return Gold((Call(NO_FUNCTION),), (False,), (), _world(seed, world.new_state(seed)))


def read_arguments(raw: Any, function: str) -> dict:
    """A call's arguments as the teacher wrote them: a JSON object, or its text (parsed with
    ``json`` only, as the action model's output is: octo_mlx.functions.calls.parse_arguments);
    missing (None) is no arguments.

    Raises:
        CallProblem: "syntax" for anything else.
    """
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        return parse_arguments(raw, function)
    raise CallProblem("syntax", f"arguments must be a JSON object, got {type(raw).__name__}", function)


def run_plan(
    functions: Mapping[str, Any], steps: Sequence[PlanStep], seed: int, ask: AskCall
) -> Gold | Rejection:
    """Check and execute a plan's calls in order in ``world.new_state(seed)``.

    Args:
        functions: name -> Function of the domains offered (the plan's functions exist: checked before).
        steps: the plan as the teacher wrote it.
        seed: the world's seed.
        ask: asks the teacher for a dependent step's arguments, given the previous observation
            (raises ReplyError for a reply that is not JSON).

    Returns:
        the executed Gold, or the Rejection (stage "call") of the first step that fails.
    """
    state = world.new_state(seed)
    calls: list[Call] = []
    observations: list[dict] = []
    for k, step in enumerate(steps):
        where = f"step {k + 1} ({step.function})"
        before = observations[-1] if observations else None
        if step.uses_previous:
            if before is None:
                return Rejection(
                    "call", "dependent call names nothing", f"{where}: the first step has no previous result"
                )
            if _empty(before.get("result")):
                return Rejection(
                    "call", "dependent call names nothing", f"{where}: step {k} returned nothing"
                )
            try:
                raw = ask(k, step, before)
            except ReplyError as e:
                return Rejection("call", "call not JSON", f"{where}: {e}")
        else:
            raw = step.arguments
        function = functions[step.function]
        try:
            call = Call(function.name, in_schema_order(function, read_arguments(raw, function.name)))
            check_call(call, function)
        except CallProblem as e:
            return Rejection("call", "invalid call", f"{where}: {e.message}")
        if step.uses_previous and not names_result(call.arguments, before):
            return Rejection(
                "call",
                "dependent call names nothing",
                f"{where}: {call.arguments_json()} names nothing step {k} returned",
            )
        observation = execute(function, call.arguments, state).to_dict()
        if not observation["ok"]:
            return Rejection("call", "call failed", f"{where}: {observation['error']}")
        calls.append(call)
        observations.append(observation)
    dependent = tuple(s.uses_previous for s in steps)
    return Gold(tuple(calls), dependent, tuple(observations), _world(seed, state))


def replay(functions: Mapping[str, Any], example: PlanExample) -> list[dict]:
    """Execute an example's recorded calls again in its recorded world; the observations.

    Raises:
        OctoError: a call fails, or the final state's digest is not the recorded one (the
            domains' implementations changed since the data was made).
    """
    if example.calls is None or example.world is None:
        raise OctoError(f"example {example.id} has no gold calls and world")
    state = world.new_state(example.world["seed"])
    observations = []
    for call in example.calls:
        if call.is_none:
            continue
        observation = execute(functions[call.function], call.arguments, state).to_dict()
        if not observation["ok"]:
            raise OctoError(f"example {example.id}: {call.function} failed again: {observation['error']}")
        observations.append(observation)
    if state_digest(state) != example.world["state_sha256"]:
        raise OctoError(f"example {example.id}: its calls no longer give the recorded world (state_sha256)")
    return observations


def names_result(arguments: Mapping[str, Any], observation: Mapping[str, Any]) -> bool:
    """Whether a call's arguments name something in an earlier call's result: a value equal to
    one of the result's values (strings compared case-insensitively), a string holding one of
    its strings (>= MIN_NAMED_CHARS) or numbers. Every dependent gold call of the offline
    synthesizer passes (tests/test_teacher_calls.py); an id the result lacks does not."""
    found = [
        v for v in _leaves(observation.get("result")) if not (isinstance(v, str) and len(v) < MIN_NAMED_CHARS)
    ]
    for a in _leaves(arguments):
        for r in found:
            if isinstance(r, str):
                if isinstance(a, str) and r.casefold() in a.casefold():
                    return True
            elif isinstance(a, (int, float)) and a == r:
                return True
            elif isinstance(a, str) and re.search(rf"(?<![\d.]){re.escape(str(r))}(?!\d)", a):
                return True
    return False


def _leaves(value: Any) -> Iterator[Any]:
    """The strings and numbers in a JSON value (not booleans, not keys)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)


def _empty(result: Any) -> bool:
    return result in (None, [], {}, "")


def _world(seed: int, state) -> dict:
    return {"seed": seed, "state_sha256": state_digest(state)}


# --- action examples ------------------------------------------------------------------------


def actions_of(
    example: PlanExample, dependent: Sequence[bool], functions: Mapping[str, Any]
) -> list[ActionExample]:
    """One action example per step of an accepted teacher plan: the step, the previous step's
    observation for every step after the first, as the agent hands it (re-executed in the
    recorded world: :func:`replay`; octo_mlx.synth.offline's actions_of says why), the gold
    call; a request no function serves is one example whose step is the request itself and
    whose call is ``none`` (as offline). Every template is :data:`TEMPLATE`."""
    if example.irrelevant:
        call = Call(NO_FUNCTION)
        return [
            ActionExample(
                f"{example.id}-s0",
                example.query,
                None,
                call,
                example.domains,
                TEMPLATE,
                False,
                example.generator,
            )
        ]
    if len(dependent) != len(example.steps):
        raise OctoError(
            f"example {example.id}: {len(dependent)} dependence flags for {len(example.steps)} steps"
        )
    observations = replay(functions, example)
    return [
        ActionExample(
            f"{example.id}-s{k}",
            text,
            observations[k - 1] if k > 0 else None,
            call,
            example.domains,
            TEMPLATE,
            bool(dependent[k]),
            example.generator,
        )
        for k, (text, call) in enumerate(zip(example.steps, example.calls))
    ]


def action_splits(
    plans: Mapping[str, Sequence[PlanExample]],
    dependent: Mapping[str, Sequence[bool]],
    functions: Mapping[str, Any],
) -> dict[str, list[ActionExample]]:
    """The steps of each split's plans as action examples: a plan's steps stay in its split (so
    the test split is the steps of plans, hence requests, never trained on); a step already
    given (same normalised text and observation) is kept once, in the first split it appears in
    (train, then valid, then test: ``offline.first_of_each_step``, as offline).

    Args:
        plans: split -> accepted plans (with calls and world).
        dependent: plan id -> whether each step uses the previous step's result.
        functions: name -> Function, to re-execute the calls.
    """
    return first_of_each_step(
        {
            s: [a for p in plans.get(s, ()) for a in actions_of(p, dependent.get(p.id, ()), functions)]
            for s in SPLITS
        }
    )
