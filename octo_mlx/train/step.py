"""One optimizer step of octo-mlx training: the completion-only loss, its gradients, the update.

The loss of an optimizer step is the mean cross-entropy over every completion token of its
examples (all micro-batches, all ranks): each micro-batch returns a *sum* and a count, the sums
are all-summed, then divided once. So 2 ranks, or packed rows, give the same gradient as 1
process on the same global batch. Hidden states of completion positions are gathered before the
LM head, so the head (49k-256k columns) never runs where the loss is masked.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

from octo_mlx.train import batching
from octo_mlx.train.recipe import Recipe

# Model types whose logits are exactly head(model.model(x)): we can gather before the head.
SPLIT_HEAD_TYPES = {"llama", "phi3", "gemma", "mistral", "qwen2", "qwen3", "olmo2", "granite"}
# --- schedule -------------------------------------------------------------------------------


def learning_rate_at(
    step: int, total_steps: int, base_lr: float, warmup_ratio: float, schedule: str
) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then decay to 0.

    Warm-up lasts ceil(ratio * total) steps (Hugging Face's count) and reaches ``base_lr`` on its
    last step; the first step already moves (lr = base / warmup, not 0).
    """
    warmup = math.ceil(warmup_ratio * total_steps)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    progress = (step - warmup) / max(1, total_steps - warmup)
    if schedule == "linear":
        return base_lr * (1.0 - progress)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


# --- model ----------------------------------------------------------------------------------


class _SegmentMask:
    """Stands in for mlx-lm's KV cache to hand our block-diagonal mask to every layer.

    mlx-lm models ask ``cache.make_mask`` for the attention mask; offset 0 keeps RoPE positions
    as in a plain call, and update_and_fetch returns the keys and values unchanged.
    """

    offset = 0

    def __init__(self, mask: mx.array):
        self.mask = mask

    def make_mask(self, n, return_array=False, window_size=None):
        return self.mask

    def update_and_fetch(self, keys, values):
        return keys, values


def _head(model, h: mx.array) -> mx.array:
    if "lm_head" in model:
        return model.lm_head(h)
    return model.model.embed_tokens.as_linear(h)


def target_logits(model, tokens_: mx.array, mask: mx.array | None, positions: mx.array) -> mx.array:
    """Logits at the flat ``positions`` only; the LM head never sees the other positions."""
    caches = None if mask is None else [_SegmentMask(mask) for _ in model.layers]
    if getattr(model, "model_type", None) in SPLIT_HEAD_TYPES:
        h = model.model(tokens_, caches)
        return _head(model, h.reshape(-1, h.shape[-1])[positions])
    logits = model(tokens_, cache=caches)  # other architectures: full logits, then gather
    return logits.reshape(-1, logits.shape[-1])[positions]


def batch_loss(model, tokens_, mask, positions, targets, weights):
    """(sum of completion-token cross-entropies, number of completion tokens)."""
    logits = target_logits(model, tokens_, mask, positions).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets) * weights
    return ce.sum(), weights.sum()


class Stepper:
    """Loss and gradients of one micro-batch (optionally compiled), and the optimizer update."""

    def __init__(self, model, optimizer, recipe: Recipe, world):
        self.model, self.optimizer, self.world = model, optimizer, world
        self.t = recipe.train
        grad_fn = nn.value_and_grad(model, batch_loss)

        def step(tokens_, mask, positions, targets, weights):
            (loss, n), grads = grad_fn(model, tokens_, mask, positions, targets, weights)
            return loss, n, grads

        def step_plain(tokens_, positions, targets, weights):
            return step(tokens_, None, positions, targets, weights)

        state = [model.state, mx.random.state]
        if self.t.compile:
            self._packed = mx.compile(step, inputs=state, outputs=state)
            self._plain = mx.compile(step_plain, inputs=state, outputs=state)
        else:
            self._packed, self._plain = step, step_plain
        self._apply = None  # the update, built at its first call (after a resume has loaded the state)

    def grads(self, batch: batching.Batch):
        args = (mx.array(batch.positions), mx.array(batch.targets), mx.array(batch.weights))
        if batch.segments is None:
            return self._plain(mx.array(batch.tokens), *args)
        return self._packed(mx.array(batch.tokens), mx.array(batching.attention_mask(batch.segments)), *args)

    def zeros(self):
        return 0.0, 0.0, tree_map(mx.zeros_like, self.model.trainable_parameters())

    def update(self, grads, n_total: float, lr: float) -> None:
        if self.world.size() > 1:  # average_gradients divides by the rank count; we want the sum
            grads = nn.utils.average_gradients(grads, self.world)
            grads = tree_map(lambda g: g * self.world.size(), grads)
        self.optimizer.learning_rate = lr
        if self._apply is None:
            self._apply = self._make_apply()
        self._apply(grads, mx.array(1.0 / max(n_total, 1.0)))

    def _make_apply(self):
        """Scale, clip and AdamW-update, compiled into few fused kernels when the recipe compiles.

        Uncompiled, AdamW on SmolLM2-135M's 135M float32 parameters runs each of its ~10
        element-wise operations as its own pass over memory: 0.70 s per update against 0.43 s
        compiled (idle 2-core CPU, medians of 6; benchmarks/optimizer_update.py).
        """
        model, optimizer, clip = self.model, self.optimizer, self.t.max_grad_norm

        def apply(grads, scale):
            grads = tree_map(lambda g: g * scale, grads)
            if clip > 0:
                grads, _ = optim.clip_grad_norm(grads, clip)
            optimizer.update(model, grads)

        if not self.t.compile:
            return apply
        optimizer.init(model.trainable_parameters())  # the state must exist before it is traced
        state = [model.state, optimizer.state]
        return mx.compile(apply, inputs=state, outputs=state)


def all_sum(values: list[float], world) -> list[float]:
    if world.size() == 1:
        return values
    out = mx.distributed.all_sum(mx.array(values, dtype=mx.float32), group=world)
    return out.tolist()


def validation_loss(
    model, examples: list[batching.Encoded], recipe: Recipe, pad_id: int, world
) -> float | None:
    """Mean cross-entropy per completion token over ``examples`` (sharded over ranks)."""
    if not examples:
        return None
    t = recipe.train
    model.eval()
    order = np.argsort([len(e.tokens) for e in examples], kind="stable")  # little padding
    loss_sum, n_sum = mx.array(0.0), mx.array(0.0)
    for i in range(0, len(order), t.batch_size):
        mine = batching.shard(order[i : i + t.batch_size].tolist(), world.rank(), world.size())
        if not mine:
            continue
        b = batching.collate([examples[j] for j in mine], t.batching == "pack", t.pad_multiple, pad_id)
        mask = None if b.segments is None else mx.array(batching.attention_mask(b.segments))
        loss, n = batch_loss(
            model, mx.array(b.tokens), mask, mx.array(b.positions), mx.array(b.targets), mx.array(b.weights)
        )
        loss_sum, n_sum = loss_sum + loss, n_sum + n
        mx.eval(loss_sum, n_sum)
    model.train()
    total, n = all_sum([loss_sum.item(), n_sum.item()], world)
    return total / n if n else None
