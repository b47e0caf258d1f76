"""Rates: the Wilson interval's promises, the one text form, and Cohen's kappa."""

from __future__ import annotations

import random

import pytest

from octo_mlx.stats import Rate, cohen_kappa, format_rate, wilson_interval

# --- Wilson interval ----------------------------------------------------------------------------


def test_wilson_interval_invariants():
    for n in (1, 5, 20, 100, 1000):
        for k in range(0, n + 1, max(1, n // 10)):
            lo, hi = wilson_interval(k, n)
            assert 0 <= lo <= k / n <= hi <= 1
            mirrored = wilson_interval(n - k, n)  # successes and failures swap
            assert lo == pytest.approx(1 - mirrored[1]) and hi == pytest.approx(1 - mirrored[0])
    widths = [wilson_interval(n // 2, n) for n in (10, 40, 160, 640)]
    assert all(b[1] - b[0] < a[1] - a[0] for a, b in zip(widths, widths[1:]))  # narrows with n
    for n in (3, 30, 300):
        assert wilson_interval(0, n)[0] == 0 and 0 < wilson_interval(0, n)[1] < 1  # [0, x] at p = 0
        assert wilson_interval(n, n)[1] == 1 and 0 < wilson_interval(n, n)[0] < 1
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # 95% coverage (the interval's promise), checked by simulation at p = 0.85, n = 50
    rng = random.Random(0)
    hits = 0
    for _ in range(2000):
        k = sum(rng.random() < 0.85 for _ in range(50))
        lo, hi = wilson_interval(k, 50)
        hits += lo <= 0.85 <= hi
    assert 0.92 <= hits / 2000 <= 0.98


def test_rate_of_zero_examples():
    assert Rate.of(0, 0) == Rate(0, 0, 0.0, 0.0, 1.0)


def test_format_rate_is_the_one_text_form():
    lo, hi = wilson_interval(26, 50)
    assert format_rate(26, 50) == f"26/50 = 52.0% [{lo:.1%}, {hi:.1%}]"
    r = Rate.of(26, 50)
    assert format_rate(r.k, r.n, r.low, r.high, sep="  ") == f"26/50 = 52.0%  [{lo:.1%}, {hi:.1%}]"
    assert format_rate(0, 0) == "-"
    assert format_rate(3, 4, 0.1, 0.9) == "3/4 = 75.0% [10.0%, 90.0%]"  # given bounds are kept


# --- kappa --------------------------------------------------------------------------------------


def _kappa_from_table(a, b):
    # 2x2 table form: kappa = 2(n11*n00 - n10*n01) / ((n11+n10)(n10+n00) + (n11+n01)(n01+n00))
    n11 = sum(x and y for x, y in zip(a, b))
    n00 = sum(not x and not y for x, y in zip(a, b))
    n10 = sum(x and not y for x, y in zip(a, b))
    n01 = sum(not x and y for x, y in zip(a, b))
    return 2 * (n11 * n00 - n10 * n01) / ((n11 + n10) * (n10 + n00) + (n11 + n01) * (n01 + n00))


def test_kappa_matches_the_2x2_table_formula_and_its_invariants():
    import random

    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(2, 40)
        a = [rng.random() < 0.6 for _ in range(n)]
        b = [x if rng.random() < 0.7 else not x for x in a]
        if len(set(a)) == 1 and len(set(b)) == 1:
            continue
        k = cohen_kappa(a, b)
        assert k == pytest.approx(_kappa_from_table(a, b))
        assert k == pytest.approx(cohen_kappa(b, a))  # symmetric
        assert -1 <= k <= 1
    a = [True, False] * 5
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(a, [not x for x in a]) == -1.0
    assert cohen_kappa([True] * 4, [True] * 4) is None and cohen_kappa([], []) is None
