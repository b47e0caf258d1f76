"""Adapter folders (mlx-lm's format): read and check them, and load one onto its base model."""

from __future__ import annotations

import json
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import fresh_tmp, read_json_object, replace_dir
from octo_mlx.models.folder import read_config
from octo_mlx.models.loading import load_model


def read_adapter_config(adapter: str | Path) -> dict:
    """An adapter folder's ``adapter_config.json``; OctoError when the folder is not an adapter."""
    adapter = Path(adapter)
    cfg_path = adapter / "adapter_config.json"
    if not cfg_path.is_file() or not (adapter / "adapters.safetensors").is_file():
        raise OctoError("not an adapter folder (needs adapter_config.json and adapters.safetensors)", adapter)
    return read_json_object(cfg_path)


def check_adapter(adapter: str | Path, cfg: dict, model_config: dict) -> None:
    """Refuse an adapter whose config cannot fit the model (before mlx-lm's shape check).

    Args:
        adapter: the adapter folder.
        cfg: its adapter_config.json.
        model_config: the base model's config.json.
    """
    layers = model_config.get("num_hidden_layers")
    n = cfg.get("num_layers")
    if isinstance(n, int) and isinstance(layers, int) and n > layers:
        base = cfg.get("base_model") or cfg.get("model") or "?"
        raise OctoError(
            f"adapter covers {n} layers but the model has {layers}: it was trained on {base}",
            Path(adapter) / "adapter_config.json",
        )


def adapter_base(path: str | Path | None, adapter_config: dict) -> str | Path | None:
    """The model to load an adapter on: ``path``, else the base an `octo-mlx train` adapter names
    (``base_model``: the model with any added tokens), else None (the default model)."""
    base = adapter_config.get("base_model")
    if path is None and base and Path(base).is_dir():
        return base
    return path


def load_with_adapter(path: str | Path | None = None, adapter_path: str | Path | None = None):
    """Load (model, tokenizer, model folder) with mlx-lm, apply an adapter, cast to the compute dtype.

    Args:
        path: a model folder; None = the adapter's base (see :func:`adapter_base`), else the
            default model.
        adapter_path: an mlx-lm adapter folder (adapter_config.json + adapters.safetensors), or
            None. One made for another base model is a clear OctoError, not a shape traceback.
    """
    if adapter_path is None:
        return load_model(path)
    cfg = read_adapter_config(adapter_path)

    def apply(model, folder: Path):
        from mlx_lm.tuner.utils import load_adapters

        check_adapter(adapter_path, cfg, read_config(folder))
        try:
            model = load_adapters(model, str(adapter_path))
        except ValueError as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            detail = lines[1] if len(lines) > 1 else lines[0]
            more = f" (+{len(lines) - 2} more)" if len(lines) > 2 else ""
            base = cfg.get("base_model") or cfg.get("model") or "?"
            msg = f"adapter does not fit the model {folder}: it was trained on {base}: {detail}{more}"
            raise OctoError(msg, adapter_path) from None
        model.eval()
        return model

    return load_model(adapter_base(path, cfg), adapt=apply)


def save_adapter(folder: Path, weights: dict, adapter_config: dict, recipe_yaml: str) -> Path:
    """Write an mlx-lm adapter folder (adapters.safetensors + adapter_config.json) atomically."""
    import mlx.core as mx

    tmp = fresh_tmp(folder)
    mx.save_safetensors(str(tmp / "adapters.safetensors"), weights, metadata={"format": "mlx"})
    (tmp / "adapter_config.json").write_text(json.dumps(adapter_config, indent=4))
    (tmp / "recipe.yaml").write_text(recipe_yaml)
    replace_dir(tmp, folder)
    return folder
