"""Representation ``remi``: a Piece <-> REMI tokens (Huang & Yang 2020) made by MidiTok's
``REMI`` tokenizer, one id per step (one head, ``token``).

A piece is a stream of ``Bar`` (a bar begins), ``TimeSig_n/d`` (its meter, after every
``Bar``), ``Position_k`` (where in the bar the next notes start) and, per note, ``Pitch``,
``Velocity`` and ``Duration``; ``BOS`` / ``EOS`` wrap it and ``PAD`` (id 0) pads
batches. A note carries its own duration, so no note-off can be forgotten, and every
onset is a position of its bar, so nothing drifts off the grid. MidiTok makes the tokens
and reads them back; this module decides what reaches it and what a Piece keeps.

The grid (MidiTok's, by the meter's beat: a quarter in x/4, an eighth in x/8, a half in
x/2): ``positions_per_beat`` positions per beat; durations in steps of one position up to
4 beats, then of two positions up to ``max_duration`` beats (longer notes are cut
there). ``velocity_bins`` velocities. The meters in ``meters`` have tokens; a time
signature outside them is dropped by MidiTok (its bars then follow the meter before it,
or 4/4). Tempo is not encoded: pieces decode at ``qpm`` (:class:`FixedTempo`).

``lookback_inputs=True`` (``train --family remi --lookback``): each step also carries
``inputs`` = ``{"copy": vocabulary + 3, "run": 5}``: the id of the token that the best
matching earlier bar has next (none, that bar's end, or before the first bar: the last
three classes) and how many bars in a row that passage has matched
(:class:`~tunesmith.lookback.Lookback`; a bar is the tokens after its ``Bar``).
``with_inputs(ids)`` -> rows ``(id, copy, run)``; ``input_reader()`` gives them one id
at a time for a sampler. Transposing a row moves a proposed pitch with the pitches.
(MidiTok's numbered bars, ``max_bar_embedding``, are not used: its REMI decoder of
version 3.1 advances the clock on ``Bar_None`` only.)

``register_inputs=True`` (``train --family remi --register``): each step also carries
``"register"`` (:data:`REGISTER_CLASSES`): how far the mean pitch of the last bar that
closed lies from the mean pitch of the first bar with notes, in semitones rounded and
clipped to +-:data:`REGISTER_SPAN` (class = difference + span), or the last class before
two bars have closed. Real chorales end about where they began (a mean drift of ~1.2
semitones from the first to the last third); a model that sees how far it has wandered
can come back. Transposition leaves the difference as it is.

``home_inputs=True`` (``train --family remi --home``): each step also carries ``"home"``
(:data:`HOME_CLASSES`): the pitch class of the lowest note of the last bar that closed,
above that of the first bar with notes (0-11; 12 before two bars have closed). A
chorale's first bass note is nearly always its tonic, and its last bar's lowest note
tells the key area it has reached (7: the dominant); where the register input says how
far the texture has moved, this says where home is, as the ABC model's ``--home``
does. Transposition leaves it as it is.

``end_inputs=True`` (``train --family remi --ends``): each step also carries ``"end"``
(:data:`END_CLASSES`): how many bars are left to write, the one running included (1: the
last bar, or past the length; 2-16; 17: more), or 0 when no length is given. Training
tells each piece its own bars and one piece in ten none (by a hash of its ids), so the
model also writes pieces of no given length; ``compose --bars N`` gives N, ``--seconds``
the bars until the first bar line at or after that time (in the meter running). Why:
a model that knows its last bars are coming can head home and cadence there on purpose.

Encoding (what "equal after quantisation" means)
- All non-drum tracks are merged into one piano stream; pitches outside 21-108 dropped.
- A pickup is kept a pickup: when the piece's written bar lines (``Piece.bar_lines``)
  open with a short bar, the music is moved later by what the bar lacks, so that its
  second bar line falls on a REMI ``Bar``; a MIDI file's pickup, a short first meter
  (1/4, then 4/4), is read as one (:meth:`Remi.as_written`).
- MidiTok puts onsets and durations on its grid; then one key sounds once at a time
  (same-start duplicates merge, an earlier note is cut where a later one of its key
  starts) and the notes of one position are written lowest pitch first (the quantised
  notes are tokenized a second time to make it so).

Decoding always yields a valid piece, whatever the ids: ``BOS``/``PAD`` are skipped, the
first ``EOS`` ends it, a note whose ``Pitch`` is not followed by a ``Velocity`` and a
``Duration`` is dropped (MidiTok), overlapping notes of one key are cut as above, and no
note has zero length. Leading silence is trimmed to the whole beat before the first
note, and the bars the tokens wrote become ``Piece.bar_lines`` (a trimmed first bar is
the pickup), so ``quantise(p) = decode(encode(p))`` is idempotent and re-encodes to the
same ids.

MidiTok (and through it torch, which it imports when present) is imported when a
tokenizer is first needed, not with this module.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from tunesmith.music import DEFAULT_QPM, Note, Piece, Tempo, TimeSignature, Track
from tunesmith.representations.base import FixedTempo, Positions
from tunesmith.representations.events import _merge_same_pitch as merge_same_pitch

LOWEST, HIGHEST = 21, 108  # the piano keys, MIDI numbers
METERS = ("2/4", "3/4", "4/4", "5/4", "6/4", "3/8", "6/8", "9/8", "12/8", "2/2", "3/2")
_EPS = 1e-6
# token kinds, the first part of MidiTok's "Kind_value" names
KINDS = ("PAD", "BOS", "EOS", "Bar", "TimeSig", "Position", "Pitch", "Velocity", "Duration")
PAD, BOS, EOS, BAR, TIMESIG, POSITION, PITCH, VELOCITY, DURATION = range(len(KINDS))
REGISTER_SPAN = 8  # semitones either way the register input tells apart
REGISTER_CLASSES = 2 * REGISTER_SPAN + 2  # -span..span, then "not two bars yet"
HOME_CLASSES = 13  # 0-11 the last bar's lowest pitch class above the first's, 12 not yet
END_BARS = 16  # bars left the end input tells apart
END_CLASSES = END_BARS + 2  # 0 no length given, 1 the last bar (or past it), ..16, more


@dataclass(frozen=True)
class Remi(FixedTempo):
    """REMI tokens through MidiTok (see the module docstring). ``positions_per_beat``: the
    onset grid per beat of the meter (a power of two, as MidiTok's grid needs);
    ``max_duration``: the longest note, in beats of the meter; ``velocity_bins``;
    ``meters``: the time signatures that have a token; ``qpm``: the decoding tempo."""

    positions_per_beat: int = 8
    max_duration: int = 12  # beats of the meter: the longest Duration token
    velocity_bins: int = 16
    meters: tuple[str, ...] = METERS
    qpm: float = DEFAULT_QPM  # tempo of decoded pieces
    name: str = "remi"
    lookback_inputs: bool = False  # steps carry what the best matching earlier bar has next
    register_inputs: bool = False  # ... how far the last bar's pitches are from the first's
    home_inputs: bool = False  # ... the last bar's lowest pitch class above the first's
    end_inputs: bool = False  # ... how many bars are left before the length given

    MAX_POSITIONS_PER_BEAT: ClassVar[int] = 64
    MAX_DURATION: ClassVar[int] = 64

    def __post_init__(self):
        ppb = self.positions_per_beat
        if not (isinstance(ppb, int) and 1 <= ppb <= self.MAX_POSITIONS_PER_BEAT
                and ppb & (ppb - 1) == 0):
            raise ValueError(f"positions_per_beat must be a power of two in 1.."
                             f"{self.MAX_POSITIONS_PER_BEAT}, got {ppb!r}")
        if not (isinstance(self.max_duration, int) and 4 < self.max_duration
                <= self.MAX_DURATION):
            raise ValueError(f"max_duration must be an integer in 5..{self.MAX_DURATION}, "
                             f"got {self.max_duration!r}")
        if not (isinstance(self.velocity_bins, int) and 1 <= self.velocity_bins <= 127):
            raise ValueError(f"velocity_bins must be in 1..127, got {self.velocity_bins!r}")
        meters = tuple(self.meters)
        if not meters or any(_meter(m) is None for m in meters) or len(set(meters)) < len(meters):
            raise ValueError(f"meters must be distinct 'n/d' with d in 1, 2, 4, 8, 16 and "
                             f"n in 1..32, got {self.meters!r}")
        if not (isinstance(self.qpm, (int, float)) and 0 < self.qpm <= 1000):
            raise ValueError(f"qpm must be in (0, 1000], got {self.qpm!r}")
        object.__setattr__(self, "meters", meters)

    # --- the MidiTok tokenizer and what each id is ----------------------------------------
    @cached_property
    def tokenizer(self):
        """MidiTok's REMI tokenizer with this representation's settings."""
        import miditok

        ranges: dict[int, list[int]] = {}
        for m in self.meters:
            num, den = _meter(m)
            ranges.setdefault(den, []).append(num)
        config = miditok.TokenizerConfig(
            pitch_range=(LOWEST, HIGHEST), num_velocities=self.velocity_bins,
            beat_res={(0, 4): self.positions_per_beat,
                      (4, self.max_duration): max(1, self.positions_per_beat // 2)},
            special_tokens=["PAD", "BOS", "EOS"], use_time_signatures=True,
            time_signature_range=ranges, use_pitchdrum_tokens=False)
        return miditok.REMI(config)

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """The token names in id order (``Pitch_60``, ``Position_8``, ...)."""
        table = self.tokenizer.vocab
        return tuple(sorted(table, key=table.__getitem__))

    @cached_property
    def _table(self) -> dict[str, np.ndarray]:
        """Per id: its kind (:data:`KINDS` index, -1 for none), its value (a Position's
        index, a Pitch's MIDI number) and, for ``TimeSig``, its bar and one position in
        quarter notes and its positions per bar."""
        n = len(self.vocab)
        kind, value, slots = np.full(n, -1, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
        bar, step = np.zeros(n), np.zeros(n)
        for i, token in enumerate(self.vocab):
            k, _, v = token.partition("_")
            kind[i] = KINDS.index(k) if k in KINDS else -1
            if kind[i] in (POSITION, PITCH):
                value[i] = int(v)
            elif kind[i] == TIMESIG:
                num, den = _meter(v)
                bar[i], step[i] = num * 4.0 / den, 4.0 / den / self.positions_per_beat
                slots[i] = num * self.positions_per_beat
        if list(kind[:3]) != [PAD, BOS, EOS]:
            raise ValueError(f"MidiTok's vocabulary does not start with PAD, BOS, EOS: "
                             f"{self.vocab[:3]}")
        return {"kind": kind, "value": value, "bar": bar, "step": step, "slots": slots}

    def kinds(self) -> np.ndarray:
        """The kind of each id (:data:`KINDS` index; -1 for none of them)."""
        return self._table["kind"]

    def values(self) -> np.ndarray:
        """Each id's value: a Position's index, a Pitch's MIDI number (0 for others)."""
        return self._table["value"]

    def meter_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """For each ``TimeSig`` id: (its bar in quarter notes, its positions per bar);
        zero for other ids."""
        return self._table["bar"], self._table["slots"]

    @property
    def pitch_ids(self) -> tuple[int, int]:
        """The first and last id of the ``Pitch`` tokens (contiguous, lowest key first)."""
        ids = np.flatnonzero(self.kinds() == PITCH)
        return int(ids[0]), int(ids[-1])

    # --- inputs a model reads beside the ids (none unless asked for)
    @property
    def inputs(self) -> dict[str, int]:
        """``{input: classes}`` in the order of the rows' columns after the id: ``copy``
        and ``run`` (the lookback's), then ``register``, then ``home``, then ``end``."""
        from tunesmith.lookback import RUN_CLASSES

        out = {"copy": len(self.vocab) + 3, "run": RUN_CLASSES} if self.lookback_inputs else {}
        out |= {"register": REGISTER_CLASSES} if self.register_inputs else {}
        out |= {"home": HOME_CLASSES} if self.home_inputs else {}
        return out | ({"end": END_CLASSES} if self.end_inputs else {})

    def with_inputs(self, ids: Sequence[int]) -> np.ndarray:
        """``ids`` as rows ``(id, inputs...)`` (T, 1 + F): each id with the inputs after
        it (the ids alone, (T, 1), without inputs); the end input is told the piece's own
        bars (:meth:`training_bars`)."""
        if not self.inputs:
            return np.asarray(ids, dtype=np.int64)[:, None]
        reader = self.input_reader(bars=self.training_bars(ids) if self.end_inputs else None)
        return np.array([(int(i), *reader(int(i))) for i in ids],
                        dtype=np.int64).reshape(-1, 1 + len(self.inputs))

    def training_bars(self, ids: Sequence[int]) -> int | None:
        """The length training tells a piece for the end input: its ``Bar`` tokens, but
        none for one piece in ten (by a hash of its ids), so that the model also learns
        to write a piece of no given length."""
        import zlib

        ids = [int(i) for i in ids]
        if zlib.crc32(np.asarray(ids, dtype=np.int64).tobytes()) % 10 == 0:
            return None
        kind = self.kinds()
        return sum(1 for i in ids if 0 <= i < len(kind) and kind[i] == BAR)

    def input_reader(self, bars: int | None = None, beats: float | None = None) -> _Reader:
        """A reader ``id -> inputs`` of one id at a time, for a sampler; ``.copy()``
        gives an independent one at the same place. ``bars`` / ``beats``: the length the
        end input counts down to (whole bars, or quarter notes: the bar line at or after
        them ends it); neither: no length given."""
        from tunesmith.lookback import Lookback

        return _Reader(self, Lookback() if self.lookback_inputs else None,
                       _Register() if self.register_inputs else None,
                       _Home() if self.home_inputs else None, started=False,
                       end=_BarsLeft(self, bars, beats) if self.end_inputs else None)

    # --- the spec a model sizes itself from
    @property
    def heads(self) -> dict[str, int]:
        return {"token": len(self.vocab)}

    @property
    def bos(self) -> int:
        return BOS

    @property
    def eos(self) -> int:
        return EOS

    def never_sample(self) -> list[int]:
        """Ids a sampler must never emit (they mean nothing inside a piece)."""
        return [PAD, BOS]

    def unknown_meters(self, piece: Piece, bars: int | None = None) -> list[str]:
        """The meters of ``piece`` (of its first ``bars`` bars: the first as written, a
        pickup, then on the meters' grid) that have no token here: MidiTok reads those
        bars as 4/4."""
        piece = self.as_written(piece)
        sigs = sorted(piece.time_signatures, key=lambda s: s.beat)
        end = float("inf")
        if bars is not None:
            lines = piece.bar_lines
            end = lines[1] - lines[0] if len(lines) >= 2 else 0.0
            for _ in range(bars - (len(lines) >= 2)):
                now = [s for s in sigs if s.beat <= end + _EPS]
                end += now[-1].numerator * 4.0 / now[-1].denominator if now else 4.0
        return list(dict.fromkeys(
            f"{s.numerator}/{s.denominator}" for s in sigs
            if s.beat < end - _EPS and f"{s.numerator}/{s.denominator}" not in self.meters))

    def as_written(self, piece: Piece) -> Piece:
        """``piece``, or, where it has no written bars and its first meter lasts one short
        bar before a meter with a token (a MIDI file's pickup: 1/4, then 4/4), the piece
        with that pickup written, so that its bars fall where the file's do."""
        sigs = sorted(piece.time_signatures, key=lambda s: s.beat)
        if piece.bar_lines or len(sigs) < 2 or sigs[0].beat > _EPS:
            return piece
        first, nxt = sigs[0], sigs[1]
        short = first.numerator * 4.0 / first.denominator
        if abs(nxt.beat - short) > _EPS or short >= nxt.numerator * 4.0 / nxt.denominator or (
                f"{nxt.numerator}/{nxt.denominator}" not in self.meters):
            return piece
        return dataclasses.replace(
            piece, bar_lines=[0.0, nxt.beat],
            time_signatures=[TimeSignature(0.0, nxt.numerator, nxt.denominator), *sigs[2:]])

    def pickup_shift(self, piece: Piece) -> float:
        """Beats :meth:`encode` moves ``piece``'s music by to make its pickup a pickup."""
        return _pickup_shift(self.as_written(piece))

    # --- Piece <-> ids
    def encode(self, piece: Piece) -> list[int]:
        """``[BOS] + REMI ids + [EOS]`` (see the module docstring)."""
        piece = self.as_written(piece)
        shift = _pickup_shift(piece)
        notes = merge_same_pitch(
            Note(n.start + shift, n.end + shift, n.pitch, n.velocity)
            for t in piece.tracks if not t.is_drum for n in t.notes
            if LOWEST <= n.pitch <= HIGHEST and n.end > n.start)
        sigs = [TimeSignature(0.0 if s.beat <= _EPS else s.beat + shift, s.numerator,
                              s.denominator) for s in piece.time_signatures]
        first = self._tokenize(notes, sigs)
        again = _canonical(self._notes(first))  # on the grid: one key at a time, sorted
        return [BOS] + self._tokenize(again, sigs) + [EOS]

    def _tokenize(self, notes: list[Note], sigs: list[TimeSignature]) -> list[int]:
        from tunesmith.scores import piece_to_score

        piece = Piece(tracks=[Track(notes=notes)], time_signatures=sigs,
                      tempos=[Tempo(0.0, self.qpm)])
        seqs = self.tokenizer.encode(piece_to_score(piece).to("tick"))
        return [int(i) for i in seqs[0].ids] if seqs else []

    def _notes(self, ids: list[int]) -> list[Note]:
        """The notes MidiTok decodes from REMI ids (no specials), in quarter notes."""
        from tunesmith.scores import score_to_piece

        if not ids:
            return []
        return score_to_piece(self.tokenizer.decode([list(ids)])).notes

    def decode(self, ids: Sequence[int]) -> Piece:
        """Any id sequence -> a valid Piece (see the module docstring)."""
        body = self._body(ids)
        notes = _canonical(self._notes(body))
        walk = _Walk(self, body)
        for i in body:
            walk.step(i)
        lead = math.floor(notes[0].start + _EPS) if notes else 0.0
        notes = [Note(n.start - lead, n.end - lead, n.pitch, n.velocity) for n in notes]
        sigs = [TimeSignature(max(0.0, b - lead), num, den) for b, num, den in walk.meters]
        sigs = [s for k, s in enumerate(sigs) if k + 1 == len(sigs) or sigs[k + 1].beat > s.beat]
        end = max((n.end for n in notes), default=0.0) + lead
        lines = [b - lead for b in walk.bar_lines(end) if b - lead > _EPS] if notes else []
        return Piece(tracks=[Track(notes=notes, program=0, name="piano")],
                     tempos=[Tempo(0.0, self.qpm)], time_signatures=sigs,
                     bar_lines=[0.0] + lines if lines else [])

    def _body(self, ids: Sequence[int]) -> list[int]:
        """The ids up to the first EOS, without specials and ids outside the vocabulary."""
        out, size = [], len(self.vocab)
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if 0 <= i < size and i not in (PAD, BOS):
                out.append(i)
        return out

    def positions(self, ids: Sequence[int], beats_per_bar: float = 4.0) -> Positions:
        """Where each token falls, as REMI's own ``Bar``, ``TimeSig`` and ``Position``
        tokens say (quarter notes from the first bar; ``beats_per_bar`` is not used: the
        tokens carry their meter). A token before the first ``Bar`` is in bar 0."""
        size = len(self.vocab)
        known = [int(i) for i in ids if 0 <= int(i) < size]
        walk = _Walk(self, known)
        times, bars = [], []
        for i in ids:
            i = int(i)
            if 0 <= i < size:
                walk.step(i)
            times.append(walk.now)
            bars.append(max(walk.bar, 0))
        return Positions(tuple(times), tuple(bars), "beat")

    def transpose(self, ids, shift: int):
        """``ids`` (an int array) with every ``Pitch`` id moved ``shift`` semitones;
        callers choose shifts that keep every pitch on the piano."""
        lo, hi = self.pitch_ids
        out = np.array(ids, copy=True)
        pitches = (out >= lo) & (out <= hi)
        out[pitches] += shift
        return out

    # --- serialisation
    def to_dict(self) -> dict:
        from importlib.metadata import version

        return {"name": self.name, "positions_per_beat": self.positions_per_beat,
                "max_duration": self.max_duration, "velocity_bins": self.velocity_bins,
                "meters": list(self.meters), "qpm": self.qpm,
                "tokenizer": "miditok.REMI", "miditok": version("miditok"),
                "vocab": list(self.vocab)} | {
            flag: True for flag in _INPUT_FLAGS if getattr(self, flag)}

    @classmethod
    def from_dict(cls, d: dict) -> Remi:
        """Inverse of :meth:`to_dict`: the tokenizer rebuilt from the settings, and its
        vocabulary checked against the stored one (a MidiTok that numbers tokens
        differently is refused, not silently misread); ValueError naming the field."""
        if not isinstance(d, dict) or d.get("name") != "remi":
            raise ValueError("not a remi representation")
        fields = {}
        for key, kind in (("positions_per_beat", int), ("max_duration", int),
                          ("velocity_bins", int), ("qpm", (int, float))):
            value = d.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{key} must be a number, got {value!r}")
            fields[key] = float(value) if key == "qpm" else value
        meters = d.get("meters")
        if not (isinstance(meters, list) and all(isinstance(m, str) for m in meters)):
            raise ValueError(f"meters must be a list of 'n/d' strings, got {meters!r}")
        for flag in _INPUT_FLAGS:
            if not isinstance(d.get(flag, False), bool):
                raise ValueError(f"{flag} must be true or false")
        rep = cls(meters=tuple(meters), **{f: d.get(f, False) for f in _INPUT_FLAGS}, **fields)
        stored = d.get("vocab")
        if stored != list(rep.vocab):
            raise ValueError(f"the stored vocabulary ({_size(stored)} tokens) differs from "
                             f"the one MidiTok builds from these settings "
                             f"({len(rep.vocab)} tokens; saved with MidiTok "
                             f"{d.get('miditok', '?')})")
        return rep


_INPUT_FLAGS = ("lookback_inputs", "register_inputs", "home_inputs", "end_inputs")


class _Reader:
    """See :meth:`Remi.input_reader`: a ``Bar`` token closes the bar so far, every other
    token but ``PAD``, ``BOS`` and ``EOS`` belongs to it; the lookback reads them all,
    the register and home the ``Pitch`` ones, the end input the clock's."""

    def __init__(self, rep: Remi, lookback, register: _BarAnchor | None,
                 home: _BarAnchor | None, started: bool, end: _BarsLeft | None = None):
        self.rep, self.lookback, self.register, self.started = rep, lookback, register, started
        self.home, self.end = home, end
        self.kind, self.size = rep.kinds(), len(rep.vocab)
        self.value = rep.values()

    def __call__(self, i: int) -> tuple[int, ...]:
        kind = self.kind[i] if 0 <= i < self.size else PAD
        if kind == BAR:
            if self.lookback is not None:
                self.lookback.close()
            for bar in (self.register, self.home):
                if bar is not None:
                    bar.close()
            self.started = True
        elif kind not in (PAD, BOS, EOS):
            if self.lookback is not None:
                self.lookback.feed(i)
            if kind == PITCH:
                for bar in (self.register, self.home):
                    if bar is not None:
                        bar.feed(int(self.value[i]))
        if self.end is not None and kind not in (PAD, BOS, EOS):
            self.end.feed(i)
        out = () if self.lookback is None else self.lookback.classes(self.size,
                                                                     started=self.started)
        return out + tuple(bar.classes() for bar in (self.register, self.home, self.end)
                           if bar is not None)

    def copy(self) -> _Reader:
        return _Reader(self.rep, None if self.lookback is None else self.lookback.copy(),
                       None if self.register is None else self.register.copy(),
                       None if self.home is None else self.home.copy(), self.started,
                       None if self.end is None else self.end.copy())


class _BarsLeft:
    """The end input: bars left to write, the one running included, before ``bars``
    whole bars or the first bar line at or after ``beats`` quarter notes (counted in
    the meter running), as :data:`END_CLASSES`; 0 when neither is given."""

    def __init__(self, rep: Remi, bars: int | None, beats: float | None):
        self.walk, self.bars, self.beats = _Walk(rep), bars, beats

    def feed(self, i: int) -> None:
        self.walk.step(i)

    def copy(self) -> _BarsLeft:
        new = copy.copy(self)
        new.walk = copy.copy(self.walk)
        new.walk.starts, new.walk.meters = list(self.walk.starts), list(self.walk.meters)
        return new

    def classes(self) -> int:
        walk = self.walk
        if self.bars is not None:
            left = self.bars - max(walk.bar, 0)
        elif self.beats is not None:
            left = math.ceil((self.beats - walk.bar_start) / walk.length - _EPS)
        else:
            return 0
        return int(np.clip(left, 1, END_BARS + 1))


class _BarAnchor:
    """An input read bar by bar: fed the pitches of a bar, told when it closes; the first
    bar with pitches is the anchor, the last that closed with pitches is compared with it
    (:meth:`classes`). ``summary`` is what a bar's pitches come to."""

    none: int  # the class before two bars with pitches have closed

    def __init__(self):
        self.pitches: list[int] = []  # of the bar so far
        self.anchor: float | None = None
        self.last: float | None = None  # the summary of the last closed bar with notes

    def copy(self) -> _BarAnchor:
        new = copy.copy(self)
        new.pitches = list(self.pitches)
        return new

    def feed(self, pitch: int) -> None:
        self.pitches.append(pitch)

    def close(self) -> None:
        if not self.pitches:
            return
        value = self.summary(self.pitches)
        if self.anchor is None:
            self.anchor = value
        else:
            self.last = value
        self.pitches = []

    def classes(self) -> int:
        return self.none if self.last is None else self.compare(self.last, self.anchor)

    @staticmethod
    def summary(pitches: list[int]) -> float:
        raise NotImplementedError

    @staticmethod
    def compare(last: float, anchor: float) -> int:
        raise NotImplementedError


class _Register(_BarAnchor):
    """The register input: the mean pitch of the last closed bar against the first's, in
    semitones rounded and clipped to +-:data:`REGISTER_SPAN`."""

    none = REGISTER_CLASSES - 1

    @staticmethod
    def summary(pitches: list[int]) -> float:
        return sum(pitches) / len(pitches)

    @staticmethod
    def compare(last: float, anchor: float) -> int:
        return int(np.clip(round(last - anchor), -REGISTER_SPAN, REGISTER_SPAN)) + REGISTER_SPAN


class _Home(_BarAnchor):
    """The home input: the lowest pitch of the last closed bar above the first's, as a
    pitch class."""

    none = HOME_CLASSES - 1

    @staticmethod
    def summary(pitches: list[int]) -> float:
        return min(pitches)

    @staticmethod
    def compare(last: float, anchor: float) -> int:
        return int(last - anchor) % 12


class _Walk:
    """REMI's clock, token by token, as MidiTok's decoder keeps it: ``Bar`` starts a bar
    one bar after the last (the first at 0), ``TimeSig`` sets the meter of the bar it
    follows (the first one of ``ids`` before any note sets the opening meter),
    ``Position_k`` is k positions after the bar's start. :meth:`step` reads one id;
    ``now`` (quarter notes) and ``bar`` (-1 before the first bar) are where it left the
    clock; ``starts`` and ``meters`` ((beat, n, d) where it changes) collect the bars."""

    def __init__(self, rep: Remi, ids: Sequence[int] = ()):
        t = rep._table
        self.kind, self.value, self.sizes, self.steps = t["kind"], t["value"], t["bar"], t["step"]
        self.vocab = rep.vocab
        self.now, self.bar, self.bar_start = 0.0, -1, 0.0
        self.meter, self.length, self.step_len = (4, 4), 4.0, 1.0 / rep.positions_per_beat
        for i in ids:  # the opening meter: a TimeSig before any note token
            if self.kind[i] == TIMESIG:
                self.meter = _meter(self.vocab[i].partition("_")[2])
                self.length, self.step_len = float(self.sizes[i]), float(self.steps[i])
                break
            if self.kind[i] in (PITCH, VELOCITY, DURATION):
                break
        self.starts: list[float] = []
        self.meters: list[tuple[float, int, int]] = [(0.0, *self.meter)]

    def step(self, i: int) -> None:
        kind = self.kind[i]
        if kind == BAR:
            self.bar += 1
            if self.bar > 0:
                self.bar_start += self.length
            self.now = self.bar_start
            self.starts.append(self.bar_start)
        elif kind == POSITION:
            if self.bar < 0:
                self.bar = 0
                self.starts.append(0.0)
            self.now = self.bar_start + int(self.value[i]) * self.step_len
        elif kind == TIMESIG:
            meter = _meter(self.vocab[i].partition("_")[2])
            if meter != self.meter:
                self.meter = meter
                self.length, self.step_len = float(self.sizes[i]), float(self.steps[i])
                self.meters.append((self.bar_start, *meter))

    def bar_lines(self, end: float) -> list[float]:
        """The bar starts, with bars of the last meter laid on until ``end`` (beats), and
        the end of the last bar."""
        lines = list(self.starts) or [0.0]
        while lines[-1] + self.length < end - _EPS:
            lines.append(lines[-1] + self.length)
        return lines + [lines[-1] + self.length]


def _canonical(notes: list[Note]) -> list[Note]:
    """One key sounds once at a time; sorted by onset, then pitch (REMI's order)."""
    return sorted(merge_same_pitch(notes), key=lambda n: (n.start, n.pitch, n.end))


def _pickup_shift(piece: Piece) -> float:
    """Beats that move a piece's second written bar line onto a bar of its first meter
    (0 without written bar lines or a time signature)."""
    lines, sigs = piece.bar_lines, piece.time_signatures
    if len(lines) < 2 or not sigs or sigs[0].denominator <= 0:
        return 0.0
    bar = sigs[0].numerator * 4.0 / sigs[0].denominator
    shift = round((-(lines[1] - lines[0])) % bar, 6)
    return 0.0 if shift >= bar - _EPS else shift


def _meter(text: str) -> tuple[int, int] | None:
    """``"6/8"`` -> (6, 8); None for anything MidiTok has no meter token for."""
    num, _, den = str(text).partition("/")
    if not (num.isdigit() and den.isdigit()):
        return None
    n, d = int(num), int(den)
    return (n, d) if 1 <= n <= 32 and d in (1, 2, 4, 8, 16) else None


def _size(x) -> str:
    return str(len(x)) if isinstance(x, list) else "no"
