"""Learned per-layer fusion weights (LoRA Soups' CAT): the concatenated adapters stay frozen and
one weight per adapter per layer is trained on a little validation data.

A grid or CMA-ES search sets one weight per adapter for the whole model. Here every LoRA layer
(module) gets its own: the layer's update is ``sum_i g[i] * w0[i] * s_i A_i B_i``, with the
stacked factors of `adapters combine --method linear` (``cat``, exact) and a trainable gate ``g``
of one entry per adapter, started at 1 (the uniform mix ``w0``). Only the gates train (a few
hundred numbers: 30 blocks x 7 layers x 4 adapters on the default model), with the planner's own
completion-only loss (octo_mlx.train.step.batch_loss) on the validation requests. The trained rows
of added tokens (``<nexa_split>``) keep the uniform mix. The result is written by `adapters
combine` with per-module weights ``g * w0``: an ordinary adapter any mlx-lm loads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LearnedWeights:
    """What training the gates gave: per module key, one weight per adapter, and the loss curve."""

    module_weights: dict[str, list[float]]
    losses: list[float]  # mean completion-token loss of each epoch
    steps: int


def _gated_class():
    import mlx.core as mx
    import mlx.nn as nn

    class GatedLoRA(nn.Module):
        """A LoRA layer whose stacked rank is split among adapters, each scaled by its gate."""

        def __init__(self, inner, owner: mx.array, n: int):
            super().__init__()
            self.inner = inner  # mlx-lm's LoRALinear of the stacked factors (frozen)
            self._owner = owner  # (rank,) which adapter each rank column belongs to
            self.gate = mx.ones((n,))

        def __call__(self, x):
            inner = self.inner
            y = inner.linear(x)
            z = ((x @ inner.lora_a) * self.gate[self._owner]) @ inner.lora_b
            return y + (inner.scale * z).astype(x.dtype)

    return GatedLoRA


def rank_owners(sources, key: str, weights: Sequence[float], file_rank: int) -> list[int]:
    """Which source each stacked rank column of module ``key`` belongs to, in the order `combine`
    stacks them (sources of weight 0 or without the module take no columns; the file's zero
    padding goes to source 0, where it adds nothing)."""
    from octo_mlx.adapters.combine import scaled_factors

    owners: list[int] = []
    for i, (s, w) in enumerate(zip(sources, weights)):
        if w != 0 and key in s.update.factors:
            owners += [i] * int(scaled_factors(s.update, key)[0].shape[1])
    return owners + [0] * (file_rank - len(owners))


def learn_module_weights(
    pool,
    name: str,
    sources,
    start: Sequence[float],
    encoded: Sequence,
    epochs: int = 2,
    batch_size: int = 8,
    learning_rate: float = 0.05,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> LearnedWeights:
    """Train one gate per adapter per LoRA layer of the cat-combined adapter ``name`` resident in
    ``pool`` (combined from ``sources`` with weights ``start``), on the tokenized examples ``encoded``.

    Returns the per-module weights ``gate * start`` (ready for ``combine_adapters(module_weights=)``).
    """
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import numpy as np
    from mlx.utils import tree_map, tree_unflatten

    from octo_mlx.adapters.combined import ROW_KEYS  # the added-token rows keep the start mix
    from octo_mlx.train.batching import collate
    from octo_mlx.train.step import batch_loss

    GatedLoRA = _gated_class()
    pool.use(name)
    model = pool.model
    n = len(sources)
    gated: dict[str, object] = {}
    for key, module in list(model.named_modules()):
        if key in ROW_KEYS or not ("lora_a" in module and "linear" in module):
            continue
        owner = rank_owners(sources, key, start, int(module.lora_a.shape[1]))
        gated[key] = GatedLoRA(module, mx.array(owner, dtype=mx.int32), n)
    model.freeze()
    model.update_modules(tree_unflatten(list(gated.items())))
    for g in gated.values():
        g.unfreeze(recurse=False, keys=["gate"])
    try:
        optimizer = optim.Adam(learning_rate=learning_rate)
        loss_and_grad = nn.value_and_grad(model, batch_loss)
        rng = np.random.default_rng(seed)
        order = list(range(len(encoded)))
        per_epoch = -(-len(order) // batch_size)
        losses: list[float] = []
        step = 0
        for _ in range(epochs):
            rng.shuffle(order)
            total, count = 0.0, 0.0
            for b in range(per_epoch):
                batch = collate(
                    [encoded[i] for i in order[b * batch_size : (b + 1) * batch_size]], pack=False
                )
                (loss, ntok), grads = loss_and_grad(
                    model,
                    mx.array(batch.tokens),
                    None,
                    mx.array(batch.positions),
                    mx.array(batch.targets),
                    mx.array(batch.weights),
                )
                optimizer.update(model, tree_map(lambda g: g / ntok, grads))
                mx.eval(model.trainable_parameters(), optimizer.state, loss)
                total, count = total + loss.item(), count + ntok.item()
                step += 1
                if progress is not None:
                    progress(step, epochs * per_epoch)
            losses.append(total / max(count, 1.0))
        weights = {
            k: [float(g * w) for g, w in zip(m.gate.tolist(), start)] for k, m in sorted(gated.items())
        }
    finally:  # the plain cat layers back in place: the pool stays usable
        model.update_modules(tree_unflatten([(k, g.inner) for k, g in gated.items()]))
        model.unfreeze()
    return LearnedWeights(weights, losses, step)
