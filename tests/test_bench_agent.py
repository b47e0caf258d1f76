"""The agent benchmark: frozen request sets, the expected outcome of gold calls on seeded devices
with faults, the score of a run, and `octo-mlx bench agent` on the tiny trained adapters.

The scoring tests drive the real agent loop on the real bundled domains; only the planner and
the action model are stand-ins that answer from the request's gold (tests/helpers/agent.py has
the same kind), so that what is scored is known."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from octo_mlx.agent import Agent
from octo_mlx.bench.agent import (
    AgentRequest,
    device_for,
    expected,
    read_requests,
    run_agent_bench,
    score,
    write_requests,
)
from octo_mlx.domains.catalog import load_domains
from octo_mlx.errors import OctoError
from octo_mlx.syntax import REPLAN_ASK
from tests.helpers.agent import CALLS, REQUEST, Out, ScriptedAction
from tests.helpers.cli import run_octo

SPLITS = Path(__file__).resolve().parents[1] / "benchmarks" / "splits" / "agent-v1"
DOMAINS = load_domains(["android", "ecommerce", "video_streaming", "travel"])
FUNCTIONS = {f.name: f for d in DOMAINS for f in d.functions}


def _table() -> dict[str, list[str]]:
    rows = {}
    for line in (SPLITS / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0].endswith(".jsonl"):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("name", ["android.jsonl", "four-domains.jsonl"])
def test_the_frozen_request_sets_are_as_their_readme_says(name):
    n, faults, recoverable, sha = _table()[name]
    path = SPLITS / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    requests = read_requests(path)
    assert len(requests) == int(n) and sum(r.fault is not None for r in requests) == int(faults)
    wants = [expected(r, FUNCTIONS) for r in requests]  # every fault applies to its device
    assert sum(w.fails_at is not None and w.fails_at < r.n_steps - 1 for r, w in zip(requests, wants)) == int(
        recoverable
    )


# --- the score, with stand-ins that answer from the gold ---------------------------------------------


class GoldPlanner:
    """Plans each request as one step per gold call ("ID step k"); a re-plan prompt gets the
    steps the gold keeps after the failed one (``replan``: False answers none)."""

    def __init__(self, requests, replan: bool = True):
        self.requests, self.replan, self.queries = list(requests), replan, []

    def stream(self, query: str):
        self.queries.append(query)
        request = next(r for r in self.requests if query == r.query or query.startswith(r.query + "\n"))
        if not query.endswith(REPLAN_ASK):
            steps = tuple(f"{request.id} step {k}" for k in range(request.n_steps))
        else:
            failed = int(re.findall(r"^Step \d+: \S+ step (\d+)$", query, re.M)[-1])
            steps, blocked = [], True
            for j in range(failed + 1, request.n_steps):
                blocked = request.dependent[j] and blocked
                if not blocked:
                    steps.append(f"{request.id} step {j}")
            steps = tuple(steps) if self.replan else ()
        yield Out(steps)


def _agent(request, replan: bool = True, answers: dict | None = None, more=()) -> Agent:
    requests = [request, *more]
    gold = {f"{r.id} step {k}": c for r in requests for k, c in enumerate(r.calls)}
    return Agent(
        GoldPlanner(requests, replan),
        ScriptedAction({**gold, **(answers or {})}, DOMAINS),
        device_for(request),
        confirm=lambda e: True,
        max_replans=1,
        domains=DOMAINS,
    )


def _requests(recoverable: bool) -> list[AgentRequest]:
    out = []
    for r in read_requests(SPLITS / "four-domains.jsonl"):
        w = expected(r, FUNCTIONS)
        if (w.fails_at is not None and w.fails_at < r.n_steps - 1) == recoverable:
            out.append(r)
    return out


def test_gold_answers_succeed_and_a_changed_argument_fails():
    request = next(r for r in _requests(False) if r.n_steps >= 2)
    want = expected(request, FUNCTIONS)
    agent = _agent(request)
    trace = agent.run(request.query)
    assert score(trace, agent.state, want) == (True, "")
    # one argument changed: the device (a write) or the reads (a read) no longer match
    k, call = next((k, c) for k, c in enumerate(request.calls) if c.arguments)
    name, value = next(iter(call.arguments.items()))
    changed = type(call)(
        call.function, {**call.arguments, name: value + 1 if isinstance(value, int) else "Zanzibar"}
    )
    agent = _agent(request, answers={f"{request.id} step {k}": changed})
    ok, why = score(agent.run(request.query), agent.state, want)
    assert not ok and why


def test_a_recoverable_failure_needs_the_replan_and_the_replan_recovers_it():
    recoverable = _requests(True)
    assert recoverable
    wins_without = wins_with = 0
    for request in recoverable:
        want = expected(request, FUNCTIONS)
        stopped = _agent(request, replan=False)
        stopped.max_replans = 0
        wins_without += score(stopped.run(request.query), stopped.state, want)[0]
        agent = _agent(request)
        agent.max_replans = 3  # a second step may fail after the first re-plan
        trace = agent.run(request.query)
        wins_with += score(trace, agent.state, want)[0]
        assert trace.replans and trace.replans[0].prompt.startswith(request.query)
    # with the gold re-plans every one is recovered; stopping at the failure loses those whose
    # remaining steps change the device or read something
    assert wins_with == len(recoverable) and wins_without < len(recoverable)


def test_run_agent_bench_reports_each_setting_and_the_recoverable_share():
    one = [r for r in _requests(True) if expected(r, FUNCTIONS).replans_needed == 1]
    assert one
    requests = [one[0], *_requests(False)[:2]]

    class Session:  # run_agent_bench reuses one agent: its device is replaced per run
        agent = _agent(requests[0], more=requests[1:])

    seen = []
    agent = Session.agent
    before = agent.confirm, agent.max_replans, agent.state
    result = run_agent_bench(
        Session, requests, "x.jsonl", (0, 1), lambda done, total: seen.append((done, total))
    )
    # the session's agent is given back as it was: its own confirm, bound and device
    assert (agent.confirm, agent.max_replans, agent.state) == before
    assert [r.max_replans for r in result.results] == [0, 1] * 3 and seen[-1] == (6, 6)
    first = {r.max_replans: r for r in result.results if r.id == one[0].id}
    assert not first[0].success and first[1].success and first[1].replans == 1  # the re-plan recovered it
    summary = result.summary()
    assert summary["max_replans=0"]["recoverable"] == {
        **summary["max_replans=0"]["recoverable"],
        "success": 0,
        "n": 1,
    }
    assert summary["max_replans=1"]["recoverable"]["success"] == 1
    assert summary["max_replans=1"]["all"]["n"] == 3


def test_a_bad_request_file_names_its_line(tmp_path):
    good = read_requests(SPLITS / "android.jsonl")[0]
    path = write_requests(tmp_path / "r.jsonl", [good])
    path.write_text(path.read_text() + '{"id": "x"}\n')
    with pytest.raises(OctoError, match=r"r\.jsonl:2"):
        read_requests(path)
    bad_fault = {**good.to_record(), "fault": {"step": 0, "kind": "sold_out"}}
    path.write_text(json.dumps(bad_fault) + "\n")
    with pytest.raises(OctoError, match="does not apply"):
        device_for(read_requests(path)[0])


# --- the command on the tiny trained adapters ------------------------------------------------------


def test_the_command_scores_the_tiny_agent_and_writes_its_report(agent_adapters, tmp_path):
    planner, action = agent_adapters
    request = AgentRequest("tiny-0", REQUEST, ("android",), 0, tuple(CALLS), (False, False))
    path = write_requests(tmp_path / "requests.jsonl", [request])
    out, md = tmp_path / "report.json", tmp_path / "RESULTS.md"
    res = run_octo(
        "bench", "agent", "--requests", str(path), "--planner", str(planner), "--action", str(action),
        "--out", str(out), "--markdown", str(md),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert [r["success"] for r in report["results"]] == [True, True], report["results"]
    assert report["results"][0]["calls"] == [c.to_dict() for c in CALLS]
    text = md.read_text()
    assert "<!-- bench-agent:start -->" in text and "octo-mlx bench agent --requests" in text
    bad = run_octo("bench", "agent", "--requests", str(path), "--replans", "x", "--planner", str(planner))
    assert bad.returncode != 0 and "--replans" in bad.stderr and "Traceback" not in bad.stderr
