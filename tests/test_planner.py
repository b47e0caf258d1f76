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


# --- the step budget -------------------------------------------------------------------------------


class _Script:
    """A logits processor that makes the model write ``script`` (token ids) over and over: a
    planner stuck in a loop, or one that never stops adding steps."""

    def __init__(self, script, prompt_tokens):
        self.script, self.prompt_tokens = list(script), prompt_tokens

    def __call__(self, tokens, logits):
        import mlx.core as mx

        n = len(tokens) - self.prompt_tokens
        want = self.script[n % len(self.script)]
        return mx.where(mx.arange(logits.shape[-1]) == want, 0.0, -mx.inf)[None]


@pytest.fixture(scope="module")
def extended(tiny_llama, tmp_path_factory):
    from octo_mlx.models.tokens import extend_base

    return mlx_lm.load(str(extend_base(tiny_llama, out=tmp_path_factory.mktemp("ext") / "base")))


def _scripted(model, tok, script, step_budget, max_tokens=60):
    """Decode one prompt while ``_Script`` writes ``script``: batched, streamed, streamed with lookup."""
    from octo_mlx.generation import generate, generate_stream
    from octo_mlx.planner import PlanOutput, plan_processors

    prompt = plan_prompt(tok, "Turn the volume down")

    def procs():
        return [_Script(script, len(prompt)), *plan_processors(tok, len(prompt) if step_budget else None)]

    batched, _ = generate(model, tok, [prompt], max_tokens, 1, logits_processors=lambda i: procs())
    streamed = [
        p.generation for p in generate_stream(model, tok, prompt, max_tokens, logits_processors=procs())
    ]
    # with prompt lookup: a looping plan is what drafts are most often right about
    looked = [
        p.generation
        for p in generate_stream(model, tok, prompt, max_tokens, logits_processors=procs(), lookup=4)
    ]
    return tuple(PlanOutput.of(g, step_budget) for g in (batched[0], streamed[-1], looked[-1]))


def test_step_budget_stops_a_looping_plan_at_its_first_repeat(extended):
    model, tok = extended
    step = tok.encode("Lower the volume", add_special_tokens=False)
    split = tok.convert_tokens_to_ids("<nexa_split>")
    for plan in _scripted(model, tok, [*step, split], step_budget=True):
        # the repeat is closed, then only the end marker may follow: one step, not thirty
        assert plan.finish_reason == "stop" and plan.gen_tokens == 2 * (len(step) + 1) + 1
        assert plan.steps == ("Lower the volume",)
    for plan in _scripted(model, tok, [*step, split], step_budget=False):
        assert plan.finish_reason == "length" and plan.steps.count("Lower the volume") > 5


def test_step_budget_ends_a_plan_after_five_steps(extended):
    model, tok = extended
    split = tok.convert_tokens_to_ids("<nexa_split>")
    words = ["one", "two", "three", "four", "five", "six", "seven"]
    script = [t for w in words for t in [*tok.encode(f"Step {w}", add_special_tokens=False), split]]
    for plan in _scripted(model, tok, script, step_budget=True, max_tokens=len(script)):
        assert plan.finish_reason == "stop" and plan.steps == tuple(f"Step {w}" for w in words[:5])
    for plan in _scripted(model, tok, script, step_budget=False, max_tokens=len(script)):
        assert plan.steps == tuple(f"Step {w}" for w in words)


def test_within_budget_keeps_the_steps_before_a_repeat_and_at_most_five():
    from octo_mlx.planner import within_budget

    assert within_budget(["a", "b", "a", "c"]) == ["a", "b"]
    assert within_budget([str(i) for i in range(8)]) == ["0", "1", "2", "3", "4"]
    assert within_budget(["a", "b"]) == ["a", "b"]


def test_step_budget_counts_only_generated_tokens():
    """A query that itself holds the split token (typed by a user) does not use up the budget."""
    from octo_mlx.planner import StepBudget

    budget = StepBudget(split_id=9, stop_id=1, prompt_tokens=6)
    prompt = [9, 5, 9, 5, 9, 5]
    assert not budget.spent([5, 9])
    assert budget.spent([5, 9, 5, 9]) and not budget.spent([5, 9, 6, 9])
    assert not budget.spent([5, 9, 9])  # an empty step closes nothing
    assert budget.spent([2, 9, 3, 9, 4, 9, 6, 9, 7, 9]) and not budget.spent([2, 9, 3, 9, 4, 9, 6, 9, 7])
    import mlx.core as mx

    logits = mx.zeros((1, 12))
    assert mx.array_equal(budget(mx.array([*prompt, 5, 9]), logits), logits)
    forced = budget(mx.array([*prompt, 5, 9, 5, 9]), logits)
    assert int(mx.argmax(forced).item()) == 1 and bool(mx.isinf(forced).sum().item() == 11)


def test_a_planner_is_asked_about_times_the_way_it_was_trained(tiny_llama, tmp_path):
    """Trained planners read 12-hour times with their 24-hour form written in and record it; a
    planner that records nothing (trained before) is asked with the request as written."""
    import dataclasses

    from octo_mlx.planner import clock_of, encode_queries
    from octo_mlx.syntax import CLOCK
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe
    from octo_mlx.train.setup import read_examples
    from tests.helpers.datasets import tiny_overrides, write_planner_data

    recipe = load_recipe(
        None,
        tiny_overrides(
            tiny_llama, write_planner_data(tmp_path / "data"), tmp_path / "run", "train.max_steps=1"
        ),
    )
    examples = read_examples(recipe)
    timed = dataclasses.replace(examples.train[0], query='Wake me at 7:30 pm and text Ann "at 9 am"')
    taught = examples.messages(timed)[0]
    assert taught == chat_messages(timed.query, clock=True)[0]
    assert taught["content"] == 'Wake me at 7:30 pm (19:30) and text Ann "at 9 am"'
    for e in examples.train:
        assert examples.messages(e)[0] == chat_messages(e.query, clock=True)[0]

    last = train(recipe).last_dir
    cfg = json.loads((last / "adapter_config.json").read_text())
    assert cfg["queries"] == CLOCK and clock_of(last)
    model, tok = mlx_lm.load(str(tiny_llama))
    asked = tok.decode(encode_queries(model, tok, [timed.query], 16, clock=clock_of(last))[0])
    assert "7:30 pm (19:30)" in asked
    del cfg["queries"]
    (last / "adapter_config.json").write_text(json.dumps(cfg))
    assert not clock_of(last) and not clock_of(None) and not clock_of(tiny_llama)
