"""The command table: each CLI module registers its commands here with :func:`command`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # space-separated path, e.g. "model import-gguf"
    stage: str  # "module:function" of the Python API the command calls
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


COMMANDS: list[Command] = []


def command(
    name: str, stage: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
):
    def register(run):
        COMMANDS.append(Command(name, stage, help, args, run))
        return run

    return register
