"""`octo-mlx doctor`: the device, the BLAS, measured matmul speed and the dtype policy."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

from octo_mlx.runtime.blas import blas_in_use
from octo_mlx.runtime.device import compute_dtype, on_gpu, physical_memory


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
        memory_gb=physical_memory() / 1e9 or float("nan"),
        fast_math=fast_math_in_use(),
    )


def fast_math_in_use() -> str:
    """What `prepare_model` does to attention and SwiGLU here, in words."""
    from octo_mlx.runtime import fastmath

    if on_gpu():
        return "MLX's own kernels (Metal)"
    if not fastmath.enabled():
        return f"MLX's own (scalar) exp: {fastmath.NO_FAST_MATH_ENV}=1"
    return "vectorised exp in attention and SwiGLU (octo_mlx.runtime.fastmath)"
