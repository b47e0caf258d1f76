"""Deterministic checks of a teacher's (query, plan) before the judge is paid to look at it.

Cheap and exact: gold functions exist in the domains offered, the plan has the requested step
count, the query is a plausible length and not a duplicate of an earlier one. Duplicates are
either exact after normalisation (case, punctuation, spacing) or near: word-set Jaccard
similarity >= 0.9 (for a 10-word query that allows no changed word; for 20 words, one or two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from octo_mlx.data import MAX_STEPS, NO_FUNCTION, PLAN_SPLIT, normalize_text

QUERY_MIN_CHARS = 10  # shorter is not a request ("hi", "ok thanks")
QUERY_MAX_CHARS = 400  # ~100 tokens: a phone request, and it keeps training sequences short
STEP_MAX_CHARS = 200  # a step is one sentence for one function call
NEAR_DUPLICATE_JACCARD = 0.9


@dataclass(frozen=True)
class Rejection:
    """Why a candidate was dropped: ``category`` groups the run summary, ``reason`` says more."""

    stage: str  # query | plan | check | call | judge
    category: str
    reason: str


def check_candidate(
    query: str,
    steps: Sequence[str],
    functions: Sequence[str],
    n_steps: int,
    offered: Mapping[str, set[str]] | None,
) -> Rejection | None:
    """The first deterministic problem of a candidate, or None.

    Args:
        query: the user query.
        steps, functions: the plan and the gold function per step.
        n_steps: the step count the task asked for.
        offered: domain -> function names shown to the teacher (None: irrelevant query, no plan).
    """
    if not QUERY_MIN_CHARS <= len(query) <= QUERY_MAX_CHARS:
        return Rejection(
            "check",
            "query length",
            f"query has {len(query)} chars (allowed {QUERY_MIN_CHARS}..{QUERY_MAX_CHARS})",
        )
    if offered is None:
        return None
    if len(steps) != n_steps:
        return Rejection("check", "step count", f"plan has {len(steps)} steps, {n_steps} were asked for")
    if not 1 <= len(steps) <= MAX_STEPS:
        return Rejection("check", "step count", f"plan has {len(steps)} steps (1..{MAX_STEPS})")
    names = set().union(*offered.values()) if offered else set()
    unknown = [f for f in functions if f not in names or f == NO_FUNCTION]
    if unknown:
        return Rejection("check", "unknown function", f"unknown function(s) {unknown}")
    for i, s in enumerate(steps, 1):
        if not s or PLAN_SPLIT in s or len(s) > STEP_MAX_CHARS:
            return Rejection("check", "bad step", f"step {i} is empty, too long or contains {PLAN_SPLIT}")
    return None


def _words(text: str) -> frozenset[str]:
    return frozenset(normalize_text(text).split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class Deduper:
    """Remembers accepted queries; finds exact and near duplicates of a new one."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_JACCARD):
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.sets: list[tuple[frozenset[str], str]] = []

    def find(self, query: str) -> Rejection | None:
        """A duplicate rejection when ``query`` repeats a remembered one, else None."""
        key = normalize_text(query)
        if key in self.exact:
            return Rejection("check", "duplicate", f"same query as {self.exact[key]}")
        words = _words(query)
        for other, label in self.sets:  # O(n): 1000 queries x 1000 sets is ~1e6 set ops, < 1 s
            j = jaccard(words, other)
            if j >= self.threshold:
                return Rejection("check", "near-duplicate", f"word-set Jaccard {j:.2f} with {label}")
        return None

    def add(self, query: str, label: str) -> None:
        self.exact.setdefault(normalize_text(query), label)
        self.sets.append((_words(query), label))
