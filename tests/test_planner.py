"""Plan generation: batched equals one-at-a-time, equals mlx-lm's own greedy generate, stops at
the end marker, and prompts carry the bare query only."""

from __future__ import annotations

import json
import time

import mlx_lm
import pytest

from octo_mlx.errors import OctoError
from octo_mlx.generation import encode_prompt, stop_token_ids
from octo_mlx.planner import Planner, chat_messages, generate_plans, parse_plan, plan_prompt, plan_prompts
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


# --- hardening (#11): prompts longer than the model takes, a negative temperature ----------------


def _too_long(tok, limit: int) -> str:
    """A query of ordinary words whose planner prompt is more than ``limit`` tokens."""
    words, query = "Check the weather in Paris tomorrow and email Bob.", ""
    while len(plan_prompt(tok, query)) <= limit:
        query += (" " if query else "") + words * 20
    return query


def test_a_prompt_longer_than_the_context_is_refused_before_any_generation(random_model):
    from octo_mlx.generation import context_length

    model, tok = random_model
    context = context_length(model, tok)
    assert context == tok._tokenizer.model_max_length  # the tiny config names none: the tokenizer's
    max_tokens = 48
    fits = _too_long(tok, context - max_tokens - 200)
    assert len(plan_prompt(tok, fits)) <= context - max_tokens
    long = _too_long(tok, context - max_tokens)
    n = len(plan_prompt(tok, long))
    with pytest.raises(OctoError) as e:
        generate_plans(model, tok, ["weather?", long, "Call Bob"], max_tokens=max_tokens)
    assert e.value.where == "query 2"
    assert f"{n} tokens" in e.value.message and str(context) in e.value.message
    # the same prompt, tokenized by the caller, at the generation layer itself
    with pytest.raises(OctoError) as e:
        plan_prompts(model, tok, [plan_prompt(tok, "weather?"), plan_prompt(tok, long)], max_tokens)
    assert e.value.where == "prompt 2" and f"{n} tokens" in e.value.message
    # a prompt that fits with fewer tokens to generate... does, and one that fits is planned
    assert len(generate_plans(model, tok, [fits], max_tokens=max_tokens)) == 1


def test_an_absurd_prompt_is_refused_without_tokenizing_it(random_model):
    model, tok = random_model
    huge = "Check the weather in Paris tomorrow. " * 140_000  # ~5 MB
    tic = time.perf_counter()
    with pytest.raises(OctoError) as e:
        generate_plans(model, tok, ["weather?", huge])
    assert time.perf_counter() - tic < 1.0  # tokenizing 5 MB alone takes longer
    assert e.value.where == "query 2" and f"{len(huge)} characters" in e.value.message


def test_the_character_bound_comes_from_the_vocabulary_and_labels_name_the_prompt(random_model):
    from octo_mlx.generation import MAX_PROMPT_CHARS, prompt_limit

    model, tok = random_model
    limit = prompt_limit(model, tok, 128)
    longest = max(len(t) for t in tok.get_vocab())
    assert limit.chars == limit.tokens * longest < MAX_PROMPT_CHARS
    text = "x" * (limit.chars + 1)  # surely more tokens than fit, yet far below the absolute bound
    with pytest.raises(OctoError) as e:
        generate_plans(model, tok, ["ok", text], labels=["data/test.jsonl: id a", "data/test.jsonl: id b"])
    assert e.value.where == "data/test.jsonl: id b" and f"{len(text)} characters" in e.value.message
    assert len(encode_prompt(tok, chat_messages(text))) > limit.tokens  # and the bound is honest


@pytest.mark.parametrize("temperature", [-0.5, float("nan")])
def test_a_negative_temperature_is_refused(random_model, temperature):
    model, tok = random_model
    prompt = plan_prompt(tok, "weather?")
    for greedy in (False, True):
        with pytest.raises(OctoError, match="temperature"):
            plan_prompts(model, tok, [prompt], max_tokens=4, greedy=greedy, temperature=temperature)


def test_a_multi_megabyte_query_fails_fast_through_eval_and_plan(tmp_path, tiny_llama):
    from tests.helpers.cli import run_octo
    from tests.helpers.datasets import make_dataset
    from tests.helpers.teach import plan_record

    data = make_dataset(tmp_path / "data")
    huge = "Check the weather in Paris tomorrow. " * 140_000  # ~5 MB, one line of test.jsonl
    with (data / "test.jsonl").open("a") as f:
        f.write(
            json.dumps(plan_record(99, huge, [("Get the weather forecast", "get_weather_forecast")])) + "\n"
        )
    tic = time.perf_counter()
    out = run_octo("eval", "--model", tiny_llama, "--data", data / "test.jsonl", cwd=tmp_path, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "test-99" in out.stderr and "Traceback" not in out.stderr
    assert time.perf_counter() - tic < 60

    long = "Check the weather in Paris tomorrow. " * 2_500  # ~90 kB: an argv fits it, the context not
    out = run_octo("plan", "--model", tiny_llama, "weather?", long, cwd=tmp_path, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "query 2" in out.stderr and "Traceback" not in out.stderr
