"""A teacher plan's gold calls (octo_mlx.synth.gold_calls), without a server: read, checked
against the schemas, executed in the seeded world, dependent calls held to what the previous
call returned, and accepted plans turned into action examples. The teacher's side of it, over
HTTP, is tests/test_teacher.py."""

from __future__ import annotations

import dataclasses

import pytest

from octo_mlx import action_data, data
from octo_mlx.data import IRRELEVANT_STEP, NO_FUNCTION, PlanExample
from octo_mlx.domains.catalog import load_domain, load_domains
from octo_mlx.domains.world import new_state
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call
from octo_mlx.functions.simulator import execute
from octo_mlx.synth.checks import Rejection
from octo_mlx.synth.gold_calls import (
    TEMPLATE,
    Gold,
    action_splits,
    actions_of,
    names_result,
    no_function_gold,
    replay,
    run_plan,
    world_seed,
)
from octo_mlx.synth.offline import state_digest, synthesize_offline
from octo_mlx.synth.prompts import PlanStep, ReplyError

SEED = 12345


@pytest.fixture(scope="module")
def shop():
    return {f.name: f for f in load_domain("ecommerce").functions}


def _search(query: str = "office chair") -> PlanStep:
    return PlanStep(f"Search the shop for {query}", "search_products", f'{{"query": "{query}"}}')


ADD = PlanStep("Add the cheapest product found to the cart", "add_to_cart", "{}", True)


def _cheapest(observation: dict) -> dict:
    """What the scripted teacher answers: the cheapest product in stock the search returned."""
    products = [p for p in observation["result"] if p["in_stock"]]
    return {"product_id": min(products, key=lambda p: p["price"])["product_id"]}


def _never(*_):
    raise AssertionError("no dependent step: the teacher must not be asked")


def test_every_offline_dependent_gold_call_names_its_previous_result():
    """The dependence check holds for the gold the offline synthesizer executes (all four
    domains, every pick and fill), and refuses an id the result does not hold."""
    ds = synthesize_offline(load_domains(), 600, seed=3, multi_domain=True, consumer_bias=0.9, wordings=True)
    checked = set()
    for steps in ds.gold.values():
        for k, g in enumerate(steps):
            if g.dependent:
                assert names_result(g.call.arguments, steps[k - 1].observation), (g.template, g.call)
                checked.add(g.template)
    assert len(checked) >= 20, checked  # dependent wordings of many consumer functions
    found = {
        "ok": True,
        "result": [{"product_id": "P1003", "name": "Vertex Office Chair Pro", "price": 160.48}],
    }
    assert names_result({"product_id": "P1003"}, found)
    assert names_result({"message": "It costs 160.48 dollars"}, found)
    assert not names_result({"product_id": "P1004"}, found)
    assert not names_result({"quantity": 16}, found)  # 16 is not 160.48
    assert not names_result({"message": "ok"}, {"result": {"status": "ok"}})  # too short to count


def test_a_valid_plan_executes_and_its_world_replays(shop):
    asked = []

    def ask(k, step, observation):
        asked.append((k, step, observation))
        return _cheapest(observation)

    gold = run_plan(shop, [_search(), ADD], SEED, ask)
    assert isinstance(gold, Gold), gold
    assert [k for k, _, _ in asked] == [1] and asked[0][2] == gold.observations[0]  # shown the search
    assert gold.calls[1] == Call("add_to_cart", _cheapest(gold.observations[0]))
    assert gold.dependent == (False, True) and gold.world["seed"] == SEED
    assert gold.world["state_sha256"] != state_digest(new_state(SEED))  # the cart changed
    example = PlanExample("t-1", "q", (_search().step, ADD.step), ("search_products", "add_to_cart"),
                          ("ecommerce",), "teacher:m", gold.calls, gold.world)  # fmt: skip
    assert replay(shop, example) == list(gold.observations)
    # every step after the first is taught with the observation the agent hands it, used or not
    for flags in ((False, True), (False, False)):
        first, second = actions_of(example, flags, shop)
        assert first.observation is None and second.observation == gold.observations[0]
        assert second.dependent == flags[1]
    stale = dataclasses.replace(example, world={**gold.world, "state_sha256": "0" * 64})
    with pytest.raises(OctoError, match="no longer give the recorded world"):
        replay(shop, stale)  # a domain whose implementation changed since: an error, not stale data


NOTHING = "dependent call names nothing"
NO_SUCH = PlanStep("Add P9999", "add_to_cart", '{"product_id": "P9999"}')
BAD_CALLS = {  # case -> (steps, the teacher's answer for the dependent step, category, in the reason)
    "wrong type": (
        [PlanStep("Search 7", "search_products", '{"query": 7}')],
        None,
        "invalid call",
        "not of type",
    ),
    "not JSON": (
        [PlanStep("Search", "search_products", "query=chair")],
        None,
        "invalid call",
        "one JSON object",
    ),
    "unknown argument": (
        [_search(), PlanStep("x", "add_to_cart", '{"id": "P1"}')],
        None,
        "invalid call",
        "'id'",
    ),
    "first step dependent": ([ADD], None, NOTHING, "the first step has no previous result"),
    "nothing found": ([_search("zebra saddle xylophone"), ADD], None, NOTHING, "step 1 returned nothing"),
    "not in the result": ([_search(), ADD], {"product_id": "P1010"}, NOTHING, "names nothing step 1"),
    "reply not JSON": ([_search(), ADD], ReplyError("no JSON object"), "call not JSON", "no JSON object"),
    "answer not JSON": ([_search(), ADD], "not json", "invalid call", "step 2 (add_to_cart)"),
    "fails in the world": ([_search(), NO_SUCH], None, "call failed", "P9999"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_each_bad_call_is_rejected_with_its_reason(shop, case):
    steps, answer, category, said = BAD_CALLS[case]

    def ask(k, step, observation):
        if isinstance(answer, Exception):
            raise answer
        return answer

    got = run_plan(shop, steps, SEED, ask if answer is not None else _never)
    assert isinstance(got, Rejection) and got.stage == "call", got
    assert (got.category, said in got.reason) == (category, True), got


def test_a_bad_call_would_fail_without_the_check_only_where_the_world_refuses_it(shop):
    """P1010 (a product the search did not return) would execute: the dependence check is what
    refuses it; P9999 fails in the world itself."""
    assert (
        names_result({"product_id": "P1010"}, run_plan(shop, [_search()], SEED, _never).observations[0])
        is False
    )
    state = new_state(SEED)
    assert execute(shop["add_to_cart"], {"product_id": "P1010"}, state).ok
    assert not execute(shop["add_to_cart"], {"product_id": "P9999"}, state).ok


def test_world_seeds_are_fixed_by_the_run_seed_task_and_attempt():
    assert world_seed(0, 3, 0) == world_seed(0, 3, 0)
    assert len({world_seed(0, 3, 0), world_seed(0, 3, 1), world_seed(0, 4, 0), world_seed(1, 3, 0)}) == 4
    gold = no_function_gold(7)
    assert gold.calls == (Call(NO_FUNCTION),) and gold.world["state_sha256"] == state_digest(new_state(7))


def test_action_splits_keep_a_plan_in_its_split_and_a_step_once(shop):
    def plan(id_, query, steps, seed):
        gold = run_plan(shop, steps, seed, lambda k, s, o: _cheapest(o))
        funcs = tuple(s.function for s in steps)
        example = PlanExample(id_, query, tuple(s.step for s in steps), funcs, ("ecommerce",), "teacher:m",
                              gold.calls, gold.world)  # fmt: skip
        return example, list(gold.dependent)

    a, dep_a = plan("t-a", "find a chair and add the cheapest", [_search(), ADD], 1)
    b, dep_b = plan("t-b", "look for office chairs", [_search()], 1)  # the same search step again
    c, dep_c = plan("t-c", "find running shoes and add the cheapest", [_search("running shoes"), ADD], 2)
    g = no_function_gold(3)
    none = PlanExample("t-n", "tell me a joke", (IRRELEVANT_STEP,), (NO_FUNCTION,), ("ecommerce",),
                       "teacher:m", g.calls, g.world)  # fmt: skip
    splits = action_splits(
        {"train": [a], "valid": [none], "test": [b, c]},
        {"t-a": dep_a, "t-b": dep_b, "t-c": dep_c, "t-n": [False]},
        shop,
    )
    ids = {s: [e.id for e in v] for s, v in splits.items()}
    assert ids == {"train": ["t-a-s0", "t-a-s1"], "valid": ["t-n-s0"], "test": ["t-c-s0", "t-c-s1"]}
    assert all(e.template == TEMPLATE for v in splits.values() for e in v)
    dependent = splits["train"][1]
    assert dependent.dependent and dependent.observation["function"] == "search_products"
    assert dependent.call == a.calls[1] and splits["train"][0].observation is None
    (joke,) = splits["valid"]
    assert joke.step == "tell me a joke" and joke.call.is_none
    known = data.known_functions(load_domains(["ecommerce"]))
    assert all(action_data.check_record(e.to_record(), known) == [] for v in splits.values() for e in v)
    assert action_data.template_leaks(splits) == {TEMPLATE}  # no template is held out: said in docs/data.md
