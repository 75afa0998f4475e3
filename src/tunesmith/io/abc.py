"""ABC files and parsing: tune books read from disk, and tunes parsed to a Piece by music21.

The text side of ABC (cutting a book into tunes, header fields, the text a model learns)
is :mod:`tunesmith.abc_text`, re-exported here. Parsing ABC into notes is music21's job
(:func:`tune_to_piece`).

Every ABC tune goes through :func:`check_abc_text` before music21 or abc2midi sees it:
its length, its longest line and its ``M:`` / ``L:`` fields are within the
:class:`~tunesmith.io.limits.Limits` (a 38-byte tune with ``M:99999/1`` and ``L:99999/1``
kept music21's tokenizer busy for over five minutes).
"""

from __future__ import annotations

import re
from pathlib import Path

from tunesmith.abc_meter import music21_rests
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
from tunesmith.io.limits import check_file_size, limits
from tunesmith.music import Piece

# M: values that are no fraction; music21 and abc2midi read them all
FREE_METERS = ("C", "C|", "none", "")
_METER_FIELD = re.compile(r"^([ML]):(.*)$", re.MULTILINE)
_INLINE_FIELD = re.compile(r"\[([ML]):([^\]\n]*)\]")
_FRACTION = re.compile(r"([0-9+()\s]*)/\s*([0-9]*)")


def read_tune_book(path: str | Path) -> list[AbcTune]:
    """Read an ABC file (UTF-8, a byte-order mark dropped; UTF-16 with its mark). A
    missing, unreadable, oversized (``file_bytes`` limit) or tune-less file is a
    :class:`TunesmithError`. The tunes are not checked here: see :func:`check_abc_text`."""
    path = Path(path)
    if not path.exists():
        raise TunesmithError("no such file or folder", path)
    check_file_size(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TunesmithError(f"cannot read ({e.strerror})", path) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    elif b"\x00" in raw[:4096]:
        raise TunesmithError("not an ABC file (binary data)", path)
    else:
        text = raw.decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")
    tunes = split_tunes(text, source=str(path))
    if not tunes:
        raise TunesmithError("not an ABC file: no tunes found (no line starts with 'X:')", path)
    return tunes


def tune_to_piece(text: str, repeats: bool = True) -> Piece:
    """Parse one tune with music21 into a Piece (``source_text`` keeps the ABC), its
    repeats played as abc2midi plays them (:func:`mark_implied_repeat_starts`); with
    ``repeats=False`` in the written order (expanding badly nested repeats is slow).

    Raises :class:`ValueError` with music21's reason when the text does not parse, or when
    its notes last less than one bar (music21 accepts a lot of junk silently), and before
    music21 sees it when :func:`check_abc_text` refuses it (an :class:`OverLimit` for a
    limit). music21's own warnings are silenced (:func:`tunesmith.io.m21.quiet`).
    """
    from music21 import converter

    from tunesmith.io.m21 import quiet, score_to_piece

    check_abc_text(text)
    if not text.lstrip().startswith("X:"):
        text = as_tune_book_entry(text)
    try:
        with quiet():
            # x and Z rests as z: music21 drops them, abc2midi plays them
            score = converter.parse(music21_rests(text), format="abc")
            if repeats:
                try:
                    mark_implied_repeat_starts(score)
                except Exception:  # noqa: BLE001 - odd repeat marks: music21's own reading
                    pass
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


def mark_implied_repeat_starts(score) -> None:
    """Give each repeated section that ABC writes without a ``|:`` the start repeat that
    abc2midi reads there, in place, so that music21's ``expandRepeats`` plays the tune
    as abc2midi does.

    ``A :| B :|`` (folk tunes often leave out the ``|:``) is A A B B to abc2midi and to a
    musician: a ``:|`` with no ``|:`` since the last section goes back to the end of that
    section: the previous ``:|``, the last ending after it, or a double bar (``||``,
    ``|]``) after an earlier repeat. music21 goes back to the tune's start instead (A A B
    A A B), which played the A part of 28 of 500 folk-abc tunes twice too often in the
    music report. The tune's first section repeats from its start (as both do), and so
    does a ``:|`` after a double bar with no repeat before it (``A || B :|``: abc2midi
    plays A B A B)."""
    from music21 import bar, spanner

    brackets = {id(m) for sp in score.recurse().getElementsByClass(spanner.RepeatBracket)
                for m in sp.getSpannedElements()}
    for part in getattr(score, "parts", None) or [score]:
        measures = list(part.getElementsByClass("Measure"))
        start = 0  # where a repeat with no |: would go back to (0: the tune's start)
        opened = False  # a |: since the last :|
        repeated = False  # a :| or an ending so far
        for i, m in enumerate(measures):
            if isinstance(m.leftBarline, bar.Repeat) and m.leftBarline.direction == "start":
                opened = True
            right = m.rightBarline
            ending = id(m) in brackets
            if isinstance(right, bar.Repeat) and right.direction == "end":
                if not opened and 0 < start <= i and id(measures[start]) not in brackets:
                    measures[start].leftBarline = bar.Repeat(direction="start")
                opened, repeated = False, True
                if not ending:
                    start = i + 1
            elif (repeated and isinstance(right, bar.Barline)
                  and right.type in ("double", "final", "heavy-light", "heavy-heavy")):
                start = i + 1  # || or |] after a repeat: the next section starts here
            if ending and (i + 1 == len(measures) or id(measures[i + 1]) not in brackets):
                start, repeated = i + 1, True  # the endings are over: a section starts here


def check_abc_text(text: str) -> None:
    """Refuse an ABC tune (or model text) before any parser sees it: longer than the
    ``abc_tune_chars`` limit, a line longer than ``abc_line_chars``, or an ``M:`` / ``L:``
    field (header, body or inline ``[M:...]``) whose numbers are not positive, whose
    denominators are not powers of two, or that are over ``abc_meter``. ``M:C``, ``M:C|``
    and ``M:none`` (free meter) are meters too. Raises :class:`OverLimit` (a
    TunesmithError and a ValueError) for a limit, :class:`ValueError` for a field that
    is no meter or length; the message names the field."""
    lim = limits()
    lim.check("abc_tune_chars", len(text), "ABC tune length (characters)")
    if len(text) > lim.abc_line_chars:  # else no line can be too long
        longest = max(map(len, text.split("\n")))
        lim.check("abc_line_chars", longest, "longest ABC line (characters)")
    if "M:" not in text and "L:" not in text:
        return
    for m in (*_METER_FIELD.finditer(text), *_INLINE_FIELD.finditer(text)):
        _check_meter_field(m.group(1), _strip_comment(m.group(2)).strip())


def _check_meter_field(name: str, value: str) -> None:
    """One ``M:`` or ``L:`` value (see :func:`check_abc_text`)."""
    if name == "M" and value in FREE_METERS or name == "M" and not any(
            c.isdigit() for c in value):
        return  # M:C, M:C|, M:none; other words ("FREI" in Essen) carry no numbers
    shown = f"{name}:{value if len(value) <= 40 else value[:37] + '...'}"
    if name == "L" and not _FRACTION.fullmatch(value) and not value.isdigit():
        raise ValueError(f"{shown}: the unit note length must be a fraction such as 1/8")
    lim = limits()
    for m in _FRACTION.finditer(value):
        terms = [int(t) for t in re.findall(r"\d+", m.group(1))]
        if not m.group(2):
            raise ValueError(f"{shown}: a fraction without a denominator")
        numerator, denominator = sum(terms), int(m.group(2))
        if not terms or numerator <= 0:
            raise ValueError(f"{shown}: the numerator must be a positive number")
        lim.check("abc_meter", numerator, f"{shown}: numerator")
        lim.check("abc_meter", denominator, f"{shown}: denominator")
        if denominator <= 0 or denominator & (denominator - 1):
            raise ValueError(f"{shown}: the denominator {denominator} is not a power of two")
    for number in re.findall(r"\d+", value):  # numbers outside fractions too (M:99999)
        lim.check("abc_meter", int(number), f"{shown}: number")


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


MUSIC21 = ("music21.converter",)  # imported before forking, so children inherit it


def check_tunes(texts: list[str]) -> list[str | None]:
    """:func:`check_tune` of every text, two at a time in forked children, each within the
    ``parse_seconds`` limit (:mod:`tunesmith.io.deadline`); a tune over it gets the reason.
    music21 can spin for minutes on a sampled tune: a note 81216 units long sent its
    ``bestTimeSignature`` searching for 6 minutes, eight ``:|`` sections its repeat
    expansion for longer than 10 s."""
    from tunesmith.io import deadline

    outcomes = deadline.run_all(check_tune, list(texts), imports=MUSIC21)
    return [o.value if o.error is None else first_line(o.error) for o in outcomes]


def parse_tune_in_time(text: str, repeats: bool = True) -> Piece:
    """:func:`tune_to_piece` in a forked child within the ``parse_seconds`` limit: a tune
    that music21 cannot read in time raises :class:`ValueError`, as one it cannot read."""
    from tunesmith.io import deadline

    try:
        return Piece.from_dict(deadline.call(_piece_dict, text, repeats, imports=MUSIC21))
    except TunesmithError as e:
        raise ValueError(first_line(e)) from None


def _piece_dict(text: str, repeats: bool) -> dict:
    return tune_to_piece(text, repeats=repeats).to_dict()


def _one_line(e: Exception) -> str:
    # music21 appends its tokenizer state ("tPrev: <...>, token: <...>"): keep the reason
    return re.split(r"\.?\s+tPrev:", first_line(e, 1000))[0][:200]
