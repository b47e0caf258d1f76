"""`octo-mlx eval` on an action dataset (#12): the argument comparison rules, the metrics on a
hand-built set of decodes with known counts, the JSON report, and the run and the command end to
end on a tiny action adapter trained for two steps."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from octo_mlx.action.constrain import DecodedCall
from octo_mlx.domains.catalog import load_domains
from octo_mlx.errors import OctoError
from octo_mlx.eval.action import (
    ActionEvalConfig,
    ActionEvalReport,
    ActionExampleResult,
    argument_mismatches,
    compute_action_metrics,
    normalise_text,
    percentile,
    read_action_report,
    run_action_eval,
    score_decoded,
    string_kind,
    values_equal,
    write_action_report,
)
from octo_mlx.eval.plots import ACTION_PLOT_FILES, plot_action_report
from octo_mlx.functions.calls import Call, CallProblem
from octo_mlx.generation import Generation
from octo_mlx.stats import wilson_interval
from octo_mlx.syntax import SlotMap, format_call, parse_call
from tests.helpers.cli import run_octo
from tests.helpers.datasets import tiny_overrides

DOMAINS = load_domains()
FUNCTIONS = {f.name: f for d in DOMAINS for f in d.functions}
SLOTS = SlotMap.for_domains(DOMAINS)


def params(name: str) -> dict:
    return FUNCTIONS[name].parameters


# --- the comparison rules -------------------------------------------------------------------------


def test_times_are_compared_as_clock_times_and_a_near_miss_stays_wrong():
    alarm = params("set_timer_alarm")
    assert normalise_text("07:05") != normalise_text("7:05")  # as plain text they would differ
    for same in ("7:05", "07:05:00", "7:05 am", "7.05"):
        assert argument_mismatches({"time": "07:05"}, {"time": same}, alarm) == [], same
    assert argument_mismatches({"time": "19:05"}, {"time": "7:05 PM"}, alarm) == []
    for wrong in ("07:50", "7:06", "17:05", "7:05 pm"):
        assert argument_mismatches({"time": "07:05"}, {"time": wrong}, alarm) == ["time"], wrong


def test_phone_numbers_are_compared_by_their_digits():
    call = params("make_phone_call")
    gold = {"phone_number": "+15550102000"}
    assert normalise_text("+15550102000") != normalise_text("+1 (555) 010-2000")
    for same in ("+1 (555) 010-2000", "+1 555 010 2000", "+1-555-010-2000"):
        assert argument_mismatches(gold, {"phone_number": same}, call) == [], same
    assert argument_mismatches(gold, {"phone_number": "+15550102001"}, call) == ["phone_number"]
    assert argument_mismatches(gold, {"phone_number": "+1 (555) 010-2001"}, call) == ["phone_number"]


def test_dates_and_stamps_are_compared_by_their_numbers():
    event = params("create_calendar_event")
    gold = {"title": "Standup", "start_time": "2025-06-15-08-45", "end_time": "2025-06-15-09-05"}
    same = {"title": "standup", "start_time": "2025-6-15 08:45", "end_time": "2025-06-15T09:05"}
    assert argument_mismatches(gold, same, event) == []
    near = {**gold, "end_time": "2025-06-15-09-50"}
    assert argument_mismatches(gold, near, event) == ["end_time"]
    flights = params("search_flights")
    gold = {"origin": "Paris", "destination": "Rome", "date": "2025-07-01"}
    assert argument_mismatches(gold, {**gold, "date": "2025-7-1"}, flights) == []
    assert argument_mismatches(gold, {**gold, "date": "2025-01-07"}, flights) == ["date"]


def test_numbers_are_compared_as_numbers_and_a_boolean_is_not_one():
    nest = params("set_nest_temperature")
    assert argument_mismatches({"target_temperature": 72}, {"target_temperature": 72.0}, nest) == []
    assert argument_mismatches({"target_temperature": 72}, {"target_temperature": 72.5}, nest) == [
        "target_temperature"
    ]
    assert True == 1  # noqa: E712  (so plain == would call these equal)
    assert not values_equal(1, True, {"type": "integer"})
    assert not values_equal(1, "1", {"type": "integer"})
    assert values_equal(0.1 + 0.2, 0.3, {"type": "number"})


def test_other_strings_are_case_and_space_normalised_and_a_near_miss_stays_wrong():
    email = params("send_email")
    gold = {"recipient": "bob@example.com", "title": "Lunch", "content": "See you at noon"}
    same = {"recipient": "Bob@Example.com", "title": " lunch ", "content": "see  you at\tNoon"}
    assert "see  you" != "see you"  # the raw strings differ
    assert argument_mismatches(gold, same, email) == []
    near = {**gold, "content": "See you at noon!"}
    assert argument_mismatches(gold, near, email) == ["content"]
    assert argument_mismatches(gold, {**gold, "recipient": "bob@example.co"}, email) == ["recipient"]


def test_an_argument_equal_to_its_default_may_be_left_out_on_either_side():
    alarm = params("set_timer_alarm")
    assert argument_mismatches({"time": "07:05"}, {"time": "07:05", "label": "alarm"}, alarm) == []
    assert argument_mismatches({"time": "07:05", "label": "Alarm"}, {"time": "07:05"}, alarm) == []
    assert argument_mismatches({"time": "07:05", "label": "wake up"}, {"time": "07:05"}, alarm) == ["label"]
    assert argument_mismatches({"time": "07:05"}, {}, alarm) == ["time"]  # required: no default
    cart = params("add_to_cart")  # an integer default
    assert argument_mismatches({"product_id": "P1"}, {"product_id": "P1", "quantity": 1.0}, cart) == []
    assert argument_mismatches({"product_id": "P1"}, {"product_id": "P1", "quantity": 2}, cart) == [
        "quantity"
    ]


def test_string_kinds_come_from_the_bundled_schemas_and_else_from_format_or_name():
    kinds = {
        (f.name, k): string_kind(k, s)
        for f in FUNCTIONS.values()
        for k, s in f.parameters.get("properties", {}).items()
        if s.get("type") == "string"
    }
    assert kinds["make_phone_call", "phone_number"] == kinds["create_contact", "phone_number"] == "phone"
    assert kinds["set_timer_alarm", "time"] == "time"
    assert kinds["create_calendar_event", "start_time"] == kinds["search_hotels", "check_in"] == "date"
    for plain in (
        ("send_email", "recipient"),
        ("check_flight_status", "flight_number"),
        ("convert_currency", "to_currency"),
    ):
        assert kinds[plain] == "text", plain
    assert string_kind("at", {"type": "string", "format": "time"}) == "time"
    assert string_kind("mobile_phone", {"type": "string"}) == "phone"
    assert string_kind("anything", {"type": "string", "pattern": ".*"}) == "text"  # accepts a plain word
    # nested: a list of times compared item by item
    schema = {"type": "array", "items": {"type": "string", "format": "time"}}
    assert values_equal(["07:05", "19:30"], ["7:05", "7:30 pm"], schema)
    assert not values_equal(["07:05", "19:30"], ["7:05"], schema)


# --- the metrics on hand-built decodes ----------------------------------------------------------------


def decoded(text: str, seconds: float, active=None) -> DecodedCall:
    """A decode of ``text`` (parsed by the real parser) that took ``seconds``."""
    call, problem = None, None
    try:
        call = parse_call(text, SLOTS, active or FUNCTIONS)
    except CallProblem as p:
        problem = p
    g = Generation(text, 20, 8, seconds, seconds / 4, "stop")
    return DecodedCall(text, call, problem, g, 5, seconds / 10)


def text_of(function: str, **arguments) -> str:
    return format_call(Call(function, arguments), SLOTS, FUNCTIONS.get(function))


def result(i: int, gold: Call, text: str, seconds: float, dependent: bool = False) -> ActionExampleResult:
    return ActionExampleResult(
        id=f"e{i}",
        step="step",
        domains=["android"],
        template="t",
        dependent=dependent,
        has_observation=dependent,
        gold=gold.to_dict(),
        constrained=score_decoded(gold, decoded(text, seconds), FUNCTIONS),
    )


ALARM = Call("set_timer_alarm", {"time": "07:05"})
PHONE = Call("make_phone_call", {"phone_number": "+15550102000"})
NONE = Call("none")


def hand_built() -> list[ActionExampleResult]:
    """Ten decodes with known verdicts (function / full call / valid / says none)."""
    rows = [
        (ALARM, text_of("set_timer_alarm", time="07:05"), False),  # right ("7:05" fails the pattern)
        (ALARM, text_of("set_timer_alarm", time="07:05", label="alarm"), False),  # right (default)
        (ALARM, text_of("set_timer_alarm", time="07:50"), False),  # function right, call wrong
        (ALARM, SLOTS.token("set_timer_alarm") + '{"time": "7 oclock"}<nexa_end>', False),  # invalid
        (NONE, "<nexa_none><nexa_end>", False),  # right
        (NONE, "<nexa_none><nexa_end>", False),  # right
        (NONE, text_of("make_phone_call", phone_number="+15550102000"), False),  # wrong: a call
        (PHONE, text_of("make_phone_call", phone_number="+15550102000"), True),  # right
        (PHONE, "<nexa_none><nexa_end>", True),  # wrong: says none
        (PHONE, SLOTS.token("make_phone_call") + '{"phone_number": "+1555', True),  # unterminated
    ]
    return [result(i, g, t, (i + 1) / 10, dep) for i, (g, t, dep) in enumerate(rows)]


def test_metrics_on_a_hand_built_set_have_the_known_counts():
    results = hand_built()
    m = compute_action_metrics(results)
    s = m.constrained.overall
    assert m.unconstrained is None
    assert (s.function_accuracy.k, s.function_accuracy.n) == (8, 10)  # named: 4 alarm, 2 none, 2 phone
    assert (s.call_accuracy.k, s.call_accuracy.n) == (5, 10)
    assert (s.validity.k, s.validity.n) == (8, 10)
    assert (s.none_precision.k, s.none_precision.n) == (2, 3)  # 3 "none" said, 2 of them right
    assert (s.none_recall.k, s.none_recall.n) == (2, 3)  # 3 gold "none", 2 found
    assert s.problems == {"invalid_argument": 1, "unterminated": 1}
    alarm = m.constrained.by_function["set_timer_alarm"]
    assert (alarm.function_accuracy.k, alarm.call_accuracy.k, alarm.validity.k, alarm.n) == (4, 2, 3, 4)
    dep = m.constrained.by_kind["dependent"]
    assert (dep.n, dep.function_accuracy.k, dep.call_accuracy.k, dep.validity.k) == (3, 2, 1, 2)
    assert list(m.constrained.by_kind) == ["independent", "dependent"]
    assert m.constrained.by_domain["android"].n == 10
    lat = s.latency  # call seconds 0.1 .. 1.0, first token a quarter of each
    assert lat.call_median_s == pytest.approx(0.55) and lat.call_p90_s == pytest.approx(0.9)
    assert lat.first_token_median_s == pytest.approx(0.1375) and lat.first_token_p90_s == pytest.approx(0.225)
    assert lat.constraint_share == pytest.approx(0.1) and lat.steps_mean == 5 and lat.gen_tokens_mean == 8
    assert dep.latency.call_median_s == pytest.approx(0.9)  # 0.8, 0.9, 1.0
    for group in [s, *m.constrained.by_function.values(), *m.constrained.by_kind.values()]:
        for rate in (group.function_accuracy, group.call_accuracy, group.validity, group.none_precision):
            assert (rate.low, rate.high) == wilson_interval(rate.k, rate.n)


def test_calls_the_token_budget_ended_are_counted_and_kept_in_the_report():
    results = hand_built()
    budget_ended = decoded(text_of("set_timer_alarm", time="07:05"), 0.3)
    budget_ended = dataclasses.replace(budget_ended, closed=True)
    results[1].constrained = score_decoded(ALARM, budget_ended, FUNCTIONS)
    s = compute_action_metrics(results).constrained.overall
    assert s.closed == 1 and s.validity.k == 8  # still valid: the ending the budget wrote is valid
    assert compute_action_metrics(hand_built()).constrained.overall.closed == 0
    report = ActionEvalReport(
        {"data": "x"}, {"model": {}, "adapter": {}}, compute_action_metrics(results), results
    )
    back = ActionEvalReport.from_json(json.loads(json.dumps(report.to_json())))
    assert back.metrics.constrained.overall.closed == 1 and back.examples[1].constrained.closed


def test_a_problem_is_invalid_even_when_it_names_the_right_function():
    gold = PHONE
    for text, kind in (
        (SLOTS.token("make_phone_call") + '{"phone_number": "+15550102000"', "unterminated"),
        (SLOTS.token("make_phone_call") + '{"phone_number": "555"}<nexa_end>', "invalid_argument"),
        (
            SLOTS.token("make_phone_call") + '{"phone_number": "+15550102000", "x": 1}<nexa_end>',
            "unknown_argument",
        ),
    ):
        o = score_decoded(gold, decoded(text, 0.1), FUNCTIONS)
        assert o.problem["kind"] == kind and o.function == "make_phone_call"
        assert not o.valid and o.function_correct and not o.call_correct
        s = compute_action_metrics([result(0, gold, text, 0.1)]).constrained.overall
        assert (s.validity.k, s.validity.n, s.call_accuracy.k) == (0, 1, 0)
    o = score_decoded(gold, decoded("print('hi')", 0.1), FUNCTIONS)
    assert o.problem["kind"] == "syntax" and o.function is None and not o.function_correct


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.9) == 9.0 and percentile(values, 0.5) == 5.0 and percentile([3.0], 0.9) == 3.0
    assert percentile(values[:3], 0.9) == 3.0


# --- the report ---------------------------------------------------------------------------------


def test_the_json_report_round_trips(tmp_path):
    results = hand_built()
    for r in results[:4]:  # an unconstrained side beside
        r.unconstrained = score_decoded(Call(**r.gold), decoded("<nexa_none>", 0.2), FUNCTIONS)
    report = ActionEvalReport(
        {"data": "x"}, {"model": {}, "adapter": {}}, compute_action_metrics(results), results
    )
    assert report.metrics.unconstrained is None  # only when every example has its second decode
    for r in results[4:]:
        r.unconstrained = score_decoded(Call(**r.gold), decoded("<nexa_none><nexa_end>", 0.2), FUNCTIONS)
    report.metrics = compute_action_metrics(results)
    assert report.metrics.unconstrained.overall.validity.k == 6  # 4 unterminated
    path = write_action_report(report, tmp_path / "r.json")
    back = read_action_report(path)
    assert back == report
    data = json.loads(path.read_text())
    assert data["schema"] == "octo-mlx.eval.action/1" and data["task"] == "action"
    assert data["examples"][3]["constrained"]["problem"]["kind"] == "invalid_argument"
    (tmp_path / "planner.json").write_text(json.dumps({"schema": "octo-mlx.eval/1"}))
    with pytest.raises(OctoError, match="not an action evaluation report"):
        read_action_report(tmp_path / "planner.json")


REPORT_SCHEMA = {
    "$defs": {
        "rate": {"type": "object", "required": ["k", "n", "p", "low", "high"]},
        "scores": {
            "type": "object",
            "required": [
                "n",
                "function_accuracy",
                "call_accuracy",
                "validity",
                "none_precision",
                "none_recall",
                "latency",
            ],
            "properties": {
                "validity": {"$ref": "#/$defs/rate"},
                "function_accuracy": {"$ref": "#/$defs/rate"},
            },
        },
        "side": {
            "type": "object",
            "required": ["overall", "by_function", "by_domain", "by_kind"],
            "properties": {
                "overall": {"$ref": "#/$defs/scores"},
                "by_function": {"additionalProperties": {"$ref": "#/$defs/scores"}},
            },
        },
        "outcome": {
            "type": "object",
            "required": [
                "text",
                "call",
                "problem",
                "valid",
                "function_correct",
                "call_correct",
                "first_token_seconds",
                "call_seconds",
            ],
        },
    },
    "type": "object",
    "required": ["schema", "task", "config", "fingerprints", "metrics", "examples"],
    "properties": {
        "config": {
            "type": "object",
            "required": ["data", "adapter", "model_path", "max_tokens", "active", "domains"],
        },
        "fingerprints": {"type": "object", "required": ["model", "adapter"]},
        "metrics": {"type": "object", "properties": {"constrained": {"$ref": "#/$defs/side"}}},
        "examples": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "gold", "dependent", "constrained"],
                "properties": {"constrained": {"$ref": "#/$defs/outcome"}},
            },
        },
    },
}


# --- a tiny action model, end to end --------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter(tiny_llama, action_data, tmp_path_factory) -> Path:
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe

    out = tmp_path_factory.mktemp("adapter") / "run"
    extra = ("model.new_tokens=[]", "lora.rank=2", "lora.alpha=4", "train.max_steps=2")
    return train(load_recipe(None, tiny_overrides(tiny_llama, action_data, out, *extra))).last_dir


def test_a_tiny_action_adapter_is_evaluated_with_both_decodes(action_data, adapter, tmp_path):
    report = run_action_eval(
        ActionEvalConfig(
            data=str(action_data / "test.jsonl"),
            adapter=str(adapter),
            max_tokens=64,
            limit=4,
            unconstrained=True,
        )
    )
    m = report.metrics
    assert len(report.examples) == 4 and m.constrained.overall.n == 4 and m.unconstrained.overall.n == 4
    c = m.constrained.overall
    assert c.validity.k == 4, [
        (r.constrained.text, r.constrained.problem) for r in report.examples
    ]  # the grammar
    for r in report.examples:
        o = r.constrained
        assert o.valid and o.problem is None and o.call is not None
        assert 0 < o.first_token_seconds <= o.generation_seconds <= o.call_seconds and o.steps <= o.gen_tokens
        assert r.unconstrained is not None and r.unconstrained.constraint_seconds == 0.0
    assert sum(s.n for s in m.constrained.by_function.values()) == 4
    gold_test = [json.loads(line) for line in (action_data / "test.jsonl").read_text().splitlines()][:4]
    assert [r.gold for r in report.examples] == [g["call"] for g in gold_test]
    digest = hashlib.sha256((adapter / "adapters.safetensors").read_bytes()).hexdigest()
    assert report.fingerprints["adapter"]["files"]["adapters.safetensors"] == digest
    assert report.fingerprints["model"]["files"] and report.config["model_path"]
    assert report.config["served_domains"] == ["android"] and report.config["slots"] == 20
    path = write_action_report(report, tmp_path / "r.json")
    jsonschema.validate(json.loads(path.read_text()), REPORT_SCHEMA)
    assert read_action_report(path) == report
    pngs = plot_action_report(report.metrics, tmp_path / "plots", "tiny")
    assert sorted(p.name for p in pngs) == sorted(ACTION_PLOT_FILES)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000 for p in pngs)


def test_a_split_with_a_domain_the_model_does_not_serve_is_refused_before_decoding(adapter, tmp_path):
    res = run_octo(
        "data",
        "synth",
        "--offline",
        "--task",
        "action",
        "--domain",
        "travel",
        "--n",
        "20",
        "--out",
        tmp_path / "t",
    )
    assert res.returncode == 0, res.stderr
    with pytest.raises(OctoError, match="serves android; the test split has steps of travel"):
        run_action_eval(ActionEvalConfig(data=str(tmp_path / "t" / "test.jsonl"), adapter=str(adapter)))
    with pytest.raises(OctoError, match="needs --adapter"):
        ActionEvalConfig(data="x")


def test_the_command_detects_an_action_split_and_writes_report_and_plots(action_data, adapter, tmp_path):
    out = run_octo(
        "eval",
        "--data",
        action_data / "test.jsonl",
        "--adapter",
        adapter,
        "--limit",
        "3",
        "--max-tokens",
        "64",
        "--unconstrained",
        "--out",
        tmp_path / "r.json",
        "--plots",
        tmp_path / "plots",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(data, REPORT_SCHEMA)
    c = data["metrics"]["constrained"]["overall"]
    assert c["validity"]["k"] == c["validity"]["n"] == 3 and data["metrics"]["unconstrained"] is not None
    fa = c["function_accuracy"]
    assert (
        f"{fa['k']}/{fa['n']}" in out.stdout
        and "unconstrained" in out.stdout
        and "by gold function" in out.stdout
    )
    assert all((tmp_path / "plots" / name).is_file() for name in ACTION_PLOT_FILES)


def test_the_command_refuses_bad_outputs_and_planner_flags_before_any_work(action_data, tmp_path):
    """A bad --out is named before the (missing) adapter is even looked at; planner-only flags
    on an action split and action-only flags on a planner split are one line naming the flag."""
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("keep me")
    missing = str(tmp_path / "no-such-adapter")
    data = str(action_data / "test.jsonl")
    cases = [
        (["--data", data, "--adapter", missing, "--out", tmp_path / "a_folder"], "--out"),
        (["--data", data, "--adapter", missing, "--plots", tmp_path / "a_file"], "--plots"),
        (["--data", data, "--adapter", missing, "--judge", "llm"], "--judge"),
        (["--data", data, "--adapter", missing, "--sample"], "--sample"),
        (["--data", str(tmp_path / "planner" / "test.jsonl"), "--unconstrained"], "--unconstrained"),
        (["--data", data], "--adapter"),
    ]
    for args, flag in cases:
        out = run_octo("eval", *args, cwd=tmp_path)
        assert out.returncode == 2, (args, out)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("octo-mlx: error: "), out.stderr
        assert flag in out.stderr and "no-such-adapter" not in out.stderr, out.stderr
    assert (tmp_path / "a_file").read_text() == "keep me"
