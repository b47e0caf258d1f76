"""Action-model data: every step's gold call is schema-valid and, for a dependent step, what
executing the earlier calls in the seeded world makes true; the format's bad lines are
``file:line: reason``; held-out step templates never reach train; HF round trip; the CLI.
Everything runs the real synthesizer, simulator and schemas; nothing is mocked."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from octo_mlx import action_data, data
from octo_mlx.action_data import ActionExample, example_key, split_examples, template_leaks
from octo_mlx.domains import world
from octo_mlx.domains.catalog import BUNDLED_DOMAINS, load_domain
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import NO_CALL, Call, check_call
from octo_mlx.functions.simulator import execute
from octo_mlx.synth.offline import (
    held_out_template,
    held_out_templates,
    synthesize_actions,
    synthesize_offline,
)
from octo_mlx.synth.phrasebank import bank, gold
from octo_mlx.synth.phrasebank.spec import PLANNER_STEPS, RESULTS
from tests.helpers.cli import run_octo

ALL = list(BUNDLED_DOMAINS)


@pytest.fixture(scope="module")
def domains():
    return {name: load_domain(name) for name in ALL}


@pytest.fixture(scope="module")
def plans(domains):
    """300 plans per bundled domain plus 300 multi-domain ones (10% irrelevant)."""
    out = {name: synthesize_offline([d], 300, seed=1, irrelevant=0.1) for name, d in domains.items()}
    out["multi"] = synthesize_offline(list(domains.values()), 300, seed=2, multi_domain=True, irrelevant=0.1)
    return out


def _functions(domains) -> dict:
    return {f.name: f for d in domains.values() for f in d.functions}


def _digest(state) -> str:
    """The state's digest, computed here the slow, obvious way (asdict), not by the code under test
    (an empty travel.sold_out, a field added later, is left out so that older digests hold)."""
    body = state.to_dict()
    if not body["travel"]["sold_out"]:
        del body["travel"]["sold_out"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- gold calls ---------------------------------------------------------------------------------


def test_every_gold_call_is_schema_valid_in_all_four_domains(domains, plans):
    functions = _functions(domains)
    known = data.known_functions(domains.values())
    n_calls, n_actions = Counter(), 0
    for name, ds in plans.items():
        for split, examples in ds.splits.items():
            for e in examples:
                assert e.calls is not None and len(e.calls) == len(e.functions), e
                assert data.check_record(e.to_record(), known) == [], e.to_record()
                for fn, call in zip(e.functions, e.calls):
                    assert call.function == fn
                    if fn == NO_CALL:
                        assert call.arguments == {}
                    else:
                        check_call(call, functions[fn])  # raises CallProblem if not valid
                        n_calls[name] += 1
                for a in ds.actions_of(e, test=split == "test"):
                    assert action_data.check_record(a.to_record(), known) == [], a.to_record()
                    n_actions += 1
    assert all(n_calls[name] >= 700 for name in [*ALL, "multi"]), n_calls  # ~3 steps per plan
    assert n_actions >= 4000


def test_every_step_after_the_first_is_taught_with_the_observation_the_agent_hands_it(plans):
    """The agent gives each step the previous step's observation whether or not the step uses
    it (octo_mlx.agent.loop); the action data must look the same, or a model trained on it
    takes any observation as a value to copy (an alarm labelled with the message id it sent)."""
    independent_with_one = 0
    for ds in plans.values():
        for e in ds.splits["train"]:
            if e.irrelevant:
                continue
            actions, golds = ds.actions_of(e), ds.gold[e.id]
            assert actions[0].observation is None
            for k in range(1, len(actions)):
                assert actions[k].observation == golds[k - 1].observation, e.id
                independent_with_one += not actions[k].dependent
    assert independent_with_one > 100


def test_every_result_wording_has_a_pick_and_every_consumer_a_fill():
    wordings = {s for refs in RESULTS.values() for _, s in refs}
    for name in ALL:
        for p in bank(name).values():
            wordings |= {s for refs in p.extra.get("refs", {}).values() for _, s in refs}
            assert bool(p.steps_after) == (p.fill is not None), p.name
    assert wordings <= set(gold.PICKS), wordings - set(gold.PICKS)


def _expected_value(ref: str, result):
    """What a wording names, decided here from its plain meaning (independent of gold.PICKS)."""
    if ref in ("the cheapest product found",):
        return min(result, key=lambda p: p["price"])
    if ref in ("the top-rated product found",):
        return max(result, key=lambda p: p["rating"])
    if ref == "the cheapest flight found":
        return min(result, key=lambda f: f["price_usd"])
    if ref == "the earliest flight found":
        return min(result, key=lambda f: f["departure"])
    if ref == "the first nonstop flight found":
        return [f for f in result if f["stops"] == 0][0]
    if ref == "the cheapest hotel found":
        return min(result, key=lambda h: h["nightly_usd"])
    if ref == "the highest-rated hotel found":
        return max(result, key=lambda h: h["stars"])
    if ref == "the cheapest item":
        return min(result["items"], key=lambda i: i["price"])
    if ref == "the most expensive item":
        return max(result["items"], key=lambda i: i["price"])
    if ref == "the most recently added item":
        return result["items"][-1]
    if ref.startswith("the first") and isinstance(result, list):
        return result[0]
    return None  # a wording this test does not decide on its own


def test_dependent_gold_calls_are_what_execution_in_the_seeded_world_yields(domains, plans):
    """Replay each plan's gold calls from its recorded world seed with the simulator: every
    dependent step's observation is the previous call's, its call picks the value the wording
    names (the cheapest product the search really returned...), and the final state digest is
    the recorded one."""
    functions = _functions(domains)
    decided = Counter()
    dependent = 0
    for ds in plans.values():
        for examples in ds.splits.values():
            for e in examples:
                state = world.new_state(e.world["seed"])
                observations = []
                for k, (call, g) in enumerate(zip(e.calls, ds.gold.get(e.id, ()))):
                    if g.dependent:
                        dependent += 1
                        before = observations[-1]
                        assert before["ok"], e.id
                        actions = ds.actions_of(e)
                        assert actions[k].observation == before and actions[k].dependent
                        ref = max((s for s in gold.PICKS if s in e.steps[k].lower()), key=len)
                        want = _expected_value(ref, before["result"])
                        if call.function in (
                            "send_email",
                            "send_text_message",
                        ):  # a forward: the value as text
                            assert call.arguments.get("content", call.arguments.get("message")), call
                        elif want is not None:
                            key = next(
                                x for x in ("product_id", "flight_id", "hotel_id", "title") if x in want
                            )
                            assert call.arguments[key] == want[key], (e.steps[k], before["result"], call)
                            assert want in (
                                before["result"]
                                if isinstance(before["result"], list)
                                else before["result"]["items"]
                            )
                            decided[ref] += 1
                        if call.function == "book_hotel":  # "for the same dates": the search's dates
                            assert (call.arguments["check_in"], call.arguments["check_out"]) == (
                                before["arguments"]["check_in"],
                                before["arguments"]["check_out"],
                            )
                    observations.append(execute(functions[call.function], call.arguments, state).to_dict())
                    assert observations[-1] == g.observation
                assert _digest(state) == e.world["state_sha256"], e.id
    assert dependent >= 100
    assert decided["the cheapest product found"] >= 3 and sum(decided.values()) >= 50, decided


def test_a_dependent_calls_other_arguments_are_what_its_step_says(plans):
    """A dependent call takes from the observation only what its wording names; every other
    argument is a value the step itself states ("Add 2 units of ..." -> quantity 2)."""
    from_result = {
        "product_id",
        "flight_id",
        "hotel_id",
        "title",
        "check_in",
        "check_out",
        "content",
        "message",
    }
    checked = 0
    for ds in plans.values():
        for e in ds.splits["train"]:
            for k, g in enumerate(ds.gold.get(e.id, ())):
                if not g.dependent:
                    continue
                for name, value in g.call.arguments.items():
                    if name in from_result or (name == "title" and g.call.function == "send_email"):
                        continue
                    shown = (
                        str(value)
                        if not isinstance(value, float) or not value.is_integer()
                        else str(int(value))
                    )
                    assert (
                        shown.lower() in e.steps[k].lower()
                        or name == "recipient"
                        and value == "me@example.com"
                    ), (
                        e.steps[k],
                        g.call,
                    )
                    checked += 1
    assert checked >= 20


def test_an_irrelevant_request_is_the_no_function_class(plans):
    ds = plans["android"]
    irrelevant = [e for exs in ds.splits.values() for e in exs if e.irrelevant]
    assert irrelevant
    for e in irrelevant:
        (a,) = ds.actions_of(e)
        assert a.step == e.query and a.call == Call(NO_CALL) and a.call.arguments == {}
        assert a.template.startswith("none/") and not a.dependent and a.observation is None


# --- held-out templates -------------------------------------------------------------------------


def _skeleton(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "_", template).strip().lower()


def test_each_function_has_three_step_templates_and_a_distinct_held_out_one():
    for name in ALL:
        for p in bank(name).values():
            assert len(p.steps) >= 3, p.name
            assert not p.steps_after or len(p.steps_after) >= 3, p.name
            assert len(set(p.steps)) == len(p.steps) and len(set(p.steps_after)) == len(p.steps_after)
            held = [t for after in (False, True) if (t := held_out_template(p, after))]
            trained = {_skeleton(t) for t in (*p.steps, *p.steps_after) if t not in {x for _, x in held}}
            for held_id, template in held:
                if re.fullmatch(r"\{[^}]*\}", template):  # sampler-worded (subtitles): checked on the data
                    continue
                assert _skeleton(template) not in trained, (held_id, template)


def test_held_out_templates_never_leak_into_train(domains):
    splits, plans = synthesize_actions(
        list(domains.values()), 1000, seed=3, multi_domain=True, irrelevant=0.1
    )
    held = set(plans.holdout_templates)
    assert {len(v) for v in splits.values()} and sum(len(v) for v in splits.values()) == 1000
    assert {e.template for e in splits["test"]} <= held
    assert not {e.template for s in ("train", "valid") for e in splits[s]} & held
    assert template_leaks(splits) == set()
    train_steps = {data.normalize_text(e.step) for s in ("train", "valid") for e in splits[s]}
    assert not {data.normalize_text(e.step) for e in splits["test"]} & train_steps
    # one held-out template per function and dependent form, and the plans never use them
    functions = {f.name for d in domains.values() for f in d.functions}
    assert {t.split("/")[0] for t in held} >= functions
    used = {g.template for steps in plans.gold.values() for g in steps}
    assert not used & held


def test_split_examples_holds_templates_out_and_keeps_a_step_in_one_split():
    def ex(i, step, template):
        return ActionExample(
            f"a{i}", step, None, Call("view_cart"), ("ecommerce",), template, False, "offline"
        )

    verbs = ("View", "Show", "Open")
    pool = [ex(i, f"{verbs[i % 3]} the cart number {i % 40}", f"view_cart/step{i % 3}") for i in range(120)]
    pool.append(
        ex(999, "View the cart number 0", "view_cart/step2")
    )  # a held-out step that is also a train step
    out = split_examples(pool, holdout={"view_cart/step2"}, valid=0.25, seed=1)
    assert {e.template for e in out["test"]} == {"view_cart/step2"} and len(out["test"]) == 40
    assert "a999" not in {e.id for e in out["test"]}  # left out rather than leak
    assert template_leaks(out) == set()
    keys = {s: {example_key(e) for e in out[s]} for s in out}
    assert not keys["train"] & keys["valid"] and not keys["test"] & (keys["train"] | keys["valid"])
    assert len(out["train"]) + len(out["valid"]) == 80 and 15 <= len(out["valid"]) <= 25


# --- the format: bad lines ------------------------------------------------------------------------


def _good(domains) -> list[dict]:
    splits, _ = synthesize_actions([domains["ecommerce"]], 60, seed=4)
    return [a.to_record() for a in splits["train"]]


BAD = [
    (
        "unknown function",
        lambda r: r | {"call": {"function": "launch_rocket", "arguments": {}}},
        "unknown function",
    ),
    (
        "invalid arguments",
        lambda r: (
            r | {"call": {"function": "add_to_cart", "arguments": {"product_id": "P1001", "quantity": "2"}}}
        ),
        "add_to_cart: quantity",
    ),
    (
        "missing argument",
        lambda r: r | {"call": {"function": "add_to_cart", "arguments": {}}},
        "product_id",
    ),
    (
        "unknown argument",
        lambda r: r | {"call": {"function": "view_cart", "arguments": {"all": True}}},
        "no argument 'all'",
    ),
    (
        "none with arguments",
        lambda r: r | {"call": {"function": "none", "arguments": {"x": 1}}},
        "takes no arguments",
    ),
    ("call not an object", lambda r: r | {"call": "add_to_cart(P1001)"}, "call: "),
    (
        "observation a string",
        lambda r: r | {"observation": "it worked"},
        "'observation' must be null or an object",
    ),
    (
        "observation missing keys",
        lambda r: r | {"observation": {"function": "search_products", "ok": True}},
        "'observation' must have the keys",
    ),
    (
        "observation ok not bool",
        lambda r: (
            r
            | {"observation": {"function": "x", "arguments": {}, "ok": "yes", "result": None, "error": None}}
        ),
        "observation.ok",
    ),
    (
        "failed observation without error",
        lambda r: (
            r
            | {"observation": {"function": "x", "arguments": {}, "ok": False, "result": None, "error": None}}
        ),
        "observation.error",
    ),
    ("dependent not bool", lambda r: r | {"dependent": "yes"}, "'dependent' must be true or false"),
    (
        "dependent without observation",
        lambda r: r | {"dependent": True, "observation": None},
        "needs the observation",
    ),
    ("domains a string", lambda r: r | {"domains": "ecommerce"}, "'domains' must be a non-empty list"),
    ("unknown domain", lambda r: r | {"domains": ["kitchen"]}, "unknown domain"),
    ("step empty", lambda r: r | {"step": "  "}, "'step' must be a non-empty string"),
    ("step a plan", lambda r: r | {"step": "View the cart<nexa_split>Check out"}, "holds one step"),
    ("template a number", lambda r: r | {"template": 3}, "'template' must be a non-empty string"),
    ("generator", lambda r: r | {"generator": "gpt"}, "'generator' must be"),
    ("unknown field", lambda r: r | {"score": 1}, "unknown field(s) 'score'"),
    ("missing field", lambda r: {k: v for k, v in r.items() if k != "call"}, "missing field 'call'"),
]


def test_every_bad_line_is_file_line_reason_and_loaders_refuse_the_same(tmp_path, domains):
    good = _good(domains)
    assert len(good) >= len(BAD) + 2
    lines, bad_at = [], {}
    for i, (_, corrupt, reason) in enumerate(BAD):
        lines.append(good[i])
        lines.append(corrupt({**good[i], "id": f"bad{i}"}))
        bad_at[len(lines)] = reason
    lines += ["{oops", good[-1]]
    bad_at[len(lines) - 1] = "bad JSON"
    (tmp_path / "train.jsonl").write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    )
    (tmp_path / "dataset.json").write_text(json.dumps({"task": "action", "domains": ["ecommerce"]}))
    problems = action_data.validate_dir(tmp_path)
    assert {p.line for p in problems} == set(bad_at), sorted((p.line, p.reason) for p in problems)
    for line, reason in bad_at.items():
        assert any(reason in p.reason for p in problems if p.line == line), (line, reason, problems)
    first = min(bad_at)
    with pytest.raises(OctoError) as e:
        action_data.read_split(tmp_path / "train.jsonl", domains.values())
    assert str(e.value).startswith(f"{tmp_path / 'train.jsonl'}:{first}: ")
    with pytest.raises(OctoError):
        action_data.load_dataset_dir(tmp_path)
    out = run_octo("data", "validate", str(tmp_path))
    assert out.returncode == 1, out
    reported = [ln for ln in out.stdout.splitlines() if "train.jsonl:" in ln]
    assert {int(ln.split("train.jsonl:")[1].split(":")[0]) for ln in reported} == set(bad_at)
    assert "Traceback" not in out.stdout + out.stderr


def test_the_same_step_twice_and_a_leak_are_reported(tmp_path, domains):
    good = _good(domains)
    a, b = good[0], good[1]
    twice = {**a, "id": "again", "step": a["step"].upper() + "!"}
    (tmp_path / "train.jsonl").write_text(
        json.dumps(a) + "\n" + json.dumps(b) + "\n" + json.dumps(twice) + "\n"
    )
    (tmp_path / "test.jsonl").write_text(json.dumps({**b, "id": "leak"}) + "\n")
    (tmp_path / "dataset.json").write_text(json.dumps({"task": "action", "domains": ["ecommerce"]}))
    msgs = [str(p) for p in action_data.validate_dir(tmp_path)]
    assert any("train.jsonl:3:" in m and "step also on line 1" in m for m in msgs), msgs
    assert any("test.jsonl:1:" in m and "split leak" in m for m in msgs), msgs


def test_a_held_out_template_outside_test_is_reported(tmp_path, domains):
    splits, plans = synthesize_actions([domains["travel"]], 200, seed=5)
    action_data.write_dataset(
        tmp_path / "a",
        splits,
        "offline",
        5,
        ["travel"],
        extra={"holdout_templates": list(plans.holdout_templates)},
    )
    assert action_data.validate_dir(tmp_path / "a") == []
    moved = {**splits, "train": [*splits["train"], splits["test"][0]], "test": splits["test"][1:]}
    action_data.write_dataset(
        tmp_path / "b",
        moved,
        "offline",
        5,
        ["travel"],
        extra={"holdout_templates": list(plans.holdout_templates)},
    )
    problems = action_data.validate_dir(tmp_path / "b")
    assert [p.line for p in problems] == [len(moved["train"])], problems
    assert "held-out template" in problems[0].reason and problems[0].file.endswith("train.jsonl")


def test_a_planner_folder_is_not_read_as_actions_nor_the_reverse(tmp_path, domains):
    splits, _ = synthesize_actions([domains["android"]], 40, seed=6)
    action_data.write_dataset(tmp_path / "act", splits, "offline", 6, ["android"])
    assert data.dataset_task(tmp_path / "act") == "action"
    assert [p.reason for p in data.validate_dir(tmp_path / "act")] == ["task is 'action', expected 'plan'"]
    ds = synthesize_offline([domains["android"]], 20, seed=6)
    data.write_dataset(tmp_path / "plan", ds.splits, "offline", 6, ["android"])
    assert data.dataset_task(tmp_path / "plan") == "plan"
    assert [p.reason for p in action_data.validate_dir(tmp_path / "plan")] == [
        "task is 'plan', expected 'action'"
    ]


# --- HF and the CLI -------------------------------------------------------------------------------


def test_hf_round_trip(tmp_path, domains):
    splits, _ = synthesize_actions(list(domains.values()), 300, seed=7, multi_domain=True, irrelevant=0.1)
    action_data.write_dataset(tmp_path / "a", splits, "offline", 7, ALL)
    dd = action_data.to_hf(tmp_path / "a")
    assert set(dd) == set(data.SPLITS) and sum(len(d) for d in dd.values()) == 300
    assert any(r["observation"] for r in dd["train"])  # dependent rows carry their observation
    action_data.from_hf(dd, tmp_path / "b")
    assert action_data.load_dataset_dir(tmp_path / "b") == action_data.load_dataset_dir(tmp_path / "a")
    dd["train"] = dd["train"].map(lambda r: {"dependent": True, "observation": None})
    with pytest.raises(OctoError, match=r"^train:1: "):
        action_data.from_hf(dd, tmp_path / "c")


def test_cli_synth_task_action_writes_validates_counts_and_exports(tmp_path):
    import datasets

    out = tmp_path / "act"
    args = [
        "--domain",
        "travel",
        "--domain",
        "ecommerce",
        "--multi-domain",
        "--irrelevant",
        "0.1",
        "--seed",
        "3",
    ]
    made = run_octo("data", "synth", "--task", "action", *args, "--n", "400", "--out", str(out))
    assert made.returncode == 0, made.stderr
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["task"] == "action" and manifest["counts"] == {"train": 320, "valid": 40, "test": 40}
    assert manifest["holdout_templates"] and manifest["plans"] > 0
    assert run_octo("data", "validate", str(out)).returncode == 0
    stats = run_octo("data", "stats", str(out))
    assert stats.returncode == 0 and "dependent" in stats.stdout and "independent" in stats.stdout, (
        stats.stdout
    )
    exported = run_octo("data", "export-hf", str(out), "--to", str(tmp_path / "hf"))
    assert exported.returncode == 0, exported.stderr
    dd = datasets.load_from_disk(str(tmp_path / "hf"))
    assert {k: len(v) for k, v in dd.items()} == manifest["counts"]
    again = run_octo("data", "synth", "--task", "action", "--n", "10", "--out", str(out))
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr  # never clobbers
    teacher = run_octo("data", "synth", "--task", "action", "--base-url", "http://127.0.0.1:9/v1",
                       "--model", "m", "--out", str(tmp_path / "t"))  # fmt: skip
    # a teacher makes action data too (tests/test_teacher.py): here nothing listens, one line
    assert teacher.returncode == 2 and "cannot connect" in teacher.stderr, teacher.stderr


def test_same_seed_same_action_data(domains):
    a, _ = synthesize_actions([domains["video_streaming"]], 200, seed=9)
    b, _ = synthesize_actions([domains["video_streaming"]], 200, seed=9)
    c, _ = synthesize_actions([domains["video_streaming"]], 200, seed=10)
    rec = lambda s: [e.to_record() for k in data.SPLITS for e in s[k]]  # noqa: E731
    assert rec(a) == rec(b) and rec(a) != rec(c)


def test_extra_step_wordings_train_the_action_model_and_never_a_planner(domains):
    """Templates after the planner's three (spec.PLANNER_STEPS) write action train/valid steps
    only: planner data never uses them, and neither split uses the held-out third."""
    extra = {
        f"{p.name}/{kind}{i}"
        for name in ALL
        for p in bank(name).values()
        for kind, templates in (("step", p.steps), ("after", p.steps_after))
        for i in range(PLANNER_STEPS, len(templates))
    }
    assert extra, "the bundled banks have extra step wordings"
    plans = synthesize_offline(list(domains.values()), 600, seed=1, multi_domain=True)
    planner_used = {g.template for steps in plans.gold.values() for g in steps}
    assert planner_used and not planner_used & extra
    splits, _ = synthesize_actions(list(domains.values()), 1500, seed=1, multi_domain=True)
    action_used = {e.template for s in ("train", "valid") for e in splits[s]}
    assert action_used & extra
    assert not action_used & {t for name in ALL for p in bank(name).values() for t in held_out_templates(p)}
