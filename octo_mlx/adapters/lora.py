"""LoRA and DoRA on an mlx-lm model, from a LoRA config (as PEFT's tuners take their own config).

mlx-lm's ``linear_to_lora_layers`` swaps the layers; this module decides which (``all-linear``:
every linear layer of attention and MLP in every block, the paper's setting; mlx-lm's default is
the last 16 blocks), freezes the rest, lets the rows of added tokens train beside the factors
(octo_mlx.adapters.rows), and collects the tensors an adapter folder saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from octo_mlx.errors import OctoError, check_field

if TYPE_CHECKING:  # mlx loads only when a model is adapted: a recipe (this config) parses without it
    import mlx.core as mx

    from octo_mlx.adapters.rows import TrainedRows

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class LoraConfig:
    """LoRA/DoRA shape, as the paper gives it: rank and alpha, scale = alpha / rank."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    layers: tuple[str, ...] = (
        ALL_LINEAR,
    )  # [all-linear] or module keys inside a block, e.g. [self_attn.q_proj]
    num_layers: int = -1  # blocks to adapt counting from the last; -1 = all (mlx-lm's default is 16)

    def __post_init__(self):
        check_field(self.rank > 0, "lora.rank", f"must be > 0, got {self.rank}")
        check_field(self.alpha > 0, "lora.alpha", f"must be > 0, got {self.alpha}")
        check_field(0.0 <= self.dropout < 1.0, "lora.dropout", f"must be in [0, 1), got {self.dropout}")
        check_field(
            self.num_layers == -1 or self.num_layers > 0, "lora.num_layers", "must be -1 (all) or > 0"
        )
        check_field(bool(self.layers), "lora.layers", f"'{ALL_LINEAR}' or a list of module keys")
        check_field(
            ALL_LINEAR not in self.layers or len(self.layers) == 1,
            "lora.layers",
            f"'{ALL_LINEAR}' stands alone",
        )

    @property
    def scale(self) -> float:
        """mlx-lm's ``scale``: the LoRA update is ``scale * x A B`` with scale = alpha / rank."""
        return self.alpha / self.rank


def lora_keys(model, layers: tuple[str, ...]) -> list[str]:
    """Module keys inside one block to adapt: every linear layer of attention and MLP for all-linear."""
    import mlx.nn as nn

    found: set[str] = set()
    for block in model.layers:
        for k, m in block.named_modules():
            if isinstance(m, (nn.Linear, nn.QuantizedLinear)) or hasattr(m, "to_lora"):
                found.add(k)
    if layers == (ALL_LINEAR,):
        return sorted(found)
    missing = [k for k in layers if k not in found]
    if missing:
        raise OctoError(
            f"lora.layers: no linear layer {missing[0]!r} in a block (have: {', '.join(sorted(found))})"
        )
    return list(layers)


def is_quantized(model) -> bool:
    import mlx.nn as nn

    return any(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules())


def apply_lora(model, lora: LoraConfig, dora: bool, seed: int, new: TrainedRows) -> dict:
    """Freeze ``model`` and swap in LoRA (or DoRA) layers; the rows of ``new`` train beside them.

    Args:
        model: an mlx-lm model (a quantized base gives QLoRA).
        lora: rank, alpha, dropout, layers and blocks to adapt.
        dora: DoRA layers instead of LoRA.
        seed: the factors' initialisation (the same on every rank and on resume).
        new: the table entries whose rows train (as a delta).

    Returns:
        the adapter_config.json fields mlx-lm reads (fine_tune_type, num_layers, lora_parameters).
        ``lora_parameters.rank`` is the file's rank, ``max(lora.rank, rows)``: mlx-lm has one
        rank per adapter, so the layers' factors are saved zero-padded to it; ``trained_rank``
        and ``alpha`` say what trained (the scale stays alpha / trained_rank).
    """
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from octo_mlx.adapters import rows

    blocks = len(model.layers)
    if lora.num_layers > blocks:
        raise OctoError(f"lora.num_layers={lora.num_layers} but the model has {blocks} blocks (-1 = all)")
    keys = lora_keys(model, lora.layers)
    model.freeze()
    params = {"rank": lora.rank, "scale": lora.scale, "dropout": lora.dropout, "keys": keys}
    mx.random.seed(seed)
    linear_to_lora_layers(model, lora.num_layers, params, use_dora=dora)
    rows.attach_new_rows(model, new)
    saved_keys = keys + (rows.new_rows_keys(model) if new.ids else [])
    file_rank = rows.adapter_rank(lora.rank, new)
    return {
        "fine_tune_type": "dora" if dora else "lora",
        "num_layers": lora.num_layers,
        "lora_parameters": dict(
            params, rank=file_rank, keys=saved_keys, alpha=lora.alpha, trained_rank=lora.rank
        ),
    }


def adapter_weights(model, lora: LoraConfig, dora: bool, new: TrainedRows) -> dict[str, mx.array]:
    """The trainable LoRA/DoRA tensors, plus the trained rows written as LoRA factors, all of the
    file's rank (:func:`octo_mlx.adapters.rows.adapter_rank`)."""
    from mlx.utils import tree_flatten

    from octo_mlx.adapters import rows

    rank = rows.adapter_rank(lora.rank, new)
    weights = {k: v for k, v in tree_flatten(model.trainable_parameters()) if not k.endswith(".delta")}
    weights = rows.pad_rank(weights, rank)
    if new.ids:
        weights.update(rows.new_rows_as_lora(model, new, rank, lora.scale, dora))
    return weights


def load_start(model, adapter, lora: LoraConfig, dora: bool, new: TrainedRows, base_sha: str) -> None:
    """Set the trainable tensors of ``model`` (after :func:`apply_lora`) to a trained adapter's:
    continue training it instead of starting from fresh factors.

    The adapter must have been trained with this geometry (method, blocks, layers, trained rank,
    scale, the same table entries) on this base; its factors are cut back from the file's rank to
    the trained one and its rows read back out of their LoRA form
    (:func:`octo_mlx.adapters.rows.new_rows_from_lora`). A float16 (packed) adapter is widened.

    Args:
        model: adapted by :func:`apply_lora` with ``lora``, ``dora`` and ``new``.
        adapter: the adapter folder (``model.adapter`` of a recipe).
        base_sha: the original model's weights fingerprint (the adapter's ``base_fingerprint``).

    Raises:
        OctoError: naming the folder and what differs, before any weight changes.
    """
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from octo_mlx.adapters import rows
    from octo_mlx.adapters.folder import read_adapter_config
    from octo_mlx.models.tokens import TABLE

    cfg = read_adapter_config(adapter)
    lp = cfg["lora_parameters"]

    def differs(what: str, theirs, ours) -> None:
        if theirs != ours:
            raise OctoError(
                f"model.adapter was trained with {what} {theirs!r}, this recipe has {ours!r}", adapter
            )

    differs("fine_tune_type", cfg.get("fine_tune_type", "lora"), "dora" if dora else "lora")
    differs("num_layers", cfg.get("num_layers"), lora.num_layers)
    differs("rank", lp.get("trained_rank", lp["rank"]), lora.rank)
    differs("scale", float(lp["scale"]), float(lora.scale))
    differs("trained table entries", list(cfg.get("tokens", [])), list(new.tokens))
    if cfg.get("table") and cfg["table"].get("hash") != TABLE.hash:
        raise OctoError("model.adapter was trained with another added-token table", adapter)
    if cfg.get("base_fingerprint") and cfg["base_fingerprint"] != base_sha:
        raise OctoError("model.adapter was trained on other base weights than model.path", adapter)
    saved = mx.load(str(Path(adapter) / "adapters.safetensors"))
    trainable = dict(tree_flatten(model.trainable_parameters()))
    start: dict[str, mx.array] = {}
    for key, ours in trainable.items():
        if key.endswith(".delta"):
            continue  # rows: below
        if key not in saved:
            raise OctoError(f"model.adapter has no {key}: trained on other layers (lora.layers)", adapter)
        theirs = saved[key]
        if key.endswith(".lora_a"):
            theirs = theirs[..., : lora.rank]
        elif key.endswith(".lora_b"):
            theirs = theirs[..., : lora.rank, :]
        if theirs.shape != ours.shape:
            raise OctoError(f"model.adapter's {key} is {theirs.shape}, this model's {ours.shape}", adapter)
        start[key] = theirs.astype(ours.dtype)
    if new.ids:
        start.update(rows.new_rows_from_lora(saved, new, lora.scale))
    rows_keys = ("model.embed_tokens.", "lm_head.") if new.ids else ()
    extra = sorted(k for k in saved if k not in trainable and not k.startswith(rows_keys))
    if extra:
        raise OctoError(
            f"model.adapter has {extra[0]}, which this recipe does not train (lora.layers)", adapter
        )
    if set(start) != set(trainable):
        raise OctoError(
            "model.adapter's added-token rows do not fit this model's embedding and head", adapter
        )
    model.load_weights([(k, v.astype(trainable[k].dtype)) for k, v in start.items()], strict=False)
    mx.eval(model.parameters())
