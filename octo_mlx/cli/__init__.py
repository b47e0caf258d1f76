"""The `octo-mlx` command: parses arguments and calls the stage's Python API, nothing else.

Each subcommand names the API function it calls (``stage``); the stage module is imported
only when the command runs, so `octo-mlx --help` stays fast. Bad input (an OctoError) is one
line on stderr and exit code 2; `--debug` shows the traceback. The commands live beside this
file, one module per command group (chat, doctor, model, functions, data, train and memory, adapters, eval,
plan, act, serve, bench), each registering them in registry.py; this module holds the parser and the
entry point.
"""

from __future__ import annotations

import argparse
import os
import sys

from octo_mlx.cli import (  # noqa: F401  (they register)
    act,
    adapters,
    bench,
    chat,
    data,
    doctor,
    eval,
    functions,
    model,
    plan,
    serve,
    train,
)
from octo_mlx.cli.registry import COMMANDS

# The order of `octo-mlx --help`, by first word: the agent first, then from the machine to the results.
HELP_ORDER = (
    "chat",
    "doctor",
    "model",
    "data",
    "functions",
    "train",
    "adapters",
    "memory",
    "bench",
    "eval",
    "plan",
    "act",
    "serve",
)

# --- parser and entry point -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="octo-mlx", description="The Octo-planner planner-action agent in MLX."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    tree: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(dest="command")}
    groups: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    for cmd in sorted(COMMANDS, key=lambda c: HELP_ORDER.index(c.name.split()[0])):
        parts = tuple(cmd.name.split())
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix not in tree:
                group = tree[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                group.set_defaults(_group=group)
                groups[prefix] = group
                tree[prefix] = group.add_subparsers(dest="_".join(prefix))
        sub = tree[parts[:-1]].add_parser(parts[-1], help=cmd.help, description=cmd.help)
        cmd.add_args(sub)
        sub.set_defaults(_run=cmd.run)
    return parser


def _one_line_warnings() -> None:
    """Show OctoWarnings (a ``--force`` taken, say) as one line on stderr; others as Python does."""
    import warnings

    from octo_mlx.errors import OctoWarning

    python_shows = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, OctoWarning):
            print(f"octo-mlx: warning: {message}", file=sys.stderr)
        else:
            python_shows(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    # transformers warns at import that PyTorch is missing: we use it only for tokenizers.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from octo_mlx.runtime.blas import ensure_fast_blas

    ensure_fast_blas(argv)
    _one_line_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        (getattr(args, "_group", None) or parser).print_help()
        sys.exit(2)
    from octo_mlx.errors import OctoError

    try:
        code = run(args)
    except OctoError as e:
        if args.debug:
            raise
        print(f"octo-mlx: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("octo-mlx: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        print(
            f"octo-mlx: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code or 0)
