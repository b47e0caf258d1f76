"""Files that survive a kill: atomic writes, folder swaps, append-only logs; the cache root; fingerprints.

One policy for everything octo-mlx writes that a reader may trust:

- :func:`write_atomic`: a temporary file in the same folder (named per process and thread, so
  concurrent writers never share one), flushed and fsync'd, renamed over the target, then the
  folder fsync'd. A kill at any instant leaves the old file or the new one, never half of one.
- :func:`replace_dir`: a folder built beside its target (:func:`fresh_tmp`), fsync'd, then
  swapped in; the old folder goes only after the new one is whole.
- :class:`RecordLog`: append-only JSONL, one fsync'd line per record; a torn last line (a kill
  mid-write) is cut off on reopen.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

from octo_mlx.errors import OctoError

HOME_ENV = "OCTO_MLX_HOME"  # the cache root: imported models, LLM request caches


def cache_root() -> Path:
    """Where octo-mlx caches (models/, judge/): $OCTO_MLX_HOME, else $XDG_CACHE_HOME/octo-mlx,
    else ~/.cache/octo-mlx."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "octo-mlx"


# --- atomic writes --------------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) so that a reader sees the old file or the new one, whole.

    Args:
        path: the file; its folder is created.
        text: the whole content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_tree(path: Path) -> None:
    """fsync every file below ``path``, then ``path`` itself."""
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    fsync_dir(path)


def fresh_tmp(final: Path) -> Path:
    """An empty hidden folder beside ``final`` to build it in (see :func:`replace_dir`)."""
    tmp = final.with_name(f".{final.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def replace_dir(tmp: Path, final: Path) -> Path:
    """Move a finished folder ``tmp`` to ``final``; the old ``final`` goes only after the new is whole."""
    fsync_tree(tmp)
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)
    return final


class RecordLog:
    """An append-only JSONL file: each ``append`` is one line, flushed and fsync'd (thread-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.torn = 0  # torn last lines cut off on open (a kill mid-write)

    def load(self) -> list[dict]:
        """Every complete record; cuts off a torn last line so later appends stay parseable."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        records, good_end = [], 0
        lines = raw.splitlines(keepends=True)
        for i, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                if i == len(lines):  # only the last line can be torn by a kill
                    break
                raise OctoError(
                    "corrupt record (not JSON); fix or remove the line", f"{self.path}:{i}"
                ) from None
            if not line.endswith(b"\n"):  # complete JSON but no newline: keep it, finish the line
                records.pop()
                break
            good_end += len(line)
        if good_end < len(raw):
            self.torn += 1
            with self.path.open("r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        return records

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


# --- reading what others wrote ----------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint(folder: str | Path | None, patterns: Sequence[str] = ("*.safetensors", "*.gguf")) -> dict:
    """sha256 of every weights file in ``folder`` plus one digest over them all (name-ordered)."""
    if folder is None:
        return {}
    folder = Path(folder)
    files = sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})
    per_file = {p.name: sha256_file(p) for p in files}
    combined = hashlib.sha256("".join(f"{n}:{d}\n" for n, d in per_file.items()).encode()).hexdigest()
    return {"path": str(folder), "sha256": combined, "files": per_file}


def read_json_object(path: str | Path) -> dict:
    """A JSON file that must hold one object (a manifest, a config); one clear line otherwise."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise OctoError(f"bad JSON: {e.msg} at line {e.lineno}", path) from None
    except UnicodeDecodeError:
        raise OctoError("not a UTF-8 text file", path) from None
    if not isinstance(value, dict):
        raise OctoError(f"expected a JSON object, got {type(value).__name__}", path)
    return value


def safetensors_header(path: str | Path) -> dict:
    """The JSON header of a .safetensors file: tensor name -> {dtype, shape, data_offsets}."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))
