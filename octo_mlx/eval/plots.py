"""PNG plots of an evaluation: a planner's accuracy by step count and by domain, an action model's
function and full-call accuracy by function and by domain, with Wilson 95% intervals.

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


# --- the action model ---------------------------------------------------------------------------

ACTION_PLOT_FILES = ("action_accuracy_by_function.png", "action_accuracy_by_domain.png")
_SERIES_COLORS = ("#4C72B0", "#DD8452", "#55A868")


def _grouped_bars(groups: Mapping[str, Mapping[str, object]], title: str, ylabel: str, path: Path) -> Path:
    """Horizontal bars, one group per row label (a function, a domain), one bar per series
    (function accuracy, full-call accuracy) with its Wilson 95% interval and n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(groups)
    series = list(next(iter(groups.values()))) if groups else []
    height = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(
        figsize=(7.5, max(2.8, 0.45 * len(labels) * max(len(series), 1) / 2 + 1.8)), dpi=120
    )
    for j, name in enumerate(series):
        rates = [groups[k][name] for k in labels]
        ys = [i + (j - (len(series) - 1) / 2) * height for i in range(len(labels))]
        ax.barh(
            ys,
            [r.p for r in rates],
            height=height,
            color=_SERIES_COLORS[j % len(_SERIES_COLORS)],
            xerr=[[r.p - r.low for r in rates], [r.high - r.p for r in rates]],
            capsize=2,
            ecolor="#333333",
            label=name,
        )
    for i, k in enumerate(labels):
        n = next(iter(groups[k].values())).n
        ax.text(1.02, i, f"n={n}", va="center", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("accuracy (Wilson 95%)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if series:  # under the plot, in a strip of its own
        fig.legend(loc="lower center", ncol=len(series), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_action_report(metrics, out_dir: str | Path, title: str = "") -> list[Path]:
    """Write ``action_accuracy_by_function.png`` and ``action_accuracy_by_domain.png``: function
    and full-call accuracy of the constrained decode, per gold function and per domain.

    Args:
        metrics: an :class:`octo_mlx.eval.action.ActionMetrics`.
        out_dir: folder for the PNG files (created).
        title: a prefix for the plot titles (e.g. the adapter's name).
    """
    out = Path(out_dir)
    prefix = f"{title}: " if title else ""
    side = metrics.constrained
    paths = []
    for groups, what, name in (
        (side.by_function, "gold function", ACTION_PLOT_FILES[0]),
        (side.by_domain, "domain", ACTION_PLOT_FILES[1]),
    ):
        if groups:
            bars = {
                k: {"function": s.function_accuracy, "full call": s.call_accuracy} for k, s in groups.items()
            }
            paths.append(_grouped_bars(bars, f"{prefix}action accuracy by {what}", what, out / name))
    return paths
