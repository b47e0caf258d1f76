"""The scripted teacher of the tests: two small domains and fixed teacher replies per task.

The replies are written here; everything else is real: build_scripted_model trains a tiny MLX
model on them, `mlx_lm.server` serves it, the synthesis code talks to it over HTTP. Faults are
built in so every rejection path is exercised: a plan naming a function that does not exist
(the deterministic check rejects it), a call whose argument has the wrong type, a pair the judge
rejects, a query that repeats an earlier one (the duplicate check rejects it). Second attempts
get prompts the model never saw: garbage, as from any weak teacher.

``MINI_DOMAIN`` (a JSON spec: no implementations) serves the run the fault and resume tests
replay. ``SHOP`` (the bundled search_products and add_to_cart, which really run in the seeded
world) serves the dependent steps: the teacher is shown what the search returned and names the
cheapest product in stock; one task names a product the search did not return instead, another
adds a product that does not exist (its call fails in the world).
"""

from __future__ import annotations

import json

from octo_mlx.data import IRRELEVANT_STEP
from octo_mlx.domains import world
from octo_mlx.domains.catalog import load_domain
from octo_mlx.functions.calls import Call
from octo_mlx.functions.contract import make_domain
from octo_mlx.functions.simulator import execute
from octo_mlx.synth import prompts as P
from octo_mlx.synth.gold_calls import world_seed

MINI_DOMAIN = {
    "name": "phone",
    "description": "A few phone functions.",
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather_forecast",
                "description": "Weather forecast for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}},
                    "required": ["location"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "send_text_message",
                "description": "Text a contact.",
                "parameters": {
                    "type": "object",
                    "properties": {"contact_name": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["contact_name", "message"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "set_timer_alarm",
                "description": "Set an alarm at HH:MM with a label.",
                "parameters": {
                    "type": "object",
                    "properties": {"time": {"type": "string"}, "label": {"type": "string"}},
                    "required": ["time", "label"],
                },
            },
        },
    ],
}
SETTINGS = dict(n=7, seed=0, steps={1: 1.0, 2: 1.0, 3: 1.0}, irrelevant=1 / 7)
BAD_FUNCTION, JUDGE_NO, DUPLICATE, BAD_TYPE = "bad_function", "judge_no", "duplicate", "bad_type"
NAMES_NOTHING, NO_SUCH_PRODUCT = "names_nothing", "no_such_product"

_SHOP_FUNCTIONS = load_domain("ecommerce")
SHOP = make_domain(
    "shop",
    [_SHOP_FUNCTIONS["search_products"], _SHOP_FUNCTIONS["add_to_cart"]],
    "Search the shop and fill the cart.",
)
SHOP_SPEC = "tests.helpers.scripted_teacher:SHOP"
SHOP_SETTINGS = dict(n=4, seed=0, steps={2: 1.0}, irrelevant=1 / 4)
PRODUCTS = ["office chair", "running shoes", "desk lamp", "yoga mat"]

CITIES = [
    "Paris",
    "Oslo",
    "Lima",
    "Kyoto",
    "Cairo",
    "Quito",
    "Perth",
    "Rome",
    "Accra",
    "Hanoi",
    "Bern",
    "Riga",
]
NAMES = ["Alice", "Bob", "Chen", "Dana", "Emil", "Fatou", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena"]
TIMES = [
    "06:15",
    "07:30",
    "08:45",
    "09:00",
    "10:20",
    "11:05",
    "12:40",
    "13:10",
    "14:55",
    "15:35",
    "16:25",
    "17:50",
]


def _phrase(fn: str, i: int, j: int) -> tuple[str, str, dict]:
    """(words in the query, the plan step, the step's call arguments) for function fn at step j
    of task i."""
    k = (i * 3 + j) % 12
    return {
        "get_weather_forecast": (
            f"check the weather in {CITIES[k]}",
            f"Get the weather forecast for {CITIES[k]}",
            {"location": CITIES[k]},
        ),
        "send_text_message": (
            f"text {NAMES[k]} that I am on my way",
            f"Send {NAMES[k]} a text saying I am on my way",
            {"contact_name": NAMES[k], "message": "I am on my way"},
        ),
        "set_timer_alarm": (
            f"set an alarm for {TIMES[k]} called gym",
            f"Set an alarm at {TIMES[k]} labelled gym",
            {"time": TIMES[k], "label": "gym"},
        ),
    }[fn]


def _plan_reply(steps: list[str], funcs: list[str], args: list[dict | None]) -> str:
    """The plan reply: each call's arguments as JSON text (None: a step that uses the previous
    result, whose arguments are asked for later)."""
    items = [
        {
            "step": s,
            "function": f,
            "arguments": "{}" if a is None else json.dumps(a),
            "uses_previous_result": a is None,
        }
        for s, f, a in zip(steps, funcs, args)
    ]
    return json.dumps({"steps": items})


def assign_faults(tasks: list[P.Task]) -> dict[int, str]:
    """Which relevant tasks get which built-in fault; the first relevant task stays clean (it is
    the one the duplicate repeats: only candidates that passed the checks count as seen)."""
    relevant = [t.index for t in tasks if not t.irrelevant]
    assert len(relevant) >= 6, "the script needs 6 relevant tasks"
    return {relevant[1]: BAD_FUNCTION, relevant[2]: JUDGE_NO, relevant[3]: BAD_TYPE, relevant[-1]: DUPLICATE}


def script(tasks: list[P.Task], tools: list[dict], seed: int) -> tuple[list[tuple[list[dict], str]], dict]:
    """The (messages, reply) pairs of attempt 0 of every task, and the expected outcome per task
    ("accepted" or the rejection category) when the model reproduces them."""
    faults = assign_faults(tasks)
    source = min(t.index for t in tasks if not t.irrelevant)
    pairs, queries, expect = [], {}, {}
    for t in tasks:
        fault = faults.get(t.index)
        if t.irrelevant:
            q = f"what is the capital of the country number {t.index} on the list"
        else:
            q = "please " + " and then ".join(_phrase(f, t.index, j)[0] for j, f in enumerate(t.functions))
        if fault == DUPLICATE:
            q = queries[source]
        queries[t.index] = q
        pairs.append((P.query_messages(t, tools, P.style_for(seed, t, 0)), json.dumps({"query": q})))
        steps, funcs, calls = [IRRELEVANT_STEP], list(t.functions), None
        if not t.irrelevant:
            phrases = [_phrase(f, t.index, j) for j, f in enumerate(t.functions)]
            steps, args = [p[1] for p in phrases], [p[2] for p in phrases]
            if fault == BAD_FUNCTION:
                funcs[-1] = "fly_drone"
            if fault == BAD_TYPE:  # a number where the schema wants a string
                first = next(iter(args[-1]))
                args[-1] = {**args[-1], first: 730}
            calls = [Call(f, a) for f, a in zip(funcs, args)]
            pairs.append((P.plan_messages(t, tools, q), _plan_reply(steps, funcs, args)))
        if fault == BAD_FUNCTION:
            expect[t.index] = "unknown function"
            continue
        if fault == BAD_TYPE:
            expect[t.index] = "invalid call"
            continue
        if fault == DUPLICATE:
            expect[t.index] = "duplicate"
            continue
        ok = fault != JUDGE_NO
        verdict = {
            "valid": ok,
            "reason": "each step matches one function" if ok else "the plan misses a step",
        }
        judge = P.judge_messages(t, tools, q, steps, funcs, calls, [False] * len(steps))
        pairs.append((judge, json.dumps(verdict)))
        expect[t.index] = "accepted" if ok else "judge: invalid"
    # the duplicate's plan prompt can equal its source's (same query and step count): one prompt,
    # one reply (the first), as a real server would answer
    unique = {json.dumps(m, sort_keys=True): (m, r) for m, r in reversed(pairs)}
    return list(reversed(unique.values())), expect


def shop_script(tasks: list[P.Task], seed: int) -> tuple[list[tuple[list[dict], str]], dict]:
    """The (messages, reply) pairs of attempt 0 of every SHOP task and the expected outcome per
    task: two-step plans, search then add to cart. The clean task adds the cheapest product in
    stock the search returned (the teacher is shown the search's observation, computed here by
    running the search in the task's seeded world); NAMES_NOTHING adds a product in stock that
    the search did not return (it would execute: only the dependence check refuses it);
    NO_SUCH_PRODUCT adds, as an independent step, a product id no world holds."""
    tools = SHOP.to_tools()
    relevant = [t.index for t in tasks if not t.irrelevant]
    assert len(relevant) == 3, "the shop script needs 3 relevant tasks"
    faults = {relevant[1]: NAMES_NOTHING, relevant[2]: NO_SUCH_PRODUCT}
    pairs, expect = [], {}
    for t in tasks:
        fault = faults.get(t.index)
        style = P.style_for(seed, t, 0)
        if t.irrelevant:
            q = f"tell me a joke about shopping number {t.index}"
            pairs.append((P.query_messages(t, tools, style), json.dumps({"query": q})))
            verdict = {"valid": True, "reason": "no shop function tells jokes"}
            pairs.append(
                (P.judge_messages(t, tools, q, [IRRELEVANT_STEP], list(t.functions)), json.dumps(verdict))
            )
            expect[t.index] = "accepted"
            continue
        product = PRODUCTS[relevant.index(t.index)]
        q = f"find me a {product} and put the cheapest one that is in stock in my cart"
        pairs.append((P.query_messages(t, tools, style), json.dumps({"query": q})))
        search = {"query": product}
        state = world.new_state(world_seed(seed, t.index, 0))
        found = execute(SHOP["search_products"], search, state).to_dict()
        in_stock = [p for p in found["result"] if p["in_stock"]]
        assert in_stock, f"nothing in stock for {product!r}: pick another product"
        cheapest = min(in_stock, key=lambda p: p["price"])["product_id"]
        steps = [f"Search the shop for {product}", "Add the cheapest in-stock product found to the cart"]
        funcs = ["search_products", "add_to_cart"]
        if fault == NO_SUCH_PRODUCT:
            steps[1] = "Add the product P9999 to the cart"
            pairs.append(
                (P.plan_messages(t, tools, q), _plan_reply(steps, funcs, [search, {"product_id": "P9999"}]))
            )
            expect[t.index] = "call failed"
            continue
        pairs.append((P.plan_messages(t, tools, q), _plan_reply(steps, funcs, [search, None])))
        chosen = cheapest
        if fault == NAMES_NOTHING:
            returned = {p["product_id"] for p in found["result"]}
            chosen = next(
                p["product_id"]
                for p in state.shop.catalogue
                if p["stock"] > 0 and p["product_id"] not in returned
            )
        ask = P.call_messages(SHOP["add_to_cart"].to_tool(), steps[1], found)
        pairs.append((ask, json.dumps({"arguments": json.dumps({"product_id": chosen})})))
        if fault == NAMES_NOTHING:
            expect[t.index] = "dependent call names nothing"
            continue
        calls = [Call("search_products", search), Call("add_to_cart", {"product_id": chosen})]
        judge = P.judge_messages(t, tools, q, steps, funcs, calls, [False, True])
        pairs.append((judge, json.dumps({"valid": True, "reason": "search, then add what it found"})))
        expect[t.index] = "accepted"
    return pairs, expect
