"""Rates with Wilson 95% intervals, their one text form, and Cohen's kappa.

Every accuracy octo-mlx reports (eval, bench plan, RESULTS.md) is a :class:`Rate` shown by
:func:`format_rate` as ``k/n = p% [low%, high%]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def wilson_interval(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (z=1.96: 95%); (0, 1) when n = 0.

    center = (p + z^2/2n) / (1 + z^2/n), half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
    Unlike p +- z*sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at p = 0 or 1.
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At k = 0 (k = n) the bound is exactly 0 (1); floating point gives 1e-17 off, which would put
    # p = 1 outside its own interval.
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    """k of n, its proportion and Wilson 95% interval."""

    k: int
    n: int
    p: float
    low: float
    high: float

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        low, high = wilson_interval(k, n)
        return cls(k, n, k / n if n else 0.0, low, high)


def format_rate(k: int, n: int, low: float | None = None, high: float | None = None, sep: str = " ") -> str:
    """``k/n = p% [low%, high%]`` (Wilson 95% unless the bounds are given); ``-`` when n = 0.

    Args:
        k, n: successes and trials.
        low, high: the interval, when it is not the Wilson interval of k/n.
        sep: what stands between the rate and the interval (the terminal uses two spaces).
    """
    if n == 0:
        return "-"
    if low is None or high is None:
        low, high = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.1%}{sep}[{low:.1%}, {high:.1%}]"


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' binary labels: (p_o - p_e) / (1 - p_e).

    Returns None when it is undefined (no items, or both raters constant and equal: p_e = 1).
    """
    if len(a) != len(b):
        raise ValueError("raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    p_e = pa * pb + (1 - pa) * (1 - pb)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1 - p_e)
