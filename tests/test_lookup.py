"""Prompt-lookup decoding (octo_mlx.generation.lookup_draft and the batch-1 loop): drafts are
checked in one forward pass and the text is what one pass per token writes."""

from __future__ import annotations

import mlx.core as mx
import mlx_lm
import pytest

from octo_mlx.action.constrain import CallGrammar, decode_calls
from octo_mlx.errors import OctoError
from octo_mlx.generation import generate_guided, generate_stream, lookup_draft
from octo_mlx.planner import Planner, plan_prompt
from tests.helpers.action import FUNCTIONS, SLOTS, step_prompts, table_model
from tests.helpers.teach import PLANS

# --- the draft ---------------------------------------------------------------------------------


def test_the_draft_is_what_followed_the_latest_match_of_the_longest_tail():
    #          0  1  2  3  4  5  6  7  8  9
    context = [5, 6, 7, 8, 1, 6, 7, 9, 2, 6, 7]
    # tail (6, 7) last seen at 5..6 (then 9, 2, 6, 7), also at 1..2: the latest wins
    assert lookup_draft(context, 3) == [9, 2, 6]
    # a longer tail (2, 6, 7) is not seen before; (6, 7) is: the shorter tail's draft
    assert lookup_draft(context, 2, longest=3) == [9, 2]
    # the longest matching tail wins over a later shorter one: ... 1 2 3 9 ... 3 4 ... 1 2 3
    assert lookup_draft([1, 2, 3, 9, 0, 3, 4, 0, 1, 2, 3], 1) == [9]
    assert lookup_draft([1, 2, 3, 9, 0, 3, 4, 0, 1, 2, 3], 1, longest=1) == [4]


def test_no_draft_without_a_match_or_room():
    assert lookup_draft([1, 2, 3, 4], 4) == []
    assert lookup_draft([1, 2, 1], 0) == []
    assert lookup_draft([], 3) == []
    assert lookup_draft([7], 3) == []
    assert lookup_draft([1, 2, 1], 5) == [2, 1]  # never past the end


# --- the loop ----------------------------------------------------------------------------------


class _Half:
    """A guide that makes every other token ``script``'s next one and leaves the rest to the
    model (so drafts are partly right, partly wrong: both paths of the check run), forcing none."""

    def __init__(self, script):
        self.script, self.n = list(script), 0

    def mask(self, logits):
        if self.n % 2:
            return logits
        want = self.script[(self.n // 2) % len(self.script)]
        return mx.where(mx.arange(logits.shape[-1]) == want, logits, -mx.inf)

    def advance(self, token):
        self.n += 1
        return []


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    return mlx_lm.load(str(tiny_llama))


def test_lookup_writes_the_same_tokens_in_fewer_passes(tiny):
    model, tok = tiny
    prompt = tok.encode("Say it again and again: one two three", add_special_tokens=False)
    script = tok.encode(" one two three four", add_special_tokens=False)
    plain, plain_steps = generate_guided(model, tok, prompt, _Half(script), max_tokens=48)
    looked, looked_steps = generate_guided(model, tok, prompt, _Half(script), max_tokens=48, lookup=4)
    assert looked.token_ids == plain.token_ids and len(plain.token_ids) == 48
    assert plain_steps == 48  # one pass per token without drafts
    assert looked_steps < plain_steps, looked_steps
    # every token is what a full forward pass over the whole sequence (no cache) picks: the
    # rejected drafts left the cache
    generated = list(looked.token_ids)
    logits = model(mx.array(prompt + generated)[None])[0, len(prompt) - 1 : -1]
    replay = _Half(script)
    for j, token in enumerate(generated):
        assert int(mx.argmax(replay.mask(logits[j : j + 1]), axis=-1).item()) == token, j
        replay.advance(token)


def test_sampling_takes_no_draft(tiny):
    model, tok = tiny
    prompt = tok.encode("one two one two one two", add_special_tokens=False)
    _, steps = generate_guided(model, tok, prompt, _Half([5]), max_tokens=12, greedy=False, lookup=4)
    assert steps == 12


def test_constrained_calls_are_the_same_with_lookup(tiny_llama):
    model, tokenizer = table_model(tiny_llama)
    grammar = CallGrammar(tokenizer, SLOTS, FUNCTIONS, max_string_chars=24)
    prompts = step_prompts(tokenizer)[::4]
    plain = decode_calls(model, tokenizer, prompts, SLOTS, FUNCTIONS, grammar=grammar, max_tokens=256)
    looked = decode_calls(
        model, tokenizer, prompts, SLOTS, FUNCTIONS, grammar=grammar, max_tokens=256, lookup=4
    )
    assert [d.generation.token_ids for d in looked] == [d.generation.token_ids for d in plain]
    assert all(d.valid for d in looked)
    assert sum(d.steps for d in looked) < sum(d.steps for d in plain)


class _Counting:
    """The model, its forward passes counted."""

    def __init__(self, model):
        self.model, self.passes = model, 0

    def __call__(self, *args, **kwargs):
        self.passes += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, attr):
        return getattr(self.model, attr)


def test_a_streamed_plan_is_the_same_with_lookup_in_fewer_passes(taught_planner):
    model, tok = mlx_lm.load(str(taught_planner))
    passes = {0: 0, 4: 0}
    for query, _ in PLANS:
        outs = {}
        for k in passes:
            counted = _Counting(model)
            outs[k] = list(Planner(counted, tok, lookup=k).stream(query))
            passes[k] += counted.passes
        a, b = outs[0], outs[4]
        assert "".join(x for x in b if isinstance(x, str)) == "".join(x for x in a if isinstance(x, str))
        assert b[-1].steps == a[-1].steps and b[-1].steps
        assert b[-1].token_ids == a[-1].token_ids
    assert passes[4] < passes[0], passes


class _Script:
    """A guide that makes the model write ``script``, forcing nothing."""

    def __init__(self, script):
        self.script, self.n = list(script), 0

    def mask(self, logits):
        want = self.script[min(self.n, len(self.script) - 1)]
        return mx.where(mx.arange(logits.shape[-1]) == want, logits, -mx.inf)

    def advance(self, token):
        self.n += 1
        return []


def test_a_stop_token_inside_an_accepted_draft_ends_the_completion_there(tiny):
    model, tok = tiny
    prompt = plan_prompt(tok, "hello there")  # ... hello there<|im_end|>\n<|im_start|>assistant\n
    end = tok.convert_tokens_to_ids("<|im_end|>")
    script = [*tok.encode("hello there", add_special_tokens=False), end]
    for k in (0, len(script)):
        g, steps = generate_guided(model, tok, prompt, _Script(script), max_tokens=20, lookup=k)
        assert list(g.token_ids) == script and g.finish_reason == "stop" and g.text == "hello there"
        # with lookup, the draft after the first token is the rest of the request and its end
        # marker, all accepted in the second pass: the end marker in the draft ends it there
        assert steps == (len(script) if k == 0 else 2), (k, steps)


@pytest.mark.parametrize("max_tokens", [1, 2, 3])
def test_lookup_keeps_to_max_tokens(tiny, max_tokens):
    model, tok = tiny
    prompt = plan_prompt(tok, "one two one two one two")
    script = tok.encode("one two one two one two", add_special_tokens=False)
    outs = [
        generate_guided(model, tok, prompt, _Script(script), max_tokens=max_tokens, lookup=k)[0]
        for k in (0, 4)
    ]
    assert outs[0].token_ids == outs[1].token_ids and len(outs[1].token_ids) == max_tokens
    assert outs[1].finish_reason == "length"


def test_a_sliding_window_cache_takes_no_draft(tiny):
    """mlx-lm's rotating cache says it can be cut until it has wrapped, then cuts nothing: such a
    model decodes one token per pass, with or without lookup, and writes the same."""
    from tests.helpers.tiny import random_model

    _, tok = tiny  # the local tokenizer, as every tiny model has it
    model, _ = random_model(
        "gemma",
        tok.get_vocab(),
        model_type="gemma3_text",
        sliding_window=8,
        sliding_window_pattern=2,
        query_pre_attn_scalar=16,
    )
    prompt = tok.encode("one two three one two three one two three", add_special_tokens=False)
    script = tok.encode(" one two three" * 6, add_special_tokens=False)
    plain, plain_steps = generate_guided(model, tok, prompt, _Half(script), max_tokens=30)
    looked, looked_steps = generate_guided(model, tok, prompt, _Half(script), max_tokens=30, lookup=4)
    assert looked.token_ids == plain.token_ids
    assert looked_steps == plain_steps == 30


def test_a_negative_lookup_is_refused(tiny):
    model, tok = tiny
    prompt = plan_prompt(tok, "hello")
    with pytest.raises(OctoError, match="lookup must be >= 0"):
        generate_guided(model, tok, prompt, _Half([5]), lookup=-1)
    with pytest.raises(OctoError, match="lookup must be >= 0"):
        next(generate_stream(model, tok, prompt, lookup=-1))


def test_a_negative_lookup_is_refused_before_anything_loads():
    from octo_mlx.agent.session import open_session

    with pytest.raises(OctoError, match="lookup"):
        open_session("no/such/planner", "no/such/action", lookup=-1)
