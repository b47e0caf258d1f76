"""The device policy of a loaded model: the compute dtype, our CPU maths, and memory.

bfloat16/float16 have no fast CPU path (~5 GFLOP/s either way), so on the CPU we compute in
float32; on Metal, bfloat16. On the CPU attention and SwiGLU run through octo_mlx.runtime.fastmath
and glibc keeps freed memory for reuse.
"""

from __future__ import annotations

import os
import sys


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
    attention and SwiGLU (octo_mlx.runtime.fastmath) and a heap that keeps freed memory.

    Returns the names fastmath replaced (empty on Metal or with OCTO_MLX_NO_FAST_MATH=1).
    """
    from octo_mlx.runtime import fastmath

    apply_dtype_policy(model)
    if not on_gpu():
        keep_freed_memory()
    return fastmath.install(model)


# --- the machine's memory ---------------------------------------------------------------------


def is_mac() -> bool:
    """True on macOS (Metal, unified memory)."""
    return sys.platform == "darwin"


def physical_memory() -> int:
    """Physical memory in bytes (unified memory on a Mac); 0 when the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def peak_rss_bytes() -> int:
    """This process's resident-set peak in bytes (getrusage: KiB on Linux, bytes on macOS)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if is_mac() else rss * 1024
