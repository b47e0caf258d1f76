import importlib
import subprocess
import sys

from octo_mlx import cli


def test_every_command_names_an_existing_stage_api():
    assert cli.COMMANDS, "no commands registered"
    for cmd in cli.COMMANDS:
        module, func = cmd.stage.split(":")
        assert callable(getattr(importlib.import_module(module), func)), cmd.name


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


def test_help_does_not_import_mlx():
    code = "import sys; from octo_mlx import cli; cli.build_parser(); print('mlx.core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
