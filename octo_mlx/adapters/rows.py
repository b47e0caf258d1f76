"""New vocabulary tokens (``<nexa_split>``, later ``<nexa_0>``...): tokenizer, rows, training, saving.

mlx-lm never resizes embeddings, so this module does, around its model classes:

1. :func:`add_tokens` adds the tokens to the tokenizer and, when the embedding has no free row
   (SmolLM2: 49,152 tokens = 49,152 rows; Phi-3 has 53 spare rows), grows ``embed_tokens`` and an
   untied ``lm_head``. New rows start at the mean of the existing rows (input and output side).
2. Under LoRA, :func:`attach_new_rows` trains only those rows: a (k, hidden) ``delta`` added to
   the frozen matrix, not a trainable 49k x 576 matrix with 2 Adam moments.
3. :func:`new_rows_as_lora` writes that delta as mlx-lm LoRA factors of ``model.embed_tokens``
   (and ``lm_head``), exact when k <= rank, so ``mlx_lm.load(base, adapter_path=...)`` and
   ``mlx_lm.generate --adapter-path`` use the adapter as it is. The base they load is
   ``OUT/base``: the tokenizer with the new tokens, and the resized weights (or links to the
   original ones when no row had to be added).
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from octo_mlx.errors import OctoError


@dataclass(frozen=True)
class NewTokens:
    """What :func:`add_tokens` did."""

    tokens: tuple[str, ...]  # tokens that were not in the vocabulary before
    ids: tuple[int, ...]  # their ids
    old_rows: int  # embedding rows before
    new_rows: int  # embedding rows after (== old_rows when the vocabulary had room)
    # In-memory rows minus the rows of the weights on disk, for ids (k, hidden). Without a resize
    # OUT/base links the original weights, whose spare rows are not the mean: the saved adapter
    # carries this shift too. With a resize OUT/base is written from memory and the shift is 0.
    embed_shift: mx.array | None = None
    head_shift: mx.array | None = None

    @property
    def resized(self) -> bool:
        return self.new_rows > self.old_rows


def hf_tokenizer(tokenizer):
    """The Hugging Face tokenizer inside an mlx-lm TokenizerWrapper (or the tokenizer itself)."""
    return getattr(tokenizer, "_tokenizer", tokenizer)


def _embedding(model) -> nn.Module:
    return model.model.embed_tokens


def embedding_rows(model) -> int:
    return int(_embedding(model).weight.shape[0])


def _dense_weight(layer) -> mx.array:
    if isinstance(layer, (nn.QuantizedEmbedding, nn.QuantizedLinear)):
        return mx.dequantize(
            layer.weight, layer.scales, layer.biases, group_size=layer.group_size, bits=layer.bits
        )
    return layer.weight


def _grow(weight: mx.array, rows: int, ids: tuple[int, ...], n_known: int, storage=None) -> mx.array:
    """``weight`` with ``rows`` rows; the rows ``ids`` set to the mean of the first ``n_known`` rows."""
    if rows > weight.shape[0]:
        weight = mx.concatenate([weight, mx.zeros((rows - weight.shape[0], weight.shape[1]), weight.dtype)])
    mean = weight[:n_known].astype(mx.float32).mean(axis=0)
    if storage is not None:  # the value OUT/base will hold on disk, so reloading is exact
        mean = mean.astype(storage)
    mean = mean.astype(weight.dtype)
    return weight.at[mx.array(ids)].add(mean - weight[mx.array(ids)])


def add_tokens(model, tokenizer, tokens: tuple[str, ...] | list[str], storage_dtype=None) -> NewTokens:
    """Add ``tokens`` to the tokenizer and make room for them in the model (mean-initialised rows).

    Tokens already in the vocabulary are left alone. The tokens are plain added tokens (not
    "special"), so decoding with ``skip_special_tokens`` keeps the plan separators.

    Args:
        model: an mlx-lm model with ``model.embed_tokens`` (and ``lm_head`` when untied).
        tokenizer: its tokenizer (mlx-lm wrapper or Hugging Face); changed in place.
        tokens: the token strings to add.
        storage_dtype: the dtype the weights are stored in (e.g. float16); new rows are rounded
            to it so that a base written in that dtype holds exactly the rows trained against.
    """
    from tokenizers import AddedToken

    hf = hf_tokenizer(tokenizer)
    before = len(hf)
    vocab = hf.get_vocab()
    fresh = [t for t in dict.fromkeys(tokens) if t not in vocab]
    old_rows = embedding_rows(model)
    if not fresh:
        return NewTokens((), (), old_rows, old_rows)
    hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in fresh])
    ids = tuple(hf.convert_tokens_to_ids(t) for t in fresh)
    rows = max(old_rows, max(ids) + 1)
    n_known = min(
        before, old_rows
    )  # spare rows past the tokenizer (Phi-3: 53) are untrained: not in the mean
    emb = _embedding(model)
    idx = mx.array(ids)
    old_head = _dense_weight(model.lm_head)[idx] if "lm_head" in model and rows == old_rows else None
    old_embed = _dense_weight(emb)[idx] if rows == old_rows else None
    new = nn.Embedding(rows, _dense_weight(emb).shape[1])
    new.weight = _grow(_dense_weight(emb), rows, ids, n_known, storage_dtype)
    if isinstance(emb, nn.QuantizedEmbedding) and rows == old_rows:
        new = nn.QuantizedEmbedding.from_embedding(new, emb.group_size, emb.bits)
    model.model.embed_tokens = new
    if "lm_head" in model:
        head = model.lm_head
        w = _grow(_dense_weight(head), rows, ids, n_known, storage_dtype)
        lin = nn.Linear(w.shape[1], rows, bias=False)
        lin.weight = w
        if isinstance(head, nn.QuantizedLinear) and rows == old_rows:
            lin = nn.QuantizedLinear.from_linear(lin, head.group_size, head.bits)
        model.lm_head = lin
    if rows != old_rows:
        for holder in (getattr(model, "args", None), model.model, getattr(model.model, "args", None)):
            if holder is not None and hasattr(holder, "vocab_size"):
                holder.vocab_size = rows
    embed_shift = None if old_embed is None else _dense_weight(model.model.embed_tokens)[idx] - old_embed
    head_shift = None if old_head is None else _dense_weight(model.lm_head)[idx] - old_head
    mx.eval(model.parameters(), embed_shift, head_shift)
    return NewTokens(tuple(fresh), ids, old_rows, rows, embed_shift, head_shift)


# --- training only the new rows under LoRA --------------------------------------------------


class NewRowsEmbedding(nn.Module):
    """A frozen embedding plus a trainable (k, hidden) ``delta`` on rows ``ids`` (input and tied output)."""

    def __init__(self, base: nn.Module, ids: tuple[int, ...]):
        super().__init__()
        self.base = base
        self._ids = mx.array(ids)
        self.delta = mx.zeros((len(ids), _dense_weight(base).shape[1]), dtype=mx.float32)

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
        self.delta = mx.zeros((len(ids), _dense_weight(base).shape[1]), dtype=mx.float32)

    def __call__(self, h: mx.array) -> mx.array:
        y = self.base(h)
        return y.at[..., self._ids].add(h @ self.delta.T.astype(h.dtype))


def attach_new_rows(model, new: NewTokens) -> None:
    """Wrap the embedding (and an untied head) so that only the new rows train. Call after freezing."""
    if not new.ids:
        return
    model.model.embed_tokens = NewRowsEmbedding(model.model.embed_tokens, new.ids)
    if "lm_head" in model:
        model.lm_head = NewRowsLinear(model.lm_head, new.ids)


def new_rows_keys(model) -> list[str]:
    """The top-level module keys whose LoRA factors carry the new rows in the saved adapter."""
    return ["model.embed_tokens"] + (["lm_head"] if "lm_head" in model else [])


def new_rows_as_lora(model, new: NewTokens, rank: int, scale: float, dora: bool) -> dict[str, mx.array]:
    """The trained new rows as mlx-lm LoRA (or DoRA) factors, keyed as mlx-lm names them.

    Embedding: ``W + scale * A @ B`` with A[ids[i], i] = 1/scale and B[i] = delta[i].
    Head (LoRALinear, y = x W^T + scale * x A B): A[:, i] = delta[i], B[i, ids[i]] = 1/scale.
    DoRA renormalises rows to a magnitude ``m``; m = the norm of the updated rows keeps them as they are.

    Args:
        model: the model wrapped by :func:`attach_new_rows`.
        new: the added tokens.
        rank, scale: the adapter's LoRA rank and scale (the factors must have its shapes).
        dora: write DoRA magnitudes too.
    """
    k = len(new.ids)
    if k > rank:
        raise OctoError(
            f"{k} new tokens need lora.rank >= {k} to be saved in an mlx-lm adapter (rank is {rank});"
            " raise lora.rank or use train.method=full"
        )
    ids = mx.array(new.ids)
    cols = mx.arange(k)
    out: dict[str, mx.array] = {}
    emb = model.model.embed_tokens
    w = _dense_weight(emb.base).astype(mx.float32)
    a = mx.zeros((w.shape[0], rank)).at[ids, cols].add(1.0 / scale)
    delta = emb.delta if new.embed_shift is None else emb.delta + new.embed_shift.astype(mx.float32)
    w = w.at[ids].add(-(delta - emb.delta))  # the rows as they are on disk
    b = mx.zeros((rank, w.shape[1])).at[cols].add(delta)
    out["model.embed_tokens.lora_a"], out["model.embed_tokens.lora_b"] = a, b
    if dora:
        out["model.embed_tokens.m"] = mx.linalg.norm(w + scale * (a @ b), axis=1)
    if isinstance(getattr(model, "lm_head", None), NewRowsLinear):
        head = model.lm_head
        w = _dense_weight(head.base).astype(mx.float32)
        delta = head.delta if new.head_shift is None else head.delta + new.head_shift.astype(mx.float32)
        w = w.at[ids].add(-(delta - head.delta))
        a = mx.zeros((w.shape[1], rank)).at[:, cols].add(delta.T)
        b = mx.zeros((rank, w.shape[0])).at[cols, ids].add(1.0 / scale)
        out["lm_head.lora_a"], out["lm_head.lora_b"] = a, b
        if dora:
            out["lm_head.m"] = mx.linalg.norm(w + scale * (a @ b).T, axis=1)
    return out
