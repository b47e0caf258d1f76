"""The in-context agent peer: every function offered in a system turn, one tool call per turn run
on the device and its result handed back; scored beside ours by `bench agent --peer`."""

from __future__ import annotations

import json

import mlx_lm
import pytest

import octo_mlx.generation as generation
from octo_mlx.agent.incontext import InContextAgent
from octo_mlx.bench.agent import device_for, expected, read_requests, run_agent_bench
from octo_mlx.bench.markdown import agent_section
from octo_mlx.domains.catalog import load_domains
from octo_mlx.generation import Generation
from tests.test_bench_agent import DOMAINS, FUNCTIONS, SPLITS, _agent


class Scripted:
    """Stands in for generate(): answers each prompt with the next scripted text, keeps the prompts."""

    def __init__(self, texts):
        self.texts, self.prompts = list(texts), []

    def __call__(self, model, tokenizer, prompts, max_tokens, batch_size):
        self.prompts.append(tokenizer.decode(prompts[0]))
        text = self.texts.pop(0)
        return [Generation(text, len(prompts[0]), 5, 0.01, 0.005, "stop", ())], None


def _call(name, **args):
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    return mlx_lm.load(str(tiny_llama))


def test_each_call_runs_on_the_device_and_its_result_goes_back(tiny, monkeypatch):
    model, tok = tiny
    request = next(r for r in read_requests(SPLITS / "android.jsonl") if r.fault is None and r.n_steps == 2)
    script = Scripted([_call(c.function, **c.arguments) for c in request.calls] + ["All done."])
    monkeypatch.setattr(generation, "generate", script)
    agent = InContextAgent(model, tok, load_domains(["android"]), device_for(request))
    trace = agent.run(request.query)
    assert [s.call for s in trace.steps] == [c.to_dict() for c in request.calls] and trace.status == "done"
    assert all(f.name in script.prompts[0] for f in FUNCTIONS.values() if f.domain == "android")
    assert "<tool_response>" in script.prompts[1] and request.query in script.prompts[0]
    from octo_mlx.bench.agent import score

    assert score(trace, agent.state, expected(request, FUNCTIONS)) == (True, "")


def test_a_call_that_cannot_run_ends_the_run_as_failed(tiny, monkeypatch):
    model, tok = tiny
    monkeypatch.setattr(generation, "generate", Scripted([_call("send_text_message", contact_name="Bob")]))
    agent = InContextAgent(
        model, tok, load_domains(["android"]), device_for(read_requests(SPLITS / "android.jsonl")[0])
    )
    trace = agent.run("text Bob")
    assert trace.status == "failed" and trace.steps[0].status == "invalid"
    assert "missing_argument" in trace.steps[0].attempts[0].problem


def test_the_real_base_model_runs_as_the_peer_without_crashing(tiny):
    model, tok = tiny
    request = read_requests(SPLITS / "android.jsonl")[0]
    agent = InContextAgent(
        model, tok, load_domains(["android"]), device_for(request), max_turns=2, max_tokens=16
    )
    trace = agent.run(request.query)
    assert trace.status in ("done", "failed") and len(trace.steps) <= 2 and trace.seconds > 0


def test_the_bench_scores_the_peer_beside_ours_and_reports_both(monkeypatch, tiny):
    model, tok = tiny
    requests = [r for r in read_requests(SPLITS / "four-domains.jsonl") if r.fault is None][:2]
    texts = [t for r in requests for t in [*(_call(c.function, **c.arguments) for c in r.calls), "done"]]
    monkeypatch.setattr(generation, "generate", Scripted(texts))

    class Session:
        agent = _agent(requests[0], more=requests[1:])

    peer = InContextAgent(model, tok, DOMAINS, None)
    result = run_agent_bench(Session, requests, "x.jsonl", (0,), peer=peer)
    summary = result.summary()
    assert summary["in-context"]["all"]["success"] == 2 and summary["max_replans=0"]["all"]["n"] == 2
    assert summary["in-context"]["median_speedup"] is not None
    assert [r.agent for r in result.results] == ["octo-mlx", "in-context"] * 2
    section = agent_section(result, "octo-mlx bench agent --peer")
    assert "| in-context agent |" in section and "In-context agent:" in section
