"""Plan generation: batched equals one-at-a-time, equals mlx-lm's own greedy generate, stops at
the end marker, and prompts carry the bare query only."""

from __future__ import annotations

import mlx_lm
import pytest

from octo_mlx.generation import encode_prompt, stop_token_ids
from octo_mlx.planner import Planner, chat_messages, generate_plans, parse_plan, plan_prompts
from tests.helpers.teach import PLANS, plan_text

QUERIES = [q for q, _ in PLANS] + ["Book a table for two", "weather?"]


@pytest.fixture(scope="module")
def taught(taught_planner):
    return mlx_lm.load(str(taught_planner))


@pytest.fixture(scope="module")
def random_model(tiny_llama):
    return mlx_lm.load(str(tiny_llama))


@pytest.mark.parametrize("which", ["taught", "random_model"])
def test_batched_equals_one_at_a_time(request, which):
    model, tok = request.getfixturevalue(which)
    alone = [generate_plans(model, tok, [q], max_tokens=48, batch_size=1)[0] for q in QUERIES]
    for batch_size in (3, 16):  # 3 < len(QUERIES): finished sequences free slots mid-run
        batched = generate_plans(model, tok, QUERIES, max_tokens=48, batch_size=batch_size)
        assert [o.text for o in batched] == [o.text for o in alone]
        assert [o.token_ids for o in batched] == [o.token_ids for o in alone]


def test_matches_mlx_lm_greedy_generate(taught):
    model, tok = taught
    ours = generate_plans(model, tok, QUERIES, max_tokens=48, batch_size=4)
    for q, o in zip(QUERIES, ours):
        prompt = encode_prompt(tok, chat_messages(q))
        ref = mlx_lm.generate(model, tok, prompt, max_tokens=48, verbose=False)
        assert o.text == ref.strip()


def test_taught_planner_stops_at_its_end_marker(taught):
    model, tok = taught
    outs = Planner(model, tok, max_tokens=100, batch_size=4).plan_many([q for q, _ in PLANS])
    for (q, steps), o in zip(PLANS, outs):
        assert o.finish_reason == "stop" and o.gen_tokens < 100
        assert o.text == plan_text(steps) and list(o.steps) == parse_plan(o.text)
        assert "<|im_end|>" not in o.text
        assert 0 < o.first_token_seconds <= o.seconds


def test_stop_token_cuts_the_text_where_it_first_appears(random_model):
    model, tok = random_model
    prompt = encode_prompt(tok, chat_messages("Find news about NVIDIA"))
    free, _ = plan_prompts(model, tok, [prompt], max_tokens=12, batch_size=1)
    ids = list(free[0].token_ids)
    assert free[0].finish_reason == "length" and len(ids) == free[0].gen_tokens == 12
    stop = ids[len(ids) // 2]  # a token the model really emits: make it an end marker
    saved = set(tok.eos_token_ids)
    tok.eos_token_ids = saved | {stop}
    try:
        assert stop in stop_token_ids(tok)
        cut, _ = plan_prompts(model, tok, [prompt], max_tokens=12, batch_size=1)
    finally:
        tok.eos_token_ids = saved
    assert cut[0].finish_reason == "stop"
    assert cut[0].text == tok.decode(ids[: ids.index(stop)]).strip()
    assert cut[0].gen_tokens == ids.index(stop) + 1


def test_prompt_is_the_bare_query_in_the_chat_template(taught):
    _, tok = taught
    prompt = encode_prompt(tok, chat_messages("Call Bob"))
    assert tok.decode(prompt) == "<|im_start|>user\nCall Bob<|im_end|>\n<|im_start|>assistant\n"


def test_run_stats_add_up(taught):
    model, tok = taught
    prompts = [encode_prompt(tok, chat_messages(q)) for q in QUERIES]
    outs, run = plan_prompts(model, tok, prompts, max_tokens=48, batch_size=4)
    assert run.prompts == len(QUERIES) and run.prompt_tokens == sum(map(len, prompts))
    assert run.gen_tokens == sum(o.gen_tokens for o in outs)
    assert [o.prompt_tokens for o in outs] == [len(p) for p in prompts]
    assert run.seconds >= max(o.seconds for o in outs) and run.peak_memory_gb > 0 and run.gen_tps > 0
