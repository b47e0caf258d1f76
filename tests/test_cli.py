import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from octo_mlx import cli

ROOT = Path(__file__).resolve().parent.parent

# The fewest arguments that get each command as far as its stage call (nothing real runs: the
# stage is replaced). A command added without an entry here fails the first test below.
ARGS = {
    "chat": ["--planner", "runs/p/last", "--action", "runs/a/last"],
    "doctor": [],
    "model import-gguf": ["model.gguf", "--out", "models/mine"],
    "model export-gguf": ["models/mine", "--out", "mine.gguf"],
    "model default": [],
    "model info": [],
    "model extend": [],
    "functions list": [],
    "functions show": ["send_email"],
    "functions export": [],
    "data validate": ["data/planner"],
    "data stats": ["data/planner"],
    "data synth": ["--offline", "--n", "10"],
    "data export-hf": ["data/planner", "--to", "hf"],
    "data import": ["calls.jsonl", "--out", "data/mine"],
    "bench router": ["--data", "data/mixed/test.jsonl"],
    "data export": ["data/planner", "--out", "openai"],
    "train": ["--recipe", str(ROOT / "recipes" / "demo-smollm2.yaml")],
    "adapters combine": ["runs/a/last", "runs/b/last", "--weights", "0.5", "0.5", "--out", "ab"],
    "adapters fuse": ["runs/x/last", "--out", "fused"],
    "adapters export": ["runs/x/last", "--format", "peft", "--out", "peft"],
    "adapters import": ["peft", "--out", "mine"],
    "adapters pack": ["a", "--out", "packed"],
    "adapters tune": ["runs/a/last", "runs/b/last", "--data", "data/mixed/valid.jsonl", "--out", "tuned"],
    "memory plan": ["--model", "phi-3-mini"],
    "memory table": [],
    "eval": ["--data", "data/planner/test.jsonl"],
    "plan": ["Find news about NVIDIA"],
    "act": ["Text Alice that I am late", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
    "serve": ["--adapter", "planner=runs/x/last"],
    "bench train": ["--data", "data/planner"],
    "bench plan": ["--data", "data/planner/test.jsonl", "--adapter", "runs/x/last"],
    "bench adapters": [],
    "bench agent": ["--requests", "r.jsonl"],
    "bench agent-requests": ["--out", "r.jsonl"],
}


class _Reached(Exception):
    pass


def reaches_its_stage(cmd, argv: list[str], monkeypatch) -> bool:
    """Run ``cmd`` with its stage replaced by a tripwire; whether the tripwire fired."""
    module, func = cmd.stage.split(":")

    def tripwire(*args, **kwargs):
        raise _Reached

    with monkeypatch.context() as m:
        m.setattr(importlib.import_module(module), func, tripwire)
        args = cli.build_parser().parse_args([*cmd.name.split(), *argv])
        try:
            cmd.run(args)
        except _Reached:
            return True
    return False


def test_every_command_calls_the_stage_it_names(monkeypatch, tmp_path):
    """Each command's ``stage`` is the Python API it really calls (replaced here by a tripwire)."""
    monkeypatch.chdir(tmp_path)
    assert sorted(ARGS) == sorted(c.name for c in cli.COMMANDS)
    for cmd in cli.COMMANDS:
        assert reaches_its_stage(cmd, ARGS[cmd.name], monkeypatch), cmd.name


def test_a_stage_the_command_does_not_call_is_caught(monkeypatch):
    """The check above can fail: `plan` naming generate_plans, which it does not call itself."""
    (plan,) = [c for c in cli.COMMANDS if c.name == "plan"]
    wrong = cli.registry.Command(
        plan.name, "octo_mlx.planner:generate_plans", plan.help, plan.add_args, plan.run
    )
    monkeypatch.setattr(importlib.import_module("octo_mlx.planner"), "plan_queries", lambda *a, **k: [])
    monkeypatch.setattr(importlib.import_module("octo_mlx.ui"), "show_plans", lambda *a, **k: None)
    assert not reaches_its_stage(wrong, ["Find news"], monkeypatch)
    assert reaches_its_stage(plan, ["Find news"], monkeypatch)


def test_command_names_are_unique_and_parse():
    names = [c.name for c in cli.COMMANDS]
    assert len(names) == len(set(names))
    parser = cli.build_parser()
    for cmd in cli.COMMANDS:
        node = parser
        for part in cmd.name.split():
            (action,) = node._subparsers._group_actions
            node = action.choices[part]
        assert node.get_default("_run") is cmd.run, cmd.name


def test_help_lists_every_command_group_in_its_order():
    helps = cli.build_parser().format_help()
    firsts = [w for w in cli.HELP_ORDER if f"    {w} " in helps or f"    {w}\n" in helps]
    assert firsts == list(cli.HELP_ORDER)
    assert sorted(helps.index(f"    {w}") for w in firsts) == [helps.index(f"    {w}") for w in firsts]


def test_help_does_not_import_mlx():
    code = "import sys; from octo_mlx import cli; cli.build_parser(); print('mlx.core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- hardening (#11): number flags out of their range are one clear line, before any work -------

# (command, extra arguments, the flag that must be named). Each is refused before the stage runs.
BAD_NUMBERS = [
    ("plan", ["--max-tokens", "0"], "--max-tokens"),
    ("plan", ["--max-tokens", "-5"], "--max-tokens"),
    ("eval", ["--max-tokens", "0"], "--max-tokens"),
    ("eval", ["--limit", "-1"], "--limit"),
    ("eval", ["--limit", "0"], "--limit"),
    ("eval", ["--batch-size", "0"], "--batch-size"),
    ("eval", ["--sample", "--temperature", "-0.5"], "--temperature"),
    ("eval", ["--temperature", "nan"], "--temperature"),
    ("eval", ["--seed", "-1"], "--seed"),
    ("eval", ["--judge-concurrency", "0"], "--judge-concurrency"),
    ("eval", ["--judge-timeout", "0"], "--judge-timeout"),
    ("eval", ["--judge-retries", "-1"], "--judge-retries"),
    ("data synth", ["--n", "0"], "--n"),
    ("data synth", ["--temperature", "-1"], "--temperature"),
    ("data synth", ["--irrelevant", "1"], "--irrelevant"),
    ("data synth", ["--holdout", "-0.2"], "--holdout"),
    ("data synth", ["--holdout", "1.5"], "--holdout"),
    ("data synth", ["--concurrency", "0"], "--concurrency"),
    ("data synth", ["--attempts", "0"], "--attempts"),
    ("data synth", ["--timeout", "0"], "--timeout"),
    ("data synth", ["--timeout", "inf"], "--timeout"),
    ("data synth", ["--max-retries", "-1"], "--max-retries"),
    ("data synth", ["--price-in", "-1"], "--price-in"),
    ("data synth", ["--price-out", "nan"], "--price-out"),
    ("bench train", ["--rank", "0"], "--rank"),
    ("bench train", ["--alpha", "0"], "--alpha"),
    ("bench train", ["--batch-size", "0"], "--batch-size"),
    ("bench train", ["--examples", "-4"], "--examples"),
    ("bench train", ["--bundled-examples", "0"], "--bundled-examples"),
    ("bench train", ["--epochs", "1"], "--epochs"),
    ("bench train", ["--repeats", "0"], "--repeats"),
    ("bench plan", ["--n", "0"], "--n"),
    ("bench plan", ["--shots", "-1"], "--shots"),
    ("bench plan", ["--max-tokens", "0"], "--max-tokens"),
    ("bench plan", ["--warmup", "-1"], "--warmup"),
    ("bench adapters", ["--random", "1"], "--random"),
    ("bench adapters", ["--repeats", "0"], "--repeats"),
    ("bench adapters", ["--tokens", "1"], "--tokens"),
    ("act", ["--max-tokens", "0"], "--max-tokens"),
    ("act", ["--timeout", "0"], "--timeout"),
    ("serve", ["--port", "70000"], "--port"),
    ("serve", ["--port", "-1"], "--port"),
]


@pytest.mark.parametrize(
    "name,extra,flag", BAD_NUMBERS, ids=lambda x: x if isinstance(x, str) else " ".join(x)
)
def test_a_number_flag_out_of_range_is_refused_naming_the_flag(name, extra, flag, monkeypatch, tmp_path):
    from octo_mlx.errors import OctoError

    monkeypatch.chdir(tmp_path)
    (cmd,) = [c for c in cli.COMMANDS if c.name == name]
    with pytest.raises(OctoError) as e:
        reaches_its_stage(cmd, [*ARGS[name], *extra], monkeypatch)
    assert e.value.where == flag and extra[-1] in e.value.message, e.value


def test_plan_max_tokens_0_is_one_line_exit_2(tmp_path):
    """The issue's case: `plan --max-tokens 0` was an internal error while eval refused it."""
    from tests.helpers.cli import run_octo

    for args in (["plan", "Find news", "--max-tokens", "0"], ["eval", "--data", "x.jsonl", "--limit", "-1"]):
        out = run_octo(*args, cwd=tmp_path)
        assert out.returncode == 2, out
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("octo-mlx: error: --"), out.stderr
