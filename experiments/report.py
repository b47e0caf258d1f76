"""RESULTS.md sections and plots from the runs of experiments/paper_tables.py.

Reads each run's ``train.json`` (octo-mlx train) and ``eval.json`` (octo-mlx eval) and rewrites
only the marked sections of RESULTS.md (``<!-- results:KEY:start -->`` ... ``:end -->``), so the
prose around them stays.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" (tokenizers only)

from octo_mlx.bench.markdown import write_section
from octo_mlx.stats import format_rate, wilson_interval

PAPER_T1 = {"full": 98.1, "lora-r64": 85.1, "lora-r16": 72.9}
PAPER_T4 = {1000: 98.1, 500: 92.5, 250: 85.3, 100: 78.1}
LABELS = {
    "base": "untrained base (floor)",
    "full": "full fine-tuning",
    "lora-r64": "LoRA r64 / alpha 256",
    "lora-r16": "LoRA r16 / alpha 32",
}


@functools.cache
def _load(path: Path) -> dict | None:
    """A run's JSON, read once per report (several sections read the same runs)."""
    return json.loads(path.read_text()) if path.is_file() else None


def _runs(runs: Path, prefix: str) -> list[tuple[dict, dict | None]]:
    """(eval report, train summary) of every finished seed of one setting."""
    out = []
    for d in sorted(runs.glob(f"{prefix}-s*")):
        ev = _load(d / "eval.json")
        if ev is not None:
            out.append((ev, _load(d / "train.json")))
    return out


def _row(label: str, found: list[tuple[dict, dict | None]], paper: float | None) -> tuple[str, dict]:
    """One table row. The seeds answer the same test queries, so their verdicts are not
    independent: the mean gets a Wilson interval over the number of queries, not of verdicts."""
    accs = [ev["metrics"]["accuracy"] for ev, _ in found]
    per_seed = "<br>".join(format_rate(a["k"], a["n"]) for a in accs) or "not run"
    mean = statistics.mean(a["p"] for a in accs) if accs else None
    queries = accs[0]["n"] if accs else 0
    spread = (max(a["p"] for a in accs) - min(a["p"] for a in accs)) if len(accs) > 1 else None
    trains = [t for _, t in found if t]
    secs = statistics.median(t["seconds_per_epoch"] for t in trains) if trains else None
    peak = max(t["peak_memory_gb"] for t in trains) if trains else None
    if mean is not None:
        lo, hi = wilson_interval(mean * queries, queries)  # the mean number of correct queries
        mean_cell = f"**{mean:.1%}** [{lo:.1%}, {hi:.1%}]"
    else:
        mean_cell = "-"
    cells = [
        label,
        per_seed,
        mean_cell,
        f"{spread:.1%}" if spread is not None else "-",
        f"{paper:.1f}%" if paper is not None else "-",
        f"{secs / 60:.1f}" if secs else "-",
        f"{peak:.2f}" if peak else "-",
    ]
    return "| " + " | ".join(cells) + " |", {"p": mean, "n": queries, "seeds": accs}


HEADER = (
    "| setting | accuracy per seed (Wilson 95%) | mean of seeds (Wilson 95%) | seed spread "
    "| paper (Phi-3 Mini) | train min / epoch | MLX peak GB |\n|---|---|---|---|---|---|---|"
)


def sweep_section(runs: Path, chosen: dict[str, str]) -> str:
    lines = [
        "<!-- results:sweep:start -->",
        "| method | learning rate | validation loss (best) | chosen |",
        "|---|---|---|---|",
    ]
    by_rate = sorted(
        (runs / "sweep").iterdir(),
        key=lambda d: (d.name.rsplit("-lr", 1)[0], float(d.name.rsplit("-lr", 1)[1])),
    )
    for d in by_rate:
        t = _load(d / "train.json")
        if t is None:
            continue
        method, lr = d.name.rsplit("-lr", 1)
        mark = "yes" if chosen.get(method) == lr else ""
        lines.append(f"| {LABELS[method]} | {lr} | {t['best_val_loss']:.4f} | {mark} |")
    lines.append("<!-- results:sweep:end -->")
    return "\n".join(lines) + "\n"


def table1_section(runs: Path) -> tuple[str, dict]:
    lines = ["<!-- results:table1:start -->", HEADER]
    stats = {}
    base = _load(runs / "base" / "eval.json")
    if base is not None:
        row, stats["base"] = _row(LABELS["base"], [(base, None)], None)
        lines.append(row)
    for m in ("full", "lora-r64", "lora-r16"):
        row, stats[m] = _row(LABELS[m], _runs(runs, f"{m}-n1000"), PAPER_T1[m])
        lines.append(row)
    lines.append("<!-- results:table1:end -->")
    return "\n".join(lines) + "\n", stats


def table4_section(runs: Path) -> tuple[str, dict]:
    lines = ["<!-- results:table4:start -->", HEADER.replace("| setting |", "| training points |", 1)]
    stats = {}
    for n in (1000, 500, 250, 100):
        row, stats[n] = _row(str(n), _runs(runs, f"full-n{n}"), PAPER_T4[n])
        lines.append(row)
    lines.append("<!-- results:table4:end -->")
    return "\n".join(lines) + "\n", stats


def by_steps_section(runs: Path) -> str:
    """Accuracy by gold plan length, seeds pooled, for the Table 1 settings."""
    lines = [
        "<!-- results:by-steps:start -->",
        "| setting | 1 step | 2 | 3 | 4 | 5 |",
        "|---|---|---|---|---|---|",
    ]
    for m in ("base", "full", "lora-r64", "lora-r16"):
        found = [(_load(runs / "base" / "eval.json"), None)] if m == "base" else _runs(runs, f"{m}-n1000")
        found = [f for f in found if f[0] is not None]
        if not found:
            continue
        cells = []
        for s in ("1", "2", "3", "4", "5"):
            k = sum(ev["metrics"]["by_steps"].get(s, {}).get("k", 0) for ev, _ in found)
            n = sum(ev["metrics"]["by_steps"].get(s, {}).get("n", 0) for ev, _ in found)
            cells.append(f"{k / n:.0%} ({k}/{n})" if n else "-")
        lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    lines.append("<!-- results:by-steps:end -->")
    return "\n".join(lines) + "\n"


def epoch_section(runs: Path) -> str:
    """BENCHMARKS.md: seconds per epoch of 1000 examples and predicted vs measured peaks."""
    from octo_mlx.train.recipe import load_recipe
    from octo_mlx.train.setup import plan_recipe

    lines = [
        "<!-- bench-epoch:default-model:start -->",
        "### One epoch of 1000 planning examples on the default model: time and peak memory",
        "",
        "From the Table 1 runs of [RESULTS.md](RESULTS.md) (`experiments/paper_tables.py main`; each",
        "run's command is there): 1000 offline android examples, batch 4, 250 steps, length buckets.",
        "Two runs side by side on the 2 cores with one BLAS thread each, so one run alone with two",
        "threads is faster than these per-run figures. Seconds count the optimizer steps (compilation",
        "included), not validation or checkpoint writes. Predicted = `octo-mlx train --plan-memory`",
        "on the run's saved recipe, before anything loads.",
        "",
        "| method | runs | s / epoch (median) | useful tok/s (median) | MLX peak: predicted / measured GB "
        "| process peak: predicted / max RSS GB |",
        "|---|---|---|---|---|---|",
    ]
    for m, label in (("full", "full fine-tuning"), ("lora-r64", "LoRA r64 / alpha 256")):
        dirs = [d for d in sorted(runs.glob(f"{m}-n1000-s*")) if (d / "train.json").is_file()]
        if not dirs:
            continue
        trains = [_load(d / "train.json") for d in dirs]
        plan = plan_recipe(load_recipe(dirs[0] / "recipe.yaml")).plan
        secs = statistics.median(t["seconds_per_epoch"] for t in trains)
        tps = statistics.median(t["useful_tokens_per_s"] for t in trains)
        mlx = max(t["peak_memory_gb"] for t in trains)
        rss = max(t["peak_rss_gb"] for t in trains)
        predicted_mlx = (plan.total - plan.overhead) / 1e9
        lines.append(
            f"| {label} | {len(trains)} | {secs:.0f} | {tps:.1f} | {predicted_mlx:.2f} / {mlx:.2f} "
            f"| {plan.total / 1e9:.2f} / {rss:.2f} |"
        )
    lines.append("<!-- bench-epoch:default-model:end -->")
    return "\n".join(lines) + "\n"


def _seed_point(ax, x: float, a: dict, **style) -> None:
    """One seed's accuracy with its Wilson interval."""
    yerr = [[a["p"] - a["low"]], [a["high"] - a["p"]]]
    ax.errorbar(x, a["p"], yerr=yerr, fmt="o", color="#4C72B0", capsize=3, **style)


def _save(fig, ax, title: str, path: Path) -> Path:
    """The axis settings both tables share, then the PNG."""
    import matplotlib.pyplot as plt

    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("plan accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot(t1: dict, t4: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    names = [m for m in ("base", "full", "lora-r64", "lora-r16") if t1.get(m) and t1[m]["n"]]
    for i, m in enumerate(names):
        for j, a in enumerate(t1[m]["seeds"]):
            _seed_point(
                ax, i + 0.12 * (j - 0.5), a, label="ours (per seed, Wilson 95%)" if i + j == 0 else None
            )
        if m in PAPER_T1:
            label = "paper (Phi-3 Mini)" if m == "full" else None
            ax.plot(i, PAPER_T1[m] / 100, "x", color="#C44E52", markersize=9, label=label)
    ax.set_xticks(range(len(names)), [LABELS[m].replace(" / ", "/\n") for m in names], fontsize=8)
    paths = [_save(fig, ax, "Table 1: full fine-tuning vs LoRA, SmolLM2-135M", out / "table1.png")]

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    sizes = [n for n in (100, 250, 500, 1000) if t4.get(n) and t4[n]["n"]]
    for n in sizes:
        for a in t4[n]["seeds"]:
            _seed_point(ax, n, a, alpha=0.8)
    mean = [t4[n]["p"] for n in sizes]
    ax.plot(sizes, mean, "-", color="#4C72B0", label="ours (mean of seeds; each seed with Wilson 95%)")
    paper = [v / 100 for v in PAPER_T4.values()]
    ax.plot(list(PAPER_T4), paper, "x--", color="#C44E52", label="paper (Phi-3 Mini)")
    ax.set_xscale("log")
    ax.set_xticks([100, 250, 500, 1000], ["100", "250", "500", "1000"])
    ax.set_xlabel("training points")
    paths.append(_save(fig, ax, "Table 4: full fine-tuning by data size, SmolLM2-135M", out / "table4.png"))
    return paths


def write_report(root: Path, runs: Path, chosen: dict[str, str]) -> None:
    runs = root / runs
    results = root / "RESULTS.md"
    write_section(results, sweep_section(runs, chosen), title="# Results\n")
    t1_text, t1 = table1_section(runs)
    write_section(results, t1_text)
    t4_text, t4 = table4_section(runs)
    write_section(results, t4_text)
    write_section(results, by_steps_section(runs))
    write_section(root / "BENCHMARKS.md", epoch_section(runs))
    for p in plot(t1, t4, root / "docs" / "results"):
        print(p)
