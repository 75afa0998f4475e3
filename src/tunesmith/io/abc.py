"""ABC notation: tune books, header fields, the text a model learns, and parsing to a Piece.

A tune book holds many tunes; a tune starts at a line beginning with ``X:`` and runs to
the next one (blank lines inside a tune are tolerated: we split on ``X:``, not on blank
lines). The header runs from ``X:`` to the first ``K:`` line.

Parsing ABC into notes is music21's job (:func:`tune_to_piece`); this module only cuts
text, which no library does in the shape we need (music21's ABC handler parses whole
tunes, it does not hand back the raw text of each).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import TunesmithError, first_line
from tunesmith.music import Piece

HEADER_FIELDS = ("X", "T", "M", "L", "K", "Q", "R")
# Header fields kept in the text a model learns, in this order. Titles, numbers, sources
# and notes are not music; dropping them keeps the vocabulary and the model small.
MODEL_HEADER = ("M", "L", "K")
# Info fields that may appear inside a tune body and change the music; other body fields
# (lyrics w:/W:, notes N:, part titles T:, ...) are dropped from the model text.
BODY_FIELDS = ("K", "M", "L", "P")

_FIELD_RE = re.compile(r"^([A-Za-z]):\s?(.*)$")


@dataclass
class AbcTune:
    """One tune cut from a tune book."""

    text: str  # the tune's full text, from its X: line on
    fields: dict[str, str] = field(default_factory=dict)  # first value of each header field
    source: str = ""  # file it came from
    index: int = 0  # position in that file (0-based)

    @property
    def title(self) -> str:
        return self.fields.get("T", "")

    @property
    def label(self) -> str:
        """How to name this tune in a message: ``file.abc#3 (X:12 'Title')``."""
        x = self.fields.get("X", "?")
        t = f" {self.title!r}" if self.title else ""
        return f"{self.source}#{self.index} (X:{x}{t})"


def split_tunes(text: str, source: str = "") -> list[AbcTune]:
    """Cut a tune book into tunes at each ``X:`` line (text before the first is ignored)."""
    tunes: list[AbcTune] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("X:"):
            if current is not None:
                tunes.append(_make_tune(current, source, len(tunes)))
            current = [line]
        elif current is not None:
            current.append(line)
    if current is not None:
        tunes.append(_make_tune(current, source, len(tunes)))
    return tunes


def _make_tune(lines: list[str], source: str, index: int) -> AbcTune:
    text = "\n".join(lines).strip() + "\n"
    return AbcTune(text=text, fields=read_header(text), source=source, index=index)


def read_header(text: str) -> dict[str, str]:
    """The header fields (X, T, M, L, K, Q, R) of one tune: first value of each, stripped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _FIELD_RE.match(line.strip())
        if not m:
            continue
        key, value = m.group(1), m.group(2).split("%")[0].strip()
        if key in HEADER_FIELDS and key not in fields:
            fields[key] = value
        if key == "K":
            break
    return fields


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


def model_text(tune: AbcTune) -> str:
    """The text a model learns for ``tune``: ``M:``, ``L:``, ``K:`` header lines, then the
    body with comments, lyrics and non-musical fields removed.

    Raises :class:`ValueError` (with the reason) for a tune that has no ``K:`` line or no
    body, which the corpus loader reports and skips.
    """
    lines = tune.text.splitlines()
    k_at = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), None)
    if k_at is None:
        raise ValueError("no K: (key) line ends the header")
    fields = tune.fields
    header = [f"{k}:{fields[k]}" for k in MODEL_HEADER if fields.get(k)]
    body = []
    for line in lines[k_at + 1 :]:
        line = _strip_comment(line).rstrip()
        if not line.strip():
            continue
        m = _FIELD_RE.match(line)
        if m:
            if m.group(1) not in BODY_FIELDS:
                continue
            line = f"{m.group(1)}:{m.group(2).strip()}"
        body.append(line)
    if not body:
        raise ValueError("no music after the K: line")
    return "\n".join(header + body) + "\n"


def _strip_comment(line: str) -> str:
    if line.startswith("%"):
        return ""
    # '%' starts a comment unless escaped as '\%'
    m = re.search(r"(?<!\\)%", line)
    return line[: m.start()] if m else line


def as_tune_book_entry(text: str, number: int = 1, title: str = "") -> str:
    """Make model text a complete tune: prepend ``X:`` (and ``T:``) so ABC tools accept it."""
    head = f"X:{number}\n" + (f"T:{title}\n" if title else "")
    return head + text.rstrip("\n") + "\n"


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
