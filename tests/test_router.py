"""The domain router: requests cut into clauses, each placed in a domain, the union routed; an
unsure router routes every domain rather than drop one; scored against the gold domains."""

from __future__ import annotations

import pytest

from octo_mlx.domains.catalog import load_domains
from octo_mlx.resident.router import DomainRouter, clauses, score_router
from octo_mlx.synth.offline import synthesize_offline
from tests.helpers.cli import run_octo

DOMAINS = load_domains(["android", "ecommerce", "video_streaming", "travel"])


@pytest.fixture(scope="module")
def mixed():
    return synthesize_offline(DOMAINS, 600, seed=2, multi_domain=True)


@pytest.fixture(scope="module")
def router(mixed):
    return DomainRouter.fit(mixed.splits["train"], DOMAINS)


def test_requests_are_cut_at_the_joins_between_tasks():
    assert clauses("Text Mom I'm late, then book a flight to Rome. Also pause the movie!") == [
        "Text Mom I'm late",
        "book a flight to Rome",
        "pause the movie!",
    ]
    assert clauses("flights between Hong Kong and Johannesburg") == [
        "flights between Hong Kong and Johannesburg"
    ]


def test_the_router_finds_the_domains_a_request_needs(router, mixed):
    assert router.route("What's the weather in Paris? Then add the cheapest headphones to my cart") == (
        "android",
        "ecommerce",
    )
    score = score_router(router, mixed.splits["test"], DOMAINS)
    assert score.recall.p >= 0.8 and score.mean_routed >= score.mean_needed
    assert sum(r.n for r in score.by_needed.values()) == score.exact.n


def test_a_request_the_router_cannot_place_goes_to_every_domain(router):
    assert router.route("zxqv blorp") == tuple(d.name for d in DOMAINS)


def test_bench_router_command(tmp_path):
    data = tmp_path / "mixed"
    synth = ["data", "synth", "--offline", "--domain", "android", "--domain", "travel", "--multi-domain"]
    done = run_octo(*synth, "--n", "200", "--out", data)
    assert done.returncode == 0, done.stderr
    done = run_octo("bench", "router", "--data", data / "test.jsonl", "--out", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["domains"] == ["android", "travel"] and report["score"]["recall"]["n"] > 0
    bad = run_octo("bench", "router", "--data", tmp_path / "none" / "test.jsonl")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
