"""`octo-mlx bench train`: the harness runs the peers on a tiny model (no timing assertions)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from octo_mlx.bench.markdown import train_section, write_section
from octo_mlx.bench.train import BenchConfig, BenchReport, PeerRun, run_bench, summarize
from octo_mlx.errors import OctoError
from tests.helpers.datasets import write_planner_data


@pytest.mark.parametrize(
    "kwargs, why",
    [
        (dict(peers=("octo", "nope")), "unknown peer 'nope'"),
        (dict(examples=6), "examples=6 must be a positive multiple of batch_size=4"),
        (dict(epochs=1), "epochs must be >= 2: the first epoch compiles"),  # the only epoch would compile
        (dict(method="dora"), "method must be lora or full, got 'dora'"),
    ],
)
def test_config_refuses_what_cannot_be_compared(tmp_path, kwargs, why):
    BenchConfig(data=str(tmp_path))  # the defaults are comparable
    with pytest.raises(OctoError, match=re.escape(why)):
        BenchConfig(data=str(tmp_path), **kwargs)


def test_summary_takes_medians_per_peer():
    runs = [
        PeerRun("octo", i, True, epoch_seconds=s, useful_tokens=1000, max_rss_bytes=10**9)
        for i, s in enumerate((1.0, 2.0, 4.0))
    ] + [
        PeerRun("mlx_lm", 0, True, epoch_seconds=2.0, useful_tokens=1000),
        PeerRun("peft", 0, False, error="x"),
    ]
    s = summarize(runs)
    assert set(s) == {"octo", "mlx_lm"}  # a peer without a successful run has no summary
    assert s["octo"].tokens_per_s == 500.0 and s["octo"].epoch_seconds == 2.0
    assert s["octo"].spread == pytest.approx((1000 - 250) / 500)


def test_markdown_section_is_replaced_in_place(tmp_path):
    report = BenchReport(
        BenchConfig(data="d", repeats=1),  # the default peers: the key names no peer
        [PeerRun("octo", 0, True, epoch_seconds=2.0, useful_tokens=100)],
        summarize([PeerRun("octo", 0, True, epoch_seconds=2.0, useful_tokens=100)]),
        {"platform": "x", "cpus": 2},
    )
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n\n<!-- other:start -->\nkeep\n<!-- other:end -->\n")
    write_section(path, train_section(report, "octo-mlx bench train --data d"))
    write_section(path, train_section(report, "octo-mlx bench train --data d --repeats 1"))
    text = path.read_text()
    assert text.count("bench-train:lora-r16-default-model:start") == 1
    assert "--repeats 1" in text and "keep" in text and "intro" in text


def test_harness_runs_octo_and_mlx_lm_on_the_same_tokens(tiny_llama, tmp_path):
    data = write_planner_data(tmp_path / "data", n_train=8, n_valid=2)
    config = BenchConfig(
        data=str(data),
        model=str(tiny_llama),
        examples=4,
        bundled_examples=4,
        repeats=1,
        peers=("octo", "mlx_lm"),
        work_dir=str(tmp_path / "work"),
    )
    seen = []
    report = run_bench(config, callback=lambda msg, run: seen.append((msg, run)))
    assert [r.peer for r in report.runs] == ["octo", "mlx_lm"]
    for run in report.runs:
        assert run.ok, run.error
        assert run.epoch_seconds > 0 and run.peak_mlx_bytes > 0 and run.max_rss_bytes > 0
        assert run.final_loss is not None
    octo, mlx_lm = report.runs
    assert octo.useful_tokens == mlx_lm.useful_tokens  # one count for both peers
    assert octo.own_tokens == octo.useful_tokens  # our loop saw exactly those tokens
    assert report.ratio("mlx_lm") is not None
    assert len(seen) == 4 and seen[0][1] is None
    assert Path(tmp_path / "work" / "out-mlx_lm-0" / "adapters.safetensors").is_file()


def test_a_temporary_work_folder_is_removed(tiny_llama, tmp_path, monkeypatch):
    """Without --work-dir the runs' checkpoints (0.7 GB each for full fine-tuning of the default
    model) must not pile up in /tmp: an earlier bench filled the disk mid-run."""
    data = write_planner_data(tmp_path / "data", n_train=8, n_valid=2)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config = BenchConfig(data=str(data), model=str(tiny_llama), examples=4, repeats=1, peers=("octo",))
    report = run_bench(config)
    assert report.runs[0].ok, report.runs[0].error
    assert list(scratch.iterdir()) == []
