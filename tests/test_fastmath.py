"""octo_mlx.runtime.fastmath against MLX's own functions and float64, and its install on a real model."""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.models import activations, base
from mlx_lm.utils import load

from octo_mlx.runtime import fastmath
from octo_mlx.runtime.device import apply_dtype_policy
from octo_mlx.train import batching


def test_exp_matches_float64_across_the_float32_range():
    x = np.concatenate([np.linspace(-86.8, 87.9, 400_001), np.random.default_rng(0).normal(0, 4, 100_000)])
    x = x.astype(np.float32)
    ours = np.array(mx.compile(fastmath.exp)(mx.array(x)), dtype=np.float64)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(ours - ref) / ref) < 3e-7  # ~2.5 float32 ulps at worst


def test_exp_edges_overflow_underflow_and_nan():
    x = mx.array([-np.inf, -1e4, -100.0, 0.0, 100.0, 1e4, np.inf, np.nan], dtype=mx.float32)
    got = np.array(fastmath.exp(x))
    assert got[:3].tolist() == [0.0, 0.0, 0.0]
    assert got[3] == 1.0
    assert np.isposinf(got[4:7]).all()
    assert np.isnan(got[7])


@pytest.mark.parametrize(
    "ours, theirs",
    [(fastmath.softmax, lambda a: mx.softmax(a, axis=-1, precise=True)), (fastmath.silu, nn.silu)],
    ids=["softmax", "silu"],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_values_and_gradients_match_mlx(ours, theirs, compiled):
    x = mx.random.normal((2, 3, 17, 33), key=mx.random.key(1)) * 6
    w = mx.random.normal(x.shape, key=mx.random.key(2))

    def loss(f):
        return lambda a: (f(a) * w).sum()

    ours_fn = mx.value_and_grad(loss(ours))
    ours_fn = mx.compile(ours_fn) if compiled else ours_fn
    v1, g1 = ours_fn(x)
    v2, g2 = mx.value_and_grad(loss(theirs))(x)
    assert abs(v1.item() - v2.item()) <= 1e-5 * max(1.0, abs(v2.item()))
    assert mx.allclose(g1, g2, rtol=1e-5, atol=1e-6).item()


def _qkv(q_len, k_len, heads=6, kv_heads=2, dim=16):
    keys = [mx.random.key(i) for i in range(3)]
    q = mx.random.normal((2, heads, q_len, dim), key=keys[0])
    k = mx.random.normal((2, kv_heads, k_len, dim), key=keys[1])
    v = mx.random.normal((2, kv_heads, k_len, dim), key=keys[2])
    return q, k, v


def _packed_mask(length):
    segments = np.array([[1] * (length // 2) + [2] * (length - length // 2 - 3) + [0] * 3] * 2)
    return mx.array(batching.attention_mask(segments))


@pytest.mark.parametrize("mask", ["none", "causal", "packed", "additive", "per-head"])
def test_attention_matches_mlx_fast_sdpa_with_grouped_heads(mask):
    q, k, v = _qkv(24, 24)
    m = {
        "none": None,
        "causal": "causal",
        "packed": _packed_mask(24),
        "additive": mx.random.normal((24, 24), key=mx.random.key(9)),
        "per-head": mx.random.normal((6, 24, 24), key=mx.random.key(10)) * 3,
    }[mask]
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask=m)
    got = fastmath.scaled_dot_product_attention(q, k, v, None, 0.25, m)
    assert mx.allclose(got, want, atol=2e-6).item()


def test_attention_sinks_go_to_mlx_lm():
    q, k, v = _qkv(8, 8)
    sinks = mx.zeros((6,))
    want = base.scaled_dot_product_attention(q, k, v, None, 0.25, "causal", sinks=sinks)
    got = fastmath.scaled_dot_product_attention(q, k, v, None, 0.25, "causal", sinks=sinks)
    assert mx.array_equal(got, want).item()


def test_attention_with_a_cache_offset_and_one_query():
    """Decoding: fewer queries than keys, the causal mask offset to the last positions."""
    for q_len in (1, 5):
        q, k, v = _qkv(q_len, 40)
        want = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask="causal")
        got = fastmath.scaled_dot_product_attention(q, k, v, None, 0.25, "causal")
        assert mx.allclose(got, want, atol=2e-6).item()


@pytest.fixture
def restore_llama():
    module = importlib.import_module("mlx_lm.models.llama")
    saved = {n: getattr(module, n) for n in ("scaled_dot_product_attention", "swiglu")}
    yield module
    for n, fn in saved.items():
        setattr(module, n, fn)


def _loss_and_grads(model, tokens_):
    def loss(m):
        return nn.losses.cross_entropy(m(tokens_)[:, :-1], tokens_[:, 1:]).mean()

    return nn.value_and_grad(model, loss)(model)


def test_install_routes_the_model_through_fastmath_with_the_same_loss_and_grads(tiny_llama, restore_llama):
    module = restore_llama
    module.scaled_dot_product_attention = base.scaled_dot_product_attention
    module.swiglu = activations.swiglu
    model, _ = load(str(tiny_llama))
    apply_dtype_policy(model)
    tokens_ = mx.random.randint(0, 400, (2, 40), key=mx.random.key(3))
    loss_before, grads_before = _loss_and_grads(model, tokens_)

    assert sorted(fastmath.install(model)) == ["scaled_dot_product_attention", "swiglu"]
    assert module.scaled_dot_product_attention is fastmath.scaled_dot_product_attention
    assert module.swiglu is fastmath.swiglu
    loss_after, grads_after = _loss_and_grads(model, tokens_)

    assert abs(loss_after.item() - loss_before.item()) < 1e-5
    before, after = dict(tree_flatten(grads_before)), dict(tree_flatten(grads_after))
    for name, g in before.items():
        assert mx.allclose(after[name], g, rtol=1e-4, atol=1e-6).item(), name


def test_install_leaves_replaced_names_alone_and_can_be_switched_off(tiny_llama, restore_llama, monkeypatch):
    module = restore_llama
    model, _ = load(str(tiny_llama))

    def own_attention(*args, **kwargs):
        return base.scaled_dot_product_attention(*args, **kwargs)

    module.scaled_dot_product_attention = own_attention  # somebody else's attention
    module.swiglu = activations.swiglu
    assert fastmath.install(model) == ["swiglu"]
    assert module.scaled_dot_product_attention is own_attention

    module.swiglu = activations.swiglu
    monkeypatch.setenv(fastmath.NO_FAST_MATH_ENV, "1")
    assert fastmath.install(model) == []
    assert module.swiglu is activations.swiglu


_FAULTS = """
import resource, sys
import mlx.core as mx
if sys.argv[1] == "keep":
    from octo_mlx.runtime.device import keep_freed_memory
    assert keep_freed_memory()
x = mx.random.normal((4096, 4096))
mx.eval(x)
for _ in range(3):
    mx.eval(mx.exp(x))  # 64 MB out, freed: over MLX's 32 MB CPU cache
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    mx.eval(x * 2.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_stops_the_page_faults_of_reallocation():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    def faults(mode):
        cmd = [sys.executable, "-c", _FAULTS, mode]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        return int(out.stdout.strip())

    default, kept = faults("default"), faults("keep")
    assert default > 100_000  # 10 x 16k pages of 4 KB, faulted in again each time
    assert kept < default / 20
