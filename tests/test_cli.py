import importlib
import subprocess
import sys
from pathlib import Path

from octo_mlx import cli

ROOT = Path(__file__).resolve().parent.parent

# The fewest arguments that get each command as far as its stage call (nothing real runs: the
# stage is replaced). A command added without an entry here fails the first test below.
ARGS = {
    "doctor": [],
    "model import-gguf": ["model.gguf", "--out", "models/mine"],
    "model export-gguf": ["models/mine", "--out", "mine.gguf"],
    "model default": [],
    "model info": [],
    "functions list": [],
    "functions show": ["send_email"],
    "functions export": [],
    "data validate": ["data/planner"],
    "data stats": ["data/planner"],
    "data synth": ["--offline", "--n", "10"],
    "data export-hf": ["data/planner", "--to", "hf"],
    "train": ["--recipe", str(ROOT / "recipes" / "demo-smollm2.yaml")],
    "memory plan": ["--model", "phi-3-mini"],
    "memory table": [],
    "eval": ["--data", "data/planner/test.jsonl"],
    "plan": ["Find news about NVIDIA"],
    "bench train": ["--data", "data/planner"],
    "bench plan": ["--data", "data/planner/test.jsonl", "--adapter", "runs/x/last"],
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
