"""A model folder at a glance: config summary and parameter count, read without loading weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from octo_mlx.files import read_json_object, safetensors_header
from octo_mlx.models.folder import read_config
from octo_mlx.models.loading import check_loadable, resolve_model
from octo_mlx.models.shape import ModelShape


@dataclass(frozen=True)
class ModelInfo:
    """A model folder at a glance (read from config.json and the safetensors headers, no loading)."""

    path: Path
    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    context_length: int | None
    tied_embeddings: bool
    n_params: int
    dtypes: dict[str, int]  # dtype on disk -> tensor count
    disk_bytes: int
    chat_template: bool
    quantization: dict | None


def model_info(path: str | Path | None = None) -> ModelInfo:
    """Summarise a model folder (config and parameter count) without loading the weights; a
    folder mlx-lm cannot load (an unknown ``model_type``, a config.json that does not match the
    weights) is refused, also without reading them.

    Args:
        path: a model folder, or None for the default model.
    """
    folder = resolve_model(path)
    check_loadable(folder)  # what mlx-lm would refuse (model_type, shapes), no weight read
    config = read_config(folder)
    shape = ModelShape.from_config(config, folder / "config.json")
    quant = config.get("quantization")
    n_params, dtypes = 0, {}
    for f in sorted(folder.glob("model*.safetensors")):
        for name, meta in safetensors_header(f).items():
            if name == "__metadata__" or name.endswith((".scales", ".biases")):
                continue
            count = 1
            for d in meta["shape"]:
                count *= d
            if meta["dtype"] == "U32" and quant:  # packed: 32 / bits values per uint32
                count = count * 32 // quant.get("bits", 4)
            n_params += count
            dtypes[meta["dtype"]] = dtypes.get(meta["dtype"], 0) + 1
    tok_config = folder / "tokenizer_config.json"
    template = (folder / "chat_template.jinja").is_file() or (
        tok_config.is_file() and bool(read_json_object(tok_config).get("chat_template"))
    )
    return ModelInfo(
        path=folder,
        model_type=shape.model_type,
        hidden_size=shape.hidden,
        num_layers=shape.layers,
        num_heads=shape.heads,
        num_kv_heads=shape.kv_heads,
        vocab_size=shape.vocab,
        context_length=config.get("max_position_embeddings"),
        tied_embeddings=shape.tied,
        n_params=n_params,
        dtypes=dtypes,
        disk_bytes=sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
        chat_template=template,
        quantization=quant,
    )
