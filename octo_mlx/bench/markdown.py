"""The benchmarks' figures as Markdown, and the marked sections of BENCHMARKS.md and RESULTS.md
that commands rewrite in place.

A section starts with a line ``<!-- NAME:start -->`` and ends with ``<!-- NAME:end -->``; the
text around it, written by people, is never touched. Each section carries the exact command
that made its figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from octo_mlx.bench.train import DEFAULT_PEERS
from octo_mlx.files import read_text, write_atomic
from octo_mlx.stats import format_rate

if TYPE_CHECKING:  # experiments/report.py writes RESULTS.md sections without loading eval
    from octo_mlx.bench.plan import BenchPlanResult
    from octo_mlx.bench.train import BenchConfig, BenchReport

TRAIN_SECTION = "bench-train"  # <!-- bench-train:KEY:start --> ... <!-- bench-train:KEY:end -->
PLAN_START = "<!-- bench-plan:start -->"
PLAN_END = "<!-- bench-plan:end -->"


def write_section(path: str | Path, text: str, title: str = "# Benchmarks\n") -> Path:
    """Replace the section of ``text`` (its first and last lines are the markers), or append it.

    Args:
        path: the Markdown file (created with ``title`` when missing).
        text: the whole section, markers included.
        title: the first line of a new file.
    """
    path = Path(path)
    start = text.split("\n", 1)[0]
    end = text.rstrip("\n").rsplit("\n", 1)[-1]
    old = read_text(path) if path.exists() else title
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + text.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    return write_atomic(path, new)


# --- bench train ------------------------------------------------------------------------------


def _gb(n: int | None) -> str:
    return f"{n / 1e9:.2f}" if n else "-"


PEER_LABELS = {
    "octo": "octo-mlx (OpenBLAS)",
    "mlx_lm": "mlx_lm.lora (OpenBLAS)",
    "mlx_lm_bundled": "mlx_lm.lora (bundled BLAS, as pip installs it)",
    "peft": "PyTorch + PEFT (2 threads)",
    "octo_pack": "octo-mlx, train.batching=pack (OpenBLAS)",
}


def section_key(config: BenchConfig) -> str:
    """The BENCHMARKS.md section of one configuration: method, rank, model and peers."""
    model = Path(config.model).name if config.model else "default-model"
    method = config.method if config.method == "full" else f"lora-r{config.rank}"
    peers = "" if config.peers == DEFAULT_PEERS else "-" + "-".join(config.peers)
    return f"{method}-{model}{peers}"


def train_section(report: BenchReport, command: str) -> str:
    """The figures as a Markdown section for BENCHMARKS.md (with the command that made them)."""
    c, m = report.config, report.machine
    key = section_key(c)
    lines = [
        f"<!-- {TRAIN_SECTION}:{key}:start -->",
        f"### Training speed: {c.method}{f' r{c.rank}/alpha {c.alpha:g}' if c.method == 'lora' else ''}, "
        f"batch {c.batch_size}, {c.examples} examples, {Path(c.model).name if c.model else 'default model'}",
        "",
        "```",
        command,
        "```",
        "",
        f"{m.get('platform')}, {m.get('cpus')} CPUs, mlx {m.get('mlx')}, mlx-lm {m.get('mlx_lm')}. "
        f"Medians of {c.repeats} runs per peer, interleaved; the last of {c.epochs} epochs timed. Load "
        f"average {m.get('load_before') or 0:.1f} before, {m.get('load_after') or 0:.1f} after: the "
        "machine was shared with other jobs, so absolute figures are low and noisy; the ratios come "
        "from runs interleaved under the same load.",
        "",
        "| peer | useful tok/s | s / epoch (useful tokens) | octo-mlx speed-up | MLX peak GB | max RSS GB "
        "| runs | spread |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for peer, s in report.summaries.items():
        ratio = report.ratio(peer)
        lines.append(
            f"| {PEER_LABELS.get(peer, peer)} | {s.tokens_per_s:.1f} | {s.epoch_seconds:.1f} "
            f"({s.useful_tokens}) | {'-' if peer == 'octo' or ratio is None else f'{ratio:.2f}x'} | "
            f"{_gb(s.peak_mlx_bytes)} | {_gb(s.max_rss_bytes)} | {s.runs} | {s.spread:.0%} |"
        )
    for r in report.runs:
        if not r.ok:
            lines.append(f"\n{r.peer} run {r.repeat + 1} failed: {r.error}")
    lines.append(f"<!-- {TRAIN_SECTION}:{key}:end -->")
    return "\n".join(lines) + "\n"


# --- bench plan -------------------------------------------------------------------------------


def _accuracy(summary: dict) -> str:
    a = summary["accuracy"]
    return format_rate(a["k"], a["n"], a["low"], a["high"])


def plan_section(result: BenchPlanResult, command: str, note: str = "") -> str:
    """The BENCHMARKS.md plan section: the command, the table, the ratios against the goals.

    Args:
        result: the measurements.
        command: the exact command that made them.
        note: a paragraph on what was compared (e.g. how the planner was trained).
    """
    ft, ic = result.fine_tuned.summary(), result.in_context.summary()
    r, g = result.ratios(), result.goals()

    rows = [
        ("prompt tokens (mean)", f"{ft['prompt_tokens_mean']:.0f}", f"{ic['prompt_tokens_mean']:.0f}"),
        ("time to first token (median)", f"{ft['ttft_median_s']:.3f} s", f"{ic['ttft_median_s']:.3f} s"),
        ("time to full plan (median)", f"{ft['plan_median_s']:.3f} s", f"{ic['plan_median_s']:.3f} s"),
        ("time to full plan (p90)", f"{ft['plan_p90_s']:.3f} s", f"{ic['plan_p90_s']:.3f} s"),
        ("generated tokens (mean)", f"{ft['gen_tokens_mean']:.1f}", f"{ic['gen_tokens_mean']:.1f}"),
        (
            "memory over weights (peak: KV cache + activations)",
            f"{ft['extra_memory_gb_max'] * 1000:.1f} MB",
            f"{ic['extra_memory_gb_max'] * 1000:.1f} MB",
        ),
        ("accuracy (deterministic judge, Wilson 95%)", _accuracy(ft), _accuracy(ic)),
    ]
    mark = {True: "met", False: "NOT met"}
    lines = [
        PLAN_START,
        "## Planner latency: fine-tuned vs in-context prompting (`octo-mlx bench plan`)",
        "",
        "```",
        command,
        "```",
        "",
        *([note, ""] if note else []),
        f"Machine: {result.machine}. Fine-tuned: `{result.config['fine_tuned_path']}`"
        + (f" + adapter `{result.config['adapter']}`" if result.config.get("adapter") else "")
        + f"; base: `{result.config['base_path']}`. {ft['queries']} test queries, one at a time, sides"
        f" interleaved; {result.config['warmup']} warm-up query per side. Step resolver on gold test steps:"
        f" {result.resolver_accuracy:.1%}.",
        "",
        f"| | {result.fine_tuned.name} | {result.in_context.name} |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Time to plan: **{r['plan_speedup']:.1f}x** faster (goal >= 5x: {mark[g['5x_faster']]}); "
        f"time to first token {r['ttft_speedup']:.1f}x; prompt tokens **{r['prompt_token_share']:.1%}** "
        f"of the in-context prompt (goal <= 10%: {mark[g['10pct_prompt']]}); "
        f"more accurate: {mark[g['more_accurate']]}"
        + (
            "."
            if g["accuracy_separated"] or not g["more_accurate"]
            else " on the point estimates only (the 95% intervals overlap: not a significant difference)."
        ),
        *([""] + [f"Warning: {w}" for w in result.warnings] if result.warnings else []),
        PLAN_END,
    ]
    return "\n".join(lines) + "\n"
