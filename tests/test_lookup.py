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
    assert sum(d.steps for d in looked) <= sum(d.steps for d in plain)


def test_a_streamed_plan_is_the_same_with_lookup(taught_planner):
    model, tok = mlx_lm.load(str(taught_planner))
    for query, _ in PLANS:
        plain = Planner(model, tok).stream(query)
        looked = Planner(model, tok, lookup=4).stream(query)
        a, b = list(plain), list(looked)
        assert "".join(x for x in b if isinstance(x, str)) == "".join(x for x in a if isinstance(x, str))
        assert b[-1].steps == a[-1].steps and b[-1].steps
        assert b[-1].token_ids == a[-1].token_ids


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
