"""Offline synthesizer: planner datasets from hand-written phrasing, no network, in seconds.

A query is composed step by step: pick the step count (balanced over 1..5), pick distinct
functions (a later step prefers one that can use an earlier result: search -> add to cart),
draw slot values from realistic pools, render each step's clause from one of the function's
paraphrase *families*, and join the clauses with connectives ("and then", "after that", "first
... then ...", sentence breaks). The plan is the matching list of imperative steps in the
paper's style ("Find articles about Jensen Huang in English", "Email the first article found
to myself").

Held-out phrasing: every function has >= 4 families, and one of them (``FunctionPhrases.
holdout``; more with ``holdout=share``) is used ONLY in the test split. Train and valid share
the other families, so the test split measures whether a planner plans phrasings it never saw.
Irrelevant queries (``irrelevant`` share) have their own families, held out the same way. Step
templates too: each function has >= 3, and its third (``spec.HELD_OUT_STEP``; the same for
the dependent ``steps_after``) writes the steps of the action test split only; plans use the
first three (``spec.PLANNER_STEPS``), the action data's train and valid splits any others too.

Gold calls are executed, not guessed: every step records its call (the slot values the step
states, as the function's arguments), and each example draws a seeded simulated world
(``octo_mlx.domains.world.new_state``) in which its calls run in order. A dependent step ("Add
the cheapest product found to the cart") takes its arguments from what the previous call
returned there (phrasebank/gold.py); a draw whose dependent step names nothing (the search found
nothing) is drawn again. Examples carry ``calls`` and ``world`` (seed, digest of the final
state); :meth:`OfflineDataset.action_splits` turns the steps into action-model examples.

Domains without a phrase bank (a user's JSON/YAML file) are phrased from their function specs
alone (phrasebank/generic.py: verb phrases from names, values from schemas, six families); a
bundled domain can be phrased that way too (``generic_phrasing``), to measure it against the
bank. A bundled domain with a function the bank lacks is an error, never a silent fallback.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from octo_mlx.action_data import ActionExample, example_key
from octo_mlx.data import BALANCES, IRRELEVANT_STEP, NO_FUNCTION, SPLITS, PlanExample, normalize_text
from octo_mlx.domains import world
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call, CallProblem, check_call
from octo_mlx.functions.simulator import DeviceState, execute
from octo_mlx.synth.phrasebank import bank, gold
from octo_mlx.synth.phrasebank.generic import generic_phrases
from octo_mlx.synth.phrasebank.irrelevant import IRRELEVANT
from octo_mlx.synth.phrasebank.spec import PLANNER_STEPS, RESULTS, FunctionPhrases, held_out_index

GENERATOR = "offline"
MIN_FAMILIES = 4  # per bundled function: at least 3 for train/valid plus 1 held out for test
DEPENDENT_SHARE = 0.75  # a consumer after a matching producer refers to its result this often
CONSUMER_BIAS = 0.3  # chance the next function is one that can use an earlier step's result
ACTION_CONSUMER_BIAS = 0.9  # the same for action data: more dependent steps (planner data keeps 0.3)
MAX_TRIES_PER_EXAMPLE = 60  # duplicates are redrawn; a bucket that keeps colliding is exhausted
MIN_STEP_TEMPLATES = 3  # per bundled function (and per dependent form): 2+ for train/valid, 1 held out
WORLD_SEEDS = 1_000_000  # each example's simulated world is new_state(seed) for a seed below this

_FormedClause = tuple[str, str]  # (form, text)


@dataclass(frozen=True)
class _Entry:
    domain: str
    phrases: FunctionPhrases


@dataclass(frozen=True)
class StepGold:
    """What the synthesizer knows of one step beyond its text.

    Args:
        template: the step template it was written from ("add_to_cart/after0").
        dependent: it names the previous step's result ("the cheapest product found").
        call: its gold call (an octo_mlx.functions.calls.Call, valid against the schema).
        observation: what the call returned in the example's world (``Observation.to_dict()``).
        held: test split only: (held-out template id, the same step as that template writes it).
    """

    template: str
    dependent: bool
    call: Call
    observation: dict = field(hash=False)
    held: tuple[str, str] | None = None


@dataclass
class OfflineDataset:
    """The splits plus what the JSONL format has no field for.

    Args:
        splits: "train" / "valid" / "test" -> examples (generator "offline").
        families: example id -> the paraphrase family of each step ("send_email/casual").
        holdout: function name -> the families only the test split uses.
        generic: functions phrased by the generic fallback (no hand-written bank).
        gold: example id -> each step's template, dependence, gold call and observation.
        holdout_templates: the step templates only the action data's test split uses (empty:
            none held out); plans never use them.
    """

    splits: dict[str, list[PlanExample]]
    families: dict[str, tuple[str, ...]] = field(default_factory=dict)
    holdout: dict[str, tuple[str, ...]] = field(default_factory=dict)
    generic: tuple[str, ...] = ()
    gold: dict[str, tuple[StepGold, ...]] = field(default_factory=dict)
    holdout_templates: tuple[str, ...] = ()

    def manifest(self) -> dict:
        """Extra fields for dataset.json: which families the test split holds out."""
        return {
            "offline": {
                "holdout_families": {k: list(v) for k, v in sorted(self.holdout.items())},
                "generic_phrasing": list(self.generic),
            }
        }

    def actions_of(self, example: PlanExample, test: bool = False) -> list[ActionExample]:
        """One action example per step: the step, the previous step's observation (every step
        after the first, as the agent asks: octo_mlx.agent.loop hands each step the observation
        before it, whether or not the step uses it, so the model must learn to ignore one that
        does not matter), the gold call. An irrelevant request becomes one example whose step is
        the request itself and whose call is ``none`` (the action model's "no function" class),
        its template the request's phrasing family. ``test``: each step as its function's
        held-out template writes it (the same values and call), where held out."""
        if example.irrelevant:
            family = self.families[example.id][0]
            call = Call(NO_FUNCTION)
            return [
                ActionExample(
                    f"{example.id}-s0", example.query, None, call, example.domains, family, False, GENERATOR
                )
            ]
        out = []
        steps = self.gold[example.id]
        for k, (text, g) in enumerate(zip(example.steps, steps)):
            observation = steps[k - 1].observation if k > 0 else None
            template, text = g.held if test and g.held else (g.template, text)
            out.append(
                ActionExample(
                    f"{example.id}-s{k}",
                    text,
                    observation,
                    g.call,
                    example.domains,
                    template,
                    g.dependent,
                    GENERATOR,
                )
            )
        return out

    def action_splits(self) -> dict[str, list[ActionExample]]:
        """The steps of each split as action examples (:meth:`actions_of`; test: as the held-out
        step templates write them); a step already given (same normalised text and observation:
        "View the shopping cart" recurs) is kept once, in the first split it appears in (train,
        then valid, then test: :func:`first_of_each_step`)."""
        return first_of_each_step(
            {s: [a for e in self.splits[s] for a in self.actions_of(e, test=s == "test")] for s in SPLITS}
        )


def first_of_each_step(splits: Mapping[str, Sequence[ActionExample]]) -> dict[str, list[ActionExample]]:
    """Each split's action examples, a step already given (same ``example_key``: normalised text
    and observation) kept once, in the first split it appears in (train, then valid, then test)."""
    seen: set[str] = set()
    out: dict[str, list[ActionExample]] = {}
    for split in SPLITS:
        out[split] = []
        for action in splits.get(split, ()):
            key = example_key(action)
            if key not in seen:
                seen.add(key)
                out[split].append(action)
    return out


def generate_offline(
    domains: Sequence,
    n: int,
    seed: int = 0,
    steps: Sequence[int] | Mapping[int, float] = (1, 2, 3, 4, 5),
    irrelevant: float = 0.0,
    multi_domain: bool = False,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    holdout: float | None = None,
) -> dict[str, list[PlanExample]]:
    """Make a planner dataset without any model: {"train", "valid", "test"} -> examples.

    Args:
        domains: Domain objects (octo_mlx.functions); bundled ones use their phrase banks.
        n: total examples over the three splits.
        seed: everything (functions, values, phrasing, splits) is a function of it.
        steps: step counts to use, equally weighted (``(1, 2, 3, 4, 5)``), or count -> weight.
        irrelevant: share of one-step queries no function can serve (plan: IRRELEVANT_STEP).
        multi_domain: each step draws its domain uniformly from ``domains`` (the paper's
            multi-LoRA benchmark); otherwise each example stays in one domain, domains rotating.
        fractions: train/valid/test shares (largest remainder, every split stratified by step count).
        holdout: share of each function's families kept for the test split; None = the bank's
            one designated family (1 of 5); 0 = no held-out phrasing.

    Raises:
        OctoError: bad arguments, a bundled function without phrases, a domain too small for
            the requested step counts, or too few distinct queries for ``n``.
    """
    return synthesize_offline(domains, n, seed, steps, irrelevant, multi_domain, fractions, holdout).splits


def synthesize_offline(
    domains: Sequence,
    n: int,
    seed: int = 0,
    steps: Sequence[int] | Mapping[int, float] = (1, 2, 3, 4, 5),
    irrelevant: float = 0.0,
    multi_domain: bool = False,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    holdout: float | None = None,
    consumer_bias: float = CONSUMER_BIAS,
    wordings: bool = False,
    generic_phrasing: bool = False,
    balance: str = "domain",
) -> OfflineDataset:
    """Same as :func:`generate_offline`, returning the family bookkeeping too (see OfflineDataset);
    ``consumer_bias``: how often a step after one with a result is a function that can use it;
    ``wordings``: write steps with the action data's extra step templates too (not a planner's);
    ``generic_phrasing``: phrase every domain from its specs alone, banks unused;
    ``balance``: "domain" (examples rotate over the domains) or "function" (domains weighted by
    their function count, so that each function gets about the same share: :func:`_rotation`)."""
    weights = _step_weights(steps)
    if n < 1:
        raise OctoError(f"n must be >= 1, got {n}")
    if not 0 <= consumer_bias <= 1:
        raise OctoError(f"consumer_bias is a share in [0, 1], got {consumer_bias}")
    if not 0 <= irrelevant < 1:
        raise OctoError(f"irrelevant is a share in [0, 1), got {irrelevant}")
    if holdout is not None and not 0 <= holdout < 1:
        raise OctoError(f"holdout is a share in [0, 1), got {holdout}")
    if not domains:
        raise OctoError("no domains given")
    if balance not in BALANCES:
        raise OctoError(f"balance is one of {', '.join(BALANCES)}, got {balance!r}")
    if multi_domain and len(domains) < 2:
        raise OctoError("multi_domain needs at least two domains")
    entries, generic = resolve_phrases(domains, generic_phrasing)
    _check_sizes(entries, weights, multi_domain)
    held = {e.phrases.name: holdout_families(e.phrases, holdout) for es in entries.values() for e in es}
    held[NO_FUNCTION] = holdout_families(IRRELEVANT, holdout)
    hold_steps = holdout != 0  # --holdout 0: no held-out phrasing at all, families nor step templates
    functions = {f.name: f for d in domains for f in d.functions}
    held_templates = sorted(
        {t for es in entries.values() for e in es for t in held_out_templates(e.phrases)}
        | ({f"{NO_FUNCTION}/{x}" for x in held[NO_FUNCTION]} if irrelevant > 0 else set())
    )

    sizes = _largest_remainder(n, fractions)
    seen: set[str] = set()
    out = OfflineDataset(
        {s: [] for s in SPLITS},
        holdout=held,
        generic=tuple(generic),
        holdout_templates=tuple(held_templates) if hold_steps else (),
    )
    domain_names = tuple(entries)
    homes = _rotation(entries, balance)
    for split, size in zip(SPLITS, sizes):
        r = random.Random(f"offline:{seed}:{split}")
        n_irr = round(size * irrelevant)
        per_count = dict(zip(weights, _largest_remainder(size - n_irr, list(weights.values()))))
        made = [
            _unique(r, seen, split, lambda: _irrelevant(r, split, held, domain_names)) for _ in range(n_irr)
        ]
        plan = _Plan(r, split, held, hold_steps, entries, functions, multi_domain, consumer_bias, wordings)
        for count, k in per_count.items():
            for i in range(k):  # without multi_domain, examples rotate over the domains
                home = homes[i % len(homes)]
                made.append(_unique(r, seen, split, lambda c=count, h=home: plan.compose(c, h)))
        r.shuffle(made)
        for example, fams, steps in made:
            out.splits[split].append(example)
            out.families[example.id] = fams
            if steps is not None:
                out.gold[example.id] = steps
    return out


def _rotation(entries: Mapping[str, Sequence], balance: str) -> tuple[str, ...]:
    """The order in which examples take their home domain: each domain once ("domain"), or each
    as often as it has functions, spread evenly (smooth weighted round-robin: android, with 20 of
    the bundled 47 functions, is every second or third home), for "function"."""
    names = tuple(entries)
    if balance == "domain":
        return names
    weight = {d: len(entries[d]) for d in names}
    total, credit, out = sum(weight.values()), dict.fromkeys(names, 0), []
    for _ in range(total):
        for d in names:
            credit[d] += weight[d]
        pick = max(names, key=lambda d: credit[d])
        credit[pick] -= total
        out.append(pick)
    return tuple(out)


def synthesize_actions(
    domains: Sequence, n: int, seed: int = 0, **options: Any
) -> tuple[dict[str, list[ActionExample]], OfflineDataset]:
    """An action-model dataset of ``n`` examples, from the steps of offline plans.

    Plans are made as by :func:`synthesize_offline` (``options``: its steps, irrelevant,
    multi_domain, fractions, holdout) and their steps become action examples
    (:meth:`OfflineDataset.action_splits`: a step given twice is kept once; the test split's
    steps as the held-out step templates write them). Each split is cut to its share of ``n``
    (``fractions``); when one falls short, more plans are made. Plans lean to steps that use the
    previous step's result (``consumer_bias`` default ACTION_CONSUMER_BIAS), so that dependent
    steps are not rare, and the train and valid steps are written with every step template but the
    held-out one (``wordings`` default True: the planner's and the extra wordings).

    Returns:
        (split -> action examples, the plans they came from).

    Raises:
        OctoError: as synthesize_offline, or the phrase space holds fewer distinct steps than asked.
    """
    if n < 1:
        raise OctoError(f"n must be >= 1, got {n}")
    options.setdefault("consumer_bias", ACTION_CONSUMER_BIAS)
    options.setdefault("wordings", True)
    options.setdefault("balance", "function")  # one slot per function: each function about as often
    sizes = dict(zip(SPLITS, _largest_remainder(n, options.get("fractions", (0.8, 0.1, 0.1)))))
    weights = _step_weights(options.get("steps", (1, 2, 3, 4, 5)))
    mean_steps = sum(k * w for k, w in weights.items()) / sum(weights.values())
    plans = max(10, math.ceil(n / mean_steps * 1.5))  # a step given twice is kept once
    for _ in range(8):
        ds = synthesize_offline(domains, plans, seed, **options)
        got = ds.action_splits()
        short = max(sizes[s] / max(len(got[s]), 1) for s in SPLITS)
        if short <= 1:
            return {s: got[s][: sizes[s]] for s in SPLITS}, ds
        plans = math.ceil(plans * short * 1.2)
    raise OctoError(
        f"could not make {n} distinct action examples (last try: {plans} plans gave "
        f"{', '.join(f'{s} {len(got[s])}' for s in SPLITS)}): lower n or add functions or values"
    )


# --- phrase resolution ------------------------------------------------------------------------


def resolve_phrases(domains: Sequence, generic: bool = False) -> tuple[dict[str, list[_Entry]], list[str]]:
    """Domain name -> its functions' phrase entries; plus the names that use generic phrasing
    (every function of a domain without a bank, and with ``generic`` every function).

    Raises:
        OctoError: a bundled domain's function has no bank entry (or the bank names a function
            the domain lacks, or has fewer than MIN_FAMILIES families).
    """
    out: dict[str, list[_Entry]] = {}
    generic_names: list[str] = []
    for d in domains:
        entries = None if generic else bank(d.name)
        if entries is not None:
            check_bank(d, entries)
            out[d.name] = [_Entry(d.name, entries[f.name]) for f in d.functions]
        else:
            out[d.name] = [_Entry(d.name, generic_phrases(f)) for f in d.functions]
            generic_names.extend(f.name for f in d.functions)
    return out, generic_names


def check_bank(domain, entries: Mapping[str, FunctionPhrases]) -> None:
    """Every function of a bundled domain has a complete entry, and the bank names no stranger."""
    where = f"octo_mlx/synth/phrasebank/{domain.name}.py"
    missing = [f.name for f in domain.functions if f.name not in entries]
    if missing:
        raise OctoError(f"bundled domain {domain.name!r}: no phrase families for {', '.join(missing)}", where)
    extra = sorted(set(entries) - set(domain.names))
    if extra:
        raise OctoError(
            f"phrases for unknown function(s) {', '.join(extra)} of domain {domain.name!r}", where
        )
    for p in entries.values():
        names = [f.name for f in p.families]
        if len(set(names)) < MIN_FAMILIES or len(set(names)) != len(names):
            raise OctoError(f"{p.name}: needs >= {MIN_FAMILIES} distinct families, has {names}", where)
        if p.holdout not in names:
            raise OctoError(f"{p.name}: holdout family {p.holdout!r} is not one of {names}", where)
        if p.produces is not None and p.produces not in RESULTS:
            raise OctoError(f"{p.name}: produces unknown result kind {p.produces!r}", where)
        for kind, templates in (("steps", p.steps), ("steps_after", p.steps_after)):
            if templates and len(templates) < MIN_STEP_TEMPLATES:
                raise OctoError(
                    f"{p.name}: needs >= {MIN_STEP_TEMPLATES} {kind} templates, has {len(templates)}", where
                )
        if p.steps_after and p.fill is None:
            raise OctoError(
                f"{p.name}: dependent steps (steps_after) need a fill (phrasebank/gold.py)", where
            )


def holdout_families(p: FunctionPhrases, share: float | None = None) -> tuple[str, ...]:
    """The families of ``p`` only the test split uses: its designated one, then (for a larger
    ``share``) more in bank order, never the first ("direct") family and never all of them."""
    names = [f.name for f in p.families]
    if share is None:
        k = 1
    else:
        k = min(len(names) - 1, round(share * len(names)))
        if share > 0:
            k = max(k, 1)
    order = [p.holdout] + [x for x in names[1:] if x != p.holdout] + names[:1]
    return tuple(order[:k])


def step_templates(
    p: FunctionPhrases, hold: bool = True, after: bool = False, wordings: bool = False
) -> list[tuple[str, str]]:
    """(template id, template) of the step templates steps are written with: the planner's
    (``spec.PLANNER_STEPS``), and with ``wordings`` the action data's extra wordings too; without
    the held-out one (``spec.HELD_OUT_STEP``) when ``hold`` and there are two or more. Ids are
    ``function/stepK`` (``function/afterK`` for the dependent ``steps_after``)."""
    templates = p.steps_after if after else p.steps
    kind = "after" if after else "step"
    held = held_out_index(len(templates)) if hold and len(templates) > 1 else None
    return [
        (f"{p.name}/{kind}{i}", t)
        for i, t in enumerate(templates)
        if i != held and (wordings or i < PLANNER_STEPS)
    ]


def held_out_template(p: FunctionPhrases, after: bool = False) -> tuple[str, str] | None:
    """(id, template) of the step template only the action data's test split uses; None when
    ``p`` has fewer than two."""
    templates = p.steps_after if after else p.steps
    if len(templates) < 2:
        return None
    k = held_out_index(len(templates))
    return f"{p.name}/{'after' if after else 'step'}{k}", templates[k]


def held_out_templates(p: FunctionPhrases) -> list[str]:
    """The ids of ``p``'s held-out step templates (plain and dependent)."""
    return [t[0] for after in (False, True) if (t := held_out_template(p, after)) is not None]


# --- composing one example --------------------------------------------------------------------


_Made = tuple[PlanExample, tuple[str, ...], "tuple[StepGold, ...] | None"]


def _unique(r: random.Random, seen: set[str], split: str, make) -> _Made:
    """Draw until the normalised query is new (dedup across all splits) and its calls run.

    ``make()`` gives (example, families, finish): ``finish()`` runs the example's calls in its
    world and gives the finished triple, or None when a dependent step names nothing there.
    """
    for _ in range(MAX_TRIES_PER_EXAMPLE):
        example, fams, finish = make()
        key = normalize_text(example.query)
        if key in seen:
            continue
        made = finish()
        if made is not None:
            seen.add(key)
            return made
    raise OctoError(
        f"{split}: could not find a new query after {MAX_TRIES_PER_EXAMPLE} draws; the phrase space is "
        f"exhausted for this request (last: {example.query!r}): lower n or add functions or values"
    )


def _allowed(p: FunctionPhrases, split: str, held: Mapping[str, tuple[str, ...]]):
    hold = held[p.name]
    fams = [f for f in p.families if (f.name in hold) == (split == "test")] if hold else list(p.families)
    return fams


def _irrelevant(r: random.Random, split: str, held, domain_names):
    family = r.choice(_allowed(IRRELEVANT, split, held))
    text = r.choice(family.clauses).format_map(IRRELEVANT.sample(r).text)
    query = _assemble(r, [(family.form, text)])
    seed = r.randrange(WORLD_SEEDS)
    ex = PlanExample(
        _id(query),
        query,
        (IRRELEVANT_STEP,),
        (NO_FUNCTION,),
        tuple(domain_names),
        GENERATOR,
        calls=(Call(NO_FUNCTION),),
        world={"seed": seed, "state_sha256": state_digest(world.new_state(seed))},
    )
    fams = (f"{NO_FUNCTION}/{family.name}",)
    return ex, fams, lambda: (ex, fams, None)


def _pick_functions(
    r: random.Random, entries, count: int, home: str, multi: bool, bias: float = CONSUMER_BIAS
) -> list[_Entry]:
    chosen: list[_Entry] = []
    for _ in range(count):
        used = {e.phrases.name for e in chosen}
        if multi:
            open_domains = [d for d, es in entries.items() if any(e.phrases.name not in used for e in es)]
            domain = r.choice(open_domains)
        else:
            domain = home
        free = [e for e in entries[domain] if e.phrases.name not in used]
        kinds = {e.phrases.produces for e in chosen if e.phrases.produces}
        consumers = [e for e in free if any(e.phrases.accepts(k) for k in kinds)]
        chosen.append(r.choice(consumers if consumers and r.random() < bias else free))
    return _chain_order(chosen)


def _chain_order(chosen: list[_Entry]) -> list[_Entry]:
    """Within one chain (search -> add -> checkout), keep rank order; other positions stay put."""
    out = list(chosen)
    chains: dict[str, list[int]] = {}
    for i, e in enumerate(chosen):
        if e.phrases.chain:
            chains.setdefault(e.phrases.chain[0], []).append(i)
    for positions in chains.values():
        ranked = sorted((chosen[i] for i in positions), key=lambda e: e.phrases.chain[1])
        for i, e in zip(positions, ranked):
            out[i] = e
    return out


@dataclass(frozen=True)
class _Draft:
    """One step as composed, before its call runs: ``ref`` is the step-side wording of the
    previous result it names (None for an independent step)."""

    entry: _Entry
    values: dict
    template: str
    ref: str | None
    held: tuple[str, str] | None = None  # (held-out template id, the step as it writes it)


@dataclass
class _Plan:
    """Composes the examples of one split (one random stream) and runs their calls."""

    r: random.Random
    split: str
    held: Mapping[str, tuple[str, ...]]
    hold_steps: bool
    entries: Mapping[str, list[_Entry]]
    functions: Mapping[str, object]
    multi: bool
    consumer_bias: float = CONSUMER_BIAS
    wordings: bool = False  # the action data's extra step templates too

    def compose(self, count: int, home: str):
        r, split = self.r, self.split
        chosen = _pick_functions(r, self.entries, count, home, self.multi, self.consumer_bias)
        clauses: list[_FormedClause] = []
        steps: list[str] = []
        fams: list[str] = []
        drafts: list[_Draft] = []
        for i, e in enumerate(chosen):
            p = e.phrases
            family = r.choice(_allowed(p, split, self.held))
            values = p.sample(r)
            # a step may name the result of the step just before it: the action model sees that
            # step's observation only (the paper's O_i)
            kind = chosen[i - 1].phrases.produces if i else None
            after = (
                kind is not None and p.accepts(kind) and bool(family.after) and r.random() < DEPENDENT_SHARE
            )
            if after:
                ref_q, ref_s = r.choice(p.extra.get("refs", {}).get(kind) or RESULTS[kind])
                text = r.choice(family.after).format_map({**values.text, "ref": ref_q})
                slot_text = {**values.text, "ref": ref_s}
            else:
                ref_s = None
                text = r.choice(family.clauses).format_map(values.text)
                slot_text = values.text
            template, form = r.choice(step_templates(p, self.hold_steps, after, self.wordings))
            # the same step as the held-out template writes it: the action data's test split only
            held = held_out_template(p, after) if self.hold_steps and split == "test" else None
            clauses.append((family.form, text))
            steps.append(_cap(form.format_map(slot_text)))
            fams.append(f"{p.name}/{family.name}")
            drafts.append(
                _Draft(
                    e, values.args, template, ref_s, held and (held[0], _cap(held[1].format_map(slot_text)))
                )
            )
        query = _assemble(r, clauses)
        doms = tuple(dict.fromkeys(e.domain for e in chosen))
        ex = PlanExample(
            _id(query), query, tuple(steps), tuple(e.phrases.name for e in chosen), doms, GENERATOR
        )
        seed = r.randrange(WORLD_SEEDS)
        return ex, tuple(fams), lambda: self._finish(ex, tuple(fams), drafts, seed)

    def _finish(
        self, ex: PlanExample, fams: tuple[str, ...], drafts: list[_Draft], seed: int
    ) -> _Made | None:
        """Run the steps' calls in order in ``new_state(seed)``; None when a dependent step names
        nothing in that world (or a sampler made an invalid call: draw again)."""
        state = world.new_state(seed)
        done: list[StepGold] = []
        for d in drafts:
            f = self.functions[d.entry.phrases.name]
            arguments = dict(d.values)
            if d.ref is not None:
                before = done[-1].observation
                value = gold.pick(d.ref, before)
                filled = None if value is None else d.entry.phrases.fill(value, before["arguments"], d.ref)
                if filled is None:
                    return None
                arguments.update(filled)
            call = Call(f.name, in_schema_order(f, arguments))
            try:
                check_call(call, f)
            except CallProblem:
                return None
            observation = execute(f, call.arguments, state).to_dict()
            done.append(StepGold(d.template, d.ref is not None, call, observation, d.held))
        world_record = {"seed": seed, "state_sha256": state_digest(state)}
        finished = PlanExample(
            ex.id,
            ex.query,
            ex.steps,
            ex.functions,
            ex.domains,
            ex.generator,
            tuple(g.call for g in done),
            world_record,
        )
        return finished, fams, tuple(done)


def in_schema_order(function, arguments: Mapping) -> dict:
    """The arguments in the order the function's schema declares them (what the model learns to write)."""
    order = list(function.parameters.get("properties", {}))
    return {
        k: arguments[k] for k in sorted(arguments, key=lambda k: order.index(k) if k in order else len(order))
    }


def state_digest(state: DeviceState) -> str:
    """SHA-256 of the device state as canonical JSON (sorted keys, no spaces): two runs of the same
    calls from the same seeded world give the same digest."""
    # the dataclasses' own __dict__ (their fields), not asdict's deep copy: same JSON, 10x faster
    text = json.dumps(state, default=vars, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if not state.travel.sold_out:  # a field added later: absent when empty, so older digests hold
        text = text.replace(',"sold_out":[]}', "}", 1)
    return hashlib.sha256(text.encode()).hexdigest()


def _id(query: str) -> str:
    return "off-" + hashlib.sha1(normalize_text(query).encode()).hexdigest()[:12]


# --- joining clauses into a query ------------------------------------------------------------

_VP_OPENERS = (
    ("", ""),
    ("", ""),
    ("", ""),
    ("Please ", ""),
    ("Can you ", "?"),
    ("Could you ", "?"),
    ("Hey, can you ", "?"),
    ("I'd like you to ", ""),
    ("Go ahead and ", ""),
    ("Help me ", ""),
)
_VP_GAPS = (
    " and then ",
    ", then ",
    " and ",
    ", and after that ",
    ", after that ",
    " and once that's done, ",
    ", and then ",
    " then ",
)
_T_GAPS = ("; ", ", then ", " then ", " + ", " -> ", " & ", ", ")
_TRANSITIONS = {
    "vp": ("Then ", "After that, ", "Next, ", "Once that's done, ", "Also ", "And then ", "After that "),
    "s": ("", "Also, ", "After that, ", "Then ", "And "),
    "q": ("", "Also, ", "And ", "Then "),
    "t": ("", "then ", "also "),
}


def _assemble(r: random.Random, clauses: Sequence[_FormedClause]) -> str:
    """Join clauses: runs of verb phrases (or of terse notes) share a sentence, statements and
    questions stand alone; later sentences open with a transition ("After that, ...")."""
    groups: list[tuple[str, list[str]]] = []
    for form, text in clauses:
        if groups and form in ("vp", "t") and groups[-1][0] == form:
            groups[-1][1].append(text)
        else:
            groups.append((form, [text]))
    sentences: list[str] = []
    for gi, (form, texts) in enumerate(groups):
        first, last = gi == 0, gi == len(groups) - 1
        end = {"q": "?", "s": ".", "vp": ".", "t": ""}[form]
        if form == "vp":
            body = _join_vp(r, texts)
            if first:
                opener, end_q = r.choice(_VP_OPENERS)
                body, end = opener + body, end_q or end
            else:
                body = r.choice(_TRANSITIONS["vp"]) + body
        elif form == "t":
            body = r.choice(_T_GAPS).join(texts)
            if not first:
                body = r.choice(_TRANSITIONS["t"]) + body
            end = "" if last and r.random() < 0.7 else "."
        else:
            body = texts[0] if first else r.choice(_TRANSITIONS[form]) + texts[0]
        if last and end == "." and r.random() < 0.15:
            end = r.choice(("", "!"))
        sentences.append(_close(_cap(body), end))
    query = " ".join(sentences).strip()
    if r.random() < 0.08:  # some users type all lower case
        query = query.lower()
    return query


def _join_vp(r: random.Random, texts: Sequence[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    roll = r.random()
    if roll < 0.2:  # first A, then B, and finally C
        middle = "".join(f", then {t}" for t in texts[1:-1])
        return f"first {texts[0]}{middle}{', and finally ' if len(texts) > 2 else ', then '}{texts[-1]}"
    if roll < 0.35:  # A, B and C
        return ", ".join(texts[:-1]) + r.choice((" and ", ", and ")) + texts[-1]
    out = texts[0]
    for t in texts[1:]:
        out += r.choice(_VP_GAPS) + t
    return out


def _close(sentence: str, end: str) -> str:
    if not end or sentence[-1:] in ".?!":
        return sentence
    return sentence + end


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- sizes ---------------------------------------------------------------------------------


def _step_weights(steps: Sequence[int] | Mapping[int, float]) -> dict[int, float]:
    weights = dict(steps) if isinstance(steps, Mapping) else {int(k): 1.0 for k in steps}
    if not weights or any(not 1 <= k <= 5 for k in weights) or any(w < 0 for w in weights.values()):
        raise OctoError(f"steps must be counts in 1..5 with non-negative weights, got {steps!r}")
    if sum(weights.values()) <= 0:
        raise OctoError(f"steps {steps!r} gives no count a positive weight")
    return {k: float(w) for k, w in sorted(weights.items())}


def _largest_remainder(total: int, shares: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``shares`` (ties go to the earlier share)."""
    s = sum(shares)
    if len(shares) == 0 or s <= 0 or any(x < 0 for x in shares):
        raise OctoError(f"shares must be non-negative with a positive sum, got {list(shares)}")
    exact = [total * x / s for x in shares]
    base = [int(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def _check_sizes(entries: Mapping[str, list[_Entry]], weights: Mapping[int, float], multi: bool) -> None:
    wanted = max(k for k, w in weights.items() if w > 0)
    sizes = {d: len(es) for d, es in entries.items()}
    if multi:
        total = sum(sizes.values())
        if total < wanted:
            raise OctoError(f"{wanted}-step plans need {wanted} distinct functions; the domains have {total}")
        return
    small = {d: k for d, k in sizes.items() if k < wanted}
    if small:
        d, k = next(iter(small.items()))
        raise OctoError(
            f"domain {d!r} has {k} function(s): {wanted}-step plans would repeat one; use steps up to {k}"
        )
