"""The action model's call syntax and constrained decoding (#12), on a tiny random model.

The model is tests/helpers/tiny.py's random llama with every entry of the added-token table
added and the table's rows set at random (seeded), so that nothing favours a valid call: what
makes its calls valid is the grammar alone.
"""

from __future__ import annotations

import builtins
import collections
import json

import mlx.core as mx
import pytest

from octo_mlx.action.constrain import (
    CallConstraint,
    CallGrammar,
    DecodedCall,
    active_tokens,
    call_schema,
    decode_calls,
)
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import MAX_ARGUMENTS_CHARS, NO_CALL, Call, CallProblem, check_call
from octo_mlx.models.tokens import END, NONE, TABLE, grow_vocabulary, table_ids
from octo_mlx.syntax import SlotMap, format_call, parse_call
from tests.helpers.action import BY_NAME, DOMAINS, FUNCTIONS, SLOTS, step_prompts, table_model


@pytest.fixture(scope="module")
def action_model(tiny_llama):
    """(model, tokenizer): the tiny random llama, table added, table rows random."""
    return table_model(tiny_llama)


def first_token(d: DecodedCall) -> int:
    return d.generation.token_ids[0]


# --- constrained decoding ---------------------------------------------------------------------


@pytest.mark.parametrize("jump_forward", [True, False], ids=["jump-forward", "batched-processor"])
def test_every_constrained_call_of_a_random_model_is_schema_valid(action_model, jump_forward):
    model, tokenizer = action_model
    prompts = step_prompts(tokenizer, 2)  # 94 prompts
    out = decode_calls(
        model,
        tokenizer,
        prompts,
        SLOTS,
        FUNCTIONS,
        jump_forward=jump_forward,
        greedy=False,
        temperature=1.0,
        seed=3,
        max_tokens=512,
        max_string_chars=24,
    )
    problems = [(d.text[:120], d.problem) for d in out if not d.valid]
    assert problems == [], problems
    for d in out:
        assert d.generation.finish_reason == "stop" and d.text.endswith(END)
        if not d.call.is_none:  # independently of the parser: the schema holds
            assert check_call(d.call, BY_NAME[d.call.function]) == d.call
    called = collections.Counter(d.call.function for d in out)
    assert len(called) >= 12, called  # the random model spreads over the functions


def test_the_first_token_is_an_active_functional_token_or_none(action_model):
    model, tokenizer = action_model
    active = [f for d in DOMAINS if d.name in ("android", "travel") for f in d.functions]
    ids = table_ids(tokenizer)
    allowed_first = {ids[NONE]} | {ids[SLOTS.token(f.name)] for f in active}
    allowed_table = allowed_first | {ids[END]}
    never = set(ids.values()) - allowed_table  # <nexa_split>, other slots, inactive slots
    assert len(never) == len(TABLE.tokens) - len(active) - 2
    prompts = step_prompts(tokenizer)
    for jump_forward in (True, False):
        out = decode_calls(
            model,
            tokenizer,
            prompts,
            SLOTS,
            active,
            jump_forward=jump_forward,
            greedy=False,
            temperature=1.0,
            max_tokens=512,
            max_string_chars=24,
        )
        assert all(first_token(d) in allowed_first for d in out)
        assert not any(set(d.generation.token_ids) & never for d in out)
        assert all(d.valid and (d.call.is_none or BY_NAME[d.call.function] in active) for d in out)


def test_without_constraints_the_same_random_model_mostly_writes_invalid_calls(action_model, record_property):
    model, tokenizer = action_model
    out = decode_calls(
        model,
        tokenizer,
        step_prompts(tokenizer),
        SLOTS,
        FUNCTIONS,
        constrained=False,
        greedy=False,
        temperature=1.0,
        max_tokens=128,
    )
    valid = sum(d.valid for d in out) / len(out)
    kinds = collections.Counter(d.problem.kind for d in out if d.problem)
    record_property("unconstrained_valid_rate", valid)
    record_property("unconstrained_problems", dict(kinds))
    assert valid < 0.5, (valid, kinds)
    assert all(d.valid != (d.problem is not None) for d in out)  # each invalid one has its kind
    # Even unconstrained, table entries outside the active slots are never generated.
    ids = table_ids(tokenizer)
    never = set(ids.values()) - {ids[t] for t in active_tokens(SLOTS, FUNCTIONS)}
    assert ids["<nexa_split>"] in never and not any(set(d.generation.token_ids) & never for d in out)


def test_jump_forward_appends_forced_runs_in_one_pass_and_keeps_the_cache_right(action_model):
    """Fewer steps than tokens; and every sampled token is what a full forward pass over the
    whole sequence (no cache) picks under the same grammar, so the appended runs left the KV
    cache exactly as one step per token would."""
    model, tokenizer = action_model
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS, max_string_chars=24)
    prompts = step_prompts(tokenizer)[::6]
    out = decode_calls(model, tokenizer, prompts, SLOTS, FUNCTIONS, grammar=grammar, max_tokens=512)
    assert all(d.valid for d in out)
    tokens, steps = sum(d.generation.gen_tokens for d in out), sum(d.steps for d in out)
    assert steps < tokens, (steps, tokens)
    forced_total = 0
    for prompt, d in zip(prompts, out):
        generated = list(d.generation.token_ids)
        logits = model(mx.array(prompt + generated)[None])[0, len(prompt) - 1 : -1]
        replay = CallConstraint(grammar)
        j = 0
        while j < len(generated):
            token = int(mx.argmax(replay.mask(logits[j : j + 1]), axis=-1).item())
            assert token == generated[j], (j, d.text)
            if token == grammar.end_id:
                break
            forced = replay.advance(token)
            assert generated[j + 1 : j + 1 + len(forced)] == forced
            forced_total += len(forced)
            j += 1 + len(forced)
        assert generated[-1] == grammar.end_id and j in (len(generated) - 1, len(generated))
    assert forced_total == tokens - steps


def test_the_constraint_works_as_a_plain_mlx_lm_logits_processor(action_model):
    """mlx-lm's own stream_generate, the processor in its logits_processors. (Its streamed text
    spells added tokens through the byte-level detokenizer, which does not know them: decode
    the ids.)"""
    import mlx_lm

    model, tokenizer = action_model
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS, max_string_chars=24)
    for prompt in step_prompts(tokenizer)[:5]:
        ids = [
            r.token
            for r in mlx_lm.stream_generate(
                model, tokenizer, prompt, max_tokens=300, logits_processors=[CallConstraint(grammar)]
            )
        ]
        call = parse_call(tokenizer.decode(ids), SLOTS, FUNCTIONS)
        assert call.is_none or check_call(call, BY_NAME[call.function])


def test_a_call_cut_by_the_token_limit_is_a_typed_problem(action_model):
    """Without a budget (a CallConstraint not told max_tokens, as plain mlx-lm may use it) a
    call can be cut; it parses as "unterminated". decode_calls always gives the budget, and then
    even 2 tokens make a valid call: "no function" (tests/test_action_closing.py has the rest)."""
    from octo_mlx.generation import generate

    model, tokenizer = action_model
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS, max_string_chars=24)
    prompts = step_prompts(tokenizer)[:4]
    cut, _ = generate(
        model, tokenizer, prompts, max_tokens=2, logits_processors=lambda i: [CallConstraint(grammar)]
    )
    kinds = []
    for g in cut:
        assert g.gen_tokens <= 2
        try:
            parse_call(tokenizer.decode(list(g.token_ids)), SLOTS, FUNCTIONS)
            kinds.append("valid")
        except CallProblem as p:
            kinds.append(p.kind)
    assert set(kinds) <= {"valid", "unterminated"} and "unterminated" in kinds
    for jump_forward in (True, False):
        out = decode_calls(
            model,
            tokenizer,
            prompts,
            SLOTS,
            FUNCTIONS,
            jump_forward=jump_forward,
            max_tokens=2,
            grammar=grammar,
        )
        assert all(d.valid and d.call.is_none for d in out)


def test_training_targets_are_sentences_of_the_grammar(action_model):
    """format_call writes every bundled function's example calls as text the parser reads back
    and the decoding grammar accepts token by token: what is trained is what can be decoded."""
    _, tokenizer = action_model
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS)
    calls = [Call(NO_CALL)] + [Call(f.name, ex) for f in FUNCTIONS for ex in reversed(f.examples)]
    assert len({c.function for c in calls}) > 40  # 44 of the 47 functions carry examples
    for call in calls:
        function = None if call.is_none else BY_NAME[call.function]
        text = format_call(call, SLOTS, function)
        assert parse_call(text, SLOTS, FUNCTIONS) == call
        assert json.loads(text[text.index(">") + 1 : text.rindex("<")] or "{}") == call.arguments
        matcher = grammar.matcher()
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert matcher.consume_tokens(ids) and matcher.is_accepting(), (text, matcher.get_error())


def test_grammar_caps_unbounded_strings_only():
    import copy

    f = BY_NAME["send_email"]
    before = copy.deepcopy(f.parameters)
    schema = call_schema(f, 30)
    assert "examples" not in schema and schema["x-guidance"]["whitespace_flexible"] is False
    for name, prop in schema["properties"].items():
        original = f.parameters["properties"][name]
        if original.get("type") == "string" and "enum" not in original:
            assert prop["maxLength"] == original.get("maxLength", 30)
        else:
            assert "maxLength" not in prop
    assert f.parameters == before  # the function's own schema is not touched


def test_bad_setups_are_one_clear_error(action_model, tiny_llama):
    import mlx_lm

    _, tokenizer = action_model
    with pytest.raises(OctoError, match="no slot") as e:
        CallGrammar(tokenizer, SlotMap.for_functions(["take_a_photo"]), FUNCTIONS[:3])
    assert e.value.where == "slot map"
    _, plain = mlx_lm.load(str(tiny_llama))  # not extended: no table
    with pytest.raises(OctoError, match="extended base") as e:
        CallGrammar(plain, SLOTS, FUNCTIONS)
    assert e.value.where == "tokenizer"


# --- the slot map and the call syntax ---------------------------------------------------------


def test_slot_map_keeps_octopus_order_and_round_trips_as_json():
    assert SLOTS.function(0) == "take_a_photo" and len(SLOTS) == 47
    assert SLOTS.token(FUNCTIONS[20].name) == "<nexa_20>"
    again = SlotMap.from_json(json.loads(json.dumps(SLOTS.to_json())))
    assert again == SLOTS and again.names == [f.name for f in FUNCTIONS]
    sparse = SlotMap(((40, "b"), (3, "a")))
    assert sparse.names == ["a", "b"] and SlotMap.from_json(sparse.to_json()) == sparse


@pytest.mark.parametrize(
    "value, message",
    [
        ([], "a slot map is"),
        ({"slots": {"0": "a"}, "extra": 1}, "a slot map is"),
        ({"slots": {"x": "a"}}, "not a slot number"),
        ({"slots": {"07": "a"}}, "not a slot number"),
        ({"slots": {"256": "a"}}, "outside the table"),
        ({"slots": {"0": "a", "1": "a"}}, "two slots"),
        ({"slots": {"0": "not a name"}}, "not a function name"),
        ({"slots": {"0": 3}}, "not a function name"),
    ],
)
def test_a_bad_slot_map_is_an_octo_error_naming_where(value, message):
    with pytest.raises(OctoError, match=message) as e:
        SlotMap.from_json(value, where="adapter/octo-mlx-adapter.json: slots")
    assert e.value.where == "adapter/octo-mlx-adapter.json: slots"


def test_format_call_writes_declared_order_and_none():
    f = BY_NAME["send_text_message"]
    call = Call("send_text_message", {"message": "late", "contact_name": "Alice"})
    assert format_call(call, SLOTS, f) == (
        f'{SLOTS.token(f.name)}{{"contact_name": "Alice", "message": "late"}}{END}'
    )
    assert format_call(Call(NO_CALL), SLOTS) == NONE + END
    with pytest.raises(OctoError, match="no slot"):
        format_call(Call("nope", {}), SLOTS)


ACTIVE = [f for d in DOMAINS if d.name != "travel" for f in d.functions]  # travel is out of domain
SMS = SLOTS.token("send_text_message")
BOOK = SLOTS.token(next(f.name for f in DOMAINS[3].functions))
MEGABYTE = "x" * (1 << 20)


@pytest.mark.parametrize(
    "text, kind",
    [
        (f'{SMS}{{"contact_name": "Alice", "message": "hi"{END}', "syntax"),  # unbalanced
        (f'{SMS}{{"contact_name": ["Alice", "message": "hi"}}{END}', "syntax"),
        (f'{SMS}{{"contact_name": "Alice"}}}}{END}', "syntax"),
        (f"{SMS}__import__('os').system('echo pwned'){END}", "syntax"),  # code, not JSON
        (f"{SMS}{{'contact_name': 'Alice', 'message': 'hi'}}{END}", "syntax"),  # a Python dict
        (f'{SMS}{{"contact_name": "A", "message": NaN}}{END}', "syntax"),
        (f'{SMS}{{"contact_name": "A", "contact_name": "B", "message": "m"}}{END}', "syntax"),
        (f'{SMS}{{"contact_name": "A", "message": "m"}}{END} and more', "syntax"),
        ('{"contact_name": "A"}', "syntax"),  # no functional token
        ("", "syntax"),
        (f"{END}", "syntax"),
        (f'{NONE}{{"a": 1}}{END}', "syntax"),
        (f'<nexa_200>{{"a": 1}}{END}', "unknown_function"),  # a slot no function stands for
        (f'<nexa_999>{{"a": 1}}{END}', "unknown_function"),  # not in the table
        (f'<nexa_007>{{"a": 1}}{END}', "unknown_function"),
        (f"<nexa_split>{END}", "unknown_function"),
        (f'{BOOK}{{"origin": "SFO"}}{END}', "out_of_domain"),  # travel is not active
        (f'{SMS}{{"contact_name": "A", "message": "m", "cc": "B"}}{END}', "unknown_argument"),
        (f'{SMS}{{"contact_name": "A", "message": "m", "__class__": {{}}}}{END}', "unknown_argument"),
        (f'{SMS}{{"contact_name": "A"}}{END}', "missing_argument"),
        (f'{SMS}{{"contact_name": 42, "message": "m"}}{END}', "invalid_argument"),  # wrong type
        (f'{SMS}{{"contact_name": "A", "message": "{MEGABYTE}"}}{END}', "too_long"),
        (f'{SMS}{{"contact_name": "A", "message": "no end', "unterminated"),
        (f"{SMS}", "unterminated"),
        (f'{SMS}{{"contact_name": "A", "message": "{MEGABYTE}', "unterminated"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_hostile_output_is_a_typed_call_problem(text, kind):
    with pytest.raises(CallProblem) as e:
        parse_call(text, SLOTS, ACTIVE)
    assert e.value.kind == kind, e.value
    assert len(str(e.value)) < 400  # one line the agent can show, not the megabyte


def test_code_in_model_output_is_never_evaluated(tmp_path, monkeypatch):
    canary = tmp_path / "pwned"
    code = f"__import__('os').system('touch {canary}')"
    ran = []
    for name in ("eval", "exec", "compile"):
        real = getattr(builtins, name)
        monkeypatch.setattr(
            builtins, name, lambda *a, _real=real, _name=name, **k: ran.append(_name) or _real(*a, **k)
        )
    as_argument = f"{SMS}{json.dumps({'contact_name': code, 'message': code})}{END}"
    call = parse_call(as_argument, SLOTS, ACTIVE)  # a string argument: data, kept as it is
    assert call.arguments == {"contact_name": code, "message": code}
    for text in (f"{SMS}{code}{END}", f"{SMS}{{{code}: 1}}{END}", code):
        with pytest.raises(CallProblem) as e:
            parse_call(text, SLOTS, ACTIVE)
        assert e.value.kind == "syntax"
    assert not canary.exists() and ran == []


def test_parse_call_reads_good_calls():
    text = f' {SMS}{{"contact_name": "Alice", "message": "I\'m late"}}{END}<|im_end|>\n'
    assert parse_call(text, SLOTS, ACTIVE) == Call(
        "send_text_message", {"contact_name": "Alice", "message": "I'm late"}
    )
    assert parse_call(NONE + END, SLOTS, ACTIVE).is_none
    assert parse_call(NONE + END, SLOTS, {f.name: f for f in ACTIVE}).function == NO_CALL
    assert MAX_ARGUMENTS_CHARS < len(MEGABYTE)


def test_stop_ids_follow_a_growing_vocabulary(tiny_llama):
    """generation reads a vocabulary once per tokenizer (~40 ms for 49k tokens, every call paid
    it): adding the table makes <nexa_end> an end marker at once, the cache notwithstanding."""
    import mlx_lm

    from octo_mlx.generation import prompt_limit, stop_token_ids

    model, tokenizer = mlx_lm.load(str(tiny_llama))
    before = stop_token_ids(tokenizer)
    assert stop_token_ids(tokenizer) == before and END not in tokenizer.get_vocab()
    grow_vocabulary(model, tokenizer, TABLE.tokens + ("<nexa_a_token_longer_than_any_other>",))
    assert stop_token_ids(tokenizer) == sorted({*before, table_ids(tokenizer)[END]})
    limit = prompt_limit(model, tokenizer, 16)
    assert limit.chars == limit.tokens * len("<nexa_a_token_longer_than_any_other>")


def test_arguments_named_like_schema_keywords_keep_their_place(action_model):
    """Only the keywords examples/default are dropped for the grammar, never an argument that
    happens to be called "default" or "examples", nor data inside an enum."""
    from octo_mlx.functions.contract import Function

    _, tokenizer = action_model
    params = {
        "type": "object",
        "properties": {
            "default": {"type": "string", "default": "x"},
            "examples": {"type": "integer", "minimum": 0},
            "mode": {"enum": [{"default": 1}, "plain"]},
        },
        "required": ["default", "examples"],
        "additionalProperties": False,
        "examples": [{"default": "a", "examples": 1}],
    }
    f = Function("odd_names", "A function with odd argument names.", params)
    schema = call_schema(f, 8)
    assert set(schema["properties"]) == {"default", "examples", "mode"} and "examples" not in schema
    assert schema["properties"]["default"] == {"type": "string", "maxLength": 8}
    assert schema["properties"]["mode"] == {"enum": [{"default": 1}, "plain"]}
    slots = SlotMap.for_functions(["odd_names"])
    grammar = CallGrammar(tokenizer, slots, [f], max_string_chars=8)
    text = format_call(Call("odd_names", {"examples": 3, "default": "abc"}), slots, f)
    assert text == '<nexa_0>{"default": "abc", "examples": 3}<nexa_end>'
    matcher = grammar.matcher()
    assert matcher.consume_tokens(tokenizer.encode(text, add_special_tokens=False)) and matcher.is_accepting()
