"""Representation ``abc_chars``: ABC model text <-> character ids.

Contract
- ``encode_text(text)`` -> ``[BOS] + ids(text) + [EOS]``; a character the vocabulary does
  not hold (never seen in training, or rarer than ``min_count``) becomes ``UNK``.
- ``decode_text(ids)`` drops ``BOS``/``PAD``/``UNK``, stops at the first ``EOS``.
  ``decode_text(encode_text(t)) == t`` for every text whose characters are all in the
  vocabulary (the round trip is exact; there is no quantisation).
- ``encode(piece)`` uses ``piece.source_text`` (the model text of its first tune).
- ``decode(ids)`` -> ``Piece(source_text=<the text as a tune-book entry>)``, with title,
  key and meter read off the header fields, and no notes: the text is what this
  representation keeps of a piece. ``tunesmith.io.abc.tune_to_piece(piece.source_text)``
  plays it (music21), so representations stay free of io.
- ``bar_inputs=True`` (``train --positions``): each step also carries where the text so
  far stands, ``inputs`` = ``{"beat": 26, "bar": 17}`` (:class:`~tunesmith.abc_meter.\
PositionReader`: the share of the bar filled, the bars into the section; the header has
  its own class). ``with_inputs(ids)`` -> rows ``(id, beat, bar)`` for training;
  ``input_reader()`` gives them one id at a time for sampling. The ids and the text are
  the same with and without.
- ``degree_inputs=True`` (``train --degrees``): also ``"degree"`` (9 classes), the scale
  degree of the last note above the key's tonic, by letter (``PositionReader.degree``),
  so that the model can know when a phrase could end at home.
- ``home_inputs=True`` (``train --home``): also ``"home"`` (9 classes), the letter of the
  tonic of the key in force (``PositionReader.home``): where home is, which the model
  otherwise has to remember from the ``K:`` line (the degree gives it only relative to
  the last note).
- ``section_inputs=True`` (``train --sections``): also ``"left"`` (12 classes: the bars
  left before the section being written is as long as the last one, none such yet) and
  ``"parts"`` (5: the sections closed), ``PositionReader.sections``, so that a model can
  write its B part as long as its A part, and end after it. ``section_reading="parts"``
  (``--section-reading parts``) counts sections as a musician counts parts
  (``PositionReader.parts``: pickups left out, endings joined to their part); the
  default ``"marks"`` is the reading the shipped model was trained with.
- ``end_inputs=True`` (``train --ends``): also ``"end"`` (20 classes: the bars left before
  the tune is as long as it was meant to be, ``PositionReader.end``). In training the
  length is the tune's own (one tune in ten, picked by a hash of its text, has none, so the
  model also writes tunes of no given length); a sampler gives each tune a length
  (``input_reader(bars)``), drawn by ``draw_length`` as often as the training tunes
  have it (``tune_lengths``, kept in the checkpoint), so that the model knows when its
  last bar comes and can end on purpose. Its likelihood is the text's given its length:
  a fair comparison with a model without it adds the length's cost, -log p(length).
- ``lookback_inputs=True`` (``train --lookback``): also ``"copy"`` (vocabulary + 3
  classes: the id of the character that the best matching earlier bar has next, none,
  that bar's end, header) and ``"run"`` (5: how many bars in a row that passage has
  matched), :class:`~tunesmith.lookback.Lookback`, so that repeating a bar is one
  step the model can choose. Inputs come in the order beat, bar, degree, home, left,
  parts, end, copy, run (of those asked for).
- ``to_dict()`` / ``from_dict()`` carry the vocabulary (and the inputs asked for), so a
  checkpoint rebuilds it exactly.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.abc_text import as_tune_book_entry, model_text, read_header, split_tunes
from tunesmith.errors import TunesmithError
from tunesmith.lookback import RUN_CLASSES, Lookback
from tunesmith.music import Piece, TimeSignature
from tunesmith.representations.base import Positions
from tunesmith.representations.vocab import Vocab


@dataclass(frozen=True)
class AbcChars:
    vocab: Vocab
    name: str = "abc_chars"
    bar_inputs: bool = False  # steps carry their place in the bar and section (inputs)
    degree_inputs: bool = False  # ... the degree of the last note above the tonic
    home_inputs: bool = False  # ... the tonic's letter of the key in force
    section_inputs: bool = False  # ... the bars left to match the last section, sections
    lookback_inputs: bool = False  # ... what the best matching earlier bar has next
    section_reading: str = "marks"  # how section_inputs count sections: "marks" or "parts"
    end_inputs: bool = False  # ... the bars left before the tune's end (a length it is given)
    tune_lengths: tuple[tuple[int, int], ...] = ()  # (bars, training tunes) to draw one from
    # keys in one spelling (K:D Major -> K:D, abc_text.respell_keys) in every text it reads:
    # fitted so since 2026-12-07; a model fitted before reads keys as they were written
    canonical_keys: bool = False

    def __post_init__(self):
        if self.section_reading not in SECTION_READINGS:
            raise ValueError(f"abc_chars representation: section_reading must be one of "
                             f"{', '.join(SECTION_READINGS)}, not {self.section_reading!r}")

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, bar_inputs: bool = False,
            degree_inputs: bool = False, lookback_inputs: bool = False,
            section_inputs: bool = False, section_reading: str = "marks",
            end_inputs: bool = False, home_inputs: bool = False,
            canonical_keys: bool = False) -> AbcChars:
        from tunesmith.abc_meter import tune_bars

        texts = list(texts)
        lengths = Counter(tune_bars(t) for t in texts) if end_inputs else {}
        return cls(Vocab.build(texts, min_count=min_count), bar_inputs=bar_inputs,
                   degree_inputs=degree_inputs, lookback_inputs=lookback_inputs,
                   section_inputs=section_inputs, section_reading=section_reading,
                   end_inputs=end_inputs, home_inputs=home_inputs,
                   tune_lengths=tuple(sorted((b, n) for b, n in lengths.items() if b)),
                   canonical_keys=canonical_keys)

    def read_text(self, text: str) -> str:
        """Model text (a corpus tune, a primer) as this model reads it: its keys in one
        spelling when it was fitted so (:attr:`canonical_keys`), else as written."""
        from tunesmith.abc_text import respell_keys

        return respell_keys(text) if self.canonical_keys else text

    # --- inputs a model reads beside the ids (none unless asked for)
    @property
    def inputs(self) -> dict[str, int]:
        from tunesmith.abc_meter import (
            BAR_CLASSES,
            BEAT_CLASSES,
            DEGREE_CLASSES,
            END_CLASSES,
            HOME_CLASSES,
            LEFT_CLASSES,
            PART_CLASSES,
        )

        out = {"beat": BEAT_CLASSES, "bar": BAR_CLASSES} if self.bar_inputs else {}
        if self.degree_inputs:
            out["degree"] = DEGREE_CLASSES
        if self.home_inputs:
            out["home"] = HOME_CLASSES
        if self.section_inputs:
            out |= {"left": LEFT_CLASSES, "parts": PART_CLASSES}
        if self.end_inputs:
            out["end"] = END_CLASSES
        if self.lookback_inputs:
            out |= {"copy": len(self.vocab) + 3, "run": RUN_CLASSES}
        return out

    def with_inputs(self, ids: Sequence[int]) -> list[tuple[int, ...]]:
        """``ids`` as rows ``(id, beat, bar, ...)``: each id with the inputs of the text up
        to and with it (the ids alone, as one-tuples, without inputs)."""
        if not self.inputs:
            return [(int(i),) for i in ids]
        length = self.training_length(self.decode_text(ids)) if self.end_inputs else None
        reader = self.input_reader(length)
        return [(int(i), *reader(int(i))) for i in ids]

    @staticmethod
    def training_length(text: str) -> int | None:
        """The length training tells a tune for the ``end`` input: its own bars, but none
        for one tune in ten (by a hash of its text), so that the model also writes tunes
        of no given length."""
        from tunesmith.abc_meter import tune_bars

        return None if zlib.crc32(text.encode()) % 10 == 0 else tune_bars(text)

    def input_reader(self, bars: int | None = None) -> _InputReader:
        """A reader ``id -> (beat, bar, ...)`` of one id at a time, for a sampler
        (``with_inputs`` is the same reader over a whole sequence); ``.copy()`` gives an
        independent one at the same place. ``bars``: the length of the tune to write, in
        bars, for the ``end`` input (:meth:`draw_length` draws one as the training tunes
        have them; None: no length given)."""
        from tunesmith.abc_meter import PositionReader

        v = self.vocab
        return _InputReader(PositionReader(), Lookback() if self.lookback_inputs else None,
                            self, frozenset({v.pad, v.bos, v.eos, v.unk}), bars=bars)

    def draw_length(self, rng, more_than: int = 0) -> int:
        """A tune length in bars drawn as often as the training tunes have it, from those
        longer than ``more_than`` (the bars a primer or a draft's start has closed);
        ``more_than + 1`` when no training tune is longer."""
        longer = [(b, n) for b, n in self.tune_lengths if b > more_than]
        if not longer:
            return more_than + 1
        counts = np.array([n for _, n in longer], dtype=float)
        return int(longer[rng.choice(len(longer), p=counts / counts.sum())][0])

    # --- the spec a model sizes itself from
    @property
    def heads(self) -> dict[str, int]:
        return {"token": len(self.vocab)}

    @property
    def bos(self) -> int:
        return self.vocab.bos

    @property
    def eos(self) -> int:
        return self.vocab.eos

    def never_sample(self) -> list[int]:
        """Ids a sampler must never emit (they mean nothing inside a tune)."""
        return [self.vocab.pad, self.vocab.bos, self.vocab.unk]

    # --- text level
    def encode_text(self, text: str) -> list[int]:
        v = self.vocab
        return [v.bos] + [v.id(c) for c in text] + [v.eos]

    def decode_text(self, ids: Sequence[int]) -> str:
        v = self.vocab
        out = []
        for i in ids:
            i = int(i)
            if i == v.eos:
                break
            if i in (v.pad, v.bos, v.unk) or not 0 <= i < len(v):
                continue
            out.append(v.symbols[i])
        return "".join(out)

    def primer_ids(self, primer: str) -> list[int]:
        """``[BOS] + ids(primer)``; a character outside the vocabulary is a user error."""
        bad = sorted({c for c in primer if c not in self.vocab})
        if bad:
            at = min(primer.index(c) for c in bad)
            start = primer.rfind("\n", 0, at) + 1
            line = primer[start:].split("\n", 1)[0] or primer[start:at + 1]
            near = line[max(0, at - start - 30):at - start + 30]
            raise TunesmithError(
                f"primer has characters outside the model's vocabulary: {''.join(bad)!r} "
                f"(in {near!r}; its corpus never had them: write that another way)")
        return [self.vocab.bos] + [self.vocab.id(c) for c in primer]

    # --- Piece level (the shared representation contract)
    def encode(self, piece: Piece) -> list[int]:
        if not piece.source_text:
            raise ValueError("abc_chars encodes ABC text; this piece has no source_text")
        tunes = split_tunes(piece.source_text)
        text = model_text(tunes[0]) if tunes else piece.source_text
        return self.encode_text(text)

    def decode(self, ids: Sequence[int]) -> Piece:
        """The tune as text: ``Piece(source_text=...)``, no notes (see the module doc).
        ``tunesmith.io.abc.tune_to_piece(piece.source_text)`` parses it into notes."""
        text = as_tune_book_entry(self.decode_text(ids))
        fields = read_header(text)
        return Piece(tracks=[], time_signatures=_meter(fields.get("M", "")),
                     key=_key(fields.get("K", "")), title=fields.get("T", ""), source_text=text)

    def positions(self, ids: Sequence[int], beats_per_bar: float = 0.0) -> Positions:
        """The bar of each character: the header (up to the ``K:`` line) is bar -1, then a
        bar line (``|``, ``||``, ``:|``, ``|]``: one line however many strokes) closes a
        bar that had music in it. ``time`` is the bar plus the character's share of its
        bar (characters are not beats; ABC durations need a parser, and the picture only
        needs the bars). ``beats_per_bar`` is not used (the text carries its own meter)."""
        v = self.vocab
        chars = ["" if int(i) in (v.pad, v.bos, v.unk, v.eos) or not 0 <= int(i) < len(v)
                 else v.symbols[int(i)] for i in ids]
        bars, bar, header, line, music, closed = [], -1, True, "", False, False
        for c in chars:
            if header:
                bars.append(-1)
                line += c
                if c == "\n":
                    header, bar = not line.startswith("K:"), 0 if line.startswith("K:") else -1
                    line = ""
                continue
            if c and c not in "|:[] \n":  # music: it opens the next bar if one was closed
                bar, closed = bar + closed, False
                music = True
            elif c == "|" and music:
                closed, music = True, False
            bars.append(bar)
        counts: dict[int, int] = {}
        for b in bars:
            counts[b] = counts.get(b, 0) + 1
        seen: dict[int, int] = {}
        time = []
        for b in bars:
            time.append(b + seen.get(b, 0) / counts[b])
            seen[b] = seen.get(b, 0) + 1
        return Positions(tuple(time), tuple(bars), "bar")

    # --- serialisation
    def to_dict(self) -> dict:
        out = {"name": self.name, "vocab": self.vocab.to_list()}
        out |= {k: True for k in _INPUT_FLAGS if getattr(self, k)}
        if self.section_inputs and self.section_reading != "marks":
            out["section_reading"] = self.section_reading  # older checkpoints read "marks"
        if self.end_inputs:
            out["tune_lengths"] = [list(x) for x in self.tune_lengths]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> AbcChars:
        """Inverse of :meth:`to_dict`, checked (:meth:`Vocab.from_list`); ValueError for a
        damaged one."""
        if not isinstance(d, dict) or d.get("name") != "abc_chars":
            raise ValueError("not an abc_chars representation")
        if "vocab" not in d:
            raise ValueError("abc_chars representation without a vocabulary")
        for k in _INPUT_FLAGS:
            if not isinstance(d.get(k, False), bool):
                raise ValueError(f"abc_chars representation: {k} must be true or false")
        lengths = d.get("tune_lengths", [])
        if not isinstance(lengths, list) or not all(
                isinstance(x, list) and len(x) == 2 and all(
                    isinstance(v, int) and v > 0 for v in x) for x in lengths):
            raise ValueError("abc_chars representation: tune_lengths must be pairs of "
                             "positive whole numbers (bars, tunes)")
        if d.get("end_inputs") and not lengths:
            raise ValueError("abc_chars representation: end_inputs without tune_lengths "
                             "(the lengths a composer draws from)")
        return cls(Vocab.from_list(d["vocab"]), **{k: d.get(k, False) for k in _INPUT_FLAGS},
                   section_reading=d.get("section_reading", "marks"),
                   tune_lengths=tuple(tuple(x) for x in lengths))


_INPUT_FLAGS = ("bar_inputs", "degree_inputs", "home_inputs", "section_inputs",
                "end_inputs", "lookback_inputs", "canonical_keys")
SECTION_READINGS = ("marks", "parts")  # PositionReader.sections, PositionReader.parts
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # field names


class _InputReader:
    """See :meth:`AbcChars.input_reader`: a PositionReader (and a Lookback, told by it
    where bars close) fed each id's character.

    A bar's symbols for the Lookback are the characters from the one after the character
    that closed the bar before (the PositionReader's close: the first ``|`` of a bar line,
    or a line break after a full bar) to the one that closes it, less line breaks and info
    field lines, as written: spaces, and the rest of a bar line (``|:``'s colon, an
    ending's ``[1``), are part of the bar they begin. So ``| ABcd |`` and a bar ``ABcd |``
    at a line's start differ, as do a bar closed by ``|`` and one closed by a line break:
    bars a tune writes alike match (a repeated line, bar by bar), bars written
    differently do not. Over 1,500 O'Neill and Ryan tunes, 18.2% of bars equal one of the
    16 before them so, 22.4% with spaces and bar lines set aside (a normalisation not
    made here: the shipped model was trained on these inputs). The reader follows what the
    PositionReader has closed and never takes a close back (the PositionReader's re-reading
    can, rarely, as for ``!c|d!``, an old-style decoration swallowing a ``|``)."""

    def __init__(self, reader, lookback, rep: AbcChars, skip, line: str = "",
                 in_field: bool = False, bars: int | None = None):
        self.reader, self.lookback, self.rep, self.skip = reader, lookback, rep, skip
        self.bars = bars  # the tune's length for the end input (None: not given)
        self.line, self.in_field = line, in_field  # the body line so far, an info field's

    def __call__(self, i: int) -> tuple[int, ...]:
        v = self.rep.vocab
        char = v.symbols[i] if i not in self.skip and 0 <= i < len(v.symbols) else ""
        in_body, closed = self.reader.current is not None, self.reader.bars_closed
        beat, bar = self.reader.feed(char)
        out = (beat, bar) if self.rep.bar_inputs else ()
        if self.rep.degree_inputs:
            out += (self.reader.degree,)
        if self.rep.home_inputs:
            out += (self.reader.home,)
        if self.rep.section_inputs:
            parts = self.rep.section_reading == "parts"
            out += self.reader.parts if parts else self.reader.sections
        if self.rep.end_inputs:
            out += (self.reader.end(self.bars),)
        if self.lookback is None:
            return out
        if in_body:
            self._feed(char, self.reader.bars_closed > closed)
        return out + self.lookback.classes(len(v), v.id, started=in_body)

    def _feed(self, char: str, closed: bool) -> None:
        if char == "\n":
            self.line, self.in_field = "", False
        elif char:
            self.line += char
            if len(self.line) == 2 and self.line[1] == ":" and self.line[0] in _LETTERS:
                self.in_field = True  # an info field line (P:, K:, M: ...): not music
                self.lookback.unfeed()
            elif not self.in_field:
                self.lookback.feed(char)
        if closed:
            self.lookback.close()

    def copy(self) -> _InputReader:
        return _InputReader(self.reader.copy(), self.lookback and self.lookback.copy(),
                            self.rep, self.skip, self.line, self.in_field, self.bars)


def _meter(field: str) -> list[TimeSignature]:
    """``M:6/8`` -> [6/8 at beat 0]; ``C``, ``C|``, ``none`` or anything else: []."""
    num, _, den = field.partition("/")
    if num.strip().isdigit() and den.strip().isdigit() and int(num) > 0 and int(den) > 0:
        return [TimeSignature(0.0, int(num), int(den))]
    return []


_KEY_RE = re.compile(r"([A-G])([#b]?)\s*((?i:m|min|minor|maj|major|dor|dorian|phr|phrygian|"
                     r"lyd|lydian|mix|mixolydian|loc|locrian))?")
_MODES = {"m": "minor", "min": "minor", "maj": "major", "dor": "dorian", "phr": "phrygian",
          "lyd": "lydian", "mix": "mixolydian", "loc": "locrian"}


def _key(field: str) -> str:
    """``K:D`` -> "D major", ``K:F#m`` -> "F# minor", ``K:Ador`` -> "A dorian" (as music21
    names keys); anything more (``none``, explicit accidentals, ``HP``, a clef): ""."""
    m = _KEY_RE.fullmatch(field.strip())
    if not m:
        return ""
    mode = (m.group(3) or "major").lower()
    return f"{m.group(1)}{m.group(2)} {_MODES.get(mode, mode)}"
