"""Judges: the offline resolver and deterministic judge, Cohen's kappa, and the LLM judge against a
real OpenAI-compatible server (mlx_lm.server on a tiny model taught to answer JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from octo_mlx.domains.catalog import load_domain
from octo_mlx.errors import OctoError
from octo_mlx.eval.judges import LLMJudge, LLMJudgeConfig, judge_plan, parse_answer, rubric_prompt
from octo_mlx.resolver import TRUST_THRESHOLD, UNRESOLVED, StepResolver, validate_resolver
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.servers import MLXServer, cached_replies, free_port
from tests.helpers.teach import STEP_PHRASES, teach


@pytest.fixture(scope="module")
def android():
    return load_domain("android")


@pytest.fixture(scope="module")
def resolver(android):
    pairs = [(s, f) for f, phrases in STEP_PHRASES.items() for s in phrases]
    return StepResolver.fit(pairs, android.functions)


# --- resolver -----------------------------------------------------------------------------------


def test_resolver_learns_its_training_pairs_and_generalises(android):
    train = [(s, f) for f, ss in STEP_PHRASES.items() for s in ss[:4]]
    held_out = [(s, f) for f, ss in STEP_PHRASES.items() for s in ss[4:]]
    r = StepResolver.fit(train, android.functions)
    assert [x.function for x in r.resolve([s for s, _ in train])] == [f for _, f in train]
    got = [x.function for x in r.resolve([s for s, _ in held_out])]
    hits = sum(g == f for g, (_, f) in zip(got, held_out))
    assert hits >= len(held_out) - 2, list(zip(got, held_out))


def test_resolver_knows_functions_from_their_descriptions_alone(android):
    r = StepResolver.fit([], android.functions)
    got = [x.function for x in r.resolve([f.description for f in android.functions])]
    assert got == android.names


def test_gibberish_is_unresolved_not_a_lucky_class(resolver):
    for text in ["lumlumlumlumlum", "zzqx vvkq", "", "<nexa_split>"]:
        assert resolver.resolve([text])[0].function == UNRESOLVED, text


def test_validation_counts_exactly_the_mislabelled_gold_steps(resolver):
    from octo_mlx.data import PlanExample

    exs = [
        PlanExample(f"{f}{i}", "q", (s,), (f,), ("android",), "offline")
        for f, ss in STEP_PHRASES.items()
        for i, s in enumerate(ss)
    ]
    clean = validate_resolver(resolver, exs)
    assert clean.accuracy == 1.0 and clean.trusted and clean.total == len(exs)
    # Relabel 3 gold steps with a wrong function: exactly those 3 become resolver "errors".
    bad = [
        PlanExample(e.id, e.query, e.steps, ("set_volume",), e.domains, e.generator) if i < 3 else e
        for i, e in enumerate(exs)
    ]
    v = validate_resolver(resolver, bad)
    assert v.correct == len(exs) - 3 and len(v.errors) == 3
    assert v.trusted == (v.accuracy >= TRUST_THRESHOLD)
    assert not v.trusted  # 39/42 = 92.9% is below the bar


# --- deterministic judge ------------------------------------------------------------------------

GOLD = ["get_trending_news", "send_email"]
RIGHT = ["Get trending news about SpaceX in French", "Email the route to Carol"]


def test_right_plan_is_correct(resolver):
    v = judge_plan(RIGHT, GOLD, resolver)
    assert v.judged and v.correct and [s.resolved for s in v.steps] == GOLD


def test_wrong_order_names_the_steps(resolver):
    v = judge_plan(RIGHT[::-1], GOLD, resolver)
    assert v.correct is False
    assert "step 1 maps to send_email, not get_trending_news" in v.reason
    assert "step 2 maps to get_trending_news, not send_email" in v.reason


@pytest.mark.parametrize("steps", [RIGHT[:1], RIGHT + ["Call Bob"], []])
def test_wrong_count_is_incorrect_even_when_the_prefix_matches(resolver, steps):
    v = judge_plan(steps, GOLD, resolver)
    assert v.correct is False and f"wrong count: {len(steps)} step(s), gold has 2" in v.reason


def test_irrelevant_query(resolver):
    assert judge_plan(["Reply directly with no function call"], ["none"], resolver).correct
    v = judge_plan(["Call Bob"], ["none"], resolver)
    assert v.correct is False and "maps to make_phone_call, not none" in v.reason
    v = judge_plan(["lumlumlum"], ["none"], resolver)
    assert v.correct is False and "maps to no function" in v.reason


# --- LLM judge: prompt and parsing ----------------------------------------------------------------


def test_rubric_prompt_states_both_criteria_and_lists_every_function(android):
    p = rubric_prompt("Find news and mail it", RIGHT, android.functions, None)
    assert all(f"- {f.name}: {f.description}" in p for f in android.functions)
    assert "1. " + RIGHT[0] in p and "2. " + RIGHT[1] in p and p.index(RIGHT[0]) < p.index(RIGHT[1])
    assert "corresponds to one of the available functions" in p and "right order" in p
    assert "reference" not in p
    assert "reference" in rubric_prompt("q", RIGHT, android.functions, ["Gold step"])


@pytest.mark.parametrize(
    "text,correct",
    [
        ('{"correct": true, "reason": "ok"}', True),
        ('Sure!\n```json\n{"correct": false, "reason": "wrong order"}\n```', False),
        ('{"verdict": 1} then {"correct": true}', True),
    ],
)
def test_parse_answer_reads_the_json_verdict(text, correct):
    v = parse_answer(text)
    assert v.judged and v.correct is correct


@pytest.mark.parametrize("text", ['{"correct": "yes"}', '{"correct": tr', "I think it is fine", ""])
def test_unparseable_answers_are_not_judged_never_incorrect(text):
    v = parse_answer(text)
    assert not v.judged and v.correct is None and "unparseable" in v.reason


# --- LLM judge against a real server --------------------------------------------------------------


def judge_prompts(n: int = 4) -> list[str]:
    # Real rubric prompts over 2 functions with one-line descriptions: ~300 tokens each keeps
    # teaching the tiny judge to seconds (at 600+ tokens a step took 1.6 s on 2 busy cores).
    funcs = [
        SimpleNamespace(name="get_news", description="Find news."),
        SimpleNamespace(name="send_email", description="Send an email."),
    ]
    plans = [["Get news"], ["Email Bob", "Get news"], ["Get news", "Email it"], ["Call Dave"]]
    return [rubric_prompt(f"request {i}", p, funcs, None) for i, p in enumerate(plans[:n])]


JSON_ANSWERS = [
    '{"correct": true, "reason": "the steps match"}',
    '{"correct": false, "reason": "wrong order"}',
]


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory, tiny_llama):
    """mlx_lm.server over real HTTP on a tiny model taught to answer the judge prompts with JSON."""
    prompts = judge_prompts(4)
    model = teach(
        tiny_llama,
        tmp_path_factory.mktemp("judge-model"),
        [(p, JSON_ANSWERS[i % 2]) for i, p in enumerate(prompts)],
        steps=40,
    )
    with MLXServer(model, log_path=tmp_path_factory.mktemp("judge-server") / "server.log") as server:
        yield server.url


@pytest.fixture
def proxy(judge_server):
    """A fault-injecting proxy in front of the judge server; counts the requests it receives."""
    made = []

    def make(faults=None, **kw):
        made.append(FaultProxy(judge_server, faults, **kw))
        return made[-1]

    yield make
    for p in made:
        p.stop()


def _config(url, cache, **kw):
    return LLMJudgeConfig(base_url=url, model="default_model", cache_dir=cache, **({"max_retries": 3} | kw))


def test_llm_judge_uses_parseable_answers_and_the_cache_saves_every_request(proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-key-4242")
    prompts = judge_prompts()
    p = proxy()
    judge = LLMJudge(_config(p.base_url, tmp_path / "cache"))
    first = judge.judge_many(prompts)
    assert p.forwarded == len(prompts) and judge.stats.requests == len(prompts)
    cached = cached_replies(tmp_path / "cache")
    assert cached & set(JSON_ANSWERS), cached  # the taught model answers JSON over real HTTP
    judged = [v for v in first if v.judged]
    assert judged, [v.reason for v in first]
    for v in judged:  # the verdict is the server's answer, parsed
        assert (v.correct, v.reason) in {(json.loads(a)["correct"], json.loads(a)["reason"]) for a in cached}
    again = LLMJudge(_config(p.base_url, tmp_path / "cache"))
    second = again.judge_many(prompts)
    assert p.count == len(prompts), "a cached judgement went to the server"
    assert again.stats.cache_hits == len(prompts) and again.stats.requests == 0 and second == first
    assert not any("sentinel" in f.read_text() for f in (tmp_path / "cache").rglob("*.json"))


def test_truncated_answers_are_reported_not_judged(proxy, tmp_path):
    judge = LLMJudge(_config(proxy().base_url, tmp_path, max_tokens=3))
    verdicts = judge.judge_many(judge_prompts(2))
    assert all(not v.judged and v.correct is None and "unparseable" in v.reason for v in verdicts)


@pytest.mark.parametrize("fault", ["503", "429"])
def test_busy_server_is_retried(proxy, fault):
    p = proxy({1: fault, 2: fault})
    v = LLMJudge(_config(p.base_url, None)).ask(judge_prompts(1)[0])
    assert p.count == 3 and p.forwarded == 1 and "failed" not in v.reason


def test_failing_server_gives_not_judged_with_the_status(proxy, tmp_path):
    p = proxy(lambda n: "500")
    judge = LLMJudge(_config(p.base_url, tmp_path, max_retries=2))
    v = judge.ask(judge_prompts(1)[0])
    assert not v.judged and v.correct is None and "500" in v.reason
    assert p.count == 3 and p.forwarded == 0 and judge.stats.failures == 1
    assert not list(Path(tmp_path).rglob("*.json")), "a failure must not be cached"


@pytest.mark.parametrize("fault", ["malformed", "truncated_json"])
def test_malformed_replies_are_not_judged_never_a_crash(proxy, fault, tmp_path):
    p = proxy(lambda n: fault)
    judge = LLMJudge(_config(p.base_url, tmp_path, max_retries=1))
    v = judge.ask(judge_prompts(1)[0])
    assert not v.judged and v.correct is None and "malformed" in v.reason and p.count == 2
    assert judge.stats.failures == 1
    assert not list(Path(tmp_path).rglob("*.json")), "a failure must not be cached"


def test_one_malformed_reply_is_retried_like_the_teachers(proxy, tmp_path):
    """One client for teacher and judge (octo_mlx.llm): a 200 that is not a chat completion is
    retried, not taken as the judge's final word."""
    p = proxy({1: "malformed"})
    v = LLMJudge(_config(p.base_url, tmp_path)).ask(judge_prompts(1)[0])
    assert p.count == 2 and p.forwarded == 1 and "failed" not in v.reason


def test_dropped_connection_is_retried(proxy, tmp_path):
    p = proxy({1: "truncated"})
    v = LLMJudge(_config(p.base_url, tmp_path)).ask(judge_prompts(1)[0])
    assert p.count == 2 and p.forwarded == 2 and "failed" not in v.reason


def test_timeouts_are_not_judged(proxy, tmp_path):
    p = proxy(lambda n: "timeout", hold_s=3.0)
    v = LLMJudge(_config(p.base_url, tmp_path, max_retries=1, timeout=0.5)).ask(judge_prompts(1)[0])
    assert not v.judged and v.correct is None and "timed out" in v.reason and p.count == 2


def test_unreachable_endpoint_is_a_clear_error(tmp_path):
    judge = LLMJudge(_config(f"http://127.0.0.1:{free_port()}/v1", tmp_path, max_retries=1, timeout=5))
    with pytest.raises(OctoError, match="unreachable"):
        judge.judge_many(judge_prompts(1))


def test_a_400_about_the_format_is_final_when_no_format_was_asked(proxy, tmp_path):
    """The judge asks for plain text: a 400 that mentions "format" is the server's answer, not a
    cue to retry with a weaker response_format (the teacher's downgrade), so one request only."""
    p = proxy(lambda n: "bad_message_format")
    judge = LLMJudge(_config(p.base_url, tmp_path))
    v = judge.ask(judge_prompts(1)[0])
    assert not v.judged and v.correct is None and "400" in v.reason
    assert p.count == 1 and judge.stats.failures == 1


# --- error kinds and values kept ---------------------------------------------------------------


def test_error_kind_names_merged_split_and_wrong_function_plans():
    from octo_mlx.eval.judges import error_kind

    resolver = StepResolver.fit([(s, f) for f, phrases in STEP_PHRASES.items() for s in phrases], [])
    gold = ["send_email", "get_weather_forecast"]
    email, weather = STEP_PHRASES["send_email"][0], STEP_PHRASES["get_weather_forecast"][0]
    cases = {
        "correct": [email, weather],
        "fewer steps": [email],
        "more steps": [email, weather, weather],
        "wrong function": [weather, email],
    }
    for kind, steps in cases.items():
        assert error_kind(judge_plan(steps, gold, resolver), len(gold)) == kind


def test_values_kept_catches_a_value_changed_in_the_step_text():
    from octo_mlx.eval.judges import stated_values, values_kept
    from octo_mlx.functions.calls import Call

    gold = ["Set the ring volume to 10", "Play the most recent video found"]
    calls = [Call("set_volume", {"level": 10, "stream": "ring"}), Call("play_video", {"title": "Dune"})]
    assert stated_values(gold[0], calls[0]) == ["10", "ring"]
    assert stated_values(gold[1], calls[1]) == []  # read from a result, not stated: nothing to keep
    assert values_kept(["Turn the RING volume to 10", "Play it"], gold, calls) is True
    assert values_kept(["Set the ring volume to 100", "Play it"], gold, calls) is False  # 10 is not in 100
    assert values_kept(["Set the ring volume to 9", "Play it"], gold, calls) is False
    assert values_kept(["Set the ring volume to 10"], gold, calls) is False  # a step lost
    assert values_kept(["Set the ring volume to 10", "Play it"], gold, None) is None


def test_a_training_step_written_word_for_word_resolves_to_its_own_function():
    pairs = [(s, f) for f, phrases in STEP_PHRASES.items() for s in phrases]
    resolver = StepResolver.fit(pairs, [])
    resolver.weights[:] = 0  # a regression that knows nothing: every step lands on class 0
    resolver.bias[:] = 0
    step, function = pairs[-1]
    assert function != resolver.classes[0]
    got = resolver.resolve([step.upper() + ".", "  " + step.lower(), step + " please"])
    assert [r.function for r in got[:2]] == [function, function]  # case and punctuation aside
    assert got[2].function == resolver.classes[0]  # not the training text: the regression decides
