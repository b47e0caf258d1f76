"""Adapter folders (mlx-lm's format): read and check them, load one onto its base model, write
one (:func:`save_adapter`), and check the ``--out`` of the `adapters` commands (:func:`check_out`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from octo_mlx.errors import OctoError, OctoWarning
from octo_mlx.files import check_output_folder, read_json_object, safetensors_header, staged_dir
from octo_mlx.models.folder import read_config, weights_sha256
from octo_mlx.models.loading import load_model

FINE_TUNE_TYPES = ("lora", "dora", "full")


def read_adapter_config(adapter: str | Path) -> dict:
    """An adapter folder's ``adapter_config.json``, checked field by field, and its weights
    file's header; OctoError naming the file and field when the folder is not a usable adapter."""
    adapter = Path(adapter)
    if not is_adapter_folder(adapter):
        raise OctoError("not an adapter folder (needs adapter_config.json and adapters.safetensors)", adapter)
    cfg_path = adapter / "adapter_config.json"
    cfg = read_json_object(cfg_path)
    _check_config_fields(cfg, cfg_path)
    safetensors_header(adapter / "adapters.safetensors")  # truncated or random: one line, not mlx's traceback
    return cfg


def is_adapter_folder(folder: Path) -> bool:
    """True when ``folder`` holds adapter_config.json and adapters.safetensors (mlx-lm's two files)."""
    return (folder / "adapter_config.json").is_file() and (folder / "adapters.safetensors").is_file()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_config_fields(cfg: dict, where: Path) -> None:
    """The fields mlx-lm's ``load_adapters`` reads must have the types it assumes."""

    def bad(field: str, message: str):
        raise OctoError(f"{field}: {message}", where)

    kind = cfg.get("fine_tune_type", "lora")
    if kind not in FINE_TUNE_TYPES:
        bad("fine_tune_type", f"must be one of {', '.join(FINE_TUNE_TYPES)}, got {kind!r}")
    n = cfg.get("num_layers", -1)
    if not _is_int(n) or not (n == -1 or n > 0):
        bad("num_layers", f"must be -1 (all) or a positive integer, got {n!r}")
    params = cfg.get("lora_parameters")
    if kind == "full":
        return
    if not isinstance(params, dict):
        bad("lora_parameters", f"must be an object with rank and scale, got {params!r}")
    rank = params.get("rank")
    if not _is_int(rank) or rank <= 0:
        bad("lora_parameters.rank", f"must be a positive integer, got {rank!r}")
    for key in ("scale", "dropout"):
        if key in params and not _is_number(params[key]):
            bad(f"lora_parameters.{key}", f"must be a number, got {params[key]!r}")
    keys = params.get("keys")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        bad("lora_parameters.keys", f"must be a list of module names, got {keys!r}")


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


def adapter_base(path: str | Path | None, adapter_config: dict, adapter: str | Path) -> str | Path | None:
    """The model to load an adapter on: ``path``; else the base an `octo-mlx train` adapter names
    (``base_model``, relative to the adapter folder or absolute; older adapters named it relative
    to the folder training ran in); else None (the default model: plain mlx-lm adapters).

    Raises:
        OctoError: the adapter names a base that is not there (rather than the default model).
    """
    base = adapter_config.get("base_model")
    if path is not None or not base:
        return path
    for candidate in (Path(adapter) / base, Path(base)):
        if candidate.is_dir():
            return candidate
    raise OctoError(
        f"the adapter's base model {base} is not there (looked beside the adapter and in the current "
        "folder); give the model with --model",
        Path(adapter) / "adapter_config.json",
    )


def check_base_fingerprint(
    cfg: dict, folder: Path, adapter: str | Path, force: bool = False, got: str | None = None
) -> None:
    """Refuse a base whose weights differ from the ones the adapter was trained on (same shapes
    included); ``force`` turns the refusal into a warning (OctoWarning). ``got``: the base's
    fingerprint when known (an extended base's source), else computed from ``folder``."""
    want = cfg.get("base_fingerprint")
    if not want:
        return  # an adapter made elsewhere (mlx-lm, older octo-mlx): only shapes can be checked
    got = got or weights_sha256(folder)
    if got != want:
        _mismatch(want, got, folder, adapter, force)


def load_with_adapter(
    path: str | Path | None = None, adapter_path: str | Path | None = None, force: bool = False
):
    """Load (model, tokenizer, model folder) with mlx-lm, apply an adapter, cast to the compute dtype.

    Args:
        path: a model folder; None = the adapter's base (see :func:`adapter_base`), else the
            default model.
        adapter_path: an mlx-lm adapter folder (adapter_config.json + adapters.safetensors), or
            None. One made for another base model is a clear OctoError, not a shape traceback,
            and so is one trained on other weights of the same shapes (the base fingerprint).
        force: load an adapter on a base whose fingerprint differs, with a warning.
    """
    if adapter_path is None:
        return load_model(path)
    cfg = read_adapter_config(adapter_path)
    on_table = "table" in cfg  # trained on an extended base: found from the original model

    def apply(model, folder: Path):
        check_adapter(adapter_path, cfg, read_config(folder))
        if not on_table:
            check_base_fingerprint(cfg, folder, adapter_path, force)
        model = apply_adapter(model, adapter_path, cfg, folder)
        model.eval()
        return model

    base = (
        extended_base_for(path, cfg, adapter_path, force)
        if on_table
        else adapter_base(path, cfg, adapter_path)
    )
    return load_model(base, adapt=apply)


def apply_adapter(model, adapter: str | Path, cfg: dict, folder: Path):
    """mlx-lm's ``load_adapters`` on ``model`` (loaded from ``folder``); its shape refusal as one
    OctoError naming the first misfit (and how many more) instead of mlx-lm's list."""
    from mlx_lm.tuner.utils import load_adapters

    try:
        return load_adapters(model, str(adapter))
    except ValueError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        more = f" (+{len(lines) - 2} more)" if len(lines) > 2 else ""
        base = cfg.get("base_model") or cfg.get("model") or "?"
        msg = f"adapter does not fit the model {folder}: it was trained on {base}: {detail}{more}"
        raise OctoError(msg, adapter) from None


def extended_base_for(path: str | Path | None, cfg: dict, adapter: str | Path, force: bool = False) -> Path:
    """The extended base an adapter trained on the added-token table loads on.

    The original model is ``path`` (a model folder, or an extended base written by `octo-mlx
    model extend`), else the one the adapter names, else the default model; its fingerprint must
    be the adapter's ``base_fingerprint`` (``force``: warn instead) and the table the adapter's.
    """
    from octo_mlx.models.default import default_model_path
    from octo_mlx.models.loading import resolve_model
    from octo_mlx.models.tokens import TABLE, extend_base, read_extension

    where = Path(adapter) / "adapter_config.json"
    table = cfg.get("table") or {}
    if table.get("hash") != TABLE.hash:
        raise OctoError(
            f"the adapter was trained with added-token table v{table.get('version', '?')} "
            f"({str(table.get('hash', '?'))[:12]}...), octo-mlx has v{TABLE.version}",
            where,
        )
    want = cfg.get("base_fingerprint")
    if path is not None:
        folder = resolve_model(path)
        marker = read_extension(folder)
        got = marker.get("source_sha256") if marker else weights_sha256(folder)
        if want and got != want:
            _mismatch(want, got, folder, adapter, force)
        return folder if marker else extend_base(folder, TABLE)
    named = cfg.get("model")
    candidates = [Path(named)] if named and Path(named).is_dir() else []
    candidates.append(default_model_path())
    for folder in candidates:
        if not want or weights_sha256(folder) == want:
            return extend_base(folder, TABLE)
    raise OctoError(
        f"the adapter's base model ({named}, sha256 {str(want)[:12]}...) is not on this machine, "
        "and the default model is another; give it with --model",
        where,
    )


def _mismatch(want: str, got: str, folder: Path, adapter, force: bool) -> None:
    message = (
        f"the adapter was trained on other weights than {folder} "
        f"(base sha256 {want[:12]}..., this model {got[:12]}...)"
    )
    if not force:
        raise OctoError(message + "; give its own base with --model, or --force to use it anyway", adapter)
    warnings.warn(f"{adapter}: {message}; used anyway (--force)", OctoWarning, stacklevel=3)


def save_adapter(
    folder: str | Path, weights: dict, adapter_config: dict, recipe_yaml: str | None = None
) -> Path:
    """Write an mlx-lm adapter folder whole or not at all (staged beside it, then swapped in):
    adapters.safetensors, adapter_config.json, and recipe.yaml when ``recipe_yaml`` is given.
    Training, `adapters combine` and `adapters import` all write theirs here."""
    import mlx.core as mx

    folder = Path(folder)
    with staged_dir(folder) as tmp:
        mx.save_safetensors(str(tmp / "adapters.safetensors"), weights, metadata={"format": "mlx"})
        (tmp / "adapter_config.json").write_text(json.dumps(adapter_config, indent=4) + "\n")
        if recipe_yaml is not None:
            (tmp / "recipe.yaml").write_text(recipe_yaml)
    return folder


def check_out(
    out: str | Path,
    overwrite: bool,
    writes: str,
    holds: Callable[[Path], bool],
    inputs: Sequence[Path] = (),
    inputs_are: str = "a folder being read",
) -> Path:
    """The ``--out`` of an `adapters` command, checked before any work: new or empty; never one of
    the folders the command reads; with ``overwrite``, only a folder of what the command writes.

    Args:
        out: the folder to write.
        overwrite: the user passed --overwrite.
        writes: what the command writes, for the error (``"an adapter folder"``).
        holds: True for a folder of that kind (``--overwrite`` replaces it whole).
        inputs: the folders read (``out`` must be none of them).
        inputs_are: how the error names them (``"the folder being converted"``).
    """
    out = check_output_folder(out, "--out", overwrite)
    if out.exists() and any(p.exists() and out.resolve() == p.resolve() for p in inputs):
        raise OctoError(f"is {inputs_are}; write the result elsewhere", "--out")
    if overwrite and out.is_dir() and any(out.iterdir()) and not holds(out):
        raise OctoError(f"holds something other than {writes}; --overwrite replaces only {writes}", out)
    return out


def adapter_base_folder(
    adapter: str | Path, cfg: dict, model: str | Path | None = None, force: bool = False
) -> Path:
    """The folder an adapter loads on, checked as loading checks it: its extended base (adapters
    of the added-token table), else ``model`` or the base it names; the base fingerprint must
    match (``force``: a warning)."""
    from octo_mlx.models.loading import resolve_model

    if "table" in cfg:
        return extended_base_for(model, cfg, adapter, force)
    folder = resolve_model(adapter_base(model, cfg, adapter))
    check_base_fingerprint(cfg, folder, adapter, force)
    return folder
