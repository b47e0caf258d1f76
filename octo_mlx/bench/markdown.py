"""The benchmarks' figures as Markdown, and the marked sections of BENCHMARKS.md and RESULTS.md
that commands rewrite in place.

A section starts with a line ``<!-- NAME:start -->`` and ends with ``<!-- NAME:end -->``; the
text around it, written by people, is never touched. Each section carries the exact command
that made its figures.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from octo_mlx.bench.train import DEFAULT_PEERS
from octo_mlx.files import read_text, write_atomic
from octo_mlx.stats import format_rate

if TYPE_CHECKING:  # experiments/report.py writes RESULTS.md sections without loading eval
    from octo_mlx.bench.adapters import BenchAdaptersResult
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


# --- bench adapters ---------------------------------------------------------------------------

ADAPTERS_START = "<!-- bench-adapters:start -->"
ADAPTERS_END = "<!-- bench-adapters:end -->"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _bytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _met(ok: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not resolved at this run's noise"}[ok]


def adapters_section(result: BenchAdaptersResult, command: str, note: str = "") -> str:
    """The BENCHMARKS.md section of `octo-mlx bench adapters`: swap time against mlx_lm.server,
    decode speed against plain mlx-lm, memory, adapter operations (#13 adds combine and fuse).

    Args:
        result: the measurements.
        command: the exact command that made them.
        note: a paragraph on the conditions (e.g. what else ran on the machine).
    """
    c, m, r, g = result.config, result.machine, result.ratios(), result.goals()
    ours = result.ours.summary()
    n = len(result.adapters)
    if result.random_adapters:
        what = (
            f"{n} random-valued LoRA r{c['rank']} adapters on every linear layer of every block, made "
            "for the run with mlx-lm's own layers and saved in its format (real adapter files; their "
            "outputs mean nothing)"
        )
    else:
        what = f"{n} adapters: " + ", ".join(f"`{a['path']}`" for a in result.adapters)
    lines = [
        ADAPTERS_START,
        "## Adapter runtime (#14): swap time, decode speed, memory (`octo-mlx bench adapters`)",
        "",
        "```",
        command,
        "```",
        "",
        *([note, ""] if note else []),
        f"{m['platform']}, {m['cpus']} CPUs, mlx {m['mlx']}, mlx-lm {m['mlx_lm']}, {m['blas']}; load "
        f"average {m['load_before']:.1f} before, {m['load_after']:.1f} after. Base `{result.base}`; "
        f"{what}. Batch 1, greedy, the same {result.prompt_tokens}-token prompt for every request; "
        f"{c['repeats']} timed rounds per side after {c['warmup']} warm-up round(s), sides interleaved "
        "request by request.",
        "",
        "### Swap time (goal <= 50 ms)",
        "",
        "First-token latency right after an adapter switch minus first-token latency without one "
        "(switch and no-switch requests alternate: A, B, B, A, A, ...).",
        "",
        "| | first token after a switch (median / p90) | no switch (median / p90) | **swap time** "
        "(difference of medians, ~95% interval) | paired differences (median / p90) |",
        "|---|---|---|---|---|",
    ]
    for side in (result.ours, result.peer):
        if side is None:
            continue
        s = side.summary()
        lines.append(
            f"| {side.name} | {_ms(s['switch_median_s'])} / {_ms(s['switch_p90_s'])} | "
            f"{_ms(s['same_median_s'])} / {_ms(s['same_p90_s'])} | **{_ms(s['swap_s'])}** "
            f"+- {_ms(s['swap_halfwidth_s'])} | "
            f"{_ms(s['paired_median_s'])} / {_ms(s['paired_p90_s'])} |"
        )
    use_us = statistics.median(result.use_s) * 1e6
    lines += [
        "",
        f"Swap time **{_ms(ours['swap_s'])}** +- {_ms(ours['swap_halfwidth_s'])} (goal <= 50 ms: "
        f"{_met(g['swap_50ms'])}; the interval is 1.58 x IQR / sqrt(n) per median, combined). The "
        f"pool's switch itself (`AdapterPool.use`: attribute writes) takes {use_us:.0f} us (median of "
        f"{len(result.use_s)}); the rest of the first-token difference is the forward pass after a "
        "switch, and timing noise.",
    ]
    cpu = [(side.name, side.summary()) for side in (result.ours, result.peer) if side and side.switch_cpu_s]
    if cpu:
        lines.append("")
        lines.append(
            "CPU time per request of the serving process (all its threads; time spent waiting for a "
            "core does not count, so other jobs inflate it far less than the wall time; OpenBLAS's idle "
            "threads spinning do count): "
            + "; ".join(
                f"{name}: {_ms(s['switch_cpu_median_s'])} after a switch, {_ms(s['same_cpu_median_s'])} "
                f"without, **{_ms(s['cpu_swap_s'])}** +- {_ms(s['cpu_swap_halfwidth_s'])}"
                for name, s in cpu
            )
            + " (the server's from /proc, in 10 ms ticks)."
        )
    if result.peer is not None:
        peer = result.peer.summary()
        times = f" ({r['peer_swap_over_ours']:.0f}x ours)" if r["peer_swap_over_ours"] else ""
        lines.append("")
        lines.append(
            f"`mlx_lm.server` reloads the whole model when the requested adapter changes: "
            f"{_ms(peer['swap_s'])} +- {_ms(peer['swap_halfwidth_s'])} per switch{times}. It ran with "
            "`--prompt-cache-size 0`, so neither "
            "side reuses a cached prompt (ours never does); its weights as stored (mlx-lm does not cast), "
            "read from the page cache on every reload (the best case for a reload)."
        )
    else:
        lines += ["", "The mlx_lm.server peer was not run (`--no-server`)."]
    lines += [
        "",
        "### Decode speed (goal >= 90% of plain mlx-lm, adapter fused)",
        "",
        f"{c['tokens']} tokens per run through mlx-lm's `generate_step` on every side; plain mlx-lm in "
        "its own process (mlx-lm as installed, weights cast to float32: the fast CPU dtype, ours too), "
        "the others in octo-mlx's (its CPU maths on). The order of the sides rotates each round.",
        "",
        "| side | tokens/s (median) | min - max | vs plain mlx-lm (per round, median) "
        "| ratio of medians | first token (median) |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"mlx_lm": None, "fused": "fused", "pool": "unfused", "pool_base": "pool_base"}
    for key, side in result.decode.items():
        s, label = side.summary(), labels.get(key)
        paired = "-" if label is None else f"{r[f'decode_{label}']:.0%}"
        of_medians = "-" if label is None else f"{r[f'decode_{label}_of_medians']:.0%}"
        lines.append(
            f"| {side.name} | {s['tokens_per_s_median']:.1f} | {s['tokens_per_s_min']:.1f} - "
            f"{s['tokens_per_s_max']:.1f} | {paired} | {of_medians} | {_ms(s['ttft_median_s'])} |"
        )
    ch = result.checks
    lines += [
        "",
        "Each round runs every side back to back, so a round's ratio cancels the drift of the load "
        "across rounds; the goal is read on the median of those.",
        "",
        f"Adapter fused: **{r['decode_fused']:.0%}** of plain mlx-lm "
        f"(goal >= 90%: {_met(g['decode_90pct'])}); unfused in the pool: **{r['decode_unfused']:.0%}** "
        f"({_met(g['decode_90pct_unfused'])} by the same bar). "
        f"Checks: the adapter moves the last logits by up to {ch['adapter_moves_logits_by']:.3g} "
        f"(largest logit {ch['logits_scale']:.3g}); fused vs unfused logits differ by at most "
        f"{ch['fused_vs_unfused_max_diff']:.2g}; greedy tokens of the fused copy "
        f"{'equal' if ch['fused_tokens_equal_unfused'] else 'DIFFER from'} the unfused pool's.",
        "",
        "### Memory (goal < 1.5x the base alone)",
        "",
        f"| | base alone | base + {n} adapters | ratio |",
        "|---|---|---|---|",
        f"| parameter bytes (`AdapterPool.nbytes`) | {_bytes(result.memory['base_bytes'])} | "
        f"{_bytes(result.memory['resident_bytes'])} | {r['memory_bytes']:.3f}x |",
        f"| MLX active memory | {_bytes(result.memory['active_base_bytes'])} | "
        f"{_bytes(result.memory['active_resident_bytes'])} | {r['memory_active']:.3f}x |",
        "",
        f"Goal < 1.5x: {_met(g['memory_1_5x'])}. A fused copy per adapter instead would add "
        f"{_bytes(result.memory['fused_copy_bytes'])} each ({1 + n}x the base for {n} adapters).",
        "",
        "### Adapter operations",
        "",
        "| operation | median | runs |",
        "|---|---|---|",
        *[f"| {op} | {_ms(statistics.median(v))} | {len(v)} |" for op, v in result.adapter_ops.items() if v],
        "",
        "Combine and fuse times of four r64 adapters (multi-LoRA, #13): the section after this one "
        "(`benchmarks/combine_time.py`).",
        *([""] + [f"Warning: {w}" for w in result.warnings] if result.warnings else []),
        ADAPTERS_END,
    ]
    return "\n".join(lines) + "\n"


# --- bench agent ------------------------------------------------------------------------------


def agent_section(result, command: str) -> str:
    """RESULTS.md's section of an agent run: success with and without re-planning, overall, on
    the requests one re-plan can recover, on those needing more, without a failure, by step
    count; the median request time and its stages."""
    summary = result.summary()
    peer = summary.pop("in-context", None)
    by_steps = list(next(iter(summary.values()), {}).get("by_steps", {}))
    head = ["max re-plans", "all", "recoverable (1 re-plan)", "needs more", "no failure"]
    head += [f"{s} step{'s' if s != '1' else ''}" for s in by_steps]
    head += ["median s", "plan / action / execute s"]
    lines = ["<!-- bench-agent:start -->", "", f"`{command}`", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode, s in summary.items():
        keys = ("all", "recoverable", "needs_more_replans", "no_failure")
        cells = [_rate_cell(s[k]) for k in keys] + [_rate_cell(v) for v in s["by_steps"].values()]
        stages = s["median_stage_seconds"]
        cells.append(f"{s['median_seconds']:.2f}" if s["median_seconds"] is not None else "-")
        cells.append(" / ".join(f"{stages.get(k, 0.0):.2f}" for k in ("plan", "action", "execute")))
        lines.append(f"| {mode.split('=')[1]} | " + " | ".join(cells) + " |")
    if peer is not None:
        cells = [_rate_cell(peer["all"]), "-", "-", "-"] + [
            _rate_cell(peer["by_steps"].get(s, {"n": 0})) for s in by_steps
        ]
        cells += [f"{peer['median_seconds']:.2f}", "-"]
        lines.append("| in-context agent | " + " | ".join(cells) + " |")
        ours = next(iter(summary.values()), {})
        tokens = lambda t: f"{t[0]:.0f} / {t[1]:.0f}" if t else "-"  # noqa: E731
        speed = peer.get("median_speedup")
        lines += [
            "",
            "In-context agent: the same base model without an adapter, every function's JSON in a system "
            "turn, one tool call per turn, each run on the device and its result handed back. Median "
            f"prompt / generated tokens per request: ours {tokens(ours.get('median_tokens'))}, in-context "
            f"{tokens(peer.get('median_tokens'))}; its wall time over ours, median per request: "
            + (f"{speed:.2f}x." if speed is not None else "-."),
        ]
    lines += ["", f"Adapters: {', '.join(f'{k} `{v}`' for k, v in result.adapters.items())}.", ""]
    lines.append("<!-- bench-agent:end -->")
    return "\n".join(lines) + "\n"


def _rate_cell(r: dict) -> str:
    if not r["n"]:
        return "-"
    return format_rate(r["success"], r["n"], r["low"], r["high"])
