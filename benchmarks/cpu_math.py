"""What octo_mlx.runtime.fastmath and keep_freed_memory buy on the CPU, each alone and together.

``ops``: MLX's exp, softmax, SwiGLU and attention against fastmath's, on the shapes of one
packed micro-batch of the default model (448 tokens, 9 heads over 3 key-value heads, 1536 MLP
columns), medians of interleaved repeats, one process.

``steps``: training steps of the default model on real planning data (the first N
micro-batches of epoch 0, one warm-up pass, then timed passes), each variant in a fresh
process, variants interleaved round by round: ``base`` (neither), ``heap`` (keep_freed_memory
only), ``fastmath`` (only), ``both`` (what octo-mlx does). Reports useful tokens/s, user and
system CPU seconds, minor page faults, the MLX peak and the max RSS.

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/cpu_math.py ops
    bash scripts/with-openblas.sh .venv/bin/python benchmarks/cpu_math.py steps \\
        --data data/bench-android [--method lora|full] [--batches 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"base": (False, False), "heap": (True, False), "fastmath": (False, True), "both": (True, True)}


def _median_ms(fn, repeats: int) -> float:
    import mlx.core as mx

    mx.eval(fn())
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        mx.eval(fn())
        times.append(time.perf_counter() - tic)
    return statistics.median(times) * 1000


def ops(repeats: int) -> dict:
    import mlx.core as mx
    from mlx_lm.models.activations import swiglu

    from octo_mlx.runtime import fastmath as fm
    from octo_mlx.runtime.device import keep_freed_memory

    keep_freed_memory()  # both sides: the comparison is of the arithmetic, not of page faults
    tokens, heads, kv, dim, mlp = 448, 9, 3, 64, 1536
    keys = iter(mx.random.split(mx.random.key(0), 6))
    q = mx.random.normal((1, heads, tokens, dim), key=next(keys))
    k = mx.random.normal((1, kv, tokens, dim), key=next(keys))
    v = mx.random.normal((1, kv, tokens, dim), key=next(keys))
    scores = mx.random.normal((1, heads, tokens, tokens), key=next(keys)) * 3
    gate = mx.random.normal((1, tokens, mlp), key=next(keys))
    up = mx.random.normal((1, tokens, mlp), key=next(keys))
    mx.eval(q, k, v, scores, gate, up)
    ours_exp, ours_softmax = mx.compile(fm.exp), mx.compile(fm.softmax)
    ours_swiglu = mx.compile(fm.swiglu)
    ours_sdpa = mx.compile(lambda q, k, v: fm.scaled_dot_product_attention(q, k, v, None, 0.125, "causal"))
    pairs = {
        f"exp, {scores.size:,} elements": (lambda: mx.exp(scores), lambda: ours_exp(scores)),
        "softmax of the attention scores": (
            lambda: mx.softmax(scores, axis=-1, precise=True),
            lambda: ours_softmax(scores),
        ),
        "SwiGLU of the MLP": (lambda: swiglu(gate, up), lambda: ours_swiglu(gate, up)),
        "causal attention (q, k, v to output)": (
            lambda: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.125, mask="causal"),
            lambda: ours_sdpa(q, k, v),
        ),
    }
    rows = {}
    for name, (theirs, ours) in pairs.items():
        a, b = [], []
        for _ in range(3):  # interleaved rounds
            a.append(_median_ms(theirs, repeats))
            b.append(_median_ms(ours, repeats))
        rows[name] = {"mlx_ms": statistics.median(a), "fastmath_ms": statistics.median(b)}
    return rows


def one_run(data: str, method: str, batches: int, passes: int) -> dict:
    """A fresh process's measurement of one variant (chosen by OCTO_BENCH_VARIANT)."""
    heap, fast = VARIANTS[os.environ["OCTO_BENCH_VARIANT"]]
    if not fast:
        os.environ["OCTO_MLX_NO_FAST_MATH"] = "1"
    from octo_mlx.runtime import device

    if not heap:  # prepare_model (octo_mlx.runtime.device) calls it when the model loads
        device.keep_freed_memory = lambda: False
    import mlx.core as mx

    from octo_mlx.train import batching
    from octo_mlx.train.recipe import load_recipe
    from octo_mlx.train.setup import setup

    overrides = [f"data.path={data}", f"train.method={method}", "lora.rank=16", "lora.alpha=32"]
    run = setup(load_recipe(None, [*overrides, "model.new_tokens=[]"]))  # the trainer's own set-up
    model, opt, stepper, t = run.model, run.optimizer, run.stepper, run.recipe.train
    enc, pack, pad = run.train, t.batching == "pack", run.pad_id
    plan = batching.plan_epoch([len(e.tokens) for e in enc], t.batch_size, 1, 0, 0, t.batching)
    mbs = [batching.collate([enc[j] for j in p[0]], pack, t.pad_multiple, pad) for p in plan[:batches]]

    def run_pass():
        for b in mbs:
            loss, _, grads = stepper.grads(b)
            stepper.update(grads, float(b.n_targets), 1e-6)
            mx.eval(model.parameters(), opt.state, loss)

    run_pass()  # compiles every shape
    usage = []
    for _ in range(passes):
        r0, tic = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run_pass()
        wall, r1 = time.perf_counter() - tic, resource.getrusage(resource.RUSAGE_SELF)
        usage.append(
            {
                "tok_s": sum(b.n_tokens for b in mbs) / wall,
                "user_s": r1.ru_utime - r0.ru_utime,
                "sys_s": r1.ru_stime - r0.ru_stime,
                "faults": r1.ru_minflt - r0.ru_minflt,
            }
        )
    return {
        "passes": usage,
        "mlx_peak_gb": mx.get_peak_memory() / 1e9,
        "max_rss_gb": device.peak_rss_bytes() / 1e9,
    }


def steps(a) -> dict:
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(a.rounds):
        for variant in VARIANTS:
            env = dict(os.environ, OCTO_BENCH_VARIANT=variant)
            cmd = [sys.executable, __file__, "one", "--data", a.data, "--method", a.method]
            cmd += ["--batches", str(a.batches), "--passes", str(a.passes)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {variant}: {runs[variant][-1]}", file=sys.stderr)
    table = {}
    for variant, rs in runs.items():
        passes = [p for r in rs for p in r["passes"]]
        table[variant] = {
            "tok_s": statistics.median(p["tok_s"] for p in passes),
            "user_s": statistics.median(p["user_s"] for p in passes),
            "sys_s": statistics.median(p["sys_s"] for p in passes),
            "faults": statistics.median(p["faults"] for p in passes),
            "mlx_peak_gb": max(r["mlx_peak_gb"] for r in rs),
            "max_rss_gb": max(r["max_rss_gb"] for r in rs),
            "passes": len(passes),
        }
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["ops", "steps", "one"])
    ap.add_argument("--data", default=str(ROOT / "data" / "bench-android"))
    ap.add_argument("--method", default="lora", choices=["lora", "full"])
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    if a.what == "one":
        print(json.dumps(one_run(a.data, a.method, a.batches, a.passes)))
        return
    print(json.dumps(ops(a.repeats) if a.what == "ops" else steps(a), indent=1))


if __name__ == "__main__":
    main()
