"""Re-plan training data: failures the simulated world really produces, and the steps left.

Everything runs on the real bundled domains and their simulator; the expected errors are read
from the simulator, never written here."""

from __future__ import annotations

import json
import random

import pytest

from octo_mlx.data import SPLITS, read_split, validate_dir
from octo_mlx.domains import world
from octo_mlx.domains.catalog import load_domains
from octo_mlx.domains.faults import FAULTS, fault_for
from octo_mlx.functions.simulator import execute
from octo_mlx.syntax import REPLAN_ASK, replan_query
from octo_mlx.synth.offline import synthesize_offline
from octo_mlx.synth.replan import find_failure, remaining, replan_splits
from tests.helpers.cli import run_octo

DOMAINS = ["android", "ecommerce", "video_streaming", "travel"]


@pytest.fixture(scope="module")
def domains():
    return load_domains(DOMAINS)


@pytest.fixture(scope="module")
def functions(domains):
    return {f.name: f for d in domains for f in d.functions}


@pytest.fixture(scope="module")
def plans(domains):
    return synthesize_offline(domains, 600, seed=3)


@pytest.fixture(scope="module")
def replans(plans, domains):
    return replan_splits(plans, domains, 1.0, seed=3)


def _gold_call_of(plans, function):
    for split in SPLITS:
        for ex in plans.splits[split]:
            for g in plans.gold.get(ex.id, ()):
                if g.call.function == function and g.observation["ok"]:
                    return ex, g
    raise AssertionError(f"no successful {function} call in the plans")


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind)
def test_each_fault_makes_a_call_that_worked_fail_with_the_domains_own_error(fault, plans, functions):
    ex, g = _gold_call_of(plans, fault.function)
    fresh = world.new_state(ex.world["seed"])
    assert fault.inject(fresh, g.call.arguments)
    broken = execute(functions[fault.function], dict(g.call.arguments), fresh)
    assert not broken.ok and broken.error
    # the same call in the same world without the fault still works: the fault is what broke it
    again = execute(functions[fault.function], dict(g.call.arguments), world.new_state(ex.world["seed"]))
    assert again.ok, again.error


def test_remaining_drops_the_failed_step_and_every_step_that_needs_its_result():
    from types import SimpleNamespace as S

    gold = [S(dependent=d) for d in (False, False, True, True, False, True)]
    assert remaining(gold, 1) == [4, 5]  # 2 needs 1's result, 3 needs 2's; 5 needs 4's (kept)
    assert remaining(gold, 0) == [1, 2, 3, 4, 5]
    assert remaining(gold, 4) == []


def test_every_replan_query_is_the_agents_own_prompt_with_the_simulators_observations(
    plans, replans, functions
):
    made = [e for s in SPLITS for e in replans[s]]
    assert len(made) > 50
    by_id = {e.id: e for s in SPLITS for e in plans.splits[s]}
    r = random.Random(0)
    for ex in r.sample(made, 40):
        source = by_id[ex.id.rsplit("-r", 1)[0]]
        k = int(ex.id.rsplit("-r", 1)[1]) - 1
        failure = find_failure(source, plans.gold[source.id], functions, random.Random(f"x{ex.id}"))
        assert failure is not None and failure.step <= k
        gold = plans.gold[source.id]
        # rebuild the failure the example shows: the natural one, or the fault named by the step's function
        state = world.new_state(source.world["seed"])
        if gold[k].observation["ok"]:
            assert fault_for(gold[k].call.function).inject(state, gold[k].call.arguments)
        seen = [
            execute(functions[g.call.function], dict(g.call.arguments), state).to_dict()
            for g in gold[: k + 1]
        ]
        assert all(o["ok"] for o in seen[:-1]) and not seen[-1]["ok"]
        done = [(source.steps[i], seen[i]) for i in range(k)]
        assert ex.query == replan_query(source.query, done, (source.steps[k], seen[k]))
        assert ex.query.endswith(REPLAN_ASK) and seen[-1]["error"] in ex.query
        keep = remaining(gold, k)
        assert ex.steps == tuple(source.steps[j] for j in keep) and ex.steps
        assert [c.function for c in ex.calls] == list(ex.functions) == [source.functions[j] for j in keep]


def test_replans_stay_in_their_plans_split_and_both_kinds_of_failure_occur(plans, replans):
    for split in SPLITS:
        ids = {e.id for e in plans.splits[split]}
        assert all(e.id.rsplit("-r", 1)[0] in ids for e in replans[split]), split
    text = "\n".join(e.query for s in SPLITS for e in replans[s])
    assert "no contact named" in text  # a seeded fault (unknown_contact)
    assert "nothing is playing" in text  # a failure of the world as it is seeded


def test_replan_share_zero_makes_none_and_the_same_seed_the_same_examples(plans, domains, replans):
    assert all(not v for v in replan_splits(plans, domains, 0.0, seed=3).values())
    again = replan_splits(plans, domains, 1.0, seed=3)
    assert {s: [e.to_record() for e in v] for s, v in again.items()} == {
        s: [e.to_record() for e in v] for s, v in replans.items()
    }


def test_the_cli_writes_replan_examples_into_a_valid_planner_dataset(tmp_path, domains):
    out = tmp_path / "data"
    res = run_octo(
        "data", "synth", "--offline", "--n", "200", "--domain", "android", "--domain", "ecommerce",
        "--replan", "0.5", "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "dataset.json").read_text())
    counts = manifest["replan"]
    assert sum(counts.values()) > 0
    assert validate_dir(out, domains) == []
    for split in SPLITS:
        rows = read_split(out / f"{split}.jsonl")
        assert sum(e.query.endswith(REPLAN_ASK) for e in rows) == counts[split]


def test_replan_is_refused_for_action_data(tmp_path):
    res = run_octo(
        "data", "synth", "--offline", "--task", "action", "--replan", "0.2", "--out", str(tmp_path / "d")
    )
    assert res.returncode != 0 and "--replan" in res.stderr and "Traceback" not in res.stderr


def test_the_sold_out_field_leaves_digests_of_worlds_without_it_unchanged():
    import hashlib
    import json as _json

    from octo_mlx.synth.offline import state_digest

    state = world.new_state(5)
    old = _json.loads(_json.dumps(state, default=vars))
    del old["travel"]["sold_out"]  # the state as it was before the field existed
    text = _json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert state_digest(state) == hashlib.sha256(text.encode()).hexdigest()
    state.travel.sold_out.append("FL-20250710-NEWYORK-LONDON-1")
    assert state_digest(state) != hashlib.sha256(text.encode()).hexdigest()
