"""The planner data contract: format round trips, validation of every bad line, split, stats, HF."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from octo_mlx import data
from octo_mlx.data import NO_FUNCTION, PLAN_SPLIT, PlanExample
from octo_mlx.errors import OctoError
from octo_mlx.generation import END_MARKERS
from octo_mlx.planner import parse_plan

KNOWN = {
    "android": ["get_trending_news", "send_email", "get_weather_forecast", "set_timer_alarm"],
    "ecommerce": ["search_products", "add_to_cart", "checkout"],
}
FUNCS = {d: fs for d, fs in KNOWN.items()}


def make_examples(n: int, seed: int = 0) -> list[PlanExample]:
    """Random but valid examples: varied step counts and domains, unique queries."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 10 == 9:
            out.append(
                PlanExample(
                    f"x{i}",
                    f"tell me a joke number {i}",
                    ("Answer without a function",),
                    (NO_FUNCTION,),
                    ("android",),
                    "offline",
                )
            )
            continue
        dom = rng.choice(sorted(KNOWN))
        k = rng.randint(1, 5)
        funcs = tuple(rng.choice(KNOWN[dom]) for _ in range(k))
        steps = tuple(f"Step {j} using {f} for request {i}" for j, f in enumerate(funcs))
        query = f"Please do request {i} of batch {seed} with {k} steps"  # unique per (i, seed)
        out.append(PlanExample(f"x{i}", query, steps, funcs, (dom,), "offline"))
    return out


def write_lines(path: Path, lines: list) -> None:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))


def good_record(i: int = 0) -> dict:
    return make_examples(1, seed=i)[0].to_record() | {"id": f"g{i}"}


def test_format_parse_round_trip_and_lenient_parse():
    steps = ["Find articles about Jensen Huang in English", "Email the first article found to myself"]
    text = data.format_plan(steps)
    assert text.count(PLAN_SPLIT) == len(steps) - 1
    assert parse_plan(text) == steps
    assert parse_plan(f"  {text}{PLAN_SPLIT}<|end|> trailing junk") == steps


@pytest.mark.parametrize("marker", END_MARKERS)
def test_every_chat_end_marker_ends_a_plan(marker):
    """One list of end markers for generation and parsing: Gemma's <end_of_turn> used to be missing
    from the parser's own list, so a Gemma planner's plan kept the marker and what followed."""
    steps = ["Check the weather in Paris", "Text Alice the forecast"]
    assert parse_plan(data.format_plan(steps) + marker + "\nuser\nsomething else") == steps


def test_record_round_trip_is_mlx_lm_chat_format():
    for ex in make_examples(30):
        rec = ex.to_record()
        assert [m["role"] for m in rec["messages"]] == ["user", "assistant"]
        assert rec["n_steps"] == len(rec["functions"]) == len(parse_plan(rec["messages"][1]["content"]))
        assert PlanExample.from_record(json.loads(json.dumps(rec)), KNOWN) == ex


def test_mlx_lm_chat_loader_reads_our_lines(tmp_path, tiny_llama):
    from mlx_lm.tuner.datasets import load_local_dataset
    from mlx_lm.utils import load_tokenizer

    exs = make_examples(12)
    splits = data.split_examples(exs, seed=1)
    data.write_dataset(tmp_path, splits, "offline", 1, ["android", "ecommerce"])
    tok = load_tokenizer(tiny_llama)
    from types import SimpleNamespace

    train, valid, test = load_local_dataset(tmp_path, tok, SimpleNamespace(mask_prompt=False))
    assert len(train) == len(splits["train"]) and len(train) > 0
    tokens, _ = train.process(train[0])
    assert len(tokens) > 5


BAD_LINES = [
    ("{not json", "bad JSON"),
    ([1, 2], "expected a JSON object"),
    ("drop:functions", "missing field 'functions'"),
    ("drop:messages", "missing field 'messages'"),
    ("set:functions=['fly_to_mars']", "unknown function"),
    ("set:domains=['cooking']", "unknown domain"),
    ("plan:", "empty step"),
    ("plan:a<nexa_split><nexa_split>b", "empty step"),
    ("plan:1<nexa_split>2<nexa_split>3<nexa_split>4<nexa_split>5<nexa_split>6", "6 steps"),
    ("set:n_steps=7", "n_steps=7"),
    ("roles:assistant,user", "must be [user, assistant]"),
    ("set:generator='gpt'", "'generator'"),
    ("set:functions=['none','send_email']", "must be the only function"),
]


def corrupt(rec: dict, how) -> object:
    if not isinstance(how, str) or ":" not in how or how.startswith("{"):
        return how
    kind, _, arg = how.partition(":")
    rec = json.loads(json.dumps(rec))
    if kind == "drop":
        del rec[arg]
    elif kind == "set":
        k, _, v = arg.partition("=")
        rec[k] = eval(v)  # test-local literals only
    elif kind == "plan":
        rec["messages"][1]["content"] = arg
    elif kind == "roles":
        for m, r in zip(rec["messages"], arg.split(",")):
            m["role"] = r
    return rec


def test_validate_reports_every_bad_line_and_loaders_refuse_the_same(tmp_path):
    good = [
        make_examples(1, seed=100 + i)[0].to_record() | {"id": f"ok{i}"} for i in range(len(BAD_LINES) + 1)
    ]
    lines, bad_at = [], {}
    for i, (how, reason) in enumerate(BAD_LINES):
        lines.append(good[i] if i % 2 else {**good[i], "id": f"pre{i}"})
        bad = corrupt({**good[i], "id": f"bad{i}"}, how)
        lines.append(bad)
        bad_at[len(lines)] = reason
    lines.append(good[-1])
    # a few steps must be the plan length for the unmutated fields: make n_steps/functions agree
    write_lines(tmp_path / "train.jsonl", lines)
    problems = data.validate_dir(tmp_path, KNOWN)
    reported = {p.line for p in problems}
    assert reported == set(bad_at), (sorted(reported), sorted(bad_at))
    for p in problems:
        assert p.file.endswith("train.jsonl")
    for line, reason in bad_at.items():
        assert any(reason in p.reason for p in problems if p.line == line), (line, reason, problems)
    first = min(bad_at)
    with pytest.raises(OctoError) as e:
        data.read_split(tmp_path / "train.jsonl", KNOWN)
    assert str(e.value).startswith(f"{tmp_path / 'train.jsonl'}:{first}: ")
    assert f"{len(bad_at) - 1} more" in str(e.value)
    with pytest.raises(OctoError) as e2:
        data.load_dataset_dir(tmp_path, KNOWN)
    assert str(e2.value).split(" (and")[0] == str(e.value).split(" (and")[0]


def test_duplicates_and_leaks_across_splits_are_reported(tmp_path):
    exs = make_examples(6)
    data.write_split(tmp_path / "train.jsonl", exs[:4])
    leak = PlanExample(
        "new", exs[0].query.upper() + "!", exs[0].steps, exs[0].functions, exs[0].domains, "offline"
    )
    data.write_split(tmp_path / "valid.jsonl", [exs[1], leak, exs[5]])
    problems = data.validate_dir(tmp_path, KNOWN)
    msgs = [str(p) for p in problems]
    assert any("valid.jsonl:1:" in m and "also in train.jsonl:2" in m for m in msgs), msgs
    assert any("valid.jsonl:2:" in m and "split leak" in m for m in msgs), msgs
    assert len(problems) == 3  # id exs[1] twice: the id and the query; leak: the query


def test_split_is_stratified_seeded_and_partitions(tmp_path):
    exs = make_examples(500, seed=3)
    a = data.split_examples(exs, seed=7)
    b = data.split_examples(list(reversed(exs)), seed=7)
    assert {k: [e.id for e in v] for k, v in a.items()} == {k: [e.id for e in v] for k, v in b.items()}
    ids = [e.id for v in a.values() for e in v]
    assert sorted(ids) == sorted(e.id for e in exs)  # a partition: nothing lost or duplicated
    for i, name in enumerate(data.SPLITS):
        assert abs(len(a[name]) - (0.8, 0.1, 0.1)[i] * len(exs)) <= 1
    strata = Counter((e.n_steps, e.domains) for e in exs)
    for key, n in strata.items():
        n_test = sum((e.n_steps, e.domains) == key for e in a["test"])
        assert abs(n_test - 0.1 * n) <= 1.5, (key, n, n_test)
    c = data.split_examples(exs, seed=8)
    assert [e.id for e in c["test"]] != [e.id for e in a["test"]]


def test_split_keeps_groups_together():
    exs = make_examples(200, seed=5)
    fam = lambda e: str(int(e.id[1:]) % 17)  # noqa: E731
    out = data.split_examples(exs, seed=0, group=fam)
    where = {}
    for split, v in out.items():
        for e in v:
            assert where.setdefault(fam(e), split) == split


def test_stats_counts_match_files(tmp_path):
    exs = make_examples(120, seed=2)
    data.write_dataset(tmp_path, data.split_examples(exs, seed=0), "offline", 0, sorted(KNOWN))
    st = data.stats(tmp_path, KNOWN)
    assert sum(st.splits.values()) == 120
    assert sum(sum(v.values()) for v in st.by_steps.values()) == 120
    assert sum(sum(v.values()) for v in st.by_function.values()) == sum(e.n_steps for e in exs)
    assert st.generator == "offline"


def test_manifest_count_mismatch_is_reported(tmp_path):
    exs = make_examples(20)
    data.write_dataset(tmp_path, data.split_examples(exs, seed=0), "offline", 0, ["android"])
    with (tmp_path / "train.jsonl").open("a") as f:
        f.write(json.dumps(good_record(99)) + "\n")
    problems = data.validate_dir(tmp_path, KNOWN)
    assert [p.file.endswith("dataset.json") and "counts.train" in p.reason for p in problems] == [True]


def test_hf_round_trip(tmp_path):
    exs = make_examples(40, seed=4)
    data.write_dataset(tmp_path / "a", data.split_examples(exs, seed=0), "offline", 0, sorted(KNOWN))
    dd = data.to_hf(tmp_path / "a", KNOWN)
    assert set(dd) == set(data.SPLITS) and sum(len(d) for d in dd.values()) == 40
    data.from_hf(dd, tmp_path / "b")
    assert data.load_dataset_dir(tmp_path / "b", KNOWN) == data.load_dataset_dir(tmp_path / "a", KNOWN)
    broken = dd["train"].map(lambda r: {"n_steps": r["n_steps"] + 1})
    dd["train"] = broken
    with pytest.raises(OctoError, match=r"^train:1: "):
        data.from_hf(dd, tmp_path / "c")


def test_a_split_killed_while_it_is_written_keeps_the_old_file(tmp_path, monkeypatch):
    """write_split goes through the one atomic writer: a failure before the rename (here the fsync)
    leaves the previous split whole and no temporary file behind; a plain write_text would not."""
    import os

    path = tmp_path / "train.jsonl"
    data.write_split(path, make_examples(5))
    before = path.read_text()

    def crash(fd):
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        data.write_split(path, make_examples(9, seed=3))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_validate_cli_prints_each_bad_line(tmp_path):
    good = [good_record(i) for i in range(3)]
    write_lines(tmp_path / "train.jsonl", [good[0], "{oops", good[1], corrupt(good[2], "plan:")])
    out = subprocess.run(
        [sys.executable, "-m", "octo_mlx", "data", "validate", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 1, out
    lines = [ln for ln in out.stdout.splitlines() if "train.jsonl:" in ln]
    assert [ln.split(":")[1] for ln in lines][:2] == ["2", "4"], out.stdout


def test_export_hf_cli_saves_a_loadable_dataset_dict(tmp_path):
    import datasets

    exs = make_examples(30, seed=6)
    data.write_dataset(tmp_path / "a", data.split_examples(exs, seed=0), "offline", 0, sorted(KNOWN))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "octo_mlx",
            "data",
            "export-hf",
            str(tmp_path / "a"),
            "--to",
            str(tmp_path / "hf"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    dd = datasets.load_from_disk(str(tmp_path / "hf"))
    data.from_hf(dd, tmp_path / "b")
    assert data.load_dataset_dir(tmp_path / "b", KNOWN) == data.load_dataset_dir(tmp_path / "a", KNOWN)


def test_export_hf_refuses_a_folder_that_holds_something_unless_overwrite(tmp_path):
    from tests.helpers.cli import run_octo

    exs = make_examples(30, seed=6)
    data.write_dataset(tmp_path / "a", data.split_examples(exs, seed=0), "offline", 0, sorted(KNOWN))
    mine = tmp_path / "hf" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("my own file")
    res = run_octo("data", "export-hf", tmp_path / "a", "--to", tmp_path / "hf")
    assert res.returncode == 2 and "--to is not empty" in res.stderr and mine.read_text() == "my own file"
    res = run_octo("data", "export-hf", tmp_path / "a", "--to", tmp_path / "hf", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert not mine.exists() and (tmp_path / "hf" / "dataset_dict.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "hf"]  # nothing left beside it


# --- hardening (#11): duplicates within a split, bytes that are not UTF-8 --------------------


def test_the_same_query_twice_in_one_split_is_reported_and_refused(tmp_path):
    """Two ids, one query (up to case and punctuation) in one split: validate names both lines,
    and the loaders refuse the same line with the same message."""
    exs = make_examples(5)
    twin = PlanExample(
        "twin", "  " + exs[1].query.upper() + "?!", exs[1].steps, exs[1].functions, exs[1].domains, "offline"
    )
    path = tmp_path / "train.jsonl"
    data.write_split(path, [*exs[:3], twin, exs[3]])
    problems = data.validate_dir(tmp_path, KNOWN)
    assert [(p.file, p.line) for p in problems] == [(str(path), 4)], problems
    assert "line 2" in problems[0].reason and "query" in problems[0].reason
    with pytest.raises(OctoError) as e:
        data.read_split(path, KNOWN)
    assert str(e.value) == str(problems[0])
    data.write_split(path, [*exs[:3], exs[3]])  # without the twin the split is clean
    assert data.validate_dir(tmp_path, KNOWN) == []


def test_the_generators_and_test_helpers_write_no_query_twice_in_a_split(tmp_path):
    """The loaders now refuse a repeated query, so what the project itself writes must not have one."""
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.synth.offline import generate_offline
    from tests.helpers.datasets import make_dataset, write_planner_data

    write_planner_data(tmp_path / "p", n_train=20, n_valid=12)  # more examples than QUERIES
    for split in ("train", "valid"):
        assert data.read_split(tmp_path / "p" / f"{split}.jsonl")
    make_dataset(tmp_path / "m")
    assert data.read_split(tmp_path / "m" / "train.jsonl") and data.read_split(tmp_path / "m" / "test.jsonl")
    splits = generate_offline(load_domains(["android"]), 300, seed=5, irrelevant=0.1)
    data.write_dataset(tmp_path / "o", splits, "offline", 5, ["android"])
    assert data.validate_dir(tmp_path / "o") == []


def test_line_separators_inside_a_query_stay_in_their_line(tmp_path):
    """JSON keeps U+2028, U+2029 and U+0085 raw inside strings: a reader that splits lines on them
    (str.splitlines) would cut a valid example in two."""
    ex = make_examples(1)[0]
    odd = PlanExample(
        "odd", "Email Bob\u2028the report\u0085now\u2029please", ex.steps, ex.functions, ex.domains, "offline"
    )
    path = tmp_path / "train.jsonl"
    data.write_split(path, [odd, *make_examples(3, seed=9)])
    assert data.read_split(path, KNOWN)[0] == odd
    assert data.validate_dir(tmp_path, KNOWN) == []


def test_a_byte_that_is_not_utf8_is_one_line_naming_file_and_line(tmp_path):
    from tests.helpers.cli import run_octo

    path = tmp_path / "train.jsonl"
    write_lines(path, [good_record(i) for i in range(3)])
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"Please", b"Pl\xffease", 1)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(OctoError) as e:
        data.read_split(path, KNOWN)
    assert str(e.value).startswith(f"{path}:2: ") and "0xff" in str(e.value)
    out = run_octo("data", "validate", str(tmp_path))
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and f"{path}:2: " in out.stderr and "0xff" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout


# --- gold calls (#12): the optional `calls` and `world` fields ------------------------------------


def _with_calls(tmp_path):
    """A real offline plan with its gold calls, and the bundled domains it is checked against."""
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.synth.offline import generate_offline

    domains = load_domains(["android", "ecommerce"])
    splits = generate_offline(domains, 30, seed=3, multi_domain=True)
    return [e for exs in splits.values() for e in exs], domains


def test_a_planner_dataset_without_calls_still_loads_validates_and_converts(tmp_path):
    """Lines written before gold calls existed (no `calls`, no `world`) read as they always did."""
    old = [e.to_record() for e in make_examples(30, seed=11)]
    assert all("calls" not in r and "world" not in r for r in old)
    folder = tmp_path / "old"
    folder.mkdir()
    for split, part in (("train", old[:20]), ("valid", old[20:25]), ("test", old[25:])):
        write_lines(folder / f"{split}.jsonl", part)
    assert data.validate_dir(folder, KNOWN) == []
    loaded = data.load_dataset_dir(folder, KNOWN)
    assert all(e.calls is None and e.world is None for exs in loaded.values() for e in exs)
    assert data.stats(folder, KNOWN).splits == {"train": 20, "valid": 5, "test": 5}
    data.from_hf(data.to_hf(folder, KNOWN), tmp_path / "back")
    assert data.load_dataset_dir(tmp_path / "back", KNOWN) == loaded


CALL_LINES = [
    (lambda r: r["calls"].pop(), "'calls' has"),
    (lambda r: r["calls"].reverse(), "but functions[0] is"),
    (lambda r: r["calls"][0].update(function="fly_to_mars"), "unknown function 'fly_to_mars'"),
    (lambda r: r["calls"][0].update(arguments={"zzz": 1}), "calls[0]: "),
    (lambda r: r["calls"][0].update(arguments=[1]), "'arguments' must be an object"),
    (lambda r: r.update(calls="search"), "'calls' must be a list"),
    (lambda r: r.update(world={"seed": -1, "state_sha256": "0" * 64}), "'world' must be"),
    (lambda r: r.update(world={"seed": 1, "state_sha256": "abc"}), "'world' must be"),
]


def test_gold_calls_are_checked_against_the_schemas(tmp_path):
    plans, domains = _with_calls(tmp_path)
    records = [e.to_record() for e in plans]
    assert all(r["calls"] and r["world"] for r in records)
    known = data.known_functions(domains)
    assert all(data.check_record(r, known) == [] for r in records)
    # a wrong type in a call's arguments is caught only where the schemas are known
    bad_type = json.loads(json.dumps(records[0]))
    name = next(iter(bad_type["calls"][0]["arguments"]), None)
    if name is not None:
        bad_type["calls"][0]["arguments"][name] = {"not": "a value"}
        assert any(r.startswith("calls[0]: ") for r in data.check_record(bad_type, known))
        assert data.check_record(bad_type, None) == []
    records = [r for r in records if r["n_steps"] >= 2]  # a plan whose calls can be swapped
    assert len(records) >= 2 * len(CALL_LINES)
    lines, bad_at = [], {}
    for i, (corrupt_it, reason) in enumerate(CALL_LINES):
        lines.append(records[2 * i])
        bad = json.loads(json.dumps(records[2 * i + 1]))
        corrupt_it(bad)
        lines.append(bad)
        bad_at[len(lines)] = reason
    write_lines(tmp_path / "train.jsonl", lines)
    (tmp_path / "dataset.json").write_text(json.dumps({"domains": ["android", "ecommerce"]}))
    problems = data.validate_dir(tmp_path)  # the manifest's bundled domains: schemas checked
    assert {p.line for p in problems} == set(bad_at), [str(p) for p in problems]
    for line, reason in bad_at.items():
        assert any(reason in p.reason for p in problems if p.line == line), (line, reason, problems)


def test_hf_round_trip_keeps_the_gold_calls(tmp_path):
    plans, domains = _with_calls(tmp_path)
    data.write_dataset(
        tmp_path / "a", data.split_examples(plans, seed=0), "offline", 3, ["android", "ecommerce"]
    )
    dd = data.to_hf(tmp_path / "a", domains)
    assert isinstance(dd["train"][0]["calls"][0]["arguments"], str)  # JSON text: one Arrow type per column
    data.from_hf(dd, tmp_path / "b")
    again = data.load_dataset_dir(tmp_path / "b", domains)
    assert again == data.load_dataset_dir(tmp_path / "a", domains)
    assert all(e.calls and e.world for exs in again.values() for e in exs)
