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


class OptionError(TunesmithError):
    """A setting with a bad value. It names the setting (``option``, a field name such as
    ``max_len``) apart from the ``problem``, so that each front end says it its own way:
    ``--max-len must be >= 1, got 0`` on the command line, a red field on a web page."""

    def __init__(self, option: str, problem: str):
        self.option, self.problem = option, problem
        super().__init__(self.said_as(option) if option else problem)

    def said_as(self, name: str) -> str:
        """The message with the setting called ``name`` (``--max-len``, ``Length``)."""
        return f"{name}{'' if self.problem.startswith(':') else ' '}{self.problem}"
