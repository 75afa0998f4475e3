"""ABC files and parsing: tune books read from disk, and tunes parsed to a Piece by music21.

The text side of ABC (cutting a book into tunes, header fields, the text a model learns)
is :mod:`tunesmith.abc_text`, re-exported here. Parsing ABC into notes is music21's job
(:func:`tune_to_piece`).
"""

from __future__ import annotations

import re
from pathlib import Path

from tunesmith.abc_text import (  # noqa: F401 - re-exported: the text helpers live there
    BODY_FIELDS,
    HEADER_FIELDS,
    MODEL_HEADER,
    AbcTune,
    _strip_comment,
    as_tune_book_entry,
    model_text,
    read_header,
    split_tunes,
)
from tunesmith.errors import TunesmithError, first_line
from tunesmith.music import Piece


def read_tune_book(path: str | Path) -> list[AbcTune]:
    """Read an ABC file. A missing, unreadable or tune-less file is a :class:`TunesmithError`."""
    path = Path(path)
    if not path.exists():
        raise TunesmithError("no such file or folder", path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TunesmithError(f"cannot read ({e.strerror})", path) from None
    if b"\x00" in raw[:4096]:
        raise TunesmithError("not an ABC file (binary data)", path)
    text = raw.decode("utf-8", errors="replace")
    tunes = split_tunes(text, source=str(path))
    if not tunes:
        raise TunesmithError("not an ABC file: no tunes found (no line starts with 'X:')", path)
    return tunes


def tune_to_piece(text: str, repeats: bool = True) -> Piece:
    """Parse one tune with music21 into a Piece (``source_text`` keeps the ABC); with
    ``repeats=False`` in the written order (expanding badly nested repeats is slow).

    Raises :class:`ValueError` with music21's reason when the text does not parse, or when
    its notes last less than one bar (music21 accepts a lot of junk silently).
    """
    from music21 import converter

    from tunesmith.io.m21 import score_to_piece

    if not text.lstrip().startswith("X:"):
        text = as_tune_book_entry(text)
    try:
        score = converter.parse(text, format="abc")
        piece = score_to_piece(score, repeats=repeats)
    except Exception as e:  # noqa: BLE001 - music21 raises many unrelated types
        raise ValueError(_one_line(e)) from None
    if not piece.notes:
        raise ValueError("no notes")
    bar = _bar_beats(piece)
    if piece.end_beat - piece.notes[0].start < bar - 1e-6:
        raise ValueError(f"less than one bar of notes ({bar:g} beats)")
    piece.source_text = text
    fields = read_header(text)
    piece.title = fields.get("T", piece.title)
    return piece


def _bar_beats(piece: Piece) -> float:
    """Length of the first bar in beats (quarter notes); 4 when the meter is unknown.
    (music21 builds no Measure objects for some valid tunes, e.g. ones ending in '|]', so
    "a bar of notes" is measured as duration, not by counting Measure objects.)"""
    if piece.time_signatures:
        ts = piece.time_signatures[0]
        return ts.numerator * 4.0 / ts.denominator
    return 4.0


def check_tune(text: str) -> str | None:
    """None if ``text`` parses with music21 into at least one bar of notes, else the reason."""
    try:
        tune_to_piece(text)
    except ValueError as e:
        return str(e)
    return None


def _one_line(e: Exception) -> str:
    # music21 appends its tokenizer state ("tPrev: <...>, token: <...>"): keep the reason
    return re.split(r"\.?\s+tPrev:", first_line(e, 1000))[0][:200]
