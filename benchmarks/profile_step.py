"""Where the time of one octo-mlx training step goes: forward, backward, LM head, optimizer.

Times the pieces of octo_mlx.train's step on one real micro-batch of planning data, each
repeated after a warm-up (so compilation is excluded) and reported as medians:

- ``forward``: the loss alone (blocks + LM head on completion positions + cross-entropy);
- ``grads``: value-and-grad as the trainer runs it (compiled when the recipe compiles);
- ``grads (not compiled)``: the same without mx.compile;
- ``head``: LM head + loss forward and backward on the gathered hidden states only;
- ``blocks fwd``: the blocks' forward alone (``model.model``);
- ``update``: the AdamW update of the trainable parameters;
- ``collate``: building the batch (numpy) and, when packing, the block-diagonal mask;
- the same micro-batch padded one row per example instead of packed, and a batch of examples
  of similar length (what ``bucket`` batching draws) packed and padded.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
        .venv/bin/python benchmarks/profile_step.py --data DIR [--model DIR] [--method lora|full]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: compiles, allocates
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--method", default="lora")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--batch", type=int, default=0, help="which micro-batch of epoch 0")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    from octo_mlx.train import batching
    from octo_mlx.train.recipe import load_recipe
    from octo_mlx.train.setup import setup

    overrides = [
        f"data.path={a.data}",
        f"train.method={a.method}",
        f"lora.rank={a.rank}",
        f"lora.alpha={2 * a.rank}",
        f"train.batch_size={a.batch_size}",
        "model.new_tokens=[]",  # the same token ids as every peer and variant
    ]
    if a.model:
        overrides.append(f"model.path={a.model}")
    run = setup(load_recipe(None, overrides))  # the trainer's own set-up, up to a ready step
    plan = batching.plan_epoch([len(e.tokens) for e in run.train], a.batch_size, 1, 0, 0, "pack")
    picked = [run.train[j] for j in plan[a.batch][0]]
    rows = time_pieces(run, picked, a.batch_size, a.repeats)
    info = shape_info(run, picked, plan)
    packed = batching.collate(picked, True, 32, run.pad_id)
    step = rows["grads (as trained)"] + rows["optimizer update"]
    print(json.dumps(info))
    print(f"{'piece':42s} {'ms':>9s} {'share of step':>14s}")
    for k, v in rows.items():
        print(f"{k:42s} {v * 1000:9.1f} {v / step:14.0%}")
    print(f"{'step = grads + update':42s} {step * 1000:9.1f}   useful tok/s {packed.n_tokens / step:.0f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"info": info, "seconds": rows}, indent=1))


def time_pieces(run, picked, batch_size: int, repeats: int) -> dict[str, float]:
    """Median seconds of each piece of the step on the micro-batch ``picked`` (see the docstring)."""
    import mlx.core as mx
    import mlx.nn as nn

    from octo_mlx.train import batching
    from octo_mlx.train import step as S

    model, stepper, pad, enc = run.model, run.stepper, run.pad_id, run.train
    packed = batching.collate(picked, True, 32, pad)
    padded = batching.collate(sorted(picked, key=lambda e: len(e.tokens)), False, 32, pad)
    mask = None if packed.segments is None else mx.array(batching.attention_mask(packed.segments))
    args = (mx.array(packed.tokens), mask, mx.array(packed.positions), mx.array(packed.targets))
    args += (mx.array(packed.weights),)

    def grads_of(b):
        def go():
            loss, n, g = stepper.grads(b)
            mx.eval(g, loss, n)
            return g

        return go

    def blocks():
        caches = None if args[1] is None else [S._SegmentMask(args[1]) for _ in model.layers]
        return model.model(args[0], caches)

    rows = {}
    rows["collate (numpy + mask)"] = timed(
        lambda: batching.attention_mask(batching.collate(picked, True, 32, pad).segments), repeats
    )
    rows["forward (loss only)"] = timed(lambda: mx.eval(S.batch_loss(model, *args)), repeats)
    rows["blocks forward"] = timed(lambda: mx.eval(blocks()), repeats)
    hidden = blocks()
    h = hidden.reshape(-1, hidden.shape[-1])[args[2]]
    mx.eval(h)

    def head_loss(h):
        logits = S._head(model, h).astype(mx.float32)
        return (nn.losses.cross_entropy(logits, args[3]) * args[4]).sum()

    head_grad = mx.value_and_grad(head_loss)
    rows["head + loss fwd+bwd (grad wrt hidden)"] = timed(lambda: mx.eval(head_grad(h)), repeats)
    rows["grads (as trained)"] = timed(grads_of(packed), repeats)
    grad_fn = nn.value_and_grad(model, S.batch_loss)
    rows["grads (not compiled)"] = timed(lambda: mx.eval(grad_fn(model, *args)), repeats)
    g = grads_of(packed)()

    def update():
        stepper.update(g, float(packed.n_targets), 1e-6)
        mx.eval(model.parameters(), run.optimizer.state)

    rows["optimizer update"] = timed(update, repeats)
    rows["grads, same examples padded per row"] = timed(grads_of(padded), repeats)
    similar = _similar_lengths(enc, batch_size)  # what length bucketing batches together
    rows["grads, similar lengths packed"] = timed(grads_of(batching.collate(similar, True, 32, pad)), repeats)
    rows["grads, similar lengths padded per row"] = timed(
        grads_of(batching.collate(similar, False, 32, pad)), repeats
    )
    return rows


def _similar_lengths(enc, batch_size: int):
    """``batch_size`` neighbours in length order, from the middle of the data."""
    order = sorted(range(len(enc)), key=lambda j: len(enc[j].tokens))
    mid = len(order) // 2
    return [enc[j] for j in order[mid : mid + batch_size]]


def shape_info(run, picked, plan) -> dict:
    """The micro-batch's sizes and how many distinct shapes epoch 0 compiles for."""
    from mlx.utils import tree_flatten

    from octo_mlx.train import batching

    enc, pad = run.train, run.pad_id
    packed = batching.collate(picked, True, 32, pad)
    padded = batching.collate(sorted(picked, key=lambda e: len(e.tokens)), False, 32, pad)
    epoch = [batching.collate([enc[j] for j in s[0]], True, 32, pad) for s in plan]
    return {
        "examples": len(picked),
        "useful tokens": packed.n_tokens,
        "completion tokens": packed.n_targets,
        "packed shape": list(packed.tokens.shape),
        "padded shape": list(padded.tokens.shape),
        "trainable params": sum(v.size for _, v in tree_flatten(run.model.trainable_parameters())),
        "distinct packed lengths in epoch 0": len({b.tokens.shape[1] for b in epoch}),
        "distinct (length, targets) shapes in epoch 0": len(
            {(b.tokens.shape[1], len(b.positions)) for b in epoch}
        ),
        "micro-batches in epoch 0": len(plan),
        "similar-length batch tokens": sum(len(e.tokens) for e in _similar_lengths(enc, len(picked))),
    }


if __name__ == "__main__":
    main()
