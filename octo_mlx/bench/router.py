"""`octo-mlx bench router`: the domain router's accuracy and cost on a (mixed-domain) test split.

The router (octo_mlx.resident.router) is fitted on the train split beside the test file (or
``train``) and scored on every test request: exact domain set, recall, domains routed per
request, by how many domains a request needs; with the time to fit it and to route one request.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError


@dataclass
class RouterBench:
    """A router run: its data, its score and what it cost."""

    data: str
    train: str
    n_train: int
    domains: list[str]
    score: Any  # octo_mlx.resident.router.RouterScore
    fit_seconds: float
    route_ms: float

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["score"]["by_needed"] = {str(k): v for k, v in out["score"]["by_needed"].items()}
        return out


def bench_router(
    data: str | Path, train: str | Path | None = None, domains=None, seed: int = 0
) -> RouterBench:
    """Fit the router on ``train`` (default: train.jsonl beside ``data``) and score it on ``data``.

    Raises:
        OctoError: a missing or malformed split, or one whose requests need no domain.
    """
    from octo_mlx.data import read_split
    from octo_mlx.eval.run import load_test_split
    from octo_mlx.resident.router import DomainRouter, score_router

    examples, loaded = load_test_split(data, domains)
    train = Path(train) if train else Path(data).parent / "train.jsonl"
    if not train.is_file():
        raise OctoError("no train split to fit the router on (give --train)", train)
    fit_on = read_split(train, loaded)
    t0 = time.perf_counter()
    try:
        router = DomainRouter.fit(fit_on, loaded, seed=seed)
    except ValueError as e:
        raise OctoError(str(e), train) from None
    fitted = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        score = score_router(router, examples, loaded)
    except ValueError as e:
        raise OctoError(str(e), data) from None
    route_ms = (time.perf_counter() - t0) * 1000 / max(len(examples), 1)
    return RouterBench(str(data), str(train), len(fit_on), [d.name for d in loaded], score, fitted, route_ms)
