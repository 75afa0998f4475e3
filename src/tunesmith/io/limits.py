"""Budgets for everything that reads or makes music from a user's file, so that a tiny
hostile file cannot hang a command or fill the memory: every reader and writer checks
its budget *before* the work (or the allocation) it guards, and a piece over budget is a
one-line error that names the limit and how to raise it.

The limits are generous for music (a Bach chorale has ~300 notes, a folk tune ~1 KB of
ABC, the longest real MIDI files in the corpora here ~60,000 notes and under an hour) and
are read once from ``TUNESMITH_LIMITS`` (``name=value`` pairs, comma-separated, e.g.
``TUNESMITH_LIMITS=notes=2000000,seconds=36000``) for a user who needs more.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

from tunesmith.errors import TunesmithError

ENV = "TUNESMITH_LIMITS"


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
    parse_seconds: float = 30.0  # time to read one file (music21 is slow on odd input)
    render_notes: int = 200_000  # notes drawn in a picture or rendered to audio

    def check(self, name: str, value: float, what: str, where=None) -> None:
        """Raise a one-line TunesmithError when ``value`` is over the ``name`` limit."""
        limit = getattr(self, name)
        if value > limit:
            raise TunesmithError(
                f"{what}: {value:,.0f} is over the limit of {limit:,.0f} ({name}; raise it "
                f"with {ENV}={name}=N)", where)


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
    """The limits in force: the defaults, with ``TUNESMITH_LIMITS`` over them."""
    return _from_env(os.environ.get(ENV, ""))
