"""Files that survive a kill: atomic writes, folder swaps, append-only logs; the cache root; fingerprints.

One policy for everything octo-mlx writes that a reader may trust:

- :func:`write_atomic`: a temporary file in the same folder (named per process and thread, so
  concurrent writers never share one), flushed and fsync'd, renamed over the target, then the
  folder fsync'd. A kill at any instant leaves the old file or the new one, never half of one.
- :func:`replace_dir`: a folder built beside its target (:func:`fresh_tmp`), fsync'd, then
  swapped in; the old folder goes only after the new one is whole. :func:`staged_dir` wraps
  both around one ``with`` block, and removes the staged folder if the block fails.
- :class:`RecordLog`: append-only JSONL, one fsync'd line per record; a torn last line (a kill
  mid-write) is cut off on reopen.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE, macOS renamex_np
    RENAME_SWAP); False where the kernel or file system cannot, and nothing changed."""
    import ctypes
    import ctypes.util
    import sys

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        if sys.platform == "linux":
            at_fdcwd, rename_exchange = -100, 2
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            ok = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
        elif sys.platform == "darwin":
            rename_swap = 2
            fn = libc.renamex_np
            fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
            ok = fn(os.fsencode(a), os.fsencode(b), rename_swap) == 0
        else:
            return False
    except (OSError, AttributeError):  # no such call in this libc
        return False
    return ok


def replace_dir(tmp: Path, final: Path) -> Path:
    """Move a finished folder ``tmp`` to ``final``; the old ``final`` goes only after the new is whole.

    Where the kernel can, the two folders are exchanged in one atomic step, so ``final`` exists
    at every instant (a kill leaves the old folder or the new one). Elsewhere the old folder is
    first renamed aside to ``.NAME.old``: a kill between the two renames leaves no ``final`` but
    the old one beside it, put back by the next :func:`replace_dir` or :func:`recover_dir`.
    """
    fsync_tree(tmp)
    recover_dir(final)
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists() and _exchange(tmp, final):
        fsync_dir(final.parent)
        shutil.rmtree(tmp)  # now the old folder
        return final
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)
    return final


@contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Build the folder ``final`` whole or not at all: ``with staged_dir(out) as tmp:`` write into
    ``tmp`` (:func:`fresh_tmp`, beside ``final``); when the block ends it is swapped in
    (:func:`replace_dir`); when the block raises it is removed and ``final`` is left as it was."""
    final = Path(final)
    tmp = fresh_tmp(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, final)


def recover_dir(final: Path) -> bool:
    """Put back the old ``final`` that a kill inside :func:`replace_dir` left aside (only where
    no atomic exchange exists); True when it did."""
    old = final.with_name(f".{final.name}.old")
    if final.exists() or not old.is_dir():
        return False
    os.replace(old, final)
    fsync_dir(final.parent)
    return True


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse, before any work starts, a file path that cannot be written: a folder, a file where
    a parent folder should be, a folder without write permission.

    Args:
        path: the file to be written later (its folders need not exist yet).
        what: how the error names it (e.g. ``"--out"``).
    """
    path = Path(path)
    if path.is_dir():
        raise OctoError(f"{what} is a folder, expected a file path", path)
    _check_parents(path, what)
    return path


def check_output_folder(path: str | Path, what: str = "output folder", overwrite: bool = False) -> Path:
    """Refuse, before any work starts, a folder path that is a file, that cannot be created, or
    that already holds something (unless ``overwrite``: the caller then replaces it whole).

    Args:
        path: the folder to be written later.
        what: how the error names it (e.g. ``"--out"``).
        overwrite: allow a non-empty folder (the user said so, e.g. ``--overwrite``).
    """
    path = Path(path)
    recover_dir(path)  # a folder a kill left aside mid-swap is the folder, not an empty path
    if path.exists() and not path.is_dir():
        raise OctoError(f"{what} is a file, expected a folder", path)
    if path.is_dir():
        if any(path.iterdir()) and not overwrite:
            raise OctoError(f"{what} is not empty; choose another or pass --overwrite to replace it", path)
        if not os.access(path, os.W_OK | os.X_OK):
            raise OctoError(f"{what} is not writable", path)
        return path
    _check_parents(path, what)
    return path


def _check_parents(path: Path, what: str) -> None:
    """The nearest existing parent of ``path`` must be a writable folder."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OctoError(f"{what}: {parent} is a file, not a folder", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OctoError(f"{what}: cannot write in {parent}", path)


class FolderLock:
    """An exclusive lock on a folder for one writer (``with FolderLock(out): ...``).

    A second holder fails at once with one clear line instead of both writing; the lock is the
    kernel's (flock on ``FOLDER/.lock``), so a killed holder never leaves it stuck.
    """

    NAME = ".lock"

    def __init__(self, folder: str | Path, what: str = "output folder", wait: bool = False):
        """Args: folder (created); what: how the error names it; wait: block until the other
        holder is done instead of failing (for work both would do the same, e.g. a cache entry)."""
        self.folder, self.what, self.wait, self.fd = Path(folder), what, wait, None

    def __enter__(self) -> FolderLock:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / self.NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OctoError(
                f"{self.what} is in use by another octo-mlx run (pid {holder})", self.folder
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


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


def _undecodable(path: Path, raw: bytes, e: UnicodeDecodeError) -> OctoError:
    line = raw.count(b"\n", 0, e.start) + 1
    column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
    byte = raw[e.start : e.start + 1].hex()
    return OctoError(f"not UTF-8 text: byte 0x{byte} at column {column}", f"{path}:{line}")


def read_text(path: str | Path) -> str:
    """The whole of a UTF-8 text file (a leading BOM dropped): the one decoding path of every
    reader of user files; a byte that is not UTF-8 is one OctoError naming ``file:line``.

    Raises:
        OctoError: no such file, a folder, unreadable, or not UTF-8.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OctoError("no such file", path) from None
    except IsADirectoryError:
        raise OctoError("is a folder, expected a file", path) from None
    except OSError as e:
        raise OctoError(f"cannot read: {e.strerror}", path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _undecodable(path, raw, e) from None


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (without line ends), decoded by :func:`read_text`.

    Lines end at ``\n``, ``\r\n`` or ``\r`` only, as a file opened in text mode reads them:
    not at U+2028, U+2029 or U+0085, which JSON keeps raw inside a string
    (``str.splitlines`` would cut such a JSONL line in two).
    """
    text = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line (or an empty file)
        lines.pop()
    return lines


def sha256_file(path: Path, chunk: int = 1 << 20, cache: bool = True) -> str:
    """The sha256 of a file's bytes, remembered in the cache root by (real path, size, mtime,
    inode) as git's index does: a 270 MB model hashes in ~1 s once, then in microseconds.

    Args:
        path: the file (a link is followed).
        cache: False to hash the bytes whatever the cache says.
    """
    real = Path(path).resolve()
    st = real.stat()
    key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode()).hexdigest()
    memo = cache_root() / "sha256" / key[:2] / key
    if cache:
        try:
            digest = memo.read_text(encoding="ascii").strip()
            if len(digest) == 64:
                return digest
        except (OSError, UnicodeDecodeError):
            pass
    h = hashlib.sha256()
    with real.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    if cache:
        try:
            write_atomic(memo, digest + "\n")
        except OSError:  # a read-only cache costs time, never correctness
            pass
    return digest


def fingerprint(folder: str | Path | None, patterns: Sequence[str] = ("*.safetensors", "*.gguf")) -> dict:
    """sha256 of every weights file in ``folder`` plus one digest over them all (name-ordered)."""
    if folder is None:
        return {}
    folder = Path(folder)
    files = sorted({p for pat in patterns for p in folder.glob(pat) if p.is_file()})
    per_file = {p.name: sha256_file(p) for p in files}
    combined = hashlib.sha256("".join(f"{n}:{d}\n" for n, d in per_file.items()).encode()).hexdigest()
    return {"path": str(folder), "sha256": combined, "files": per_file}


class _KeyGivenTwice(ValueError):
    pass


def _refuse_key_given_twice(pairs: list) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _KeyGivenTwice(key)
        seen[key] = value
    return seen


def parse_json(text: str, path: str | Path, what: str = "bad JSON") -> Any:
    """JSON ``text`` read from ``path``, strictly: a syntax error or a key given twice in one
    object (``json.loads`` keeps the last) is one OctoError at ``file:line``."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_key_given_twice)
    except json.JSONDecodeError as e:
        raise OctoError(f"{what}: {e.msg} (column {e.colno})", f"{path}:{e.lineno}") from None
    except _KeyGivenTwice as e:
        raise OctoError(f"{what}: key {e.args[0]!r} given twice in one object", path) from None


def read_json_object(path: str | Path) -> dict:
    """A JSON file that must hold one object (a manifest, a config); one clear line otherwise."""
    path = Path(path)
    value = parse_json(read_text(path), path)
    if not isinstance(value, dict):
        raise OctoError(f"expected a JSON object, got {type(value).__name__}", path)
    return value


def parse_yaml(text: str, path: str | Path, what: str = "not valid YAML") -> Any:
    """YAML ``text`` read from ``path``, parsed safely and strictly: a syntax error or a key given
    twice in one mapping (PyYAML keeps the last) is one OctoError at ``file:line``, the column in
    its message.

    Args:
        text: the file's text (from :func:`read_text`).
        path: the file, for the error.
        what: how the error starts (e.g. ``"malformed YAML"``).
    """
    import yaml

    try:
        return yaml.load(text, Loader=_strict_yaml_loader())  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or str(e).splitlines()[0]
        if mark is None:
            raise OctoError(f"{what}: {problem}", path) from None
        raise OctoError(f"{what}: {problem}, column {mark.column + 1}", f"{path}:{mark.line + 1}") from None
    except yaml.YAMLError as e:
        raise OctoError(f"{what}: {str(e).splitlines()[0]}", path) from None


def read_yaml(path: str | Path, what: str = "not valid YAML") -> Any:
    """A YAML file through :func:`read_text` and :func:`parse_yaml`."""
    return parse_yaml(read_text(path), path, what)


_STRICT_LOADER = None


def _strict_yaml_loader():
    """A yaml.SafeLoader that refuses a key given twice in one mapping (built once, on first use)."""
    global _STRICT_LOADER
    if _STRICT_LOADER is not None:
        return _STRICT_LOADER
    import yaml

    class StrictSafeLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may override
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.setdefault(key, key_node.start_mark)
                    except TypeError:  # an unhashable key: the base class says so
                        continue
                    if first is not key_node.start_mark:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"key {key!r} given twice (first on line {first.line + 1})",
                            key_node.start_mark,
                        )
            return super().construct_mapping(node, deep)

    _STRICT_LOADER = StrictSafeLoader
    return _STRICT_LOADER


def safetensors_header(path: str | Path) -> dict:
    """The JSON header of a .safetensors file: tensor name -> {dtype, shape, data_offsets}.

    Raises:
        OctoError: the file is not safetensors, or is shorter or longer than its header says
            (a truncated copy, random bytes).
    """
    path = Path(path)
    size = path.stat().st_size
    bad = "not a valid safetensors file (truncated or corrupt)"
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < n <= size - 8:
            raise OctoError(bad, path)
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise OctoError(bad, path) from None
    if not isinstance(header, dict):
        raise OctoError(bad, path)
    try:
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError):
        raise OctoError(bad, path) from None
    if 8 + n + end != size:
        raise OctoError(f"{bad}: its header needs {8 + n + end} bytes, the file has {size}", path)
    return header
