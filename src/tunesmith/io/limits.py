"""Budgets for everything that reads or makes music from a user's file, so that a tiny
hostile file cannot hang a command or fill the memory: every reader and writer checks
its budget *before* the work (or the allocation) it guards, and a piece over budget is a
one-line error that names the limit and how to raise it.

The limits are generous for music (a Bach chorale has ~300 notes, a folk tune ~1 KB of
ABC, the longest real MIDI files in the corpora here ~60,000 notes and under an hour) and
are read from ``TUNESMITH_LIMITS`` (``name=value`` pairs, comma-separated, e.g.
``TUNESMITH_LIMITS=notes=2000000,seconds=36000``) for a user who needs more: parsed once
per distinct value of the variable, so a test (or a program) that changes the variable
gets the new limits on the next :func:`limits` call, with no cache to clear.

Where each is checked (the readers; the writers check ``frames`` and ``render_notes``):

- ``file_bytes``: before a file is read (:func:`check_file_size`: ``io/read.py``,
  ``io/midi.py``, ``io/musicxml.py``, ``io/abc.py``, ``io/boulanger.py``), and what a
  file unpacks to: a ``.mxl`` zip's members (``io/musicxml.py``), a Boulanger file's
  piano rolls (``io/boulanger.py``);
- ``tracks``: the MIDI header's track count, before symusic parses (``io/midi.py``);
- ``notes``, ``beats``, ``note_beats``, ``changes``: right after symusic parses, before a
  Python object is made per note (``io/midi.py``), and for every reader in
  :func:`tunesmith.io.read.piece_problem`, with ``seconds`` (through the tempo map);
- ``abc_line_chars``, ``abc_tune_chars``, ``abc_meter``: an ABC tune's text before music21
  or abc2midi sees it (:func:`tunesmith.io.abc.check_abc_text`);
- ``parse_seconds``: the processor time one file may take to read
  (:mod:`tunesmith.io.deadline`; a read that stalls is ended by the clock at four
  times it), and abc2midi's run on one tune (wall time);
- ``analyze_notes``: each piece ``analyze`` measures (:mod:`tunesmith.app.analyzing`; a
  piece over it is skipped with the reason).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError

ENV = "TUNESMITH_LIMITS"


class OverLimit(TunesmithError, ValueError):
    """A piece or file over one of the :class:`Limits`: a :class:`TunesmithError` (one line,
    naming the limit and how to raise it) that is also a :class:`ValueError`, so that the
    ABC parsers, whose callers catch ValueError for "this tune does not parse", report it
    like any other reason. ``reason`` is the message without the file."""

    def __init__(self, reason: str, name: str, path=None):
        self.reason, self.name = reason, name
        super().__init__(reason, path)


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 64 << 20  # any music file read (MIDI, MusicXML, ABC)
    tracks: int = 1024  # tracks of one piece
    notes: int = 500_000  # notes of one piece
    seconds: float = 4 * 3600.0  # length of one piece, through its tempo map
    beats: float = 50_000.0  # length of one piece in beats (the tempo map aside)
    note_beats: float = 2_000.0  # one note's length
    abc_line_chars: int = 4_000  # one line of ABC (real tunes: well under 200)
    abc_tune_chars: int = 64_000  # one tune of ABC (real tunes: a few KB)
    abc_meter: int = 64  # largest M: numerator or denominator, and L: denominator
    frames: int = 1_000_000  # a piano roll's frames (88 bytes each)
    parse_seconds: float = 30.0  # processor time to read one file (music21 is slow on odd input)
    render_notes: int = 100_000  # notes drawn in a picture or rendered to audio
    analyze_notes: int = 100_000  # notes of one piece `analyze` measures (40 features,
    # ~25 us a note: 450,000 notes took over 20 s)
    wav_seconds: float = 1800.0  # audio one WAV may hold (30 min: 318 MB, ~20 s to render)
    batch_tokens: int = 2_000_000  # tokens one sampling batch holds (pieces x length):
    # a larger request is composed and written batch by batch

    changes: int = 100_000  # tempo and meter changes of one piece

    def problem(self, name: str, value: float, what: str) -> str:
        """"" when ``value`` is within the ``name`` limit, else the one-line reason."""
        limit = getattr(self, name)
        if value > limit:
            return (f"{what}: {_number(value)} is over the limit of {_number(limit)} ({name};"
                    f" raise it with {ENV}={name}=N)")
        return ""

    def check(self, name: str, value: float, what: str, where=None) -> None:
        """Raise a one-line :class:`OverLimit` (a TunesmithError naming ``where``) when
        ``value`` is over the ``name`` limit."""
        reason = self.problem(name, value, what)
        if reason:
            raise OverLimit(reason, name, where)


def _number(value: float) -> str:
    """``1,234`` for whole numbers, ``1,234.5`` otherwise (a limit just crossed must not
    read as equal to it), ``inf`` / ``nan`` as such."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.6g}" if abs(value) < 1000 else f"{value:,.1f}"


def check_file_size(path: str | Path) -> None:
    """Raise :class:`OverLimit` naming ``path`` when the file is larger than the
    ``file_bytes`` limit; a file that cannot be stat'ed is left to the reader to report."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return
    limits().check("file_bytes", size, "file size (bytes)", path)


def _parse(text: str) -> Limits:
    fields = {f.name: f.type for f in dataclasses.fields(Limits)}
    values = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in fields:
            raise TunesmithError(f"{ENV}: unknown limit {name!r} (known: {', '.join(fields)})")
        try:
            number = float(value)
        except ValueError:
            raise TunesmithError(f"{ENV}: {name} needs a number, got {value!r}") from None
        if not number > 0:
            raise TunesmithError(f"{ENV}: {name} must be > 0, got {value!r}")
        values[name] = int(number) if fields[name] in (int, "int") else number
    return Limits(**values)


@functools.cache
def _from_env(text: str) -> Limits:
    return _parse(text)


def limits() -> Limits:
    """The limits in force: the defaults, with ``TUNESMITH_LIMITS`` over them (read on
    every call; parsed once per distinct value)."""
    return _from_env(os.environ.get(ENV, ""))
