"""The domain router: which domain adapters a request needs, when per-domain planners are resident.

How it decides: a request is cut into clauses at the joins people use between tasks (", then",
"and then", "also", sentence ends, "; "...); each clause goes to the step resolver
(:class:`octo_mlx.resolver.StepResolver`: TF-IDF over words and in-word character n-grams,
softmax regression) fitted on *request-side* text, the clauses of the training split's requests
labelled with the domain of the step they ask for (a clause of a one-step request is the request
itself; a longer request's clauses are labelled when it splits into as many clauses as it has
steps). A clause the resolver cannot place (no word in common with any domain's vocabulary)
routes to nothing by itself; the domains of the request are the union of its clauses'. A request
no clause places routes to every domain (an unsure router must not drop the adapter a request
needs: the planner then sees all of them, as a combined adapter would).

Scored by :func:`score_router` on a (mixed-domain) test split: the exact domain set, recall (the
domains a request needs are all among those routed: what decides whether the planner can plan
it) and the mean number of domains routed (what decides the cost).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from octo_mlx.resolver import UNRESOLVED, StepResolver
from octo_mlx.stats import Rate

_JOINS = re.compile(
    r"(?:[.!?;]\s+|\s*,\s*(?:and\s+)?(?:then|also|after that|next|once that's done|plus)\b|"
    r"\s+(?:and then|then|also|after that|plus)\s+|\s*,\s+)",
    re.IGNORECASE,
)


_LEADING = re.compile(r"^(?:and then|then|also|after that|next|plus|and)\b[\s,]*", re.IGNORECASE)


def clauses(request: str) -> list[str]:
    """The request cut at the joins between tasks, a leading "also"/"then" dropped (empty pieces
    dropped too)."""
    parts = (_LEADING.sub("", c.strip(" ,.;")) for c in _JOINS.split(request) if c)
    return [c for c in parts if c]


@dataclass
class DomainRouter:
    """Routes a request to the domains it needs (see the module doc).

    Args:
        resolver: clause text -> domain name.
        domains: every domain the router knows, in order (the fallback).
    """

    resolver: StepResolver
    domains: tuple[str, ...]
    sure: float = 0.5  # a clause placed with less confidence brings its runner-up domain too

    @classmethod
    def fit(cls, examples: Sequence, domains: Iterable, seed: int = 0) -> DomainRouter:
        """Fit on planner examples (``PlanExample``: query, functions) of the given Domain
        objects; irrelevant requests (function ``none``) teach no domain."""
        owner = {f.name: d.name for d in domains for f in d.functions}
        pairs: list[tuple[str, str]] = []
        for e in examples:
            labels = [owner[f] for f in e.functions if f in owner]
            if len(labels) != len(e.functions) or not labels:
                continue
            parts = clauses(e.query)
            if len(labels) == 1:
                pairs.append((e.query, labels[0]))
            elif len(parts) == len(labels):
                pairs += list(zip(parts, labels))
            if len(set(labels)) == 1:  # a one-domain request is that domain's, whatever its parts
                pairs.append((e.query, labels[0]))
        if not pairs:
            raise ValueError("no request to learn the domains from")
        names = tuple(dict.fromkeys(owner.values()))
        return cls(StepResolver.fit(pairs, (), seed=seed), names)

    def route(self, request: str) -> tuple[str, ...]:
        """The domains ``request`` needs, in the router's order (every domain when unsure)."""
        parts = clauses(request) or [request]
        found: set[str] = set()
        probs = self.resolver.probabilities(parts)
        for r, p in zip(self.resolver.resolve(parts), probs):
            if r.function == UNRESOLVED:
                continue
            found.add(r.function)
            if r.probability < self.sure:  # unsure of a clause: its runner-up domain comes too
                found.add(self.resolver.classes[int(p.argsort()[-2])])
        if not found:
            return self.domains
        return tuple(d for d in self.domains if d in found)


@dataclass(frozen=True)
class RouterScore:
    """How well a router did on a test split (requests no domain serves left out)."""

    exact: Rate  # the routed set is the needed set
    recall: Rate  # every needed domain is routed
    mean_routed: float  # domains routed per request
    mean_needed: float  # domains needed per request
    by_needed: dict[int, Rate]  # exact, by how many domains a request needs


def score_router(router: DomainRouter, examples: Sequence, domains: Iterable) -> RouterScore:
    """Route every test request and compare with the domains its gold functions belong to."""
    owner = {f.name: d.name for d in domains for f in d.functions}
    exact = recall = 0
    routed_total = needed_total = 0
    groups: dict[int, list[bool]] = {}
    n = 0
    for e in examples:
        needed = {owner[f] for f in e.functions if f in owner}
        if not needed:
            continue
        got = set(router.route(e.query))
        n += 1
        exact += got == needed
        recall += needed <= got
        routed_total += len(got)
        needed_total += len(needed)
        groups.setdefault(len(needed), []).append(got == needed)
    if not n:
        raise ValueError("no test request needs a domain")
    return RouterScore(
        Rate.of(exact, n),
        Rate.of(recall, n),
        routed_total / n,
        needed_total / n,
        {k: Rate.of(sum(v), len(v)) for k, v in sorted(groups.items())},
    )
