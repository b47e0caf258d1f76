"""The added-token table and the one extended base per (original model, table).

The planner needs ``<nexa_split>``; the action model needs functional tokens. If each run grew
the vocabulary its own way, two adapters could never share one resident base. So:

- One table, fixed and versioned: ``<nexa_split>``, ``<nexa_end>``, ``<nexa_none>``, then the
  slots ``<nexa_0>`` ... ``<nexa_255>`` (a slot is not a function: an action adapter records which
  function each slot it uses stands for). Its hash names it.
- One extended base per (original model, table), built by :func:`extend_base`: the tokenizer
  with every table entry (entries it already holds keep their ids), the embedding (and an untied
  head) grown to hold them, each new row the mean of the model's known rows (input and output
  side, rounded to the stored dtype). Cached under the cache root, keyed by the original's
  weights fingerprint and the table hash, so any machine rebuilds the same folder from the
  original model. Nothing trains in it: adapters carry the rows they train.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import FolderLock, cache_root, fresh_tmp, read_json_object, replace_dir
from octo_mlx.models.folder import check_model_folder, weights_sha256

SPLIT, END, NONE = "<nexa_split>", "<nexa_end>", "<nexa_none>"
N_SLOTS = 256
EXTENDED_MARKER = "octo-mlx-extended.json"  # written last: a folder without it is not finished
# Files of a model folder that are neither weights nor tokenizer: copied to the extended base.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


def slot_token(i: int) -> str:
    """The functional token of slot ``i`` (``<nexa_0>`` ...)."""
    return f"<nexa_{i}>"


@dataclass(frozen=True)
class TokenTable:
    """An ordered, versioned list of added tokens; its ``hash`` names it in bases and adapters."""

    version: int
    tokens: tuple[str, ...]

    @property
    def hash(self) -> str:
        text = f"octo-mlx token table v{self.version}\n" + "\n".join(self.tokens)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"version": self.version, "hash": self.hash, "size": len(self.tokens)}

    def __contains__(self, token: object) -> bool:
        return token in self.tokens

    def check_tokens(self, tokens, field: str = "model.new_tokens") -> None:
        """Refuse tokens that are not entries of this table (a larger table has its own hash)."""
        for t in tokens:
            if t not in self.tokens:
                raise OctoError(
                    f"{field}: {t!r} is not in the added-token table v{self.version} "
                    f"({SPLIT}, {END}, {NONE}, {slot_token(0)} .. {slot_token(N_SLOTS - 1)})"
                )


TABLE = TokenTable(1, (SPLIT, END, NONE, *(slot_token(i) for i in range(N_SLOTS))))


def table_ids(tokenizer) -> dict[str, int]:
    """The id of every entry of the added-token table in ``tokenizer``.

    Raises:
        OctoError: the tokenizer lacks an entry (the model is not an extended base).
    """
    vocab = getattr(tokenizer, "_tokenizer", tokenizer).get_vocab()
    missing = [t for t in TABLE.tokens if t not in vocab]
    if missing:
        raise OctoError(
            f"the tokenizer has no {missing[0]!r} ({len(missing)} table entries missing): "
            "load the extended base (octo_mlx.models.tokens.extend_base)",
            "tokenizer",
        )
    return {t: int(vocab[t]) for t in TABLE.tokens}


class TableMask:
    """A logits processor that masks every table entry outside ``allowed`` (their rows are
    untrained: the extended base's mean rows) and nothing else. The planner keeps
    ``<nexa_split>``; an action model without its grammar keeps its slots, none and end. A
    tokenizer without the table has nothing to mask (``blocked`` is empty)."""

    def __init__(self, tokenizer, allowed: Iterable[str]):
        vocab = getattr(tokenizer, "_tokenizer", tokenizer).get_vocab()
        ids = {t: int(vocab[t]) for t in TABLE.tokens if t in vocab}
        keep = set(allowed)
        self.blocked = sorted(i for t, i in ids.items() if t not in keep)
        self._mask = None

    def __call__(self, tokens, logits):
        import mlx.core as mx

        vocab = int(logits.shape[-1])
        if self._mask is None or int(self._mask.shape[0]) != vocab:
            mask = mx.ones((vocab,), dtype=mx.bool_)
            blocked = [i for i in self.blocked if i < vocab]
            if blocked:
                mask[mx.array(blocked)] = False
            self._mask = mask
        return mx.where(self._mask, logits, mx.array(-mx.inf, dtype=logits.dtype))


# --- the extended base ------------------------------------------------------------------------


def extended_base_dir(source_sha: str, config_sha: str, table: TokenTable = TABLE) -> Path:
    """Where the extended base of a model (by its weights and config fingerprints) and a table is
    cached: equal weights under another config (another architecture) are another base."""
    return (
        cache_root() / "extended" / f"{source_sha[:16]}-c{config_sha[:8]}-t{table.version}-{table.hash[:12]}"
    )


def config_sha256(folder: Path) -> str:
    """The sha256 of a model folder's config.json bytes."""
    return hashlib.sha256((Path(folder) / "config.json").read_bytes()).hexdigest()


def read_extension(folder: str | Path) -> dict | None:
    """The marker of an extended base (source fingerprint, table), or None for other folders."""
    marker = Path(folder) / EXTENDED_MARKER
    return read_json_object(marker) if marker.is_file() else None


def extend_base(source: str | Path, table: TokenTable = TABLE, out: str | Path | None = None) -> Path:
    """The extended base of ``source`` for ``table``: built once, then read from the cache.

    Args:
        source: the original model folder (an extended base is returned as it is).
        table: the added-token table.
        out: write the folder here (an ordinary model folder plain mlx-lm loads) instead of
            the cache; refused when it holds something else.

    Returns:
        the folder.
    """
    source = check_model_folder(Path(source))
    marker = read_extension(source)
    if marker is not None and out is None:
        if marker.get("table", {}).get("hash") != table.hash:
            raise OctoError("an extended base of another token table", source)
        return source
    sha, cfg_sha = weights_sha256(source), config_sha256(source)
    final = Path(out) if out is not None else extended_base_dir(sha, cfg_sha, table)
    if out is None and _finished(final, sha, table, cfg_sha):
        return final
    if (
        out is not None
        and final.exists()
        and any(final.iterdir())
        and not _finished(final, sha, table, cfg_sha)
    ):
        raise OctoError("--out holds something else; choose a new or empty folder", final)
    # The lock's folder stays: removing it would let a later builder lock another inode.
    with FolderLock(final.parent / f".{final.name}.building", "the extended base", wait=True):
        if not _finished(final, sha, table, cfg_sha):  # another process may have built it meanwhile
            _build(source, sha, table, final, cfg_sha)
    return final


def _finished(folder: Path, sha: str, table: TokenTable, config_sha: str) -> bool:
    try:
        marker = read_extension(folder)
    except OctoError:
        return False
    return (
        bool(marker)
        and marker.get("source_sha256") == sha
        and marker.get("source_config_sha256") == config_sha
        and marker.get("table", {}).get("hash") == table.hash
    )


def _build(source: Path, sha: str, table: TokenTable, final: Path, config_sha: str) -> None:
    import mlx.core as mx
    from mlx_lm.utils import load_model, load_tokenizer, save_config, save_model

    from octo_mlx.models.loading import mlx_lm_errors

    with mlx_lm_errors(source):  # an unknown model_type, a config.json its weights do not match
        model, config = load_model(source, lazy=False)
    tokenizer = load_tokenizer(source)
    grown = grow_vocabulary(model, tokenizer, table.tokens, stored_dtype=_stored_dtype(model))
    config = dict(config, vocab_size=grown["rows"])
    for key in ("model.embed_tokens", "lm_head"):  # rows grown from a quantized layer are dense
        if key in grown["dense"] and isinstance(config.get("quantization"), dict):
            config["quantization"] = dict(config["quantization"], **{key: False})
            config["quantization_config"] = config["quantization"]
    tmp = fresh_tmp(final)
    for f in source.iterdir():
        if (
            f.is_file()
            and f.name not in TOKENIZER_FILES
            and not f.name.startswith("model")
            and f.suffix != ".gguf"
        ):
            if f.name != EXTENDED_MARKER and not f.name.startswith("octo-mlx"):
                shutil.copy2(f, tmp / f.name)
    save_model(tmp, model)
    save_config(config, tmp / "config.json")
    getattr(tokenizer, "_tokenizer", tokenizer).save_pretrained(str(tmp))
    marker = {
        "source": str(source.resolve()),
        "source_sha256": sha,
        "source_config_sha256": config_sha,
        "table": table.to_dict(),
        "ids": grown["ids"],
    }
    (tmp / EXTENDED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    replace_dir(tmp, final)
    mx.clear_cache()


def _stored_dtype(model):
    import mlx.core as mx

    w = model.model.embed_tokens
    dtype = getattr(w, "scales", w.weight).dtype
    return dtype if mx.issubdtype(dtype, mx.floating) else None


def dense_weight(layer):
    """A layer's weight as a dense float matrix (a quantized one dequantized)."""
    import mlx.core as mx
    import mlx.nn as nn

    if isinstance(layer, (nn.QuantizedEmbedding, nn.QuantizedLinear)):
        return mx.dequantize(
            layer.weight, layer.scales, layer.biases, group_size=layer.group_size, bits=layer.bits
        )
    return layer.weight


def grow_vocabulary(model, tokenizer, tokens, stored_dtype=None) -> dict:
    """Add ``tokens`` to the tokenizer (non-special added tokens; present ones keep their ids) and
    make room in the model: each new row (input embedding and untied head) is the mean of the
    known rows, rounded to ``stored_dtype``. Spare rows past the tokenizer (Phi-3 has 53) are
    reused and set by the same rule.

    Returns:
        ``{"ids": {token: id}, "rows": rows after, "dense": [layers made dense]}``.
    """
    import mlx.core as mx
    import mlx.nn as nn
    from tokenizers import AddedToken

    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    before = len(hf)
    vocab = hf.get_vocab()
    fresh = [t for t in dict.fromkeys(tokens) if t not in vocab]
    if fresh:
        hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in fresh])
    ids = {t: int(hf.convert_tokens_to_ids(t)) for t in tokens}
    emb = model.model.embed_tokens
    old_rows = int(dense_weight(emb).shape[0])
    fresh_ids = [ids[t] for t in fresh]
    rows = max([old_rows, *(i + 1 for i in fresh_ids)])
    known = min(before, old_rows)  # untrained spare rows do not count in the mean
    dense: list[str] = []

    def grow(weight):
        if rows > weight.shape[0]:
            pad = mx.zeros((rows - weight.shape[0], weight.shape[1]), weight.dtype)
            weight = mx.concatenate([weight, pad])
        if not fresh_ids:
            return weight
        mean = weight[:known].astype(mx.float32).mean(axis=0)
        mean = mean.astype(stored_dtype or weight.dtype).astype(weight.dtype)
        idx = mx.array(fresh_ids)
        return weight.at[idx].add(mean - weight[idx])

    if fresh_ids:
        new_emb = nn.Embedding(rows, int(dense_weight(emb).shape[1]))
        new_emb.weight = grow(dense_weight(emb))
        if isinstance(emb, nn.QuantizedEmbedding):
            if rows == old_rows:
                new_emb = nn.QuantizedEmbedding.from_embedding(new_emb, emb.group_size, emb.bits)
            else:
                dense.append("model.embed_tokens")
        model.model.embed_tokens = new_emb
        if "lm_head" in model:
            head = model.lm_head
            w = grow(dense_weight(head))
            lin = nn.Linear(w.shape[1], rows, bias=False)
            lin.weight = w
            if isinstance(head, nn.QuantizedLinear):
                if rows == old_rows:
                    lin = nn.QuantizedLinear.from_linear(lin, head.group_size, head.bits)
                else:
                    dense.append("lm_head")
            model.lm_head = lin
        if rows != old_rows:
            for holder in (getattr(model, "args", None), model.model, getattr(model.model, "args", None)):
                if holder is not None and hasattr(holder, "vocab_size"):
                    holder.vocab_size = rows
        mx.eval(model.parameters())
    return {"ids": ids, "rows": rows, "dense": dense}
