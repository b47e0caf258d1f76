"""Rows of added tokens under LoRA: which table entries a run trains, their trainable deltas,
and how an adapter carries them.

The vocabulary is grown once, by :func:`octo_mlx.models.tokens.extend_base` (every entry of the
added-token table, mean-initialised rows). A run trains the rows of the entries it uses (the
planner: ``<nexa_split>``; the action model: its slots, ``<nexa_none>``, ``<nexa_end>``):

1. :func:`trained_rows` names them (ids in the extended tokenizer).
2. Under LoRA, :func:`attach_new_rows` trains only those rows: a (k, hidden) ``delta`` added to
   the frozen matrix, not a trainable 49k x 576 matrix with 2 Adam moments.
3. :func:`new_rows_as_lora` writes that delta as mlx-lm LoRA factors of ``model.embed_tokens``
   (and ``lm_head``) of rank ``max(lora.rank, k)``: the layers' factors are padded with zeros to
   the same rank (mlx-lm has one rank per adapter), so any number of rows trains at any LoRA rank
   and ``mlx_lm.load(EXTENDED_BASE, adapter_path=...)`` uses the adapter as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from octo_mlx.errors import OctoError
from octo_mlx.models.tokens import dense_weight


@dataclass(frozen=True)
class TrainedRows:
    """The table entries a run trains and their ids in the extended base's tokenizer."""

    tokens: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()


def hf_tokenizer(tokenizer):
    """The Hugging Face tokenizer inside an mlx-lm TokenizerWrapper (or the tokenizer itself)."""
    return getattr(tokenizer, "_tokenizer", tokenizer)


def trained_rows(tokenizer, tokens) -> TrainedRows:
    """The ids of ``tokens`` in a tokenizer that holds them (an extended base's).

    Raises:
        OctoError: a token the tokenizer does not hold (the base was not extended).
    """
    vocab = hf_tokenizer(tokenizer).get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        raise OctoError(f"the tokenizer has no {missing[0]!r}: load the extended base (models.tokens)")
    tokens = tuple(dict.fromkeys(tokens))
    return TrainedRows(tokens, tuple(int(vocab[t]) for t in tokens))


def _embedding(model) -> nn.Module:
    return model.model.embed_tokens


def embedding_rows(model) -> int:
    return int(_embedding(model).weight.shape[0])


# --- training only the new rows under LoRA --------------------------------------------------


class NewRowsEmbedding(nn.Module):
    """A frozen embedding plus a trainable (k, hidden) ``delta`` on rows ``ids`` (input and tied output)."""

    def __init__(self, base: nn.Module, ids: tuple[int, ...]):
        super().__init__()
        self.base = base
        self._ids = mx.array(ids)
        self.delta = mx.zeros((len(ids), dense_weight(base).shape[1]), dtype=mx.float32)

    def __call__(self, x: mx.array) -> mx.array:
        y = self.base(x)
        hit = (x[..., None] == self._ids).astype(y.dtype)  # (..., k): which new token, if any
        return y + hit @ self.delta.astype(y.dtype)

    def as_linear(self, h: mx.array) -> mx.array:
        y = self.base.as_linear(h)
        return y.at[..., self._ids].add(h @ self.delta.T.astype(h.dtype))


class NewRowsLinear(nn.Module):
    """A frozen (untied) LM head plus a trainable ``delta`` on its output rows ``ids``."""

    def __init__(self, base: nn.Module, ids: tuple[int, ...]):
        super().__init__()
        self.base = base
        self._ids = mx.array(ids)
        self.delta = mx.zeros((len(ids), dense_weight(base).shape[1]), dtype=mx.float32)

    def __call__(self, h: mx.array) -> mx.array:
        y = self.base(h)
        return y.at[..., self._ids].add(h @ self.delta.T.astype(h.dtype))


def attach_new_rows(model, rows: TrainedRows) -> None:
    """Wrap the embedding (and an untied head) so that only the trained rows train. Call after freezing."""
    if not rows.ids:
        return
    model.model.embed_tokens = NewRowsEmbedding(model.model.embed_tokens, rows.ids)
    if "lm_head" in model:
        model.lm_head = NewRowsLinear(model.lm_head, rows.ids)


def new_rows_keys(model) -> list[str]:
    """The top-level module keys whose LoRA factors carry the new rows in the saved adapter."""
    return ["model.embed_tokens"] + (["lm_head"] if "lm_head" in model else [])


def adapter_rank(rank: int, rows: TrainedRows) -> int:
    """The rank an adapter file holds: the LoRA rank, or more when more rows are trained."""
    return max(rank, len(rows.ids))


def new_rows_as_lora(model, rows: TrainedRows, rank: int, scale: float, dora: bool) -> dict[str, mx.array]:
    """The trained rows as mlx-lm LoRA (or DoRA) factors of rank ``rank`` (>= the number of rows).

    Embedding: ``W + scale * A @ B`` with A[ids[i], i] = 1/scale and B[i] = delta[i].
    Head (LoRALinear, y = x W^T + scale * x A B): A[:, i] = delta[i], B[i, ids[i]] = 1/scale.
    DoRA renormalises rows to a magnitude ``m``; m = the norm of the updated rows keeps them as they are.

    Args:
        model: the model wrapped by :func:`attach_new_rows`.
        rows: the trained table entries.
        rank: the adapter file's rank (:func:`adapter_rank`).
        scale: the adapter's LoRA scale.
        dora: write DoRA magnitudes too.
    """
    k = len(rows.ids)
    if k > rank:
        raise OctoError(f"{k} rows need an adapter rank >= {k}, got {rank} (use adapter_rank)")
    ids = mx.array(rows.ids)
    cols = mx.arange(k)
    out: dict[str, mx.array] = {}
    emb = model.model.embed_tokens
    w = dense_weight(emb.base).astype(mx.float32)
    a = mx.zeros((w.shape[0], rank)).at[ids, cols].add(1.0 / scale)
    b = mx.zeros((rank, w.shape[1])).at[cols].add(emb.delta)
    out["model.embed_tokens.lora_a"], out["model.embed_tokens.lora_b"] = a, b
    if dora:
        out["model.embed_tokens.m"] = mx.linalg.norm(w + scale * (a @ b), axis=1)
    if isinstance(getattr(model, "lm_head", None), NewRowsLinear):
        head = model.lm_head
        w = dense_weight(head.base).astype(mx.float32)
        a = mx.zeros((w.shape[1], rank)).at[:, cols].add(head.delta.T)
        b = mx.zeros((rank, w.shape[0])).at[cols, ids].add(1.0 / scale)
        out["lm_head.lora_a"], out["lm_head.lora_b"] = a, b
        if dora:
            out["lm_head.m"] = mx.linalg.norm(w + scale * (a @ b).T, axis=1)
    return out


def new_rows_from_lora(saved: dict[str, mx.array], rows: TrainedRows, scale: float) -> dict[str, mx.array]:
    """The trained rows' deltas (``model.embed_tokens.delta``, and ``lm_head.delta`` when the
    adapter has a head) read back out of an adapter's LoRA factors: the inverse of
    :func:`new_rows_as_lora` (the row of new token i is column i of the factors)."""
    ids, cols = mx.array(rows.ids), mx.arange(len(rows.ids))
    a, b = saved["model.embed_tokens.lora_a"], saved["model.embed_tokens.lora_b"]
    out = {"model.embed_tokens.delta": (a[ids, cols] * scale)[:, None] * b[cols]}
    if "lm_head.lora_a" in saved:
        a, b = saved["lm_head.lora_a"], saved["lm_head.lora_b"]
        out["lm_head.delta"] = (a[:, cols] * (b[cols, ids] * scale)).T
    return out


def pad_rank(weights: dict[str, mx.array], rank: int) -> dict[str, mx.array]:
    """LoRA factors zero-padded to ``rank`` (A gains columns, B rows): the same update, the shape
    mlx-lm expects when the adapter file's rank is above the trained one."""
    out = {}
    for key, v in weights.items():
        if key.endswith(".lora_a") and v.shape[-1] < rank:
            v = mx.concatenate([v, mx.zeros((*v.shape[:-1], rank - v.shape[-1]), v.dtype)], axis=-1)
        elif key.endswith(".lora_b") and v.shape[-2] < rank:
            v = mx.concatenate(
                [v, mx.zeros((*v.shape[:-2], rank - v.shape[-2], v.shape[-1]), v.dtype)], axis=-2
            )
        out[key] = v
    return out
