"""User-facing errors.

A :class:`TunesmithError` is a mistake in what the user gave us (a path, a file, a flag).
The CLI prints its message as one line and exits non-zero, with no traceback. Messages
name the file (or flag) and the problem: ``path/to/x.abc: no tunes found (no 'X:' line)``.
"""

from __future__ import annotations

from pathlib import Path


class TunesmithError(Exception):
    """A user mistake: printed as one line by the CLI, never as a traceback."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (libraries often add pages of context)."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:limit]


class CheckpointError(TunesmithError):
    """A folder that is not a tunesmith checkpoint, or one this version cannot read."""
