"""Which model folder to load (a path, a hub id or the default model), and loading it with mlx-lm
under the device policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.models.default import default_model_path
from octo_mlx.models.folder import check_model_folder

_HUB_ID = re.compile(r"^\w[\w.-]*/[\w.-]+$")  # "owner/name", as mlx_lm.load takes it; not ./x, /x, ~/x


def _from_hub(repo: str) -> Path:
    """mlx-lm's own download of a hub repository (its cache, its allow-list of files)."""
    from mlx_lm.utils import _download

    try:
        return Path(_download(repo))
    except Exception as e:  # offline, unknown repo, gated model: one line, not a traceback
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        message = f"no such model folder, and fetching it from the Hugging Face hub failed: {detail}"
        raise OctoError(message, repo) from None


def resolve_model(path: str | Path | None = None) -> Path:
    """A model folder: ``None`` is the default model; a local folder must hold config.json and
    safetensors; an ``owner/name`` that is no local folder is fetched from the hub (mlx-lm's cache).

    Args:
        path: a folder mlx_lm.load can load, a hub id, or None.
    """
    if path is None:
        return default_model_path()
    if str(path).endswith(".gguf"):
        raise OctoError("this is a GGUF file: run `octo-mlx model import-gguf FILE --out DIR` first", path)
    folder = Path(path).expanduser()
    if not folder.exists() and _HUB_ID.match(str(path)):
        return check_model_folder(_from_hub(str(path)), path)
    return check_model_folder(folder, path)


def load_model(path: str | Path | None = None, adapt: Callable | None = None):
    """Load (model, tokenizer, model folder) with mlx-lm under the device policy (compute dtype,
    CPU maths); the one loader every stage uses.

    Args:
        path: a model folder or hub id; None = the default model.
        adapt: ``adapt(model, folder) -> model``, applied before the device policy (an adapter's
            layers are then cast and sped up like the rest).
    """
    import mlx_lm

    from octo_mlx.runtime.device import prepare_model

    folder = resolve_model(path)
    try:
        model, tokenizer = mlx_lm.load(str(folder))
    except Exception as e:
        detail = str(e).splitlines()[0] if str(e) else ""
        raise OctoError(f"cannot load model: {type(e).__name__}: {detail}", path or folder) from None
    if adapt is not None:
        model = adapt(model, folder)
    prepare_model(model)
    return model, tokenizer, folder
