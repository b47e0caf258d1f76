"""Vectorised exp, softmax, SiLU and attention for MLX on the CPU.

The `mlx-cpu` wheel evaluates ``exp`` one element at a time: ~10 ns per float32 on this
machine, where a multiply runs at ~0.3 ns. A LoRA step of the default model spent about a
quarter of its time there (the attention softmax and the SiLU of each of its 30 layers). The
same exponential written as a short chain of multiplies, adds, a rounding and an exponent
bit-shift runs as a few loops that the C++ compiler vectorises: ~2.8 ns per element, with
float32 accuracy (relative error below 2e-7 against float64).

``install(model)`` routes an mlx-lm model's attention and SwiGLU through these functions by
replacing two names in the model's own module (``mlx_lm.models.llama`` and friends), and only
when those names still hold mlx-lm's originals. It is for the CPU: on Metal, MLX's kernels
are already fast and nothing is changed. Set OCTO_MLX_NO_FAST_MATH=1 to keep MLX's functions.
"""

from __future__ import annotations

import math
import os
import sys

import mlx.core as mx
import numpy as np

NO_FAST_MATH_ENV = "OCTO_MLX_NO_FAST_MATH"


def _constants() -> tuple[float, float, tuple[float, ...]]:
    """ln 2 split in two (the high part has 12 free low bits, so n * hi is exact for |n| < 2^12)
    and a degree-6 Chebyshev interpolant of e^r on [-ln2/2, ln2/2], as power-series
    coefficients from degree 0 up."""
    ln2 = math.log(2.0)
    bits = np.array([ln2], np.float32).view(np.uint32) & np.uint32(0xFFFFF000)
    hi = float(bits.view(np.float32)[0])
    cheb = np.polynomial.Chebyshev.interpolate(np.exp, 6, domain=[-ln2 / 2, ln2 / 2])
    coef = cheb.convert(kind=np.polynomial.Polynomial).coef
    return hi, ln2 - hi, tuple(float(c) for c in coef)


_LN2_HI, _LN2_LO, _C = _constants()
_LOG2E = 1.0 / math.log(2.0)
# Beyond these, exp returns inf and 0: e^88 is 1.65e38 (float32 max is 3.4e38), e^-86.9 is
# 2.4e-38 (the smallest normal float32 is 1.2e-38). Inside, 2^n is a normal float32.
_X_MAX, _X_MIN = 88.0, -86.9
_ROUND = 1.5 * 2.0**23  # float32 x + _ROUND - _ROUND rounds x to the nearest integer (|x| < 2^22)


def _exp(x: mx.array) -> mx.array:
    """e^x = 2^n * e^r with n = round(x / ln2) and |r| <= ln2/2 (Cody-Waite reduction), e^r by
    Estrin's scheme, 2^n built in the exponent bits.

    n is rounded by adding and subtracting 1.5 * 2^23, not by ``mx.round``: the compiled
    kernels are built for baseline x86-64 (SSE2), where a rounding function is a libm call per
    element and halves the speed. Relative error below 2e-7 against float64 on [-86.9, 88]
    (MLX's own ``exp``: 3.7e-6).
    """
    xc = mx.clip(x, _X_MIN, _X_MAX)
    n = (xc * _LOG2E + _ROUND) - _ROUND
    two_n = mx.left_shift(n.astype(mx.int32) + 127, 23).view(mx.float32)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    r2 = r * r
    c = _C
    p = (c[0] + c[1] * r) + r2 * (c[2] + c[3] * r) + (r2 * r2) * ((c[4] + c[5] * r) + r2 * c[6])
    return mx.where(x > _X_MAX, math.inf, mx.where(x < _X_MIN, 0.0, p * two_n))


@mx.custom_function
def exp(x: mx.array) -> mx.array:
    """float32 e^x, vectorisable on the CPU; the gradient is the output."""
    return _exp(x)


@exp.vjp
def _exp_vjp(primals, cotangent, output):
    return cotangent * output


@mx.custom_function
def softmax(x: mx.array) -> mx.array:
    """Softmax over the last axis."""
    e = _exp(x - mx.stop_gradient(x.max(axis=-1, keepdims=True)))
    return e * mx.reciprocal(e.sum(axis=-1, keepdims=True))


@softmax.vjp
def _softmax_vjp(primals, cotangent, output):
    return output * (cotangent - (cotangent * output).sum(axis=-1, keepdims=True))


def _sigmoid(x: mx.array) -> mx.array:
    return mx.reciprocal(1.0 + _exp(-x))


@mx.custom_function
def silu(x: mx.array) -> mx.array:
    return x * _sigmoid(x)


@silu.vjp
def _silu_vjp(primals, cotangent, output):
    s = _sigmoid(primals)  # one-input custom functions get the input itself, not a tuple
    return cotangent * (s * (1.0 + primals * (1.0 - s)))


def swiglu(gate: mx.array, x: mx.array) -> mx.array:
    """mlx-lm's ``swiglu`` (silu(gate) * x), same signature. Not compiled on its own: the bit
    cast of ``exp`` has no shapeless form; the training step's ``mx.compile`` fuses it."""
    return silu(gate) * x


def _mask_for(mask, q_len: int, k_len: int, dtype) -> mx.array | None:
    """An additive mask (0 where allowed) broadcastable to (..., q_len, k_len)."""
    if mask is None:
        return None
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"unsupported attention mask {mask!r}")
        rows = mx.arange(k_len - q_len, k_len)[:, None]
        mask = rows >= mx.arange(k_len)[None]
    if mask.dtype == mx.bool_:
        return mx.where(mask, mx.array(0.0, dtype), mx.array(-1e30, dtype))  # finite: no NaN rows
    return mask.astype(dtype)


def scaled_dot_product_attention(queries, keys, values, cache, scale: float, mask, sinks=None):
    """mlx-lm's ``scaled_dot_product_attention`` with our softmax; grouped-query heads are
    handled by broadcasting, never by repeating keys and values. Quantized caches and
    attention sinks go to mlx-lm's own function."""
    if sinks is not None or hasattr(cache, "bits"):
        from mlx_lm.models import base  # its own name is never replaced, only the models' copies

        return base.scaled_dot_product_attention(queries, keys, values, cache, scale, mask, sinks)
    b, n_heads, q_len, dim = queries.shape
    n_kv, k_len = keys.shape[1], keys.shape[2]
    q = (queries * scale).reshape(b, n_kv, n_heads // n_kv, q_len, dim)
    scores = q @ mx.expand_dims(keys, 2).swapaxes(-1, -2)  # (b, kv, group, q, k)
    additive = _mask_for(mask, q_len, k_len, scores.dtype)
    if additive is not None:
        if additive.ndim == 3:  # (heads|1, q, k), as broadcasting against (b, heads, q, k) reads it
            additive = additive[None]
        if additive.ndim == 4:  # (b|1, heads|1, q, k): split the head axis like the queries
            heads = additive.shape[1]
            additive = additive.reshape(additive.shape[0], n_kv if heads > 1 else 1, -1, q_len, k_len)
        scores = scores + additive
    probs = softmax(scores.astype(mx.float32)).astype(values.dtype)
    out = probs @ mx.expand_dims(values, 2)
    return out.reshape(b, n_heads, q_len, -1)


def enabled() -> bool:
    """Whether ``install`` would change anything: on the CPU, unless switched off."""
    return mx.default_device() == mx.cpu and os.environ.get(NO_FAST_MATH_ENV) != "1"


def install(model) -> list[str]:
    """Route ``model``'s attention and SwiGLU through this module; returns the names replaced.

    Only names of the model's mlx-lm module that still hold mlx-lm's own functions are
    replaced, so a model with its own attention or activation is left as it is.
    """
    if not enabled():
        return []
    from mlx_lm.models import activations, base  # whose own names are never replaced

    swaps = {
        "scaled_dot_product_attention": (base.scaled_dot_product_attention, scaled_dot_product_attention),
        "swiglu": (activations.swiglu, swiglu),
    }
    module = sys.modules.get(type(model).__module__)
    replaced = []
    for name, (theirs, ours) in swaps.items():
        current = getattr(module, name, None)
        if current is theirs:
            setattr(module, name, ours)
        if current is theirs or current is ours:
            replaced.append(name)
    return replaced
