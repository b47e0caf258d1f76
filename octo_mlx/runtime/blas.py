"""OpenBLAS on Linux: find it, name the BLAS in use, and re-execute the command with it preloaded.

On Linux the `mlx-cpu` wheel bundles the reference BLAS: a float32 2048x2048 matmul runs at
~5 GFLOP/s there and ~200-280 GFLOP/s with Debian's OpenBLAS preloaded. Nothing here imports
mlx: the re-exec must happen before mlx loads. On macOS nothing changes (Accelerate).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NO_OPENBLAS_ENV = "OCTO_MLX_NO_OPENBLAS"  # set to 1 to keep MLX's bundled BLAS
_REEXEC_MARK = "OCTO_MLX_REEXECED"
OPENBLAS_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib64/libopenblas.so.0",
)


def find_openblas() -> str | None:
    """The path of a system OpenBLAS that exports the plain BLAS symbols, or None."""
    for path in OPENBLAS_CANDIDATES:
        if Path(path).exists():
            return path
    return None


def _loaded_libraries() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    return sorted({line.split()[-1] for line in maps.splitlines() if ".so" in line})


def blas_in_use() -> str:
    """Name the BLAS this process would use: 'OpenBLAS (path)', 'bundled reference BLAS' or 'Accelerate'."""
    if sys.platform == "darwin":
        return "Accelerate (macOS)"
    libs = _loaded_libraries()
    preload = os.environ.get("LD_PRELOAD", "")
    for lib in libs:
        if "openblas" in lib.lower() and "scipy_openblas" not in lib:
            return f"OpenBLAS ({lib})"
    for part in preload.replace(":", " ").split():
        if "openblas" in part.lower():
            return f"OpenBLAS ({part}, preloaded)"
    return "bundled reference BLAS (slow: install libopenblas0-pthread)"


def openblas_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` with OpenBLAS preloaded, for child processes (servers, mlx.launch ranks)."""
    env = dict(os.environ if env is None else env)
    lib = find_openblas()
    if sys.platform != "linux" or lib is None or env.get(NO_OPENBLAS_ENV) == "1":
        return env
    preload = env.get("LD_PRELOAD", "")
    if lib not in preload.split():
        env["LD_PRELOAD"] = f"{lib} {preload}".strip()
    return env


def python_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``python -m MODULE ARGS`` in this interpreter, in safe-path mode.

    ``-m`` alone puts the current folder first on ``sys.path``, so a ``rich.py`` or ``json.py``
    in the folder where a user types a command would be imported and run; ``-P`` (Python 3.11)
    keeps it off. Every Python child octo-mlx starts (the re-exec, bench workers, pip) uses this.
    """
    return [sys.executable, "-P", "-m", module, *args]


def _package_path_env(env: dict[str, str]) -> dict[str, str]:
    """Keep octo_mlx importable under ``-P`` when it is only importable from the current folder
    (a source checkout run as ``python -m octo_mlx`` without an install)."""
    root = Path(__file__).resolve().parents[2]
    if root == Path.cwd().resolve():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


def ensure_fast_blas(argv: list[str] | None = None) -> None:
    """Re-execute this process with OpenBLAS preloaded when that helps (Linux only).

    Does nothing on macOS, when OCTO_MLX_NO_OPENBLAS=1, when no OpenBLAS is installed, when it
    is already loaded, or when we already re-executed once. Must run before mlx is imported.
    """
    if sys.platform != "linux" or os.environ.get(NO_OPENBLAS_ENV) == "1":
        return
    if os.environ.get(_REEXEC_MARK) == "1" or "mlx.core" in sys.modules:
        return
    lib = find_openblas()
    if lib is None or lib in os.environ.get("LD_PRELOAD", "").split():
        return
    env = _package_path_env(openblas_env())
    env[_REEXEC_MARK] = "1"
    args = sys.argv[1:] if argv is None else argv
    os.execve(sys.executable, python_command("octo_mlx", *args), env)
