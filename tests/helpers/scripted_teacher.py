"""The scripted teacher of the tests: a mini phone domain and fixed teacher replies per task.

The replies are written here; everything else is real: build_scripted_model trains a tiny MLX
model on them, `mlx_lm.server` serves it, the synthesis code talks to it over HTTP. Faults are
built in so every rejection path is exercised: a plan naming a function that does not exist
(the deterministic check rejects it), a pair the judge rejects, a query that repeats an earlier
one (the duplicate check rejects it). Second attempts get prompts the model never saw: garbage,
as from any weak teacher.
"""

from __future__ import annotations

import json

from octo_mlx.data import IRRELEVANT_STEP
from octo_mlx.synth import prompts as P

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
SETTINGS = dict(n=6, seed=0, steps={1: 1.0, 2: 1.0, 3: 1.0}, irrelevant=1 / 6)
BAD_FUNCTION, JUDGE_NO, DUPLICATE = "bad_function", "judge_no", "duplicate"

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


def _phrase(fn: str, i: int, j: int) -> tuple[str, str]:
    """(words in the query, the plan step) for function fn at step j of task i."""
    k = (i * 3 + j) % 12
    return {
        "get_weather_forecast": (
            f"check the weather in {CITIES[k]}",
            f"Get the weather forecast for {CITIES[k]}",
        ),
        "send_text_message": (
            f"text {NAMES[k]} that I am on my way",
            f"Send {NAMES[k]} a text saying I am on my way",
        ),
        "set_timer_alarm": (
            f"set an alarm for {TIMES[k]} called gym",
            f"Set an alarm at {TIMES[k]} labelled gym",
        ),
    }[fn]


def assign_faults(tasks: list[P.Task]) -> dict[int, str]:
    """Which relevant tasks get which built-in fault; the first relevant task stays clean (it is
    the one the duplicate repeats: only candidates that passed the checks count as seen)."""
    relevant = [t.index for t in tasks if not t.irrelevant]
    assert len(relevant) >= 4, "the script needs 4 relevant tasks"
    return {relevant[1]: BAD_FUNCTION, relevant[2]: JUDGE_NO, relevant[-1]: DUPLICATE}


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
        steps, funcs = [IRRELEVANT_STEP], list(t.functions)
        if not t.irrelevant:
            steps = [_phrase(f, t.index, j)[1] for j, f in enumerate(t.functions)]
            if fault == BAD_FUNCTION:
                funcs[-1] = "fly_drone"
            plan = {"steps": [{"step": s, "function": f} for s, f in zip(steps, funcs)]}
            pairs.append((P.plan_messages(t, tools, q), json.dumps(plan)))
        if fault == BAD_FUNCTION:
            expect[t.index] = "unknown function"
            continue
        if fault == DUPLICATE:
            expect[t.index] = "duplicate"
            continue
        ok = fault != JUDGE_NO
        verdict = {
            "valid": ok,
            "reason": "each step matches one function" if ok else "the plan misses a step",
        }
        pairs.append((P.judge_messages(t, tools, q, steps, funcs), json.dumps(verdict)))
        expect[t.index] = "accepted" if ok else "judge: invalid"
    # the duplicate's plan prompt can equal its source's (same query and step count): one prompt,
    # one reply (the first), as a real server would answer
    unique = {json.dumps(m, sort_keys=True): (m, r) for m, r in reversed(pairs)}
    return list(reversed(unique.values())), expect
