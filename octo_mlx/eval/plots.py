"""PNG plots of an evaluation: accuracy by step count and by domain, with Wilson 95% intervals.

Headless (matplotlib's Agg backend): works on servers and in CI without a display.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PLOT_FILES = ("accuracy_by_steps.png", "accuracy_by_domain.png")  # what plot_report may write


def _bar_with_intervals(rates: Mapping[str, object], title: str, xlabel: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rates)
    p = [rates[k].p for k in labels]
    lower = [rates[k].p - rates[k].low for k in labels]
    upper = [rates[k].high - rates[k].p for k in labels]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) + 2), 3.6), dpi=120)
    ax.bar(range(len(labels)), p, color="#4C72B0", yerr=[lower, upper], capsize=4, ecolor="#333333")
    for i, k in enumerate(labels):
        ax.text(i, min(rates[k].high + 0.03, 1.02), f"n={rates[k].n}", ha="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy (Wilson 95%)")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_report(metrics, out_dir: str | Path, title: str = "") -> list[Path]:
    """Write ``accuracy_by_steps.png`` and ``accuracy_by_domain.png`` for an evaluation.

    Args:
        metrics: an :class:`octo_mlx.eval.run.Metrics`.
        out_dir: folder for the PNG files (created).
        title: a prefix for the plot titles (e.g. the model name).
    """
    out = Path(out_dir)
    prefix = f"{title}: " if title else ""
    paths = []
    if metrics.by_steps:
        paths.append(
            _bar_with_intervals(
                {str(k): v for k, v in metrics.by_steps.items()},
                f"{prefix}accuracy by plan length",
                "gold steps",
                out / PLOT_FILES[0],
            )
        )
    if metrics.by_domain:
        paths.append(
            _bar_with_intervals(
                dict(metrics.by_domain),
                f"{prefix}accuracy by domain",
                "domain",
                out / PLOT_FILES[1],
            )
        )
    return paths
