"""What survives a killed run: the request cache and the append-only record logs.

- ``RequestCache``: one file per request, named by the SHA-256 of what determines the reply
  (endpoint without credentials, model, messages, sampling parameters, seed, attempt). Files are
  written to a temporary name, fsync'd and renamed, so a kill leaves a whole reply or none. A
  resumed run finds every reply it already paid for.
- ``RecordLog``: accepted.jsonl / rejected.jsonl, one fsync'd line per outcome. A kill during a
  write leaves at most one torn last line; it is cut off on reopen (its request is cached, so
  redoing it costs nothing).
API keys never enter a key, a file or a record: requests are stored without headers, and
``scrub`` removes the key from any text (an error message) before it is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from octo_mlx.errors import OctoError


def safe_base_url(url: str) -> str:
    """The endpoint without user:password, query string or fragment (these may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret (longer than 3 chars) in ``text`` by ``***``."""
    for s in secrets:
        if s and len(s) > 3:
            text = text.replace(s, "***")
    return text


def request_key(base_url: str, params: dict[str, Any]) -> str:
    """The cache key: SHA-256 of the canonical JSON of the endpoint and the request parameters."""
    blob = json.dumps({"base_url": safe_base_url(base_url), **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RequestCache:
    """Replies on disk, one JSON file per request key (``DIR/ab/abcdef....json``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored reply body, or None (a file that does not parse counts as absent)."""
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))["response"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, request: dict[str, Any], response: dict) -> None:
        """Store a reply with the request that made it (no headers: no API key)."""
        record = {"request": request, "response": response}
        write_atomic(self._path(key), json.dumps(record, ensure_ascii=False))


class RecordLog:
    """An append-only JSONL file: each ``append`` is one line, flushed and fsync'd."""

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
