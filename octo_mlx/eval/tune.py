"""`octo-mlx adapters tune`: choose the fusion weights of planner adapters on a validation split.

Guessing weights is what everyone does; this searches them. Each candidate is combined exactly
as `adapters combine` does (octo_mlx.adapters.combined), made resident on one base loaded once
(octo_mlx.resident.AdapterPool: no reload per candidate), and scored by the deterministic plan
judge on at most ``per_domain`` validation requests of each domain (never test: more data would
turn the search into multitask training). The search:

- ``grid``: every weight vector on the simplex with step ``step`` (2-3 adapters: 0.25 gives 5 and
  15 candidates);
- ``random``: ``budget`` Dirichlet(1) draws, seeded, plus the uniform mix (any number of adapters);
- ``cma``: CMA-ES (the ``cma`` package) over ``budget`` candidates, from the uniform mix, on
  unconstrained coordinates mapped to the simplex by a softmax (weights rounded to 3 decimals, so
  a point met twice is scored once).
- ``learned``: one weight per adapter per LoRA layer, trained by gradient on the same validation
  requests with the planner's loss, the concatenated adapters frozen (LoRA Soups' CAT,
  octo_mlx.eval.soup); scored beside the uniform mix it starts from. ``linear`` only.

Every candidate's score is appended to ``OUT.tune.jsonl`` as it is known, so a killed search
resumes without scoring anything twice; the best (highest accuracy, ties to the more even mix) is
then written to ``OUT`` with `adapters combine`, and its search log to ``OUT/tune.json``.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import write_atomic

SEARCHES = ("grid", "random", "cma", "learned")


@dataclass
class Candidate:
    """One weight vector and how it did."""

    weights: list[float]
    correct: int
    total: int
    seconds: float
    module_weights: dict[str, list[float]] | None = None  # learned: per LoRA layer (weights: the start)
    losses: list[float] | None = None  # learned: the validation loss of each epoch of the gates

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class TuneResult:
    """The search and its outcome."""

    out: Path
    adapters: list[str]
    method: str
    search: str
    examples: int
    candidates: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        body = asdict(self)
        body["out"] = str(self.out)
        return body


def simplex_grid(n: int, step: float) -> list[list[float]]:
    """Every vector of ``n`` non-negative weights in multiples of ``step`` that sum to 1."""
    if not 0 < step <= 1:
        raise OctoError(f"must be in (0, 1], got {step}", "--step")
    units = round(1 / step)
    if units < 1 or abs(units * step - 1) > 1e-9:
        raise OctoError(f"must divide 1 into whole parts (0.5, 0.25, 0.2, 0.1...), got {step}", "--step")
    out = []
    for parts in itertools.product(range(units + 1), repeat=n - 1):
        if sum(parts) <= units:
            out.append([p / units for p in parts] + [(units - sum(parts)) / units])
    return out


def random_weights(n: int, budget: int, seed: int) -> list[list[float]]:
    """The uniform mix, then ``budget - 1`` Dirichlet(1) draws (rounded to 3 decimals)."""
    rng = random.Random(seed)
    out = [[round(1 / n, 3)] * n]
    while len(out) < budget:
        draw = [rng.expovariate(1.0) for _ in range(n)]
        total = sum(draw)
        out.append([round(x / total, 3) for x in draw])
    return out


def validation_examples(data: str | Path, per_domain: int, domains=None):
    """(examples, domains): at most ``per_domain`` requests of each domain (a request counts for
    the first domain it names), in file order."""
    from octo_mlx.eval.run import load_test_split

    examples, loaded = load_test_split(data, domains)
    kept, seen = [], {}
    for e in examples:
        home = e.domains[0] if e.domains else ""
        if seen.get(home, 0) < per_domain:
            kept.append(e)
            seen[home] = seen.get(home, 0) + 1
    return kept, loaded


def tune_weights(
    adapters: Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    method: str = "linear",
    search: str = "grid",
    step: float = 0.25,
    budget: int = 12,
    per_domain: int = 100,
    density: float | None = None,
    seed: int = 0,
    max_tokens: int = 128,
    batch_size: int = 16,
    overwrite: bool = False,
    progress=None,
    epochs: int = 2,
    learning_rate: float = 0.05,
    resolver_data: str | Path | None = None,
) -> TuneResult:
    """Search fusion weights for ``adapters`` on the validation split ``data``; write the best.

    Args:
        adapters: two or more planner adapter folders of one base.
        data: a validation split (``DIR/valid.jsonl``); the resolver is fitted beside it.
        out: the adapter folder to write (new or empty; ``overwrite`` replaces an adapter folder).
        method, density: as for `adapters combine` (seed is DARE's seed too).
        search: "grid" (``step``), "random" or "cma" (``budget`` candidates, ``seed``), or
            "learned" (per-layer weights, ``epochs`` over the requests at ``learning_rate``).
        per_domain: at most this many validation requests per domain (at most 100).
        max_tokens, batch_size: plan generation settings.
        progress: called with (done, total) after each candidate.
        resolver_data: the split the judge's resolver is fitted on (default: the train split
            beside ``data``, else its valid split when ``data`` is not that split).

    Raises:
        OctoError: bad options, adapters that cannot be combined, a split that does not load.
    """
    from octo_mlx.adapters.combine import RANDOM, check_options
    from octo_mlx.adapters.combined import check_sources, combine_adapters, read_source
    from octo_mlx.adapters.folder import is_adapter_folder
    from octo_mlx.eval.judges import judge_plan
    from octo_mlx.eval.run import fit_resolver
    from octo_mlx.planner import clock_for, encode_queries, plan_prompts
    from octo_mlx.resident.pool import AdapterPool

    t0 = time.perf_counter()
    paths = [Path(a) for a in adapters]
    if len(paths) < 2:
        raise OctoError("give two or more adapters to tune")
    if search not in SEARCHES:
        raise OctoError(f"unknown search {search!r} (choose from {', '.join(SEARCHES)})", "--search")
    if not 1 <= per_domain <= 100:
        raise OctoError(
            f"must be in 1..100 (validation requests per domain), got {per_domain}", "--per-domain"
        )
    if budget < 1:
        raise OctoError(f"must be >= 1, got {budget}", "--budget")
    if search == "learned" and method != "linear":
        raise OctoError(
            f"learned per-layer weights are a weighted sum: --method linear, not {method}", "--search"
        )
    if epochs < 1 or not learning_rate > 0:
        raise OctoError(f"epochs must be >= 1 and the learning rate > 0, got {epochs} and {learning_rate}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (overwrite and is_adapter_folder(out)):
        raise OctoError("holds something: choose an empty folder (or --overwrite an adapter folder)", out)
    sources = [read_source(p) for p in paths]
    check_sources(sources)
    if any(s.config.get("task") == "action" for s in sources):
        raise OctoError("tune searches planner weights with the plan judge; these are action adapters")
    if search == "grid":
        candidates = simplex_grid(len(paths), step)
    else:  # random; cma and learned start from its first point, the uniform mix
        candidates = random_weights(len(paths), budget if search == "random" else 1, seed)
    draw = seed if method in RANDOM else None  # DARE's seed; the random search has its own
    for w in candidates:
        check_options(method, w, len(paths), None, density, draw)
    examples, domains = validation_examples(data, per_domain)
    resolver, validation, _, _ = fit_resolver(data, domains, examples, resolver_data, seed)
    if not validation.trusted:
        raise OctoError(
            f"the judge's resolver maps only {validation.accuracy:.1%} of the gold steps: give a split "
            "with its train split beside it, or --resolver-data TRAIN_SPLIT",
            data,
        )
    log = out.with_name(out.name + ".tune.jsonl")
    identity = {
        "adapters": [str(p) for p in paths],
        "sha256": [s.sha256 for s in sources],
        "data": str(Path(data).resolve()),
        "per_domain": per_domain,
        "max_tokens": max_tokens,
        "method": method,
        "density": density,
        "seed": seed,
    }
    done = _read_log(log, identity)
    result = TuneResult(out, [str(p) for p in paths], method, search, len(examples))
    work = out.with_name(out.name + ".tune-candidate")
    clock = all(clock_for(s.config) for s in sources)  # how the combination is asked, as it records
    state: dict = {}

    def open_pool():
        if "pool" not in state:
            state["pool"] = AdapterPool.open(sources[0].config.get("model"))
            state["prompts"] = encode_queries(
                state["pool"].model,
                state["pool"].tokenizer,
                [e.query for e in examples],
                max_tokens,
                clock=clock,
            )
        return state["pool"]

    def score(weights: list[float], learned=None) -> Candidate:
        """A candidate's score: from the log of a killed search, else combined and planned."""
        key = _key(weights)
        if key in done and learned is None:
            return done[key]
        pool, start = open_pool(), time.perf_counter()
        module_weights = learned.module_weights if learned is not None else None
        combine_adapters(
            paths, work, weights, method, None, density, draw, overwrite=True, module_weights=module_weights
        )
        name = f"candidate-{len(done)}" if learned is None else "candidate-learned"
        pool.add(name, work)
        try:
            plans, _ = plan_prompts(pool.view(name), pool.tokenizer, state["prompts"], max_tokens, batch_size)
        finally:
            pool.remove(name)
        correct = sum(
            bool(judge_plan(p.steps, e.functions, resolver).correct) for p, e in zip(plans, examples)
        )
        found = Candidate(list(weights), correct, len(examples), time.perf_counter() - start)
        if learned is not None:  # one training run: scored, not logged for a resume
            found.module_weights, found.losses = module_weights, learned.losses
            return found
        _append_log(log, identity, found)
        done[key] = found
        return found

    def learn(start: list[float]):
        """The per-layer gates trained on the validation requests from the mix ``start``."""
        from octo_mlx.eval.soup import learn_module_weights
        from octo_mlx.train.setup import Examples, encode_examples

        pool = open_pool()
        combine_adapters(paths, work, start, "linear", overwrite=True)
        pool.add("soup", work)
        try:
            messages = Examples([], []).messages if clock else None
            encoded = encode_examples(examples, pool.tokenizer, 1 << 20, str(data), messages)
            return learn_module_weights(
                pool, "soup", sources, start, encoded, epochs, learning_rate=learning_rate, seed=seed
            )
        finally:
            pool.remove("soup")

    if search == "learned":
        uniform = score(candidates[0])
        result.candidates = [uniform, score(candidates[0], learned=learn(candidates[0]))]
        if progress is not None:
            progress(2, 2)
    elif search == "cma":
        result.candidates = _cma(score, len(paths), budget, seed, progress)
    else:
        for k, weights in enumerate(candidates):
            result.candidates.append(score(weights))
            if progress is not None:
                progress(k + 1, len(candidates))
    # ties go to the more even mix, then to one weight per adapter over per-layer ones
    result.best = max(
        result.candidates, key=lambda c: (c.accuracy, -_spread(c.weights), c.module_weights is None)
    )
    combine_adapters(
        paths, out, result.best.weights, method, None, density, draw, overwrite=True,
        module_weights=result.best.module_weights,
    )  # fmt: skip
    result.seconds = time.perf_counter() - t0
    write_atomic(out / "tune.json", json.dumps(result.to_json(), indent=2) + "\n")
    if work.exists():
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return result


def _cma(score, n: int, budget: int, seed: int, progress) -> list[Candidate]:
    """CMA-ES on softmax coordinates (minimising the share of plans wrong), ``budget`` scores."""
    import math

    import cma

    es = cma.CMAEvolutionStrategy(
        [0.0] * n, 0.5, {"seed": seed + 1, "popsize": max(4, n), "verbose": -9, "maxfevals": budget}
    )
    seen: list[Candidate] = []
    while len(seen) < budget:
        points = es.ask()
        losses = []
        for x in points:
            exps = [math.exp(v - max(x)) for v in x]
            weights = [round(e / sum(exps), 3) for e in exps]
            weights[-1] = round(1 - sum(weights[:-1]), 3)  # the rounded mix still sums to 1
            found = score(weights)
            seen.append(found)
            losses.append(1 - found.accuracy)
            if progress is not None:
                progress(min(len(seen), budget), budget)
        es.tell(points, losses)
    return seen[:budget]


def _key(weights: Sequence[float]) -> str:
    return ",".join(f"{w:.6f}" for w in weights)


def _spread(weights: Sequence[float]) -> float:
    return max(weights) - min(weights)


def _read_log(log: Path, identity: dict) -> dict[str, Candidate]:
    """The candidates a killed search already scored: lines of the same search only (the same
    adapters by content, split, per-domain cap, tokens, method, density, seed)."""
    if not log.is_file():
        return {}
    done = {}
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line a kill cut short
        if row.get("search") == identity:
            c = Candidate(row["weights"], row["correct"], row["total"], row["seconds"])
            done[_key(c.weights)] = c
    return done


def _append_log(log: Path, identity: dict, c: Candidate) -> None:
    with open(log, "a") as f:
        f.write(json.dumps({"search": identity, **asdict(c)}) + "\n")
        f.flush()
