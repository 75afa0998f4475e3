"""Representation ``events``: a Piece <-> a sequence of MIDI-like messages, each three ids.

A message is ``(note, velocity, time)``, one id per head:

- ``note``: 0-87 are the piano keys (MIDI 21-108); then the specials ``WAIT`` (a message
  that only lets time pass), ``BOS`` (start of a piece) and ``EOS`` (end of a piece).
- ``velocity``: 0 means *off* (a note_off, as MIDI's velocity-0 note_on); 1..``bins`` are
  velocity bins of equal width over MIDI velocities 1-127 (decoded to the bin's centre).
- ``time``: the time since the previous message, in beats (quarter notes), quantised to
  :data:`DEFAULT_TIME_BINS` (12 classes; time 0 is a class of its own):

  ======  ====  =====  ====  =====  ====  =====  ====  ===  ===  ===  ===
  class   0     1      2     3      4     5      6     7    8    9    10   11
  beats   0     1/8    1/6   1/4    1/3   1/2    2/3   3/4  1    1.5  2    4
  ======  ====  =====  ====  =====  ====  =====  ====  ===  ===  ===  ===

  A gap that no single bin matches to within half the finest bin (1/16 beat) is spent
  partly in ``WAIT`` messages (largest fitting bin first), e.g. 6.8 beats = WAIT 4 +
  WAIT 2 + 3/4. Gaps are measured *from the decoded time so far*, so rounding errors do
  not add up: every decoded event lies within 1/16 beat of where it was (gaps of more than
  about 1/16 beat; events closer together than that may share a time).

The table, the velocity bins and the decoding tempo are stored by :meth:`to_dict` (and so
in every checkpoint).

Inputs (``beat_inputs=True``, ``train --family events --positions``): each message also
carries where it stands, computed from the time classes so far (the messages keep no meter,
so bars are of :data:`BEATS_PER_BAR` beats from the piece's first message; a piece with a
pickup counts its bars from the pickup): ``phase``, its place in the beat in 24ths
(:data:`PHASE_CLASSES`; a time between two 24ths takes the earlier), and ``beat``, the beat
of its bar. (A third input, the bars since the start, made validation NLL worse: 1.286
against 1.270 without it; benchmarks/RESULTS.md.) ``with_inputs(messages)`` gives rows
``(note, velocity, time, phase, beat)`` for training; ``input_reader()`` the same one
message at a time for a sampler.

Encoding (what "equal after quantisation" means)
- All non-drum tracks are merged into one piano stream; pitches outside 21-108 are dropped.
- One key cannot sound twice: overlapping notes of the same pitch are merged (same start)
  or the earlier one is cut where the later one starts.
- Event times are quantised as above; a note whose start and end land on the same time is
  dropped (it is shorter than the grid resolves).
- Decoding ends any note at ``max_note_beats`` (8 beats by default; stored in the
  checkpoint): a sampled sequence whose note-offs miss leaves no note hanging for the
  rest of the piece, and a longer note in a corpus comes back cut.
- At one time, note-offs come before note-ons, each group by pitch.

Decoding always yields a valid piece, whatever the ids: an *on* of a sounding key ends
the sounding note first; an *off* of a silent key is ignored; a note that ends (or is
struck again) at the time it began is dropped; ``WAIT`` / specials carry only time; notes
still sounding at the end (or at ``EOS``) end there, one bin after their start at least.
No negative or zero-length notes, no overlapping notes of one key.
``quantise(p) = decode(encode(p))`` is idempotent: ``quantise(quantise(p)) == quantise(p)``
(and re-encoding gives the same ids unless a note was longer than ``max_note_beats``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from math import lcm
from typing import ClassVar

import numpy as np

from tunesmith.music import DEFAULT_QPM, Note, Piece, Tempo, Track
from tunesmith.representations.base import FixedTempo, Positions, beat_positions

LOWEST, HIGHEST = 21, 108  # the piano keys, MIDI numbers
N_KEYS = HIGHEST - LOWEST + 1
WAIT, BOS, EOS = N_KEYS, N_KEYS + 1, N_KEYS + 2
NOTE_CLASSES = N_KEYS + 3
DEFAULT_TIME_BINS = (0.0, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1.0, 1.5, 2.0, 4.0)
_EPS = 1e-9
PHASE_CLASSES = 24  # a beat's 24ths: sixteenths, eighth and sixteenth triplets on the grid
BEATS_PER_BAR = 4


@dataclass(frozen=True)
class Events(FixedTempo):
    time_bins: tuple[float, ...] = DEFAULT_TIME_BINS
    velocity_bins: int = 16
    qpm: float = DEFAULT_QPM  # tempo of decoded pieces
    max_note_beats: float = 8.0  # decoding ends a note that sounds longer than this
    beat_inputs: bool = False  # messages carry their place in the beat and bar (inputs)
    name: str = "events"

    def __post_init__(self):
        bins = tuple(float(b) for b in self.time_bins)
        rising = all(b < c for b, c in zip(bins, bins[1:], strict=False))
        if len(bins) < 2 or bins[0] != 0.0 or not rising:
            raise ValueError("time_bins must start at 0 and increase strictly")
        if not 1 <= self.velocity_bins <= 127:
            raise ValueError(f"velocity_bins must be in 1..127, got {self.velocity_bins}")
        if not self.qpm > 0:
            raise ValueError(f"qpm must be > 0, got {self.qpm}")
        if not self.max_note_beats >= bins[1]:
            raise ValueError(f"max_note_beats must be >= the smallest time bin, got "
                             f"{self.max_note_beats}")
        object.__setattr__(self, "time_bins", bins)

    # --- inputs a model reads beside the ids (none unless ``beat_inputs``)
    @property
    def inputs(self) -> dict[str, int]:
        return {"phase": PHASE_CLASSES, "beat": BEATS_PER_BAR} if self.beat_inputs else {}

    def with_inputs(self, messages) -> np.ndarray:
        """``messages`` (an int array ``(N, 3)``) as rows ``(note, velocity, time, phase,
        beat)`` (the messages themselves without ``beat_inputs``)."""
        messages = np.asarray(messages, dtype=np.int64).reshape(-1, 3)
        if not self.beat_inputs:
            return messages
        units = np.asarray(self._units, dtype=np.int64)
        times = np.cumsum(units[np.clip(messages[:, 2], 0, len(units) - 1)])
        return np.concatenate([messages, np.stack(self._places(times), axis=-1)], axis=1)

    def input_reader(self) -> _InputReader:
        """A reader ``message -> (phase, beat)`` of one message at a time, for a
        sampler (``with_inputs`` is the same over a whole sequence); ``.copy()`` gives an
        independent one at the same place."""
        return _InputReader(self)

    @cached_property
    def _units(self) -> tuple[int, ...]:
        """Each time class in grid units (:attr:`_gap_table`)."""
        unit = self._gap_table[0]
        return tuple(round(b / unit) for b in self.time_bins)

    def _places(self, units):
        """Times in grid units (an int, or an int array) -> (phase, beat), each like
        ``units``: one rule for a whole piece and for a sampler's step."""
        per_beat = round(1 / self._gap_table[0])
        return (units % per_beat) * PHASE_CLASSES // per_beat, units // per_beat % BEATS_PER_BAR

    # --- the spec a model sizes itself from
    @property
    def heads(self) -> dict[str, int]:
        return {"note": NOTE_CLASSES, "velocity": self.velocity_bins + 1,
                "time": len(self.time_bins)}

    @property
    def bos(self) -> list[int]:
        return [BOS, 0, 0]

    @property
    def eos(self) -> int:
        return EOS

    def never_sample(self) -> dict[str, list[int]]:
        return {"note": [BOS]}

    # --- quantisation
    def time_class(self, beats: float) -> int:
        """The bin nearest to ``beats`` (0 <= beats <= largest bin); ties go to the smaller."""
        bins = self.time_bins
        i = bisect.bisect_left(bins, beats)
        if i == 0:
            return 0
        if i == len(bins):
            return len(bins) - 1
        return i if bins[i] - beats < beats - bins[i - 1] else i - 1

    def velocity_class(self, velocity: int) -> int:
        """1..bins for MIDI velocity 1..127 (0 is *off*)."""
        v = min(127, max(1, int(velocity)))
        return 1 + (v - 1) * self.velocity_bins // 127

    def velocity_of(self, cls: int) -> int:
        """The MIDI velocity decoded for class ``cls`` >= 1 (the centre of its bin)."""
        lo = -(-127 * (cls - 1) // self.velocity_bins) + 1  # smallest v in the bin
        hi = -(-127 * cls // self.velocity_bins)  # largest v in the bin
        return (lo + hi) // 2

    # --- Piece <-> messages
    def encode(self, piece: Piece) -> list[list[int]]:
        """``[BOS] + messages + [EOS]``, each message ``[note, velocity, time]``."""
        notes = _merge_same_pitch(
            n for t in piece.tracks if not t.is_drum for n in t.notes
            if LOWEST <= n.pitch <= HIGHEST and n.end > n.start)
        times = sorted({x for n in notes for x in (n.start, n.end)})
        quantised = self._quantise_times(times)
        # events at quantised times; a note that collapses to zero length is dropped
        events = []  # (time, is_on, pitch, velocity)
        for n in notes:
            s, e = quantised[n.start], quantised[n.end]
            if e - s > _EPS:
                events.append((s, 1, n.pitch, n.velocity))
                events.append((e, 0, n.pitch, 0))
        events.sort()
        out = [self.bos]
        now = 0.0
        for t, is_on, pitch, velocity in events:
            # the WAITs + the class that reach time t from the last message written (not
            # from the last time point: that may belong to a note dropped above)
            gap_classes = self.gap_classes(t - now)
            for c in gap_classes[:-1]:
                out.append([WAIT, 0, c])
            out.append([pitch - LOWEST, self.velocity_class(velocity) if is_on else 0,
                        gap_classes[-1]])
            now += sum(self.time_bins[c] for c in gap_classes)
        out.append([EOS, 0, 0])
        return out

    def _quantise_times(self, times: list[float]) -> dict[float, float]:
        """``{t: t quantised}`` for sorted event times, each gap measured from the
        previous quantised time (so errors do not add up)."""
        quantised: dict[float, float] = {}
        now = 0.0
        for t in times:
            now += sum(self.time_bins[c] for c in self.gap_classes(t - now))
            quantised[t] = now
        return quantised

    def gap_classes(self, beats: float) -> list[int]:
        """The time classes that spend a gap of ``beats``: the fewest bins whose sum is the
        representable gap nearest to it (largest first; ``[0]`` for no gap)."""
        unit, top, table = self._gap_table
        n = max(0.0, beats) / unit  # in grid units
        k = int(n // top)
        rest = n - k * top
        options = table["values"]
        i = bisect.bisect_left(options, rest)
        near = min(options[max(0, i - 1): i + 1], key=lambda v: (abs(v - rest), v))
        if near == top:
            k, near = k + 1, 0
        classes = [len(self.time_bins) - 1] * k + list(table["classes"][near])
        return classes or [0]

    @cached_property
    def _gap_table(self):
        """Every bin is a whole number of grid units (1/24 beat for the default table).
        For each gap below the largest bin, the fewest bins that sum to it exactly, found
        by dynamic programming (coin change); gaps no sum reaches are not offered."""
        fracs = [Fraction(b).limit_denominator(10_000) for b in self.time_bins]
        den = lcm(*(f.denominator for f in fracs))
        units = [int(f * den) for f in fracs]
        top = units[-1]
        best: dict[int, tuple[int, ...]] = {0: ()}
        for v in range(1, top):
            ways = [tuple(sorted(best[v - u] + (c,), key=lambda x: -units[x]))
                    for c, u in enumerate(units[1:-1], start=1) if u <= v and v - u in best]
            if ways:
                best[v] = min(ways, key=lambda w: (len(w), [-units[x] for x in w]))
        values = sorted(best) + [top]
        return 1.0 / den, top, {"values": values, "classes": best}

    def decode(self, messages: Sequence[Sequence[int]]) -> Piece:
        """Any id sequence -> a valid Piece (see the module docstring)."""
        bins, min_len = self.time_bins, self.time_bins[1]
        now = 0.0
        sounding: dict[int, tuple[float, int]] = {}  # pitch -> (start, velocity)
        notes: list[Note] = []

        longest = self.max_note_beats

        def close(pitch: int, at: float, final: bool = False) -> None:
            start, velocity = sounding.pop(pitch)
            at = min(at, start + longest)
            if at - start > _EPS:
                notes.append(Note(start, at, pitch, velocity))
            elif final:  # sounding at the very end: give it the shortest bin
                notes.append(Note(start, start + min_len, pitch, velocity))
            # else: ended (or struck again) where it began: zero length, dropped

        for msg in messages:
            note, velocity, time_cls = (int(x) for x in msg[:3])
            if 0 <= time_cls < len(bins):
                now += bins[time_cls]
                for pitch in [p for p, (start, _) in sounding.items() if now - start > longest]:
                    close(pitch, now)  # held too long: ended at start + max_note_beats
            if note == EOS:
                break
            if not 0 <= note < N_KEYS:
                continue  # WAIT, BOS or out of range: time only
            pitch = LOWEST + note
            if velocity <= 0:
                if pitch in sounding:
                    close(pitch, now)
                continue
            if pitch in sounding:
                close(pitch, now)
            sounding[pitch] = (now, self.velocity_of(min(velocity, self.velocity_bins)))
        for pitch in sorted(sounding):
            close(pitch, now, final=True)
        notes.sort()
        return Piece(tracks=[Track(notes=notes, program=0, name="piano")],
                     tempos=[Tempo(0.0, self.qpm)])

    def positions(self, messages: Sequence[Sequence[int]],
                  beats_per_bar: float = 4.0) -> Positions:
        """The beat of each message (its time class is the time since the one before),
        bars of ``beats_per_bar`` (the messages keep no meter; a caller that read the
        piece passes its time signature's)."""
        t, times, bins = 0.0, [], self.time_bins
        for m in messages:
            k = int(m[2])
            t += bins[k] if 0 <= k < len(bins) else 0.0
            times.append(t)
        return beat_positions(times, beats_per_bar)

    @staticmethod
    def transpose(messages, shift: int):
        """Shift the piano-key ids of ``messages`` (an int array ``(..., 3)``) by ``shift``
        semitones; callers choose shifts that keep every key in range."""
        out = messages.copy()
        keys = out[..., 0] < N_KEYS
        out[..., 0][keys] += shift
        return out

    # --- serialisation
    def to_dict(self) -> dict:
        return {"name": self.name, "time_bins": list(self.time_bins),
                "velocity_bins": self.velocity_bins, "qpm": self.qpm,
                "max_note_beats": self.max_note_beats,
                "note_classes": {"keys": [LOWEST, HIGHEST], "WAIT": WAIT, "BOS": BOS,
                                 "EOS": EOS}} | ({"beat_inputs": True} if self.beat_inputs
                                                 else {})

    # what a saved table may hold (the shipped one: 12 bins on a grid of 96 units)
    MAX_TIME_BINS: ClassVar[int] = 64
    MAX_GRID_UNITS: ClassVar[int] = 2_000  # the largest bin in units of the finest grid
    MAX_QPM: ClassVar[float] = 1000.0
    MAX_NOTE_BEATS: ClassVar[float] = 1000.0

    @classmethod
    def from_dict(cls, d: dict) -> Events:
        """Inverse of :meth:`to_dict`, every field checked (types, ranges, a time table
        whose grid is small enough to plan gaps on, this version's note classes);
        ValueError naming the field for a damaged one."""
        if not isinstance(d, dict) or d.get("name") != "events":
            raise ValueError("not an events representation")
        bins = d.get("time_bins")
        if not (isinstance(bins, list) and 2 <= len(bins) <= cls.MAX_TIME_BINS
                and all(_is_number(b) and math.isfinite(b) for b in bins)):
            raise ValueError(f"time_bins must be a list of 2 to {cls.MAX_TIME_BINS} finite "
                             "numbers")
        fracs = [Fraction(b).limit_denominator(10_000) for b in bins]
        if any(f < 0 for f in fracs) or fracs[-1] <= 0:
            raise ValueError("time_bins must start at 0 and increase strictly")
        den = lcm(*(f.denominator for f in fracs))
        if fracs[-1] * den > cls.MAX_GRID_UNITS:
            raise ValueError(f"time_bins need a grid of {int(fracs[-1] * den):,} units for "
                             f"the largest bin, over {cls.MAX_GRID_UNITS:,}")
        velocity_bins = d.get("velocity_bins")
        if not (isinstance(velocity_bins, int) and not isinstance(velocity_bins, bool)):
            raise ValueError(f"velocity_bins must be an integer, got {velocity_bins!r}")
        qpm = d.get("qpm")
        if not (_is_number(qpm) and 0 < qpm <= cls.MAX_QPM):
            raise ValueError(f"qpm must be a number in (0, {cls.MAX_QPM:g}], got {qpm!r}")
        longest = d.get("max_note_beats", 8.0)
        if not (_is_number(longest) and 0 < longest <= cls.MAX_NOTE_BEATS):
            raise ValueError(f"max_note_beats must be a number in (0, "
                             f"{cls.MAX_NOTE_BEATS:g}], got {longest!r}")
        classes = d.get("note_classes")
        mine = cls().to_dict()["note_classes"]
        if classes is not None and classes != mine:
            raise ValueError(f"note_classes {classes!r} differ from this version's {mine!r}")
        beat_inputs = d.get("beat_inputs", False)
        if not isinstance(beat_inputs, bool):
            raise ValueError(f"beat_inputs must be true or false, got {beat_inputs!r}")
        return cls(time_bins=tuple(float(b) for b in bins), velocity_bins=velocity_bins,
                   qpm=float(qpm), max_note_beats=float(longest), beat_inputs=beat_inputs)


class _InputReader:
    """See :meth:`Events.input_reader`: the time so far in grid units."""

    def __init__(self, rep: Events, now: int = 0):
        self.rep, self.now = rep, now

    def __call__(self, message) -> tuple[int, int]:
        units = self.rep._units
        self.now += units[min(max(int(message[2]), 0), len(units) - 1)]
        return self.rep._places(self.now)

    def copy(self) -> _InputReader:
        return _InputReader(self.rep, self.now)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _merge_same_pitch(notes) -> list[Note]:
    """One key sounds once at a time: same-start duplicates merge (longest end, loudest),
    an earlier note is cut where a later one of the same pitch starts."""
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    out = []
    for group in by_pitch.values():
        kept: list[Note] = []
        for n in group:
            if kept and abs(kept[-1].start - n.start) <= _EPS:
                prev = kept.pop()
                n = Note(prev.start, max(prev.end, n.end), n.pitch,
                         max(prev.velocity, n.velocity))
            elif kept and kept[-1].end > n.start:
                prev = kept.pop()
                kept.append(Note(prev.start, n.start, prev.pitch, prev.velocity))
            kept.append(n)
        out.extend(kept)
    return sorted(out)
