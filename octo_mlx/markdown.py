"""Marked sections of Markdown files (BENCHMARKS.md, RESULTS.md) that commands rewrite in place.

A section starts with a line ``<!-- NAME:start -->`` and ends with ``<!-- NAME:end -->``; the
text around it, written by people, is never touched.
"""

from __future__ import annotations

from pathlib import Path


def write_section(path: str | Path, text: str, title: str = "# Benchmarks\n") -> Path:
    """Replace the section of ``text`` (its first and last lines are the markers), or append it.

    Args:
        path: the Markdown file (created with ``title`` when missing).
        text: the whole section, markers included.
        title: the first line of a new file.
    """
    path = Path(path)
    start = text.split("\n", 1)[0]
    end = text.rstrip("\n").rsplit("\n", 1)[-1]
    old = path.read_text() if path.exists() else title
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + text.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
    return path
