"""Teacher synthesis: prompts, parsing, checks, cache and logs (unit), then real runs against
`mlx_lm.server` on a tiny scripted model, directly and through the fault-injecting proxy."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from octo_mlx.data import IRRELEVANT_STEP, NO_FUNCTION
from octo_mlx.errors import OctoError
from octo_mlx.functions import load_domain, load_domains
from octo_mlx.synth import SynthConfig, parse_steps
from octo_mlx.synth import prompts as P
from octo_mlx.synth.cache import RecordLog, RequestCache, request_key, safe_base_url, scrub
from octo_mlx.synth.checks import Deduper, check_candidate, jaccard

# --- prompts and parsing ------------------------------------------------------------------------


def test_extract_json_finds_the_object_in_any_wrapping():
    rng = random.Random(0)
    wrappers = ["{}", "```json\n{}\n```", "Sure! Here it is: {} Hope that helps.", "{{ not json }} then {}"]
    for _ in range(50):
        obj = {"steps": [{"step": f"do {rng.random()}", "function": "f"}], "n": rng.randint(0, 9)}
        for w in wrappers:
            text = w.replace("{}", json.dumps(obj), 1) if w.count("{}") else w
            assert P.extract_json(text) == obj, text
    assert P.extract_json("no braces at all") is None
    assert P.extract_json('{"cut": "in the mid') is None
    assert P.extract_json('[1, 2] {"a": 1}') == {"a": 1}


def test_reply_parsers_accept_lenient_shapes_and_refuse_others():
    assert P.parse_query_reply('{"query": "  text   Bob  now "}') == "text Bob now"
    steps, funcs = P.parse_plan_reply(
        '{"plan": [{"description": "A", "name": "f"}, {"step": "B", "function": "g"}]}'
    )
    assert (steps, funcs) == (["A", "B"], ["f", "g"])
    assert P.parse_judge_reply('{"valid": "TRUE", "reason": "ok"}') == (True, "ok")
    for bad in ("", '{"query": 3}', '{"steps": []}', '{"steps": ["a"]}', '{"valid": "maybe"}'):
        for parse in (P.parse_query_reply, P.parse_plan_reply, P.parse_judge_reply):
            with pytest.raises(P.ReplyError):
                parse(bad)


def test_plan_tasks_balances_steps_functions_and_domains():
    domains = load_domains(["android", "ecommerce", "travel"])
    weights = parse_steps("1,2,3,4,5")
    tasks = P.plan_tasks(domains, 1000, seed=3, steps=weights, irrelevant=0.1, multi_domain=True)
    assert [t.index for t in tasks] == list(range(1000))
    assert sum(t.irrelevant for t in tasks) == 100
    by_steps = Counter(t.n_steps for t in tasks if not t.irrelevant)
    assert set(by_steps) == {1, 2, 3, 4, 5} and max(by_steps.values()) - min(by_steps.values()) <= 1
    owner = {f: d.name for d in domains for f in d.names}
    picks = Counter(owner[f] for t in tasks if not t.irrelevant for f in t.functions)
    total = sum(picks.values())
    for d in domains:  # each step draws its domain with p = 1/3: 2700 draws, sd ~ 25
        assert abs(picks[d.name] - total / 3) < 5 * (total * (1 / 3) * (2 / 3)) ** 0.5, picks
    assert all(t.functions == (NO_FUNCTION,) and t.n_steps == 1 for t in tasks if t.irrelevant)
    assert P.plan_tasks(domains, 1000, 3, weights, 0.1, True) == tasks
    assert P.plan_tasks(domains, 1000, 4, weights, 0.1, True) != tasks


def test_plan_tasks_single_domain_stays_in_its_domain_and_covers_functions():
    domains = load_domains(["android", "travel"])
    tasks = P.plan_tasks(domains, 300, seed=0, steps={2: 1.0, 4: 3.0})
    assert Counter(t.n_steps for t in tasks) == {2: 75, 4: 225}
    for t in tasks:
        (d,) = t.domains
        assert set(t.functions) <= set(load_domain(d).names)
    used = Counter(f for t in tasks for f in t.functions)
    for d in domains:  # domains take turns; within one, the bag hands functions out evenly
        per_fn = [used[f] for f in d.names]
        assert min(per_fn) > 0 and max(per_fn) - min(per_fn) <= 2, (d.name, per_fn)


def test_allocate_and_parse_steps():
    for n in (1, 7, 100, 999):
        for w in ({1: 1.0}, {1: 1, 2: 1, 3: 1}, {1: 0.1, 5: 0.9}, {2: 0.0, 3: 1.0}):
            counts = P.allocate(n, w)
            assert sum(counts.values()) == n
            for k in w:
                assert abs(counts[k] - n * w[k] / sum(w.values())) < 1
    assert parse_steps("1:0.2, 3:0.8") == {1: 0.2, 3: 0.8}
    for bad in ("0", "6", "x", "1:-1", "1:0", ""):
        with pytest.raises(OctoError):
            parse_steps(bad)


def test_messages_carry_functions_and_no_function_names_leak_into_the_plan_contract():
    d = load_domain("android")
    task = P.Task(0, 2, tuple(d.names[:2]), ("android",))
    q = P.query_messages(task, d.to_tools(), "terse")
    assert all(name in q[-1]["content"] for name in d.names)  # the teacher sees every function
    assert "exactly 2 steps" in q[-1]["content"]
    j = P.judge_messages(task, d.to_tools(), "hi there", ["A", "B"], d.names[:2])
    assert f"A -> {d.names[0]}" in j[-1]["content"]
    assert P.derive_seed(1, 2, 3) == P.derive_seed(1, 2, 3) != P.derive_seed(1, 2, 4)


# --- checks -------------------------------------------------------------------------------------


def test_check_candidate_names_each_problem():
    offered = {"android": {"send_email", "get_weather_forecast"}}
    ok = (
        "Email Bob the weather in Paris",
        ["Get the weather in Paris", "Email it to Bob"],
        ["get_weather_forecast", "send_email"],
    )
    assert check_candidate(*ok, 2, offered) is None
    cases = {
        "query length": ("hi", ok[1], ok[2], 2),
        "step count": (ok[0], ok[1][:1], ok[2][:1], 2),
        "unknown function": (ok[0], ok[1], ["get_weather_forecast", "fly_drone"], 2),
        "bad step": (ok[0], ["", "Email it"], ok[2], 2),
    }
    for category, args in cases.items():
        assert check_candidate(*args, offered).category == category
    assert check_candidate(ok[0], [IRRELEVANT_STEP], [NO_FUNCTION], 1, None) is None


def test_deduper_exact_and_near_duplicates():
    d = Deduper()
    base = (
        "please check the weather in Paris tomorrow morning and then text Alice that I will bring an umbrella"
    )
    d.add(base, "task 0")
    assert d.find(base.upper() + "!!").category == "duplicate"
    one_word = base.replace("Alice", "Alicia")
    j = jaccard(frozenset(base.lower().split()), frozenset(one_word.lower().split()))
    assert (d.find(one_word) is not None) == (j >= 0.9)
    assert d.find("book a table for two at an Italian place near the office") is None


# --- cache and logs -----------------------------------------------------------------------------


def test_request_key_ignores_credentials_and_changes_with_what_matters():
    params = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 1.0,
        "seed": 1,
        "attempt": 0,
    }
    k = request_key("https://api.example.com/v1", params)
    assert k == request_key("https://user:sk-SECRET@api.example.com/v1/?key=sk-SECRET", params)
    for change in ({"seed": 2}, {"attempt": 1}, {"temperature": 0.5}, {"model": "n"}):
        assert request_key("https://api.example.com/v1", {**params, **change}) != k
    assert "SECRET" not in safe_base_url("https://u:SECRET@h:8080/v1?token=SECRET#SECRET")
    assert scrub("key sk-abcdef in text sk-abcdef", ["sk-abcdef"]) == "key *** in text ***"


def test_cache_round_trip_and_partial_file_is_a_miss(tmp_path):
    cache = RequestCache(tmp_path)
    cache.put("ab" * 32, {"model": "m"}, {"choices": [1]})
    assert cache.get("ab" * 32) == {"choices": [1]}
    path = next(tmp_path.rglob("*.json"))
    path.write_text(path.read_text()[:10])
    assert cache.get("ab" * 32) is None and cache.get("cd" * 32) is None


def test_record_log_cuts_only_a_torn_last_line(tmp_path):
    log = RecordLog(tmp_path / "a.jsonl")
    for i in range(5):
        log.append({"task": i})
    with (tmp_path / "a.jsonl").open("a") as f:
        f.write('{"task": 5, "que')  # killed mid-write
    log2 = RecordLog(tmp_path / "a.jsonl")
    assert [r["task"] for r in log2.load()] == list(range(5)) and log2.torn == 1
    log2.append({"task": 5})
    assert [r["task"] for r in RecordLog(tmp_path / "a.jsonl").load()] == list(range(6))
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    lines[2] = "{broken"
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(OctoError, match=r"a\.jsonl:3"):
        RecordLog(tmp_path / "a.jsonl").load()


def test_config_refuses_bad_settings():
    for kw in (
        {"n": 0},
        {"irrelevant": 1.5},
        {"concurrency": 0},
        {"multi_domain": True},
        {"base_url": "http://x/v1"},
        {"response_format": "xml"},
    ):
        with pytest.raises(OctoError):
            SynthConfig(**kw)
    cfg = SynthConfig(base_url="http://u:pw@h/v1?k=pw", model="m")
    assert "pw" not in json.dumps(cfg.public())
