"""`octo-mlx bench plan`: the in-context prompt, the measurements' invariants, the BENCHMARKS.md
section, on tiny models (the taught planner vs the random base it came from)."""

from __future__ import annotations

import json
import statistics

import pytest

from octo_mlx.bench.markdown import PLAN_END, PLAN_START, plan_section, write_section
from octo_mlx.bench.plan import (
    BenchPlanConfig,
    BenchPlanResult,
    in_context_messages,
    pick_shots,
    run_bench_plan,
)
from octo_mlx.data import PLAN_SPLIT, read_split
from octo_mlx.domains.catalog import load_domain
from octo_mlx.errors import OctoError
from octo_mlx.planner import parse_plan
from tests.helpers.datasets import make_dataset


@pytest.fixture(scope="module")
def result(tmp_path_factory, taught_planner, tiny_llama):
    data = make_dataset(tmp_path_factory.mktemp("bench-data"))
    config = BenchPlanConfig(
        data=str(data / "test.jsonl"),
        model=str(tiny_llama),
        planner_model=str(taught_planner),
        n=4,
        shots=2,
        tools="text",
        max_tokens=48,
    )
    return run_bench_plan(config), data


def test_in_context_prompt_lists_every_function_and_asks_for_the_same_format(tmp_path):
    android = load_domain("android")
    shots = pick_shots(read_split(make_dataset(tmp_path / "d") / "train.jsonl"), 3)
    assert [e.n_steps for e in shots] == [1, 2, 1]  # the dataset has 1- and 2-step plans only
    msgs = in_context_messages("Call Bob", android.functions, shots, "json")
    tools = json.loads(msgs[0]["content"].split("functions:\n", 1)[1].split("\n\nBreak", 1)[0])
    assert [t["function"]["name"] for t in tools] == android.names
    assert PLAN_SPLIT in msgs[0]["content"]
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert parse_plan(msgs[2]["content"]) == list(shots[0].steps) and msgs[-1]["content"] == "Call Bob"


def test_measurements_are_consistent(result):
    res, _ = result
    ft, ic = res.fine_tuned, res.in_context
    assert len(ft.plan_seconds) == len(ic.plan_seconds) == 4
    for side in (ft, ic):
        assert all(0 < a <= b for a, b in zip(side.ttft, side.plan_seconds))
        assert all(0 < g <= 48 for g in side.gen_tokens)
    # the in-context prompt carries every function and two worked examples: many times longer
    assert min(ic.prompt_tokens) > 5 * max(ft.prompt_tokens)
    r = res.ratios()
    assert r["plan_speedup"] == pytest.approx(
        statistics.median(ic.plan_seconds) / statistics.median(ft.plan_seconds)
    )
    assert r["prompt_token_share"] == pytest.approx(
        statistics.fmean(ft.prompt_tokens) / statistics.fmean(ic.prompt_tokens)
    )
    # the taught planner reproduces its plans; the random base cannot
    assert sum(ft.correct) >= 4 - 1 and sum(ic.correct) <= 1
    data = json.loads(json.dumps(res.to_json()))
    assert data["goals"]["10pct_prompt"] == (r["prompt_token_share"] <= 0.10)
    assert BenchPlanResult.from_json(data).ratios() == r  # the JSON keeps everything the markdown needs


def test_markdown_section_is_replaced_in_place(result, tmp_path):
    res, _ = result
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Training\nkeep me\n")
    section = plan_section(res, "octo-mlx bench plan --data X", note="A tiny taught planner.")
    assert "A tiny taught planner." in section
    write_section(md, section)
    write_section(md, section)  # twice: still one section
    text = md.read_text()
    assert text.count(PLAN_START) == 1 and text.count(PLAN_END) == 1 and "keep me" in text
    assert "octo-mlx bench plan --data X" in text and "| time to full plan (median) |" in text


def test_config_needs_exactly_one_fine_tuned_planner():
    with pytest.raises(OctoError, match="one of them"):
        BenchPlanConfig(data="x")
    with pytest.raises(OctoError, match="one of them"):
        BenchPlanConfig(data="x", adapter="a", planner_model="b")
