"""Run the installed `octo-mlx` console script as a user would: a real process, its exit code
and its two streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OCTO = Path(sys.executable).with_name("octo-mlx")  # the console script pip installed beside python


def run_octo(
    *args: str,
    cwd: str | Path | None = None,
    env: dict | None = None,
    drop: tuple[str, ...] = (),
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """``octo-mlx ARGS...`` in ``cwd``; returns the finished process (text stdout/stderr).

    Args:
        env: variables to set on top of this process's environment.
        drop: variables to remove (e.g. LD_PRELOAD, so that the command re-executes itself).
        input: what the command reads on stdin (default: this process's stdin).
    """
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop}
    return subprocess.run(
        [str(OCTO), *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
