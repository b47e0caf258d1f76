"""The offline synthesizer: coverage of every bundled function, held-out phrasing, balance,
dedup, determinism, slot values valid against the real schemas, speed, and the fallback for
user domains. Everything runs on the real bundled domains; nothing is mocked."""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections import Counter

import pytest

from octo_mlx.data import (
    IRRELEVANT_STEP,
    NO_FUNCTION,
    check_record,
    normalize_text,
    validate_dir,
    write_dataset,
)
from octo_mlx.domains.catalog import BUNDLED_DOMAINS, load_domain, load_domains
from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import Function, make_domain
from octo_mlx.synth.offline import (
    MIN_FAMILIES,
    generate_offline,
    holdout_families,
    resolve_phrases,
    synthesize_offline,
)
from octo_mlx.synth.phrasebank import bank
from octo_mlx.synth.phrasebank.irrelevant import IRRELEVANT
from octo_mlx.synth.phrasebank.spec import RESULTS

HHMM = re.compile(r"\b([01]\d|2[0-3]):[0-5]\d\b")


@pytest.fixture(scope="module")
def android():
    return load_domain("android")


@pytest.fixture(scope="module")
def android_1000(android):
    return synthesize_offline([android], 1000, seed=0)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _base(name: str) -> str:
    """``time_q2`` -> ``time``: a query-side rendering of the step's ``{time}``; ``sub1`` -> ``sub``:
    one step template's own wording of ``sub`` (a sampler-worded step, e.g. subtitles on/off)."""
    return re.sub(r"(_q\d*|(?<=[a-z])\d)$", "", name)


def _entries():
    for name in BUNDLED_DOMAINS:
        domain = load_domain(name)
        entries = bank(name)
        for f in domain.functions:
            yield domain, f, entries.get(f.name)


# --- the bank ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED_DOMAINS)
def test_every_bundled_function_has_enough_families(name):
    domain, entries = load_domain(name), bank(name)
    assert entries is not None
    assert set(entries) == set(domain.names)
    for f in domain.functions:
        p = entries[f.name]
        names = [fam.name for fam in p.families]
        assert len(set(names)) == len(names) >= MIN_FAMILIES, f.name
        assert p.holdout in names, f.name
        assert p.holdout != names[0], f"{f.name}: the first (direct) family is never the held-out one"
        assert all(fam.clauses for fam in p.families), f.name
        sampler_worded = p.steps == (
            "{" + next(iter(_fields(p.steps[0])), "") + "}",
        )  # e.g. subtitles on/off
        assert len(p.steps) >= 2 or sampler_worded, f"{f.name}: steps need a little variety"


def test_a_bundled_function_without_phrases_is_an_error(android):
    extra = Function(
        "summon_taxi", "Calls a taxi to a place.", {"type": "object", "properties": {}}, "android"
    )
    grown = make_domain("android", [*android.functions, extra], android.description)
    with pytest.raises(OctoError, match="summon_taxi"):
        generate_offline([grown], 10)
    shrunk = make_domain("android", android.functions[1:], android.description)
    with pytest.raises(OctoError, match=android.functions[0].name):
        generate_offline([shrunk], 10)


def test_templates_name_every_value_the_step_names():
    """A step may only state values the query gave (in any rendering), and steps use canonical
    values only (no ``_q`` placeholders); dependent templates carry ``{ref}``."""
    for _, f, p in _entries():
        step_fields = set().union(*(_fields(s) for s in p.steps))
        assert not any(re.search(r"_q\d*$", x) for x in step_fields), (
            f"{f.name}: a step uses a query-side placeholder"
        )
        step_fields = {_base(x) for x in step_fields}
        after_fields = set().union(*(_fields(s) for s in p.steps_after)) - {"ref"} if p.steps_after else set()
        after_fields = {_base(x) for x in after_fields}
        for fam in p.families:
            for clause in fam.clauses:
                missing = step_fields - {_base(x) for x in _fields(clause)}
                assert not missing, f"{f.name}/{fam.name}: {clause!r} lacks {missing}"
            for clause in fam.after:
                assert "ref" in _fields(clause), f"{f.name}/{fam.name}: {clause!r}"
                missing = after_fields - {_base(x) for x in _fields(clause)}
                assert not missing, f"{f.name}/{fam.name}: {clause!r} lacks {missing}"
        assert all("ref" in _fields(s) for s in p.steps_after), f.name
        if any(fam.after for fam in p.families):
            assert p.steps_after and p.consumes, f"{f.name}: after-clauses without steps_after/consumes"
        assert p.produces is None or p.produces in RESULTS


def test_step_templates_tell_functions_apart():
    """No two functions share a step template skeleton (placeholders removed)."""
    owner: dict[str, str] = {}
    for _, f, p in _entries():
        for s in p.steps + p.steps_after:
            skeleton = re.sub(r"\{[^}]*\}", "_", s).strip().lower()
            assert owner.setdefault(skeleton, f.name) == f.name, f"{f.name} and {owner[skeleton]}: {s!r}"


def test_sampled_values_are_valid_against_the_real_schemas():
    """200 draws per function: arguments pass the function's own JSON schema (HH:MM times,
    0-10 levels, E.164 numbers, ISO dates, enums), and every template formats."""
    r = random.Random(7)
    for _, f, p in _entries():
        for _ in range(200):
            values = p.sample(r)
            f.validate_arguments(values.args)  # raises OctoError naming the field
            for t in p.steps + tuple(c for fam in p.families for c in fam.clauses):
                t.format_map(values.text)
            for t in p.steps_after + tuple(c for fam in p.families for c in fam.after):
                t.format_map({**values.text, "ref": "it"})


def test_irrelevant_queries_have_families_too():
    assert len(IRRELEVANT.families) >= MIN_FAMILIES
    assert IRRELEVANT.holdout in [f.name for f in IRRELEVANT.families]


# --- datasets ---------------------------------------------------------------------------------


def test_android_1000_is_balanced_valid_and_deduplicated(android, android_1000):
    splits = android_1000.splits
    assert {k: len(v) for k, v in splits.items()} == {"train": 800, "valid": 100, "test": 100}
    known = {"android": set(android.names)}
    queries, ids = set(), set()
    for split, examples in splits.items():
        counts = Counter(e.n_steps for e in examples)
        assert set(counts.values()) == {len(examples) // 5}, (split, counts)  # 160 / 20 / 20 per count
        for e in examples:
            assert e.generator == "offline"
            assert len(e.steps) == len(e.functions) == e.n_steps
            assert len(set(e.functions)) == len(e.functions), e  # no function twice in a plan
            assert check_record(e.to_record(), known) == []
            queries.add(normalize_text(e.query))
            ids.add(e.id)
    assert len(queries) == len(ids) == 1000


def test_test_split_uses_only_held_out_families(android_1000):
    fams = android_1000.families
    held = {f"{fn}/{x}" for fn, xs in android_1000.holdout.items() for x in xs}
    train = {x for split in ("train", "valid") for e in android_1000.splits[split] for x in fams[e.id]}
    test = {x for e in android_1000.splits["test"] for x in fams[e.id]}
    assert test and test <= held
    assert not train & held
    for split, examples in android_1000.splits.items():  # family ids line up with the functions
        for e in examples:
            assert tuple(x.split("/")[0] for x in fams[e.id]) == e.functions


def test_holdout_share_controls_how_many_families_are_held_out(android):
    p = bank("android")["send_email"]
    assert holdout_families(p) == (p.holdout,)
    assert holdout_families(p, 0.0) == ()
    two = holdout_families(p, 0.4)
    assert len(two) == 2 and two[0] == p.holdout and p.families[0].name not in two
    ds = synthesize_offline([android], 200, seed=3, holdout=0.4)
    test = {x for e in ds.splits["test"] for x in ds.families[e.id]}
    assert {x.split("/")[1] for x in test if x.startswith("send_email/")} <= set(two)
    none_held = synthesize_offline([android], 200, seed=3, holdout=0.0)
    assert all(v == () for v in none_held.holdout.values())


def test_same_seed_same_data_other_seed_other_data(android):
    a = generate_offline([android], 300, seed=11, irrelevant=0.1)
    b = generate_offline([android], 300, seed=11, irrelevant=0.1)
    c = generate_offline([android], 300, seed=12, irrelevant=0.1)
    rec = lambda d: [e.to_record() for s in ("train", "valid", "test") for e in d[s]]  # noqa: E731
    assert rec(a) == rec(b)
    assert rec(a) != rec(c)


def test_generation_is_fast(android):
    t0 = time.perf_counter()
    generate_offline([android], 1000, seed=5)
    assert time.perf_counter() - t0 < 10  # measured ~0.2 s here; the CLI budget is a minute


def test_slot_values_in_steps_are_canonical(android_1000):
    """Times in alarm and calendar steps are HH:MM, volume and brightness levels are 0..10,
    phone numbers are E.164, whatever the query said ("7:30 pm", "(415) 555-0134")."""
    seen = Counter()
    for examples in android_1000.splits.values():
        for e in examples:
            for fn, step in zip(e.functions, e.steps):
                if fn in ("set_timer_alarm", "create_calendar_event"):
                    assert HHMM.search(step), step
                    assert not re.search(r"\b(am|pm|a\.m\.|p\.m\.)\b", step, re.I), step
                if fn in ("set_volume", "change_screen_brightness"):
                    level = int(re.search(r"(\d+)$", step).group(1))
                    assert 0 <= level <= 10, step
                if fn in ("make_phone_call", "create_contact"):
                    assert re.search(r"\+[1-9]\d{6,14}\b", step), step
                seen[fn] += 1
    assert all(seen[f] > 0 for f in ("set_timer_alarm", "set_volume", "make_phone_call"))


def test_later_steps_refer_to_earlier_results(android_1000):
    """Search -> act pairs get dependent phrasings ("Email the first article found to myself")."""
    dependent = [
        (e.functions[i - 1], e.steps[i])
        for examples in android_1000.splits.values()
        for e in examples
        for i in range(1, e.n_steps)
        if e.functions[i] in ("send_email", "send_text_message")
        and re.search(r" found| just taken|forecast", e.steps[i])
    ]
    assert len(dependent) >= 20
    assert any("article" in s for _, s in dependent)


def test_irrelevant_share_and_its_fixed_step(android):
    ds = synthesize_offline([android], 500, seed=2, irrelevant=0.2)
    for split, examples in ds.splits.items():
        irr = [e for e in examples if e.irrelevant]
        assert len(irr) == round(len(examples) * 0.2), split
        assert all(e.steps == (IRRELEVANT_STEP,) and e.functions == (NO_FUNCTION,) for e in irr)
        counts = Counter(e.n_steps for e in examples if not e.irrelevant)
        assert max(counts.values()) - min(counts.values()) <= 1, (split, counts)
    held = {f"{NO_FUNCTION}/{x}" for x in ds.holdout[NO_FUNCTION]}
    for split, examples in ds.splits.items():
        fams = {ds.families[e.id][0] for e in examples if e.irrelevant}
        assert (fams <= held) if split == "test" else not (fams & held), split


def test_multi_domain_mixes_domains_equally():
    domains = load_domains(BUNDLED_DOMAINS)
    owner = {f.name: d.name for d in domains for f in d.functions}
    ds = synthesize_offline(domains, 1000, seed=4, multi_domain=True)
    steps = Counter(owner[f] for exs in ds.splits.values() for e in exs for f in e.functions)
    total = sum(steps.values())
    assert all(abs(n / total - 0.25) < 0.04 for n in steps.values()), steps  # 3000 steps: sd ~0.008
    mixed = [e for exs in ds.splits.values() for e in exs if e.n_steps >= 3]
    assert sum(len(e.domains) >= 2 for e in mixed) > 0.8 * len(mixed)
    for e in mixed:
        assert set(e.domains) == {owner[f] for f in e.functions}


def test_without_multi_domain_each_example_stays_in_one_domain():
    domains = load_domains(["ecommerce", "travel"])
    ds = generate_offline(domains, 200, seed=1)
    per = Counter(e.domains for exs in ds.values() for e in exs)
    assert set(per) == {("ecommerce",), ("travel",)}
    assert abs(per[("ecommerce",)] - per[("travel",)]) <= 10


def test_every_plan_records_its_gold_calls_and_world(android, android_1000):
    """Each step's call is the function the plan names with the values the step states; the
    world seed and the final-state digest are recorded; no plan uses a held-out step template."""
    held = set(android_1000.holdout_templates)
    assert len(held) >= len(android.functions)  # one per function, plus one per dependent form
    functions = {f.name: f for f in android.functions}
    for examples in android_1000.splits.values():
        for e in examples:
            assert [c.function for c in e.calls] == list(e.functions)
            assert 0 <= e.world["seed"] and len(e.world["state_sha256"]) == 64
            steps = android_1000.gold[e.id]
            assert not {g.template for g in steps} & held
            for step, g in zip(e.steps, steps):
                assert g.call.arguments == functions[g.call.function].validate_arguments(g.call.arguments)
                if g.call.function == "set_timer_alarm":  # the step's canonical time is the argument
                    assert g.call.arguments["time"] in step
                if g.call.function in ("make_phone_call", "create_contact"):
                    assert g.call.arguments["phone_number"] in step


def test_the_resolver_still_trusts_the_test_split(android_1000):
    """Held-out step templates are for the action data only: the planner's test steps are
    written with the trained templates, so the eval's step resolver (fit on train) maps them."""
    from octo_mlx.resolver import TRUST_THRESHOLD, StepResolver, validate_resolver

    android = load_domain("android")
    pairs = [(s, f) for e in android_1000.splits["train"] for s, f in zip(e.steps, e.functions)]
    resolver = StepResolver.fit(pairs, android.functions)
    assert validate_resolver(resolver, android_1000.splits["test"]).accuracy >= TRUST_THRESHOLD


def test_a_bundled_function_needs_three_step_templates_and_a_fill_for_dependent_ones(android):
    import dataclasses

    from octo_mlx.synth.offline import check_bank

    entries = dict(bank("android"))
    entries["make_phone_call"] = dataclasses.replace(
        entries["make_phone_call"], steps=("Call {phone}", "Dial {phone}")
    )
    with pytest.raises(OctoError, match="make_phone_call: needs >= 3 steps templates"):
        check_bank(android, entries)
    entries = dict(bank("android"))
    entries["send_email"] = dataclasses.replace(entries["send_email"], fill=None)
    with pytest.raises(OctoError, match="send_email: dependent steps"):
        check_bank(android, entries)


def test_written_dataset_validates(tmp_path, android):
    ds = synthesize_offline([android], 100, seed=0)
    write_dataset(tmp_path, ds.splits, "offline", 0, ["android"], extra=ds.manifest())
    assert validate_dir(tmp_path) == []
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["generator"] == "offline"
    assert manifest["offline"]["holdout_families"]["send_email"] == ["casual"]


# --- user domains and bad requests -----------------------------------------------------------


def _user_domain(tmp_path, tools):
    path = tmp_path / "home.json"
    path.write_text(json.dumps({"name": "home", "tools": tools}))
    return load_domain(path)


TOOLS = [
    {
        "name": "set_lights",
        "description": "Sets the lights of a room to a brightness.",
        "parameters": {
            "type": "object",
            "properties": {
                "room": {"type": "string", "enum": ["kitchen", "bedroom", "hall"]},
                "brightness": {"type": "integer", "minimum": 0, "maximum": 100},
            },
            "required": ["room", "brightness"],
        },
    },
    {
        "name": "start_vacuum",
        "description": "Starts the robot vacuum.",
        "parameters": {
            "type": "object",
            "properties": {"mode": {"type": "string", "enum": ["quiet", "turbo"]}},
        },
    },
    {
        "name": "water_plants",
        "description": "Waters the garden at a time.",
        "parameters": {
            "type": "object",
            "properties": {"time": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}},
            "required": ["time"],
        },
    },
    {
        "name": "order_groceries",
        "description": "Orders groceries for delivery.",
        "parameters": {
            "type": "object",
            "properties": {
                "item": {"type": "string", "examples": ["milk", "eggs", "bread"]},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 12},
            },
            "required": ["item"],
        },
    },
]


def test_user_domain_falls_back_to_generic_phrasing(tmp_path):
    domain = _user_domain(tmp_path, TOOLS)
    ds = synthesize_offline([domain], 200, seed=0, steps=(1, 2, 3))
    assert set(ds.generic) == set(domain.names)
    examples = [e for exs in ds.splits.values() for e in exs]
    assert len(examples) == 200 and len({normalize_text(e.query) for e in examples}) == 200
    known = {"home": set(domain.names)}
    assert all(check_record(e.to_record(), known) == [] for e in examples)
    entries, _ = resolve_phrases([domain])
    r = random.Random(0)
    for entry in entries["home"]:
        for _ in range(50):
            domain[entry.phrases.name].validate_arguments(entry.phrases.sample(r).args)


def test_requests_the_domain_cannot_serve_are_clear_errors(tmp_path):
    domain = _user_domain(tmp_path, TOOLS[:2])
    with pytest.raises(OctoError, match="has 2 function"):
        generate_offline([domain], 50)  # 3..5-step plans would repeat a function
    tiny = _user_domain(tmp_path, TOOLS[1:2])
    with pytest.raises(OctoError, match="exhausted"):
        generate_offline([tiny], 500, steps=(1,))  # one function with one enum: a handful of queries
    with pytest.raises(OctoError, match="steps"):
        generate_offline([domain], 10, steps=(0, 6))
    with pytest.raises(OctoError, match="multi_domain"):
        generate_offline([domain], 10, steps=(1,), multi_domain=True)


def test_cli_writes_1000_android_examples_well_under_a_minute(tmp_path):
    """The issue's bar: `octo-mlx data synth --offline --domain android --n 1000` in < 60 s."""
    import os
    import subprocess
    import sys

    from octo_mlx.runtime.blas import openblas_env

    out = tmp_path / "offline"
    cmd = [
        sys.executable,
        "-m",
        "octo_mlx",
        "data",
        "synth",
        "--offline",
        "--domain",
        "android",
        "--n",
        "1000",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "--out", str(out)], capture_output=True, text=True, env={**os.environ, **openblas_env()}
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60, elapsed  # measured ~2 s here, start-up included
    assert validate_dir(out) == []
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["generator"] == "offline" and manifest["counts"] == {
        "train": 800,
        "valid": 100,
        "test": 100,
    }


# --- hardening (#11): the output folder is never clobbered, the dataset is written whole --------


def _synth(out, n: int = 30, *extra: str):
    from tests.helpers.cli import run_octo

    return run_octo(
        "data", "synth", "--offline", "--domain", "android", "--n", str(n), "--out", str(out), *extra
    )


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_synth_refuses_a_folder_that_holds_something_unless_overwrite(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.jsonl").write_text("my own data\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    for out, said in ((mine, "--overwrite"), (a_file, "is a file")):
        proc = _synth(out)
        assert proc.returncode == 2, proc
        assert proc.stderr.count("\n") == 1 and said in proc.stderr and str(out) in proc.stderr, proc.stderr
    assert _files(mine) == {"train.jsonl": b"my own data\n"} and a_file.read_text() == "keep me"

    proc = _synth(mine, 60, "--overwrite")  # said so: the folder is replaced whole
    assert proc.returncode == 0, proc.stderr
    assert validate_dir(mine) == []
    assert sorted(_files(mine)) == ["dataset.json", "test.jsonl", "train.jsonl", "valid.jsonl"]
    before = _files(mine)
    proc = _synth(mine, 5)  # the case: a 60-example dataset became 4/1/0, exit 0
    assert proc.returncode == 2 and "--overwrite" in proc.stderr, proc
    assert _files(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "mine"]  # nothing left beside


KILL_AFTER_FIRST_SPLIT = """
import os, signal, sys
from octo_mlx import data
from octo_mlx.synth.config import SynthConfig
from octo_mlx.synth.run import synthesize

write_split = data.write_split

def write_then_die(path, examples):  # SIGKILL right after the first split file is written
    write_split(path, examples)
    os.kill(os.getpid(), signal.SIGKILL)

data.write_split = write_then_die
synthesize(SynthConfig(domains=["android"], n=12, seed=7, out=sys.argv[1], overwrite=True))
"""


def test_a_synth_killed_mid_write_leaves_the_old_dataset_whole(tmp_path):
    """Killed right after the new train.jsonl was written, the folder still holds the old dataset
    (no new train lines beside the old valid/test and manifest), and a rerun completes."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "data"
    assert _synth(out, 60).returncode == 0
    old = _files(out)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_SPLIT, str(out)], capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _files(out) == old and validate_dir(out) == []
    proc = _synth(out, 12, "--overwrite", "--seed", "7")  # a stale temporary folder does not block
    assert proc.returncode == 0, proc.stderr
    assert validate_dir(out) == [] and json.loads((out / "dataset.json").read_text())["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_function_balance_gives_each_function_about_the_same_share():
    domains = load_domains(BUNDLED_DOMAINS)
    functions = {d.name: len(d.functions) for d in domains}
    total = sum(functions.values())

    def homes(balance):  # the domain of each example's steps (every example stays in one domain)
        splits = synthesize_offline(domains, 940, seed=3, steps=(1,), balance=balance).splits
        return Counter(e.domains[0] for split in splits.values() for e in split)

    by_domain, by_function = homes("domain"), homes("function")
    for name, k in functions.items():
        assert by_domain[name] == pytest.approx(940 / len(functions), abs=3)
        assert by_function[name] == pytest.approx(940 * k / total, abs=3)
    with pytest.raises(OctoError, match="balance"):
        synthesize_offline(domains, 10, balance="steps")


def test_action_data_balances_functions_and_plans_keep_domains(tmp_path):
    from octo_mlx.synth.config import SynthConfig

    assert SynthConfig(task="action", offline=True).balance == "function"
    assert SynthConfig(task="plan", offline=True).balance == "domain"
    assert SynthConfig(task="plan", offline=True, balance="function").balance == "function"
    with pytest.raises(OctoError, match="--balance"):
        SynthConfig(base_url="http://127.0.0.1:9/v1", model="m", balance="function")
