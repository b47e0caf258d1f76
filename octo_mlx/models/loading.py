"""Which model folder to load (a path, a hub id or the default model), and loading it with mlx-lm
under the device policy."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.models.default import default_model_path
from octo_mlx.models.folder import check_model_folder, read_config

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
        with mlx_lm_errors(folder):
            model, tokenizer = mlx_lm.load(str(folder))
    except OctoError:
        raise
    except Exception as e:
        detail = str(e).splitlines()[0] if str(e) else ""
        raise OctoError(f"cannot load model: {type(e).__name__}: {detail}", path or folder) from None
    if adapt is not None:
        model = adapt(model, folder)
    prepare_model(model)
    return model, tokenizer, folder


# --- what mlx-lm refuses, as one line ----------------------------------------------------------

# mlx.nn.Module.load_weights(strict=True)'s refusals: they come before any weight is read.
_SHAPE = re.compile(r"Expected shape \((.*?)\) but received shape \((.*?)\) for parameter (\S+)")
_MISSING = re.compile(r"Missing (\d+) parameters: \n(.*)\.$", re.S)
_EXTRA = re.compile(r"Received (\d+) parameters not in model: \n(.*)\.$", re.S)
# A field the architecture's ModelArgs needs and config.json lacks.
_LACKS = re.compile(r"ModelArgs\.__init__\(\) missing \d+ required positional arguments?: (.*)$")


def _mlx_lm_version() -> str:
    import mlx_lm

    return getattr(mlx_lm, "__version__", "?")


def check_architecture(config: dict, where: str | Path | None = None) -> None:
    """Refuse a config.json whose ``model_type`` names no architecture of the installed mlx-lm
    (mlx-lm's own lookup, its renamings included); nothing loads.

    Args:
        config: the parsed config.json.
        where: the config.json (or the name the config came from), for the error.
    """
    from mlx_lm.utils import _get_classes

    if config.get("model_file"):  # a custom module: mlx-lm refuses it itself (trust_remote_code)
        return
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise OctoError("no model_type: mlx-lm cannot tell which architecture to build", where)
    try:
        _get_classes(config)
    except ValueError as e:
        cause = e.__cause__
        if isinstance(cause, ModuleNotFoundError) and (cause.name or "").startswith("mlx_lm.models."):
            message = f"model_type '{model_type}': mlx-lm {_mlx_lm_version()} has no such architecture"
        else:
            message = f"model_type '{model_type}': mlx-lm {_mlx_lm_version()} cannot import it: {cause or e}"
        raise OctoError(message, where) from None


def _weights_file(folder: Path, name: str) -> str:
    """The safetensors file of ``folder`` that holds the tensor ``name`` ("the weights" if none)."""
    from octo_mlx.files import safetensors_header

    for f in sorted(folder.glob("model*.safetensors")):
        try:
            if name in safetensors_header(f):
                return f.name
        except OctoError:
            pass
    return "the weights"


def _fields_of(config: dict, sizes: set[int]) -> str:
    """The config.json fields whose value is one of ``sizes``, as ' (hidden_size=96)' or ''."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    found = [
        f"{k}={v}"
        for k, v in {**config, **text}.items()
        if isinstance(v, int) and not isinstance(v, bool) and v in sizes and not k.endswith("_id")
    ]
    return f" ({', '.join(found)})" if found else ""


def _first(names: str) -> str:
    listed = [n.strip() for n in names.split(",") if n.strip()]
    return listed[0] + (f" and {len(listed) - 1} more" if len(listed) > 1 else "")


@contextlib.contextmanager
def mlx_lm_errors(folder: str | Path) -> Iterator[None]:
    """Turn mlx-lm's refusals of a model folder into one OctoError naming it: a ``model_type``
    it has no architecture for, a field its architecture needs and config.json lacks, and
    weights whose shapes or names config.json does not imply (which weight, its shape in which
    file, and the shape the config implies). Other errors pass unchanged.

    Args:
        folder: the model folder being loaded.
    """
    folder = Path(folder)
    try:
        yield
    except TypeError as e:
        if m := _LACKS.search(str(e)):
            names = ", ".join(re.findall(r"'(\w+)'", m.group(1)))
            model_type = read_config(folder).get("model_type")
            raise OctoError(
                f"no {names}, which mlx-lm's {model_type} architecture needs", folder / "config.json"
            ) from None
        raise
    except ValueError as e:
        text = str(e)
        if text.startswith("Model type ") and text.endswith(" not supported."):
            check_architecture(read_config(folder), folder / "config.json")
        mismatch = "config.json does not match the weights"
        if m := _SHAPE.search(text):
            implied, stored, name = m.group(1), m.group(2), m.group(3)
            differ = {int(d) for d in implied.split(",") if d.strip()} - {
                int(d) for d in stored.split(",") if d.strip()
            }
            config = read_config(folder)
            raise OctoError(
                f"{mismatch}: {name} has shape ({stored}) in {_weights_file(folder, name)}, "
                f"config.json implies ({implied}){_fields_of(config, differ)}",
                folder,
            ) from None
        for pattern, says in (
            (_MISSING, "config.json implies {} parameters the weights lack"),
            (_EXTRA, "the weights hold {} parameters config.json does not imply"),
        ):
            if m := pattern.match(text):
                detail = says.format(m.group(1))
                raise OctoError(f"{mismatch}: {detail} ({_first(m.group(2))})", folder) from None
        raise


def check_loadable(folder: str | Path) -> None:
    """Refuse a model folder mlx-lm would refuse, without reading a weight: mlx-lm builds the
    model from config.json and matches it against the safetensors' names and shapes (lazily:
    no tensor data is read), so an unknown ``model_type`` or a config.json that does not match
    its weights is one OctoError naming the folder.

    Args:
        folder: a model folder (config.json and model*.safetensors).
    """
    from mlx_lm.utils import load_model as mlx_lm_load_model

    folder = Path(folder)
    check_architecture(read_config(folder), folder / "config.json")
    with mlx_lm_errors(folder):
        mlx_lm_load_model(folder, lazy=True)
