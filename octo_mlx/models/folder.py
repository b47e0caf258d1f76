"""What a model folder holds: the one check that mlx-lm can load it, its config, its stored dtype."""

from __future__ import annotations

from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import fingerprint, read_json_object, safetensors_header


def is_model_folder(folder: Path) -> bool:
    """True when ``folder`` holds config.json and model*.safetensors."""
    return (folder / "config.json").is_file() and any(folder.glob("model*.safetensors"))


def check_model_folder(folder: Path, where: str | Path | None = None) -> Path:
    """Refuse a folder mlx-lm cannot load: it needs config.json and model*.safetensors.

    Args:
        folder: the folder.
        where: how the user named it, for the error (default: the folder).
    """
    where = folder if where is None else where
    if not folder.is_dir():
        raise OctoError("no such model folder", where)
    if not (folder / "config.json").is_file():
        raise OctoError("not a model folder: no config.json", where)
    if not any(folder.glob("model*.safetensors")):
        raise OctoError("not a model folder: no model*.safetensors", where)
    return folder


def read_config(folder: str | Path) -> dict:
    """A model folder's config.json as a dict; OctoError when it is missing or not a JSON object."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise OctoError("not a model folder: no config.json", folder)
    return read_json_object(path)


def stored_dtype(folder: Path):
    """The float dtype of the embedding as stored in a model folder (None if not found)."""
    import mlx.core as mx

    for f in sorted(Path(folder).glob("model*.safetensors")):
        for name, info in safetensors_header(f).items():
            if name.endswith("embed_tokens.weight"):
                return {"F16": mx.float16, "BF16": mx.bfloat16, "F32": mx.float32}.get(info["dtype"])
    return None


def weights_sha256(folder: str | Path) -> str:
    """One digest over a model folder's weights files (name-ordered sha256 of each, cached by
    path, size and mtime): what an adapter records of the base it was trained on."""
    return fingerprint(folder)["sha256"]
