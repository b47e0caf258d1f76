"""The multi-domain table (the paper's Table 2) from the reports experiments/multi_domain.py left:
markdown between markers in RESULTS.md, the numbers in docs/results/multi-domain.json, a plot."""

from __future__ import annotations

import json
from pathlib import Path

from multi_domain import DOMAINS, METHODS, MIXED, PAPER, SEED, combined

START, END = "<!-- results:multi-domain:start -->", "<!-- results:multi-domain:end -->"


def _acc(path: Path) -> dict | None:
    if not path.is_file():
        return None
    a = json.loads(path.read_text())["metrics"]["accuracy"]
    return {"k": a["k"], "n": a["n"], "p": a["p"], "low": a["low"], "high": a["high"], "report": str(path)}


def _cell(a: dict | None) -> str:
    if a is None:
        return "not run"
    return f"{100 * a['p']:.1f}% [{100 * a['low']:.1f}, {100 * a['high']:.1f}] ({a['k']}/{a['n']})"


def collect(runs: Path) -> dict:
    singles = {d: _acc(runs / f"{d}-r16-s{SEED}" / "eval.json") for d in DOMAINS}
    table = {m: {k: _acc(combined(k, m) / "eval.json") for k in (2, 3, 4)} for m in METHODS}
    tuned = {}
    for search in ("cma", "learned"):
        folder = runs / "combined" / f"k4-tuned-{search}"
        tune = json.loads((folder / "tune.json").read_text()) if (folder / "tune.json").is_file() else None
        tuned[search] = {
            "test": _acc(folder / "eval.json"),
            "weights": tune["best"]["weights"] if tune else None,
            "per_layer": bool(tune and tune["best"].get("module_weights")),
            "validation": [
                (c["weights"], c["correct"], c["total"], bool(c.get("module_weights")))
                for c in tune["candidates"]
            ]
            if tune
            else None,
            "minutes": tune["seconds"] / 60 if tune else None,
        }
    union = _acc(runs / f"union-r16-s{SEED}" / "eval-k4.json")
    rows_mean = _acc(combined(4, "linear-sum-rows-mean") / "eval.json")
    done = [a["p"] for a in singles.values() if a]
    mean_single = sum(done) / len(done) if len(done) == len(DOMAINS) else None
    k4 = {m: table[m][4] for m in METHODS} | {f"tuned-{s}": tuned[s]["test"] for s in tuned}
    k4["linear-sum-rows-mean"] = rows_mean
    best = max(((m, a) for m, a in k4.items() if a), key=lambda x: x[1]["p"], default=(None, None))
    return {
        "singles": singles,
        "combined": table,
        "tuned": tuned,
        "union": union,
        "sum_rows_mean_k4": rows_mean,
        "mean_single": mean_single,
        "best_k4": {"method": best[0], "accuracy": best[1]},
        "retention": best[1]["p"] / mean_single if best[1] and mean_single else None,
        "paper": PAPER,
        "splits": {k: str(v / "test.jsonl") for k, v in MIXED.items()},
    }


def markdown(r: dict) -> str:
    lines = [
        START,
        "",
        "| adapter | its own domain's test split | paper (Phi-3 Mini, r64) |",
        "|---|---|---|",
    ]
    for d, a in r["singles"].items():
        lines.append(f"| {d} LoRA r16 | {_cell(a)} | {PAPER[1] if d == 'android' else ''} |")
    lines.append(
        f"| **mean of the four** | **{100 * r['mean_single']:.1f}%** | 85.1 |" if r["mean_single"] else ""
    )
    lines += [
        "",
        "| combination (weights) | 2 domains (`mixed-k2-v1`) | 3 domains (`mixed-k3-v1`) "
        "| 4 domains (`mixed-v1`) |",
        "|---|---|---|---|",
    ]
    names = {
        "linear-mean": "linear, exact weighted sum (1/k each)",
        "linear-sum": "linear, exact sum (1 each)",
        "ties": "TIES, density 0.5 (1 each)",
        "dare_ties": "DARE-TIES, density 0.5 (1 each)",
        "knots": "KnOTS-TIES, density 0.5 (1 each)",
    }
    for m, row in r["combined"].items():
        lines.append(f"| {names[m]} | {_cell(row[2])} | {_cell(row[3])} | {_cell(row[4])} |")
    lines.append(
        "| linear: block layers summed (1 each), `<nexa_split>` rows averaged | | | "
        f"{_cell(r['sum_rows_mean_k4'])} |"
    )
    for s, t in r["tuned"].items():
        what = "CMA-ES, 10 mixes" if s == "cma" else "learned per-layer weights (LoRA Soups), 2 epochs"
        w = "" if t["weights"] is None else (" per layer" if t["per_layer"] else f" {t['weights']}")
        lines.append(f"| tuned on `mixed-v1/valid.jsonl`: {what};{w} | | | {_cell(t['test'])} |")
    lines.append(
        "| one LoRA r16 on the union of the four domains' data (1000 requests, 250 per domain, 1 epoch) "
        f"| | | {_cell(r['union'])} |"
    )
    lines.append(
        f"| paper (Phi-3 Mini, r64, merge method not stated) | {PAPER[2]} | {PAPER[3]} | {PAPER[4]} |"
    )
    lines += ["", END]
    return "\n".join(lines)


def plot(r: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m, row in r["combined"].items():
        pts = [(1, r["singles"]["android"])] + [(k, row[k]) for k in (2, 3, 4)]
        pts = [(k, a) for k, a in pts if a]
        ax.errorbar(
            [k for k, _ in pts],
            [100 * a["p"] for _, a in pts],
            yerr=[[100 * (a["p"] - a["low"]) for _, a in pts], [100 * (a["high"] - a["p"]) for _, a in pts]],
            marker="o",
            capsize=3,
            label=m,
        )
    ax.plot(list(PAPER), list(PAPER.values()), "k--", marker="s", label="paper (Phi-3 Mini r64)")
    ax.set_xticks([1, 2, 3, 4])
    ax.set_xlabel("domains merged (k = 1: the android LoRA alone)")
    ax.set_ylabel("plans right (%), Wilson 95%")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def write_report(root: Path, runs: Path) -> None:
    r = collect(runs)
    out = root / "docs" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "multi-domain.json").write_text(json.dumps(r, indent=2) + "\n")
    plot(r, out / "multi-domain.png")
    results = root / "RESULTS.md"
    text = results.read_text()
    block = markdown(r)
    if START in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = (
            text.rstrip("\n")
            + "\n\n## Multi-domain adapters: the paper's Table 2 (issue #13)\n\n"
            + block
            + "\n"
        )
    results.write_text(text)
