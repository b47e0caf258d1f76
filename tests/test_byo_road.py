"""The README's road for a user's own tools, run end to end as a user runs it (real processes,
a tiny model): tools.json -> offline planner and action data (generic phrasing) -> a planner and
an action adapter -> an evaluation -> `octo-mlx chat --domain tools.json` answering a request.
What the tiny model plans is not the point (it trains seconds); every stage must run and hand
the next what it needs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import run_octo

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "examples" / "studio-tools.json"  # the README's example, as a user writes one


def _ok(*args, cwd, stdin=None):
    done = run_octo(*args, cwd=cwd, timeout=600, input=stdin)
    assert done.returncode == 0, f"octo-mlx {' '.join(map(str, args))}:\n{done.stderr[-2000:]}"
    return done


def test_a_users_tools_reach_a_running_agent(tmp_path, tiny_llama):
    tools = tmp_path / "tools.json"
    tools.write_text(TOOLS.read_text())
    synth = ["data", "synth", "--offline", "--domain", tools, "--n", "60", "--steps", "1,2"]
    _ok(*synth, "--out", "plans", cwd=tmp_path)
    _ok(*synth, "--task", "action", "--out", "acts", cwd=tmp_path)
    tiny = [
        f"model.path={tiny_llama}",
        "lora.rank=4",
        "lora.alpha=8",
        "train.max_steps=6",
        "train.batch_size=2",
    ]
    for recipe, data, out in (
        ("planner-lora-r16-smollm2", "plans", "planner"),
        ("action-lora-smollm2", "acts", "action"),
    ):
        recipe = ROOT / "recipes" / f"{recipe}.yaml"
        _ok("train", "--recipe", recipe, *tiny, f"data.path={data}", f"output.dir=runs/{out}", cwd=tmp_path)
    evaluate = ["eval", "--adapter", "runs/planner/last", "--data", "plans/test.jsonl", "--limit", "4"]
    _ok(*evaluate, "--max-tokens", "24", "--out", "eval.json", cwd=tmp_path)
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["config"]["domains"] == ["studio"] and report["metrics"]["accuracy"]["n"] == 4
    request = "Book a room for The Static tomorrow"
    adapters = ["--planner", "runs/planner/last", "--action", "runs/action/last"]
    chat = ["chat", *adapters, "--domain", tools, "--yes", "--json", "--max-plan-tokens", "24"]
    done = run_octo(*chat, cwd=tmp_path, timeout=600, input=request + "\n")
    trace = json.loads(done.stdout.strip().splitlines()[-1])  # the request's trace, as a JSON line
    assert trace["query"] == request and trace["domains"] == ["studio"]
    assert done.returncode == (0 if trace["status"] == "done" else 1), done.stderr[-2000:]
    assert trace["adapters"]["planner"].endswith("runs/planner/last")
    # without its tool file the agent cannot know the user's functions: one line that says so
    bare = run_octo("chat", *adapters, "--yes", "--json", cwd=tmp_path, timeout=600, input=request + "\n")
    assert bare.returncode != 0 and "give it with --domain" in bare.stderr and "Traceback" not in bare.stderr
