"""The one exception type for bad input: the CLI prints it as one line, no traceback."""

from __future__ import annotations

from pathlib import Path


class OctoError(Exception):
    """A problem the user can fix: bad input, a missing file, an unsupported model.

    Args:
        message: what is wrong, in one line.
        where: the file (optionally ``file:line`` or ``file: field``) the problem is in.
    """

    def __init__(self, message: str, where: str | Path | None = None):
        self.message = message
        self.where = str(where) if where is not None else None
        super().__init__(f"{self.where}: {message}" if self.where else message)


class OctoWarning(UserWarning):
    """Something the user should know but asked for (e.g. ``--force``); the CLI prints it as
    one line ``octo-mlx: warning: ...``."""


class InvalidField(ValueError):
    """A typed config's value is out of range, as ``section.key: what is wrong``.

    Raised by the ``__post_init__`` of config dataclasses (recipe sections, the LoRA config);
    the recipe loader turns it into an OctoError naming the file the value came from.
    """


def check_field(ok: bool, key: str, message: str) -> None:
    """Raise InvalidField(``key: message``) unless ``ok``."""
    if not ok:
        raise InvalidField(f"{key}: {message}")
