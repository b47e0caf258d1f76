"""AdamW update of every parameter of a model: octo_mlx.train.step's compiled update vs uncompiled.

Loads a model (default: the default model) in float32, makes random gradients, and times one
optimizer update plus its evaluation, the two variants interleaved, medians reported:

    OPENBLAS_NUM_THREADS=1 LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \\
        .venv/bin/python benchmarks/optimizer_update.py [--model DIR] [--repeats 6]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="model folder (default: the default model)")
    ap.add_argument("--repeats", type=int, default=6)
    a = ap.parse_args()

    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx.utils import tree_map
    from mlx_lm import load

    from octo_mlx.models.loading import resolve_model

    model, _ = load(str(resolve_model(a.model)))
    model.apply(lambda x: x.astype(mx.float32))
    grads = tree_map(lambda p: mx.random.normal(p.shape) * 1e-3, model.trainable_parameters())
    mx.eval(model.parameters(), grads)
    opt = optim.AdamW(learning_rate=1e-5, weight_decay=0.0)
    opt.init(model.trainable_parameters())

    def plain(g):
        opt.update(model, g)

    state = [model.state, opt.state]
    compiled = mx.compile(plain, inputs=state, outputs=state)

    def timed(fn) -> float:
        tic = time.perf_counter()
        fn(grads)
        mx.eval(model.parameters(), opt.state)
        return time.perf_counter() - tic

    for fn in (plain, compiled, plain, compiled):  # warm-up: compilation, allocations
        timed(fn)
    runs = {"uncompiled": [], "compiled": []}
    for _ in range(a.repeats):
        runs["uncompiled"].append(timed(plain))
        runs["compiled"].append(timed(compiled))
    for name, times in runs.items():
        print(
            f"{name}: median {statistics.median(times):.3f} s over {len(times)} (all: "
            + ", ".join(f"{t:.3f}" for t in times)
            + ")"
        )


if __name__ == "__main__":
    main()
