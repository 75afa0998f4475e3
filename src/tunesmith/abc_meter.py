"""How long each bar of an ABC tune is, against what its ``M:`` says, and how it ends.

:func:`bars` reads the music of a tune (model text or a tune-book entry) and returns each
written bar with its length in whole notes and the length ``M:`` asks for;
:func:`meter_error` finds the first bar that breaks the meter and :func:`ending_error` a
tune that does not end on its key's tonic, which the ABC composer resamples from
(``compose``, constrained); :class:`PositionReader` says where each character stands in
its bar and section (the inputs of ``train --positions``).

Written by hand, with the standard library only, because what it needs is the written
bars of unfinished text, character offsets included, fast enough to run on every draft
of a sampler: music21's ABC reader parses whole tunes into streams (about 50 ms a tune)
and abc2midi reports bar-length problems only as warnings without offsets. It follows
the ABC 2.1 standard for what changes a note's length: the unit length ``L:`` (default
1/16 when ``M:`` is below 3/4, else 1/8), length suffixes (``A3/2``, ``A/``, ``A//``),
broken rhythm (``>``, ``<``), tuplets (``(3``, ``(p:q:r``), chords (the first note's
length times the chord's), grace notes (no time), rests (``z``, ``x``; ``Z``/``X`` whole
bars), and inline fields (``[M:3/4]``, ``[L:1/16]``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from fractions import Fraction

_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_TOKEN = re.compile(
    r'(?P<quote>"[^"\n]*"?)'
    r"|(?P<deco>![^!\n]*!|\+[^+\n]*\+)"
    r"|(?P<grace>\{[^}\n]*\}?)"
    r"|(?P<field>\[[A-Za-z]:[^\]\n]*\]?)"
    r"|(?P<bar>:*(?:\|+\]?|\[\|)(?:\d+(?:[,-]\d+)*)?:*|::+|\[\d+(?:[,-]\d+)*)"
    r"|(?P<tuplet>\((?P<p>\d)(?::(?P<q>\d)?)?(?::(?P<r>\d)?)?)"
    r"|(?P<chord>\[(?P<inner>[^\]\n]*)\](?P<cn>\d*)(?P<cs>(?:/\d*)*))"
    r"|(?P<note>(?:\^{1,2}|_{1,2}|=)?[A-Ga-g][,']*(?P<nn>\d*)(?P<ns>(?:/\d*)*))"
    r"|(?P<rest>[zx](?P<rn>\d*)(?P<rs>(?:/\d*)*))"
    r"|(?P<bars_rest>[ZX]\d*)"
    r"|(?P<broken>[<>]+)"
)
_FIRST_NOTE = re.compile(r"(?:\^{1,2}|_{1,2}|=)?[A-Ga-gzx][,']*(\d*)((?:/\d*)*)")


@dataclass(frozen=True)
class Bar:
    """One written bar: ``text[start:end]`` is its music, ``end`` the offset of the bar
    line that closes it (the end of the text for a last bar without one)."""

    start: int
    end: int
    length: Fraction  # whole notes
    target: Fraction | None  # the bar length M: asks for (None: no meter, M:none)
    opens: str = ""  # the bar line before it ("" for the first bar)
    closes: str = ""  # the bar line after it ("" when the text ends inside the bar)
    whole_rests: bool = False  # it holds Z / X (rests counted in bars)

    @property
    def fits(self) -> bool:
        return self.target is None or self.whole_rests or self.length == self.target


def meter_length(field: str) -> Fraction | None:
    """A bar's length in whole notes for an ``M:`` value: ``6/8`` -> 3/4, ``C`` -> 1,
    ``C|`` -> 1, ``2+3/8`` -> 5/8; None for ``none``, an empty or an unreadable one."""
    field = field.split("%")[0].strip()
    if field in ("C", "C|"):
        return Fraction(1)
    num, _, den = field.partition("/")
    try:
        total = sum(int(n) for n in num.replace("(", "").replace(")", "").split("+"))
        return Fraction(total, int(den)) if total > 0 and int(den) > 0 else None
    except ValueError:
        return None


def default_unit(meter: Fraction | None) -> Fraction:
    """ABC 2.1's unit note length when there is no ``L:``."""
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)


def _unit(field: str) -> Fraction | None:
    num, _, den = field.split("%")[0].strip().partition("/")
    try:
        value = Fraction(int(num), int(den)) if den else Fraction(int(num))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _length(digits: str, slashes: str) -> Fraction:
    """``3`` ``/2`` -> 3/2; ``""`` ``//`` -> 1/4 (each bare slash halves, and so does
    ``/0``, which no player accepts but a model may write: the reader must not fail)."""
    value = Fraction(int(digits)) if digits else Fraction(1)
    for part in slashes.split("/")[1:]:
        value /= int(part) if part and int(part) else 2
    return value


def _tuplet_q(p: int, compound: bool) -> int:
    return {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)


class _Reader:
    """The state of the music read so far: meter, unit, the bar being filled."""

    def __init__(self, meter: Fraction | None, unit: Fraction | None,
                 keep_bars: bool = True):
        self.meter = meter
        self.explicit = unit is not None  # an L: field sets the unit (M: then does not)
        self.unit = unit or default_unit(meter)
        self.keep_bars = keep_bars
        self.bars: list[Bar] = []
        self.section = 0  # bars closed since the last section's bar line (:|, ||, [1 ...)
        self.previous = 0  # bars of the last section of 2 or more bars (0: none yet)
        self.parts = 0  # sections of 2 or more bars closed
        # The same as a musician counts parts (the "parts" reading of PositionReader.sections):
        self.part = 0  # bars of the part being written: no pickup, its ending in force
        self.part_previous = 0  # bars of the last part of 2 or more bars (0: none yet)
        self.part_count = 0  # parts of 2 or more bars closed
        self.body: int | None = None  # bars of the part before its first ending (None: none)
        self.ending = 0  # the ending being written (0: none, 1, 2 for the second or later)
        self.start = 0
        self.length = Fraction(0)
        self.opens = ""
        self.whole_rests = False
        self.music = False  # the bar has notes or rests
        self.last: Fraction | None = None  # the last note's length, for broken rhythm
        self.next_factor = Fraction(1)  # broken rhythm's share for the next note
        self.tuplet: tuple[Fraction, int] | None = None  # (factor, notes left)
        self.key = ""  # the K: value in force
        self.final: tuple[str, str] | None = None  # (letter, key) of the last note read
        self.final_at: int | None = None  # its letter's offset in the text _read read
        self.closed = 0  # bars with music closed so far

    def field(self, key: str, value: str) -> None:
        if key == "M":
            self.meter = meter_length(value)
            if not self.explicit:
                self.unit = default_unit(self.meter)
        elif key == "L":
            self.unit = _unit(value) or self.unit
            self.explicit = True
        elif key == "K":
            self.key = value

    def note(self, length: Fraction) -> None:
        length *= self.unit * self.next_factor
        self.next_factor = Fraction(1)
        if self.tuplet is not None:
            factor, left = self.tuplet
            length *= factor
            self.tuplet = (factor, left - 1) if left > 1 else None
        self.length += length
        self.last = length
        self.music = True

    def broken(self, marks: str) -> None:
        if self.last is None:
            return
        n = len(marks)
        short = Fraction(1, 2 ** n)
        long = 2 - short
        first, second = (long, short) if marks[0] == ">" else (short, long)
        self.length += self.last * (first - 1)
        self.next_factor = second

    def close(self, at: int, line: str, after: int) -> None:
        if self.music:
            if self.keep_bars:
                self.bars.append(Bar(self.start, at, self.length, self.meter, self.opens,
                                     line, self.whole_rests))
            self.opens = line
            self.section += 1
            if self.part or self.body is not None or not self._short():
                self.part += 1  # a short first bar of a part is its pickup
            self.closed += 1
        else:
            self.opens += line
        if _section_mark(line):
            if self.section >= 2:  # a one-bar pickup or ending is not a section of its own
                self.previous, self.parts = self.section, self.parts + 1
            self.section = 0
            self._part_mark(line)
        self.start, self.length, self.music, self.whole_rests = after, Fraction(0), False, False
        self.last = None

    def _short(self) -> bool:
        return self.meter is not None and not self.whole_rests and self.length < self.meter

    def _part_mark(self, line: str) -> None:
        """Count parts as a musician does: a part's endings belong to it (the bars
        of ``|1`` make its first pass; those of ``:|2`` replace them in the second), and a
        part ends at ``:|``, ``||``, ``|]``, ``|:`` or ``::`` outside its first ending."""
        ending = re.search(r"\d+", line)
        if ending:
            if ending.group() == "1":
                self.body, self.ending = self.part, 1
            elif self.body is not None:
                self.part, self.ending = self.body, 2  # its bars replace the first ending's
            return
        if self.ending == 1 and line.startswith(":"):
            self.part, self.ending = self.body, 2  # the first ending's repeat
            return
        if self.part >= 2:
            self.part_previous, self.part_count = self.part, self.part_count + 1
        self.part, self.body, self.ending = 0, None, 0

    def end_line(self, at: int) -> None:
        """A line break at offset ``at``: it closes a full bar (Essen's tunes, most of
        folk-abc, end their phrase lines so, without a bar line)."""
        if self.music and self.length == self.meter:
            self.close(at, "\n", at + 1)


def bars(text: str) -> list[Bar]:
    return _read(text).bars


def tune_bars(text: str) -> int:
    """How many bars with music ``text`` writes (a last bar no bar line closes counts)."""
    return len(_read(text).bars)


def bars_closed(text: str) -> int:
    """How many bars with music ``text`` has closed (:attr:`PositionReader.bars_closed`
    after reading it)."""
    return _read(text).closed


def _read(text: str) -> _Reader:
    """The written bars of ``text``'s music (what follows its ``K:`` line; a text
    without one is read as music throughout, in 4/4), in order. A bar with no notes or
    rests (between ``:|`` and ``|:``) is not one; a line that ends on a full bar without
    a bar line closes it (``closes="\\n"``); the last bar is there when it has
    music, with ``closes=""`` when no bar line ends it."""
    lines = text.split("\n")
    k, reader = _header_of(lines)
    offset = sum(len(ln) + 1 for ln in lines[:k])
    reader.start = offset
    body = lines[k:]
    for k, line in enumerate(body):
        _read_whole_line(reader, line, offset, ended=k < len(body) - 1)
        offset += len(line) + 1
    end = len(text)
    if reader.music:
        reader.bars.append(Bar(reader.start, end, reader.length, reader.meter, reader.opens,
                               "", reader.whole_rests))
    return reader


def _header_of(lines: list[str], keep_bars: bool = True) -> tuple[int, _Reader]:
    """How many of ``lines`` are the header (to its ``K:`` line; 0 without one), and a
    reader set by its fields (the first of each)."""
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), -1) + 1
    fields: dict[str, str] = {}
    for ln in lines[:k]:
        m = _FIELD_LINE.match(ln)
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2)
    return k, _header_reader(fields, keep_bars)


def _inline_field(reader: _Reader, token: str) -> None:
    """Read an inline field token (``[M:3/4]``)."""
    inner = token[1:].rstrip("]")
    reader.field(inner[0], inner[2:])


def _header_reader(fields: dict[str, str], keep_bars: bool = True) -> _Reader:
    meter = meter_length(fields["M"]) if "M" in fields else Fraction(1)
    reader = _Reader(meter, _unit(fields["L"]) if "L" in fields else None, keep_bars)
    reader.key = fields.get("K", "")
    return reader


def _read_whole_line(reader: _Reader, line: str, offset: int, ended: bool) -> None:
    """Read one line of the body: an info field (``M:3/4``) or music. ``ended``: a line
    break follows it."""
    m = _FIELD_LINE.match(line)
    if m:
        reader.field(m.group(1), m.group(2))
        return
    _read_line(reader, line, offset)
    if ended:
        reader.end_line(offset + len(line))


def _read_line(reader: _Reader, line: str, offset: int) -> None:
    pos = 0
    line = line.split("%")[0]
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None:
            pos += 1
            continue
        if m.group("tuplet"):
            p = int(m.group("p"))
            compound = (reader.meter is not None and reader.meter.numerator % 3 == 0
                        and reader.meter.numerator > 3)
            q = int(m.group("q")) if m.group("q") else _tuplet_q(p, compound)
            r = int(m.group("r")) if m.group("r") else p
            if p > 0:
                reader.tuplet = (Fraction(q, p), r)
        elif m.group("chord"):
            first = _FIRST_NOTE.search(m.group("inner"))
            lowest = re.search(r"[A-Ga-g]", m.group("inner"))
            if lowest:  # a chord's written first note is its bass in folk tunes
                reader.final = (lowest.group().upper(), reader.key)
                reader.final_at = offset + m.start("inner") + lowest.start()
            if first:
                reader.note(_length(first.group(1), first.group(2))
                            * _length(m.group("cn"), m.group("cs")))
        elif m.group("note"):
            reader.note(_length(m.group("nn"), m.group("ns")))
            note = m.group("note")
            reader.final = (note.lstrip("^_=")[0].upper(), reader.key)
            reader.final_at = offset + m.start("note") + len(note) - len(note.lstrip("^_="))
        elif m.group("rest"):
            reader.note(_length(m.group("rn"), m.group("rs")))
        elif m.group("bars_rest"):
            reader.whole_rests = reader.music = True
        elif m.group("field"):
            _inline_field(reader, m.group("field"))
        elif m.group("bar"):
            reader.close(offset + m.start(), m.group("bar"), offset + m.end())
        elif m.group("broken"):
            reader.broken(m.group("broken"))
        pos = m.end()


def _section_mark(line: str) -> bool:
    """A bar line that ends or starts a section or an ending: ``:|``, ``|:``, ``||``,
    ``|]``, ``::``, ``[1``, ``|2`` ..."""
    return ":" in line or "]" in line or "||" in line or "[" in line or any(
        c.isdigit() for c in line)


def meter_error(text: str, keep: int = 0, open_end: bool = True) -> tuple[int, str] | None:
    """The first bar of ``text`` that breaks its meter, as (offset of the bar's start,
    message), or None. Bars that end at or before ``keep`` (a primer the user gave) are
    not judged. With ``open_end=False`` the text is a piece that more bars will follow
    (a continuation's step): its last bar is judged like a bar in the middle, and one
    that no bar line closes is too short.

    A bar breaks the meter when it is longer than ``M:`` says, or shorter in the middle
    of a section. A short bar is allowed where real tunes have them: the first bar (a
    pickup), the last, and next to a section's bar line (``:|``, ``|:``, ``||``, ``|]``,
    an ending ``[1`` / ``|2``), and beside a short bar that completes it: there a
    section's (or a phrase's) last bar and the next one's pickup share a bar. A last bar
    that no bar line closes is judged only when it is already too long (the text may be
    unfinished). On folk-abc's 11,946 tunes, 9.5% have a bar this rejects (mostly a
    missing bar line); of the shipped model's raw samples, 42%."""
    return _meter_error(bars(text), keep, open_end)


def _meter_error(found: list[Bar], keep: int, open_end: bool = True
                 ) -> tuple[int, str] | None:
    for i, bar in enumerate(found):
        if bar.end <= keep or bar.fits:
            continue
        if bar.length > bar.target:
            return bar.start, _message(i, bar, "too long")
        if i == 0 or (open_end and (i == len(found) - 1 or not bar.closes)):
            continue
        if not bar.closes:  # the last bar, unfinished, of a text that goes on
            return bar.start, _message(i, bar, "too short")
        if _section_mark(bar.opens) or _section_mark(bar.closes):
            continue
        if any(0 <= j < len(found) and found[j].target == bar.target
               and bar.length + found[j].length == bar.target for j in (i - 1, i + 1)):
            continue  # a phrase's last bar and the next one's pickup share a bar
        return bar.start, _message(i, bar, "too short")
    return None


def tonic(key: str) -> str | None:
    """The tonic's letter of a ``K:`` value (``D``, ``Ador``, ``F#m``, ``Bb mix`` -> its
    first letter); None for ``none``, a highland-pipes key or no key."""
    key = key.split("%")[0].strip()
    if not key or key[0] not in "ABCDEFG" or key.lower().startswith("none"):
        return None
    return key[0]


def ending_error(text: str, keep: int = 0) -> tuple[int, str] | None:
    """(offset of the last bar, message) when the tune's last note is not its key's tonic
    (by letter, in the key in force at the end: ``K:Ador`` ends on an A); None when it
    is, when there is no key or no note, or when the last bar ends inside ``keep``.

    Of folk-abc's tunes, 76% end on the tonic, 9% on the third and 7% on the fifth (a tune
    in E minor written ``K:G`` ends on its third), 8% elsewhere; the shipped model's raw
    samples, 38% on the tonic. Accepting the whole tonic triad was tried: the composed
    tunes then ended on the tonic 49% of the time (100 tunes, seed 0), on the third or
    fifth most of the rest, which sounds unfinished; the tonic alone gives 99% (real 80%).
    See benchmarks/RESULTS.md, "Bars that keep the meter"."""
    return _ending_error(_read(text), keep)


def _ending_error(reader: _Reader, keep: int) -> tuple[int, str] | None:
    if not reader.bars or reader.final is None or reader.bars[-1].end <= keep:
        return None
    letter, key = reader.final
    home = tonic(key)
    if home is None or letter == home:
        return None
    return reader.bars[-1].start, f"ends on {letter}, not on the tonic {home} of K:{key}"


def form_error(text: str, keep: int = 0) -> tuple[int, str] | None:
    """The earlier of :func:`meter_error` and :func:`ending_error`, from one reading of
    ``text`` (the composer checks every draft)."""
    reader = _read(text)
    errors = [e for e in (_meter_error(reader.bars, keep), _ending_error(reader, keep)) if e]
    return min(errors) if errors else None


def _message(i: int, bar: Bar, what: str) -> str:
    return f"bar {i + 1} is {what}: {bar.length} of a whole note where M: asks for {bar.target}"


# --- where each character stands: inputs a model can read -----------------------------

BEAT_STEPS = 24  # a bar in 24ths: halves, thirds, quarters, sixths and eighths fall on one
BEAT_CLASSES = BEAT_STEPS + 2  # 0-23 into the bar, 24 a full (or overfull) bar, 25 header
SECTION_BARS = 16
BAR_CLASSES = SECTION_BARS + 1  # bars into the section (15: 15 or more), 16 header
DEGREE_CLASSES = 9  # 0-6 the last note's degree above the tonic, 7 none yet, 8 header
HOME_CLASSES = 9  # 0-6 the tonic's letter (C-B) of the key in force, 7 no tonic, 8 header
LEFT_MAX = 8
LEFT_CLASSES = LEFT_MAX + 4  # 0 no section yet, 1 none left, 2-9 1-8 left, 10 more, 11 header
PART_CLASSES = 5  # sections closed: 0-3 (3: 3 or more), 4 header
END_MAX = 16
END_CLASSES = END_MAX + 4  # 0 no length given, 1 none left, 2-17 1-16 left, 18 more, 19 header
_LETTERS = "CDEFGAB"


class PositionReader:
    """Where the text read so far stands, fed one character at a time (:meth:`feed`):
    ``(beat, bar)``, the share of its bar the music has filled since the last bar line
    (in 24ths: ``BEAT_STEPS`` once the bar is full, or without a meter) and the bars
    closed since the last section's bar line (``:|``, ``|:``, ``||``, ``|]``, an ending),
    at most ``SECTION_BARS - 1``; ``HEADER`` until the ``K:`` line has ended.

    The position after a character is that of the text up to it, read as :func:`bars`
    reads a whole tune: a note counts from its letter, with the length its suffix has
    so far (``A`` then ``A3/2``), and a full bar at a line's end closes there. So that a
    character costs a few characters' reading, not its line's, the reader keeps its state
    at the line's last space outside quotes, decorations, chords and grace notes (no
    later character can change how the text before it reads) and re-reads from there."""

    HEADER = (BEAT_CLASSES - 1, BAR_CLASSES - 1)

    def __init__(self):
        self.fields: dict[str, str] = {}
        self.line = ""
        self.safe: _Reader | None = None  # at the last safe point; None: in the header
        self.current: _Reader | None = None  # after the characters since then
        self.segment = ""  # the characters since the safe point
        self.position = self.HEADER

    def copy(self) -> PositionReader:
        """An independent reader at the same place (beam search keeps several)."""
        new = copy.copy(self)
        new.fields = dict(self.fields)
        return new

    def feed(self, char: str) -> tuple[int, int]:
        """Read one character (``""`` reads nothing); the position after it."""
        if char == "\n":
            self._end_line()
        elif char:
            self.line += char
            if self.safe is not None and not _FIELD_LINE.match(self.line):
                self.segment += char
                self.current = copy.copy(self.safe)
                _read_line(self.current, self.segment, 0)
                self.position = _position(self.current)
                if char == " " and _closed(self.segment):
                    self.safe, self.segment = self.current, ""
        return self.position

    @property
    def bars_closed(self) -> int:
        """How many bars with music the text so far has closed (0 in the header)."""
        return 0 if self.current is None else self.current.closed

    @property
    def degree(self) -> int:
        """The scale degree of the last note read above the tonic of the key in force when
        it was read, by letter (0 the tonic, 4 the fifth, as :func:`ending_error` judges an
        ending: a ``K:`` change takes effect from the next note); 7 before the first note
        or in a key without a tonic (``K:none``), 8 in the header."""
        if self.current is None:
            return DEGREE_CLASSES - 1
        final = self.current.final
        home = tonic(final[1]) if final else None
        if home is None:
            return DEGREE_CLASSES - 2
        return (_LETTERS.index(final[0]) - _LETTERS.index(home)) % 7

    @property
    def home(self) -> int:
        """The letter of the tonic (0 C, 1 D ... 6 B) of the key in force: where a tune in
        it could end, which :attr:`degree` tells only relative to the last note; 7 in a key
        without a tonic (``K:none``, or an inline ``[K:`` before its letter is read), 8 in
        the header."""
        if self.current is None:
            return HOME_CLASSES - 1
        home = tonic(self.current.key)
        return HOME_CLASSES - 2 if home is None else _LETTERS.index(home)

    @property
    def sections(self) -> tuple[int, int]:
        """``(left, parts)``: the bars left before the section being written is as long
        as the last one of 2 or more bars (``LEFT_CLASSES``: 0 no such section yet, 1 none
        left, 1 + n for n bars left up to ``LEFT_MAX``, ``LEFT_MAX + 2`` more), and how many
        such sections have closed (0-3, 3 for more), so that a model can write a B part as
        long as its A part and end after it; the header has the last class of each.

        This is the ``"marks"`` reading (``train --sections --section-reading marks``): a
        section is what lies between two section marks (:func:`_section_mark`), as for
        the ``bar`` position. An ending (``|1``, ``:|2``) is a mark, so an A part with
        endings counts its body and each ending of 2 or more bars as sections of their
        own, and a pickup closed by a plain ``|`` counts as one of its bars.
        :attr:`parts` reads them as a musician counts them."""
        r = self.current
        if r is None:
            return LEFT_CLASSES - 1, PART_CLASSES - 1
        return _left(r.previous, r.section), min(r.parts, 3)

    @property
    def parts(self) -> tuple[int, int]:
        """:attr:`sections` in the ``"parts"`` reading: a part is counted as a musician
        counts it, its pickup (a short first bar) left out and its endings joined to it:
        the first pass is its body and first ending, and the second ending's bars replace
        the first ending's. A part ends at ``:|``, ``||``, ``|]``, ``|:`` or ``::``
        (outside its first ending)."""
        r = self.current
        if r is None:
            return LEFT_CLASSES - 1, PART_CLASSES - 1
        return _left(r.part_previous, r.part), min(r.part_count, 3)

    def end(self, bars: int | None) -> int:
        """The bars left to write of a tune ``bars`` long, counting the one being
        written (:func:`tune_bars` counts a whole tune's), as a class of ``END_CLASSES``:
        0 when no length is given (``None``), 1 none left (the tune is as long as it
        should be), 1 + n for n bars left up to ``END_MAX``, ``END_MAX + 2`` more; the
        header has the last class."""
        if self.current is None:
            return END_CLASSES - 1
        return 0 if bars is None else _countdown(bars - self.current.closed, END_MAX)

    def _end_line(self) -> None:
        line, self.line, self.segment = self.line, "", ""
        if self.safe is None:
            m = _FIELD_LINE.match(line)
            if m and m.group(1) not in self.fields:
                self.fields[m.group(1)] = m.group(2)
            if line.startswith("K:"):
                self.safe = self.current = _header_reader(self.fields, keep_bars=False)
                self.position = _position(self.safe)
            return
        m = _FIELD_LINE.match(line)
        reader = copy.copy(self.safe if m else self.current)  # the readers are shared by copies
        if m:
            reader.field(m.group(1), m.group(2))
        else:
            reader.end_line(0)
        self.safe = self.current = reader
        self.position = _position(reader)


def _left(previous: int, written: int) -> int:
    """The ``left`` class of :attr:`PositionReader.sections`."""
    return 0 if not previous else _countdown(previous - written, LEFT_MAX)


def _countdown(n: int, most: int) -> int:
    """``n`` bars left as a class: 1 none, 1 + n up to ``most``, ``most + 2`` more."""
    return 1 if n <= 0 else 1 + n if n <= most else most + 2


_BAR_BRACKETS = re.compile(r"\[\||\|\]|\[\d")


def _closed(segment: str) -> bool:
    """No quote, decoration, chord or grace note is open at the end of ``segment``."""
    s = _BAR_BRACKETS.sub("", segment)
    return (s.count('"') % 2 == 0 and s.count("!") % 2 == 0 and s.count("+") % 2 == 0
            and s.count("[") == s.count("]") and s.count("{") == s.count("}"))


def _position(reader: _Reader) -> tuple[int, int]:
    if reader.meter is None or reader.length >= reader.meter:
        beat = BEAT_STEPS
    else:
        beat = int(reader.length / reader.meter * BEAT_STEPS)
    return beat, min(reader.section, SECTION_BARS - 1)


def positions(text: str) -> list[tuple[int, int]]:
    """The position after each character of ``text`` (:class:`PositionReader`)."""
    reader = PositionReader()
    return [reader.feed(c) for c in text]


MAX_BAR_RESTS = 64  # a Z of more bars than this is left as written (music21 drops it)


def music21_rests(text: str) -> str:
    """``text`` with its rests spelled so that music21 plays them: music21 (9 and 10)
    drops an invisible rest ``x`` (``x2 A2`` starts on the A) and a rest of whole bars
    ``Z`` (and reads ``X`` as a note), where the ABC standard and abc2midi play them as
    rests. An ``x`` becomes a ``z`` of its length; ``Zn`` / ``Xn`` n bars of ``z`` in the
    meter in force, in the header's unit (left as written under ``M:none`` and past
    :data:`MAX_BAR_RESTS` bars). Nothing else changes: comments, quotes, decorations and
    fields are copied as they are. No library does this: it works around music21's ABC
    reader, reading the text as :func:`bars` does."""
    lines = text.split("\n")
    k, reader = _header_of(lines, keep_bars=False)
    # the header's unit holds for the whole tune, as abc2midi and music21 read it: an M:
    # in the body changes the bar, not the unit
    reader.explicit = k > 0
    out = lines[:k]
    for line in lines[k:]:
        m = _FIELD_LINE.match(line)
        if m or line.startswith("+:"):  # a field, or a field's continuation
            if m:
                reader.field(m.group(1), m.group(2))
            out.append(line)
            continue
        music, hash_, comment = line.partition("%")
        out.append(_rests_spelled(reader, music) + hash_ + comment)
    return "\n".join(out)


def _rests_spelled(reader: _Reader, music: str) -> str:
    parts, pos = [], 0
    while pos < len(music):
        m = _TOKEN.match(music, pos)
        if m is None:
            parts.append(music[pos])
            pos += 1
            continue
        token = m.group()
        if m.group("rest") and token.startswith("x"):
            token = "z" + token[1:]
        elif (m.group("bars_rest") and reader.meter is not None
              and (count := int(token[1:]) if len(token) > 1 else 1) <= MAX_BAR_RESTS):
            # one rest per bar: music21 takes time quadratic in a bar's length
            units = reader.meter / reader.unit
            bar = f"z{units.numerator}" + (f"/{units.denominator}"
                                           if units.denominator > 1 else "")
            token = "|".join([bar] * count)
        elif m.group("field"):
            _inline_field(reader, token)
        parts.append(token)
        pos = m.end()
    return "".join(parts)
