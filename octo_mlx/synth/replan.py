"""Re-plan examples for the planner: after a step failed, the steps that are left.

The agent (:mod:`octo_mlx.agent.loop`) asks the planner again when a step fails, with
:func:`octo_mlx.syntax.replan_query`: the request, each step run with its observation, the
failed step with its error. The planner learns the answer here, from failures the simulated
world really produces: a step that fails in the example's own seeded world (pausing when
nothing plays), or one broken by a fault seeded into that world (:mod:`octo_mlx.domains.faults`:
the contact is not saved, the product is out of stock, the flight is sold out, the coupon is
no longer valid). Every observation the query shows is what :func:`octo_mlx.functions.simulator.execute`
returned.

The answer is the rest of the plan without the failed step and without the steps that name its
result (a search that failed has nothing for "add the cheapest one found"): what can still be
done. An example whose failed step leaves nothing is not written (the agent does not re-plan
then). Re-plan examples of a split come from that split's plans only, so a test plan's phrasing
never reaches training.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from octo_mlx.data import SPLITS, PlanExample
from octo_mlx.domains import world
from octo_mlx.domains.faults import fault_for
from octo_mlx.functions.simulator import execute
from octo_mlx.syntax import replan_query
from octo_mlx.synth.offline import OfflineDataset, StepGold


@dataclass(frozen=True)
class Failure:
    """One seeded failure of a plan: its ``step`` (0-based) failed with ``observations[step]``;
    ``fault`` names the fault seeded into the world (None: it fails in the seeded world as is);
    ``observations``: what each step up to the failed one returned."""

    step: int
    fault: str | None
    observations: tuple[dict, ...]


def find_failure(
    example: PlanExample, gold: Sequence[StepGold], functions: Mapping, r: random.Random
) -> Failure | None:
    """A failure of ``example`` before its last step: the first step that fails in its own world,
    else a fault seeded for one step (:func:`seeded_failure`); None when neither exists."""
    for k, g in enumerate(gold[:-1]):
        if not g.observation.get("ok", True):
            return Failure(k, None, tuple(x.observation for x in gold[: k + 1]))
    return seeded_failure(example, gold, functions, r)


def seeded_failure(
    example: PlanExample, gold: Sequence[StepGold], functions: Mapping, r: random.Random
) -> Failure | None:
    """A fault seeded for one step before the last (drawn with ``r``) that really makes that step
    fail while the steps before it still succeed; None when no fault does."""
    candidates = [k for k in range(len(gold) - 1) if fault_for(gold[k].call.function)]
    r.shuffle(candidates)
    for k in candidates:
        fault = fault_for(gold[k].call.function)
        state = world.new_state(example.world["seed"])
        if not fault.inject(state, gold[k].call.arguments):
            continue
        observations = [
            execute(functions[g.call.function], dict(g.call.arguments), state).to_dict()
            for g in gold[: k + 1]
        ]
        if all(o["ok"] for o in observations[:-1]) and not observations[-1]["ok"]:
            return Failure(k, fault.kind, tuple(observations))
    return None


def remaining(gold: Sequence[StepGold], failed: int) -> list[int]:
    """The steps after ``failed`` that do not need its result, directly or through a step that
    does (a dependent step names the result of the step just before it)."""
    keep, blocked = [], True
    for j in range(failed + 1, len(gold)):
        blocked = gold[j].dependent and blocked
        if not blocked:
            keep.append(j)
    return keep


def replan_example(example: PlanExample, failure: Failure, gold: Sequence[StepGold]) -> PlanExample | None:
    """The planner example for ``failure``: the re-plan query -> the steps left (None: none left)."""
    k = failure.step
    keep = remaining(gold, k)
    if not keep:
        return None
    done = [(example.steps[i], failure.observations[i]) for i in range(k)]
    query = replan_query(example.query, done, (example.steps[k], failure.observations[k]))
    return PlanExample(
        f"{example.id}-r{k + 1}",
        query,
        tuple(example.steps[j] for j in keep),
        tuple(example.functions[j] for j in keep),
        example.domains,
        example.generator,
        tuple(gold[j].call for j in keep),
    )


def replan_splits(
    ds: OfflineDataset, domains: Sequence, share: float, seed: int = 0
) -> dict[str, list[PlanExample]]:
    """Re-plan examples for about ``share`` of each split's multi-step plans (split -> examples;
    each from a plan of the same split, see the module docstring)."""
    functions = {f.name: f for d in domains for f in d.functions}
    out: dict[str, list[PlanExample]] = {}
    for split in SPLITS:
        r = random.Random(f"replan:{seed}:{split}")
        out[split] = []
        for ex in ds.splits.get(split, ()):
            gold = ds.gold.get(ex.id)
            if not gold or len(gold) < 2 or ex.world is None or r.random() >= share:
                continue
            failure = find_failure(ex, gold, functions, r)
            made = failure and replan_example(ex, failure, gold)
            if made:
                out[split].append(made)
    return out
