"""A constrained decode always ends in a complete, valid call within its token budget (#12).

The trained adapter once ran out of its 384 tokens inside a string: valid so far, never closed.
Here a tiny random model is made to write ``a`` wherever the grammar allows it (so a string never
ends of its own accord) and must still finish every call, for every bundled function, at any
budget from 2 tokens up; so must the random model sampled at temperature 1, which opens optional
arguments, numbers, escapes and odd characters. The plans that finish a call
(``octo_mlx.action.closing``) are checked from the start of every function and from inside values.
"""

from __future__ import annotations

import copy

import pytest

from octo_mlx.action.closing import PLAN_LIMIT
from octo_mlx.action.constrain import (
    TOKEN_SLACK,
    CallConstraint,
    CallGrammar,
    _every_argument,
    call_schema,
    decode_calls,
)
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call, CallProblem, check_call
from octo_mlx.generation import generate
from octo_mlx.models.tokens import END, NONE
from octo_mlx.syntax import format_call, parse_call
from tests.helpers.action import BY_NAME, FUNCTIONS, SLOTS, Favouring, step_prompts, table_model


@pytest.fixture(scope="module")
def models(tiny_llama):
    """(random model, the same writing ``a`` and ``5`` wherever it may, tokenizer, grammar)."""
    model, tokenizer = table_model(tiny_llama)
    favoured = [tokenizer.encode(c, add_special_tokens=False)[0] for c in "a5"]
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS)  # strings capped at 256 characters
    return model, Favouring(model, favoured), tokenizer, grammar


def checked(text: str):
    """The call ``text`` holds, checked against its function's schema independently of the parser."""
    call = parse_call(text, SLOTS, FUNCTIONS)
    assert call.is_none or check_call(call, BY_NAME[call.function]) == call
    return call


def test_without_a_budget_the_favouring_model_never_closes_its_strings(models):
    """The failure, reproduced: the grammar alone keeps every call valid so far, but a model that
    will not stop writing a string runs out of tokens (what one trained call did at 384)."""
    _, favouring, tokenizer, grammar = models
    prompts = step_prompts(tokenizer)[::4]
    out, _ = generate(
        favouring, tokenizer, prompts, max_tokens=64, logits_processors=lambda i: [CallConstraint(grammar)]
    )
    kinds = []
    for g in out:
        try:
            checked(tokenizer.decode(list(g.token_ids)))
            kinds.append("valid")
        except CallProblem as p:
            kinds.append(p.kind)
    assert kinds.count("unterminated") >= len(out) // 2, kinds


@pytest.mark.parametrize("budget", [2, 9, 30, 64])
@pytest.mark.parametrize("jump_forward", [True, False], ids=["jump-forward", "batched-processor"])
@pytest.mark.parametrize("kind", ["favouring", "sampled"])
def test_every_call_ends_complete_and_valid_within_any_budget(
    models, monkeypatch, kind, jump_forward, budget
):
    model, favouring, tokenizer, grammar = models
    held = []  # (tokens the plan needs, tokens left) whenever the constraint holds a plan
    real = CallConstraint._budget_token

    def spy(self):
        token = real(self)
        if self._plan is not None:
            held.append((len(self._plan), self.max_tokens - self._used, self._bound))
        return token

    monkeypatch.setattr(CallConstraint, "_budget_token", spy)
    out = decode_calls(
        favouring if kind == "favouring" else model,
        tokenizer,
        step_prompts(tokenizer),
        SLOTS,
        FUNCTIONS,
        jump_forward=jump_forward,
        max_tokens=budget,
        greedy=kind == "favouring",
        temperature=1.0,
        seed=budget,
        grammar=grammar,
    )
    for d in out:
        assert d.generation.finish_reason == "stop" and d.generation.gen_tokens <= budget, d.text
        assert d.valid, (d.text, d.problem)
        call = checked(d.text)
        # A function is called only if its shortest call fits the budget.
        assert call.is_none or grammar.shortest(d.generation.token_ids[0]) <= budget
    # The invariant behind it: a plan, once held, always fits in what is left, and the bound
    # that spares computing it (far from the limit) is never below it.
    assert all(need <= left and need <= bound for need, left, bound in held)
    if budget == 2:
        assert all(d.call.is_none for d in out)
    else:
        assert any(not d.call.is_none for d in out)
    if kind == "favouring" and budget >= 30:
        closed = [d for d in out if d.closed]
        assert len(closed) > len(out) // 2  # most strings were closed by the budget
        assert any('"aaaa' in d.text for d in closed)  # after the model wrote what fitted


def test_a_budget_in_plain_mlx_lm(models):
    """The constraint told the limit works as a plain mlx-lm logits processor too (mlx-lm stops
    at the tokenizer's eos, which may follow <nexa_end>)."""
    import mlx_lm

    _, favouring, tokenizer, grammar = models
    for prompt in step_prompts(tokenizer)[3:40:6]:
        c = CallConstraint(grammar, max_tokens=40)
        ids = [
            r.token for r in mlx_lm.stream_generate(favouring, tokenizer, prompt, 40, logits_processors=[c])
        ]
        assert grammar.end_id in ids and len(ids) <= 40
        checked(tokenizer.decode(ids))


def test_plans_finish_every_function_validly(models):
    """From just after each functional token, the plan is a valid call no longer than the longest
    of the function's example calls; shortest() and reserve() agree with it."""
    _, _, tokenizer, grammar = models
    assert grammar.shortest(grammar.ids[NONE]) == 2 and grammar.reserve(grammar.ids[NONE]) == 0
    for f in FUNCTIONS:
        first = grammar.ids[SLOTS.token(f.name)]
        m = grammar.matcher()
        assert m.consume_tokens([first])
        plan = grammar.closer.plan(m)
        text = tokenizer.decode([first, *plan])
        call = checked(text)
        assert call.function == f.name and plan[-1] == grammar.end_id and not m.is_stopped()
        assert grammar.shortest(first) == 1 + len(plan)
        examples = [format_call(Call(f.name, e), SLOTS, f) for e in f.examples]
        assert not examples or len(text) <= max(map(len, examples)), (text, examples)
        optional = set(f.parameters.get("properties", {})) - set(f.parameters.get("required", []))
        assert TOKEN_SLACK <= grammar.reserve(first) < PLAN_LIMIT
        assert (grammar.reserve(first) > TOKEN_SLACK) == bool(optional), f.name


@pytest.mark.parametrize(
    "function, prefix",
    [
        ("send_email", '{"recipient": "alice'),  # a pattern: needs "@", "." and more
        ("send_email", '{"recipient": "alice@'),
        ("send_email", '{"recipient": "a@b.c", "title": "Notes", "content": "see \\u00'),  # an escape
        ("send_text_message", '{"contact_name": "Zoë'),  # a character's bytes, part-way
        ("create_calendar_event", '{"title": "standup", "start_time": "2025-1'),
        ("set_timer_alarm", '{"time": "2'),
        ("make_phone_call", '{"phone_number": "+'),
        ("convert_currency", '{"amount": 12'),  # a required key follows
        ("convert_currency", '{"amount": 0.'),
        ("checkout", '{"payment_method": "gift'),  # an enum, part-way
        ("set_volume", '{"level": 1'),
        ("take_a_photo", "{"),  # only optional keys: "}" is shorter than a key
        ("search_products", '{"query": "chair", "max_price": 10'),
    ],
)
def test_plans_finish_from_inside_a_value(models, function, prefix):
    _, _, tokenizer, grammar = models
    first = grammar.ids[SLOTS.token(function)]
    ids = [first, *tokenizer.encode(prefix, add_special_tokens=False)]
    if "Zoë" in prefix:
        ids = ids[:-1]  # "ë" is two byte tokens here: keep the first only
    m = grammar.matcher()
    assert m.consume_tokens(ids), m.get_error()
    plan = grammar.closer.plan(m)
    call = checked(tokenizer.decode(ids + plan))
    assert call.function == function
    # Short: no value written out to its cap (the shortest whole call is the yardstick).
    assert len(plan) <= grammar.shortest(first), tokenizer.decode(plan)


def test_every_argument_schema_requires_every_property_at_every_level():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "object", "properties": {"c": {"type": "integer"}}},
            "d": {"type": "array", "items": {"type": "object", "properties": {"e": {"type": "string"}}}},
        },
        "required": ["a"],
    }
    before = copy.deepcopy(schema)
    full = _every_argument(schema)
    assert full["required"] == ["a", "b", "d"]
    assert full["properties"]["b"]["required"] == ["c"]
    assert full["properties"]["d"]["minItems"] == 1 and full["properties"]["d"]["items"]["required"] == ["e"]
    assert schema == before
    bounded = call_schema(BY_NAME["send_email"], 16)  # bounded first: maxItems caps minItems
    assert _every_argument({"type": "array", "items": {}, "maxItems": 0})["minItems"] == 0
    assert _every_argument({"type": "array", "items": {}, "minItems": 3})["minItems"] == 3
    assert set(_every_argument(bounded)["required"]) == set(bounded["properties"])


def test_two_tokens_hold_no_function_and_one_is_refused(models):
    _, favouring, tokenizer, grammar = models
    prompts = step_prompts(tokenizer)[:3]
    two = decode_calls(favouring, tokenizer, prompts, SLOTS, FUNCTIONS, max_tokens=2, grammar=grammar)
    assert all(d.text == NONE + END and not d.closed for d in two)
    with pytest.raises(OctoError, match="at least 2"):
        decode_calls(favouring, tokenizer, prompts, SLOTS, FUNCTIONS, max_tokens=1, grammar=grammar)
