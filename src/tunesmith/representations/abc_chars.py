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
- ``to_dict()`` / ``from_dict()`` carry the vocabulary (and ``bar_inputs``), so a
  checkpoint rebuilds it exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tunesmith.abc_text import as_tune_book_entry, model_text, read_header, split_tunes
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, TimeSignature
from tunesmith.representations.base import Positions
from tunesmith.representations.vocab import Vocab


@dataclass(frozen=True)
class AbcChars:
    vocab: Vocab
    name: str = "abc_chars"
    bar_inputs: bool = False  # steps carry their place in the bar and section (inputs)

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1,
            bar_inputs: bool = False) -> AbcChars:
        return cls(Vocab.build(texts, min_count=min_count), bar_inputs=bar_inputs)

    # --- inputs a model reads beside the ids (none unless ``bar_inputs``)
    @property
    def inputs(self) -> dict[str, int]:
        from tunesmith.abc_meter import BAR_CLASSES, BEAT_CLASSES

        return {"beat": BEAT_CLASSES, "bar": BAR_CLASSES} if self.bar_inputs else {}

    def with_inputs(self, ids: Sequence[int]) -> list[tuple[int, ...]]:
        """``ids`` as rows ``(id, beat, bar)``: each id with the position of the text up to
        and with it (the ids alone, as one-tuples, without ``bar_inputs``)."""
        if not self.bar_inputs:
            return [(int(i),) for i in ids]
        reader = self.input_reader()
        return [(int(i), *reader(int(i))) for i in ids]

    def input_reader(self) -> _InputReader:
        """A reader ``id -> (beat, bar)`` of one id at a time, for a sampler
        (``with_inputs`` is the same reader over a whole sequence); ``.copy()`` gives an
        independent one at the same place."""
        from tunesmith.abc_meter import PositionReader

        v = self.vocab
        return _InputReader(PositionReader(), v.symbols, frozenset({v.pad, v.bos, v.eos, v.unk}))

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
            raise TunesmithError(
                f"primer has characters outside the model's vocabulary: {''.join(bad)!r}")
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
        return out | {"bar_inputs": True} if self.bar_inputs else out

    @classmethod
    def from_dict(cls, d: dict) -> AbcChars:
        """Inverse of :meth:`to_dict`, checked (:meth:`Vocab.from_list`); ValueError for a
        damaged one."""
        if not isinstance(d, dict) or d.get("name") != "abc_chars":
            raise ValueError("not an abc_chars representation")
        if "vocab" not in d:
            raise ValueError("abc_chars representation without a vocabulary")
        if not isinstance(d.get("bar_inputs", False), bool):
            raise ValueError("abc_chars representation: bar_inputs must be true or false")
        return cls(Vocab.from_list(d["vocab"]), bar_inputs=d.get("bar_inputs", False))


class _InputReader:
    """See :meth:`AbcChars.input_reader`."""

    def __init__(self, reader, symbols, skip):
        self.reader, self.symbols, self.skip = reader, symbols, skip

    def __call__(self, i: int) -> tuple[int, int]:
        ok = i not in self.skip and 0 <= i < len(self.symbols)
        return self.reader.feed(self.symbols[i] if ok else "")

    def copy(self) -> _InputReader:
        return _InputReader(self.reader.copy(), self.symbols, self.skip)


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
