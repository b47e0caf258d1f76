"""The command table: each CLI module registers its commands here with :func:`command`; and the
one range check of number flags (:func:`check_numbers`), made before any work."""

from __future__ import annotations

import argparse
import math
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


# --- number flags: one check for every command ------------------------------------------------

Check = Callable[[float], "str | None"]  # a value -> what is wrong with it, or None


def at_least(low: float) -> Check:
    """A finite number >= ``low``."""
    return lambda v: None if math.isfinite(v) and v >= low else f"must be >= {low}"


def above(low: float) -> Check:
    """A finite number > ``low``."""
    return lambda v: None if math.isfinite(v) and v > low else f"must be > {low}"


def between(low: float, high: float, high_open: bool = False) -> Check:
    """A number in [low, high] (or [low, high) when ``high_open``)."""
    bracket = ")" if high_open else "]"

    def check(v: float) -> str | None:
        ok = math.isfinite(v) and low <= v and (v < high if high_open else v <= high)
        return None if ok else f"must be in [{low}, {high}{bracket}"

    return check


def check_numbers(args: argparse.Namespace, **checks: Check) -> None:
    """Refuse, before any work, a number flag outside its range: one OctoError naming the flag
    (``octo-mlx: error: --max-tokens: must be >= 1, got 0``). A flag not given (None) passes.

    Args:
        args: the parsed arguments.
        checks: argument name (``max_tokens``) -> its check (:func:`at_least`, :func:`above`,
            :func:`between`).
    """
    from octo_mlx.errors import OctoError

    for name, check in checks.items():
        value = getattr(args, name)
        if value is None:
            continue
        problem = check(value)
        if problem:
            raise OctoError(f"{problem}, got {value}", "--" + name.replace("_", "-"))


def lookup_argument(p: argparse.ArgumentParser, where: str) -> None:
    """``--lookup N``, the one flag of every command that decodes for the agent (chat, serve,
    bench agent): draft tokens checked per forward pass (octo_mlx.generation.lookup_draft);
    ``where`` says what it applies to. Checked with ``check_numbers(..., lookup=at_least(0))``."""
    from octo_mlx.generation import DEFAULT_LOOKUP

    p.add_argument(
        "--lookup",
        type=int,
        default=DEFAULT_LOOKUP,
        metavar="N",
        help=f"draft tokens checked per forward pass by prompt lookup in {where}: the same text, "
        f"sooner (default {DEFAULT_LOOKUP}; 0: off)",
    )
