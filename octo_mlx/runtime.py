"""Where MLX runs and how fast: OpenBLAS on Linux, the dtype policy, `octo-mlx doctor`.

On Linux the `mlx-cpu` wheel bundles the reference BLAS: a float32 2048x2048 matmul runs at
~5 GFLOP/s there and ~200-280 GFLOP/s with Debian's OpenBLAS preloaded. bfloat16/float16 have
no fast CPU path (~5 GFLOP/s either way), so on the CPU we compute in float32. On macOS nothing
changes: Metal and bfloat16.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
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
    env = openblas_env()
    env[_REEXEC_MARK] = "1"
    args = sys.argv[1:] if argv is None else argv
    os.execve(sys.executable, [sys.executable, "-m", "octo_mlx", *args], env)


def on_gpu() -> bool:
    import mlx.core as mx

    return mx.default_device() == mx.gpu


def compute_dtype():
    """float32 on the CPU (no fast bf16 path there), bfloat16 on Metal."""
    import mlx.core as mx

    return mx.bfloat16 if on_gpu() else mx.float32


def apply_dtype_policy(model) -> None:
    """Cast a model's floating-point parameters to the compute dtype (quantized weights stay)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    dtype = compute_dtype()
    params = tree_flatten(model.parameters())
    cast = [
        (k, v.astype(dtype)) for k, v in params if mx.issubdtype(v.dtype, mx.floating) and v.dtype != dtype
    ]
    if cast:
        model.update(tree_unflatten(cast))


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel (Linux).

    MLX's CPU allocator caches only 32 MB of freed buffers and hands the rest to ``free``;
    glibc returns every block over its mmap threshold to the kernel, so the next step's
    activations page-fault their way back in: ~225k faults and a third of the wall time of a
    LoRA step of the default model went to the kernel. With mmap off and trimming at 2 GB,
    freed blocks stay in the heap and are reused (measured: faults to ~0, ~1.2x steps/s, max
    RSS +9% on full fine-tuning; BENCHMARKS.md). Returns whether the settings took.
    """
    if sys.platform != "linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl has no mallopt tunables
    except (OSError, AttributeError):
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def prepare_model(model) -> list[str]:
    """The device policy for a freshly loaded model: compute dtype; on the CPU, our vectorised
    attention and SwiGLU (octo_mlx.fastmath) and a heap that keeps freed memory.

    Returns the names fastmath replaced (empty on Metal or with OCTO_MLX_NO_FAST_MATH=1).
    """
    from octo_mlx import fastmath

    apply_dtype_policy(model)
    if not on_gpu():
        keep_freed_memory()
    return fastmath.install(model)


def matmul_gflops(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> float:
    """Median GFLOP/s of an n x n matmul on the default device."""
    import mlx.core as mx

    dt = getattr(mx, dtype)
    a = mx.random.normal((n, n)).astype(dt)
    b = mx.random.normal((n, n)).astype(dt)
    mx.eval(a @ b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mx.eval(a @ b)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2 * n**3 / times[len(times) // 2] / 1e9


@dataclass(frozen=True)
class Doctor:
    """What `octo-mlx doctor` reports."""

    platform: str
    python: str
    mlx: str
    mlx_lm: str
    device: str
    blas: str
    dtype: str
    gflops_float32: float
    gflops_bfloat16: float
    memory_gb: float
    fast_math: str


def total_memory_gb() -> float:
    """Physical memory in GB (unified memory on a Mac)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return float("nan")


def run_doctor(n: int = 2048) -> Doctor:
    """Measure the device, BLAS and matmul speed."""
    import mlx.core as mx
    import mlx_lm

    return Doctor(
        platform=f"{platform.system()} {platform.machine()}",
        python=platform.python_version(),
        mlx=mx.__version__,
        mlx_lm=getattr(mlx_lm, "__version__", "?"),
        device=str(mx.default_device()),
        blas=blas_in_use(),
        dtype=str(compute_dtype()).replace("mlx.core.", ""),
        gflops_float32=matmul_gflops(n, dtype="float32"),
        gflops_bfloat16=matmul_gflops(min(n, 1024), repeats=3, dtype="bfloat16"),
        memory_gb=total_memory_gb(),
        fast_math=fast_math_in_use(),
    )


def fast_math_in_use() -> str:
    """What `prepare_model` does to attention and SwiGLU here, in words."""
    from octo_mlx import fastmath

    if on_gpu():
        return "MLX's own kernels (Metal)"
    if not fastmath.enabled():
        return f"MLX's own (scalar) exp: {fastmath.NO_FAST_MATH_ENV}=1"
    return "vectorised exp in attention and SwiGLU (octo_mlx.fastmath)"
