"""Representation ``pianoroll``: a Piece <-> a binary piano roll of shape ``(T, 88)``.

This is the frame format of the polyphonic benchmarks of Boulanger-Lewandowski et al.
(ICML 2012) that RNN-RBM / RNN-NADE models learn: one row per time step, one column per
piano key, 1 where the key sounds.

Units and layout
- Column ``k`` is MIDI note ``LOW + k`` (21..108, the 88 piano keys).
- Frame ``t`` covers the beats ``[t / spb, (t + 1) / spb)`` where ``spb`` is
  ``steps_per_beat`` (a beat is a quarter note: JSB Chorales uses 1, the other three
  benchmark sets 2, one frame per eighth note).
- Arrays are ``uint8`` holding 0 and 1.

Encoding
- All non-drum tracks are merged; pitches outside 21..108 are dropped.
- A note occupies frames ``s = round(start * spb)`` to ``e - 1`` with
  ``e = max(s + 1, round(end * spb))``: a note shorter than a frame keeps one frame.
  (``round`` is Python's, half to even, the same as ``numpy.rint``.)
- ``T`` is the largest ``e`` (no notes: shape ``(0, 88)``); leading silence is kept.
- Velocities are not kept.

Decoding
- Each run of consecutive on-frames of one key becomes one note, from the run's first
  frame to the frame after its last (so no note has zero length), at the constructor's
  velocity, in one piano track (program 0) with one tempo, ``qpm``.
- A binary piano roll cannot tell a key held for two frames from the same key struck again
  in the next frame: both are ``1, 1``. Such re-strikes (and notes of one key that touch or
  overlap) come back as one long note.

Inputs (``beat_inputs`` / ``phrase_inputs``, ``train --family pianoroll --positions
--phrases``): each frame also carries, as small integers a model embeds beside the keys,
- ``beat``: the frame's place in its bar, in frames from the bar line (the bars the source
  wrote, else those of its time signatures, else bars of 4 beats from beat 0; the
  last class, :data:`MAX_BAR_FRAMES` - 1, also holds every later place of a longer bar);
- ``phrase``: where the frame stands to the next phrase end, a note the source marks
  with a fermata (:attr:`~tunesmith.music.Piece.fermatas`; DeepBach conditions on the
  same marks): 0 under a fermata, k for k frames before the next one, up to
  :data:`PHRASE_AHEAD` beats ahead, then one class for "further, or none". Seeing the
  end coming is what lets a model lead into it (a dominant on the beat before).
They are known before the frame is drawn (the grid is fixed), so a sampler hands them
to the model ahead: from the primer piece where it has them, then from a regular plan
(:meth:`PianoRoll.plan`).

Lookback (``lookback_inputs``, ``--lookback``, needs the beat input for its bars): each
frame also carries what the best matching of the last 16 bars has at its place
(:class:`~tunesmith.lookback.Lookback`, the bars matched frame by frame as they are
written): the ``lookback`` class (0-3: how many bars in a row that passage has matched;
:data:`NO_MATCH`: no earlier bar starts as this one does; :data:`BAR_ENDED`: the matching
bar ended here) and the proposed frame itself as :data:`N_KEYS` more 0/1 columns after
the classes (all 0 without a proposal), which a model reads as a vector
(:attr:`PianoRoll.proposal_keys`). These depend on the frames drawn, so a sampler computes
them as frames arrive, with the same :class:`FrameLookback` that made the training
inputs (:meth:`PianoRoll.frame_reader`); the plan leaves them 0.

Round trip: ``encode(decode(frames)) == frames`` for every 0/1 roll whose last frame is
not silent (trailing silent frames are not notes, so they are not kept); in particular
``encode(decode(encode(p))) == encode(p)`` and ``quantise(quantise(p)) == quantise(p)``.
A piece whose notes already lie on the grid, at the constructor's velocity, with no two
notes of one key touching or overlapping, comes back with equal notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tunesmith.lookback import END, RUN_CLASSES, Lookback
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representations.base import FixedTempo, Positions, beat_positions

LOW, HIGH = 21, 108  # MIDI numbers of the lowest and highest piano keys
N_KEYS = HIGH - LOW + 1  # 88
MAX_BAR_FRAMES = 64  # classes of the beat input (a bar of 8 quarter notes at 8 frames a beat)
PHRASE_BARS = 2  # a planned phrase: two bars, its fermata on the bar's second-last beat
PHRASE_AHEAD = 4  # beats: how far ahead the phrase input sees the next fermata
NO_MATCH = RUN_CLASSES - 1  # lookback class: no earlier bar starts as this one does
BAR_ENDED = RUN_CLASSES  # lookback class: the matching earlier bar ended at this place


@dataclass(frozen=True)
class PianoRoll(FixedTempo):
    steps_per_beat: int = 2  # frames per quarter note
    qpm: float = 120.0  # tempo of decoded pieces, quarter notes per minute
    velocity: int = 80  # MIDI velocity of decoded notes
    beat_inputs: bool = False  # frames carry their place in the bar (inputs)
    phrase_inputs: bool = False  # frames carry how far the next fermata is (inputs)
    lookback_inputs: bool = False  # frames carry what the best matching earlier bar has
    name: ClassVar[str] = "pianoroll"

    def __post_init__(self):
        spb = self.steps_per_beat
        if isinstance(spb, bool) or not isinstance(spb, (int, np.integer)) \
                or not 1 <= spb <= 48:
            raise ValueError(f"steps_per_beat must be an int in 1..48, got {spb!r}")
        if not (isinstance(self.qpm, (int, float)) and math.isfinite(self.qpm)
                and self.qpm > 0):
            raise ValueError(f"qpm must be a finite number > 0, got {self.qpm!r}")
        v = self.velocity
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 127:
            raise ValueError(f"velocity must be an int in 1..127, got {v!r}")
        if self.lookback_inputs and not self.beat_inputs:
            raise ValueError("lookback inputs need the beat input (its bars): --positions")
        # plain Python numbers, so to_dict() is JSON-safe whatever the caller passed
        object.__setattr__(self, "steps_per_beat", int(spb))
        object.__setattr__(self, "qpm", float(self.qpm))
        object.__setattr__(self, "velocity", int(v))

    # --- the spec a model sizes itself from
    @property
    def heads(self) -> dict[str, int]:
        """One head, ``frame``: 88 independent on/off outputs per time step."""
        return {"frame": N_KEYS}

    # --- inputs a model reads beside the frames (none unless asked for)
    @property
    def inputs(self) -> dict[str, int]:
        """``{input: classes}``, in the order of the first input columns (those a model
        embeds; :attr:`proposal_keys` 0/1 columns follow them)."""
        out = {}
        if self.beat_inputs:
            out["beat"] = MAX_BAR_FRAMES
        if self.phrase_inputs:
            out["phrase"] = self._ahead + 2
        if self.lookback_inputs:
            out["lookback"] = RUN_CLASSES + 1
        return out

    @property
    def proposal_keys(self) -> int:
        """0/1 input columns after the classes: the lookback's proposed frame (or 0)."""
        return N_KEYS if self.lookback_inputs else 0

    @property
    def input_width(self) -> int:
        """Input columns after the keys, in all."""
        return len(self.inputs) + self.proposal_keys

    def frame_reader(self) -> FrameLookback | None:
        """A new reader of the inputs that depend on the frames (the lookback's), for a
        sampler to feed as frames arrive; None when there are none."""
        return FrameLookback(list(self.inputs).index("lookback")) if self.lookback_inputs \
            else None

    def input_columns(self, piece: Piece, frames: int) -> np.ndarray:
        """The inputs of the first ``frames`` frames of ``piece`` that the grid decides:
        ``(frames, F)`` uint8, a column for the beat and the phrase inputs (see the module
        docstring), and the lookback's columns left 0 (:meth:`with_inputs` fills them)."""
        from tunesmith.evaluation.form import bar_bounds

        spb, cols = self.steps_per_beat, []
        beats = np.arange(frames) / spb
        if self.beat_inputs:
            bounds = bar_bounds(piece) if piece.notes else None
            cols.append(self._beat_classes(_places_in_bars(beats, bounds)))
        if self.phrase_inputs:
            on = np.zeros(frames, dtype=bool)
            for start, end in piece.fermatas:
                s = max(0, round(start * spb))
                on[s : max(s + 1, round(end * spb))] = True
            cols.append(self._phrase_classes(on))
        return self._unread(_columns(cols, frames))

    def _unread(self, planned: np.ndarray) -> np.ndarray:
        """Planned input columns, with the lookback's (0 until a reader fills them)."""
        if not self.lookback_inputs:
            return planned
        unread = np.zeros((len(planned), 1 + self.proposal_keys), np.uint8)  # class, frame
        return np.concatenate([planned, unread], 1)

    def with_inputs(self, frames, piece: Piece | None = None) -> np.ndarray:
        """``frames`` (T, 88) with their inputs as more columns: ``(T, 88 + F)`` uint8,
        what a model with inputs reads. The inputs come from ``piece`` (the frames'
        source: its bars and fermatas), else from :meth:`plan`: so do those of a piece
        with no time signature, bar line or fermata at all, which is what a piano roll
        decodes to (a composed piece: it was composed to the plan). Frames that already
        hold them, and frames of a representation without inputs, come back as they
        are."""
        frames = np.asarray(frames, dtype=np.uint8)
        if not self.inputs or frames.shape[1] == N_KEYS + self.input_width:
            return frames
        bare = piece is None or not (piece.time_signatures or piece.bar_lines
                                     or piece.fermatas)
        extra = self.plan(len(frames)) if bare else self.input_columns(piece, len(frames))
        reader = self.frame_reader()
        if reader is not None:  # the lookback's, frame by frame as a sampler computes them
            for t in range(len(frames)):
                reader.fill(extra[t])
                reader.feed(frames[t])
        return np.concatenate([frames, extra], 1)

    def plan(self, frames: int, start: int = 0, beats_per_bar: float = 4.0) -> np.ndarray:
        """Inputs of ``frames`` frames to compose, frames ``start`` to ``start + frames -
        1`` of a piece in bars of ``beats_per_bar`` from beat 0: phrases of
        :data:`PHRASE_BARS` bars, each with a fermata over the second-last beat of its last
        bar (a 4/4 chorale's third beat; the last beat leads into the next phrase).
        ``(frames, F)`` uint8."""
        spb = self.steps_per_beat
        bar = beats_per_bar if beats_per_bar > 0 else 4.0
        period = self._phrase_frames(bar)
        cols = []
        if self.beat_inputs:
            cols.append(self._beat_classes(((start + np.arange(frames)) / spb) % bar))
        if self.phrase_inputs:
            cols.append(self._planned_phrases(frames, (period - 2 * spb - start) % period,
                                              period))
        return self._unread(_columns(cols, frames))

    def follow(self, before: np.ndarray, frames: int, beats_per_bar: float = 4.0) -> np.ndarray:
        """Inputs of ``frames`` frames after frames whose inputs were ``before`` (``(P,
        F)``, a primer's): the bars (of ``beats_per_bar``) go on from the last frame's
        place, and a fermata that frame counted down to comes when it said, then one
        every :data:`PHRASE_BARS` bars (as :meth:`plan`); with no fermata in sight, the
        first comes just past what the input sees. ``(frames, F)`` uint8."""
        if not len(before):
            return self.plan(frames, beats_per_bar=beats_per_bar)
        names = list(self.inputs)
        bar = beats_per_bar if beats_per_bar > 0 else 4.0
        start = int(before[-1, names.index("beat")]) + 1 if self.beat_inputs else len(before)
        out = self.plan(frames, start=start, beats_per_bar=bar)
        if self.phrase_inputs:
            column = before[:, names.index("phrase")].astype(int)
            left = int(column[-1])
            if left == 0:  # under a fermata: one of a beat, begun this many frames ago
                first = -(len(column) - len(np.trim_zeros(column, "b")))
            else:
                first = left - 1 if left <= self._ahead else self._ahead
            out[:, names.index("phrase")] = self._planned_phrases(frames, first,
                                                                  self._phrase_frames(bar))
        return out

    def _phrase_frames(self, bar: float) -> int:
        """Frames in a planned phrase of :data:`PHRASE_BARS` bars of ``bar`` beats."""
        return max(1, round(bar * PHRASE_BARS * self.steps_per_beat))

    def _planned_phrases(self, frames: int, first: int, period: int) -> np.ndarray:
        """The phrase input's classes of ``frames`` frames with a fermata of a beat
        starting at frame ``first`` and every ``period`` frames (before and after it)."""
        on = np.zeros(frames + self._ahead, dtype=bool)
        for f in range(first - period, len(on), period):
            on[max(f, 0) : max(f + self.steps_per_beat, 0)] = True
        return self._phrase_classes(on)[:frames]

    def _beat_classes(self, places: np.ndarray) -> np.ndarray:
        """Places in the bar (beats) -> the beat input's classes (frames, capped)."""
        return np.clip(np.rint(places * self.steps_per_beat), 0, MAX_BAR_FRAMES - 1)

    @property
    def _ahead(self) -> int:
        """Frames the phrase input sees ahead."""
        return PHRASE_AHEAD * self.steps_per_beat

    def _phrase_classes(self, on: np.ndarray) -> np.ndarray:
        """Fermata frames (bool) -> the phrase input's classes: 0 on one, k for k frames
        before the next, ``_ahead + 1`` when that is further or there is none."""
        far = self._ahead + 1
        t = np.arange(len(on))
        # the index of the next fermata frame at or after each frame (none: past the end)
        nxt = np.minimum.accumulate(np.where(on, t, len(on) + far)[::-1])[::-1]
        return np.minimum(nxt - t, far)

    # --- Piece <-> frames
    def encode(self, piece: Piece) -> np.ndarray:
        """The piano roll of ``piece``: ``(T, 88)`` uint8 (see the module docstring)."""
        spb = self.steps_per_beat
        spans = []  # (first frame, frame after the last, column)
        for track in piece.tracks:
            if track.is_drum:
                continue
            for n in track.notes:
                if LOW <= n.pitch <= HIGH:
                    s = max(0, round(n.start * spb))  # times are >= 0; clamp just in case
                    e = max(s + 1, round(n.end * spb))
                    spans.append((s, e, n.pitch - LOW))
        frames = np.zeros((max((e for _, e, _ in spans), default=0), N_KEYS), np.uint8)
        for s, e, k in spans:
            frames[s:e, k] = 1
        return frames

    def decode(self, frames) -> Piece:
        """A Piece from a ``(T, 88)`` array-like; a value counts as *on* if it is ``True``
        or greater than 0.5 (so probabilities can be decoded after thresholding at 0.5)."""
        on = _on(frames)
        # +1 where a run of a key starts, -1 on the frame after it ends
        edges = np.diff(np.pad(on.T.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        starts = np.argwhere(edges == 1)  # (key, frame), sorted by key then frame
        ends = np.argwhere(edges == -1)  # same order: the n-th end closes the n-th start
        spb, v = self.steps_per_beat, self.velocity
        notes = sorted(Note(int(s) / spb, int(e) / spb, LOW + int(k), v)
                       for (k, s), (_, e) in zip(starts, ends, strict=True))
        return Piece(tracks=[Track(notes=notes, program=0, name="piano")],
                     tempos=[Tempo(0.0, self.qpm)])

    # --- the Boulanger-Lewandowski list format
    def positions(self, frames, beats_per_bar: float = 4.0) -> Positions:
        """The beat of each frame (frame t starts at t / steps_per_beat), bars of
        ``beats_per_bar``."""
        return beat_positions([t / self.steps_per_beat for t in range(len(frames))],
                              beats_per_bar)

    @staticmethod
    def from_lists(seq: Sequence[Sequence[int]]) -> np.ndarray:
        """Frames given as lists of MIDI numbers (21..108; ``[]`` is silence) -> a
        ``(T, 88)`` uint8 roll. A note repeated within a frame is simply on. Raises
        ValueError for a note outside 21..108 (:mod:`tunesmith.io.boulanger` checks files
        first and says where)."""
        lengths = np.fromiter((len(f) for f in seq), dtype=np.int64, count=len(seq))
        notes = np.fromiter((p for f in seq for p in f), dtype=np.int64,
                            count=int(lengths.sum()))
        if notes.size and (notes.min() < LOW or notes.max() > HIGH):
            bad = notes[(notes < LOW) | (notes > HIGH)][0]
            raise ValueError(f"note {bad} outside {LOW}-{HIGH}")
        return frames_from_notes(lengths, notes)

    @staticmethod
    def to_lists(frames) -> list[list[int]]:
        """Inverse of :meth:`from_lists`: each frame as its sounding MIDI numbers, ascending."""
        on = _on(frames)
        return [(np.flatnonzero(row) + LOW).tolist() for row in on]

    @staticmethod
    def transpose(frames: np.ndarray, shift: int) -> np.ndarray:
        """``frames`` moved ``shift`` semitones up (down if negative); notes shifted off
        the keyboard are dropped (no wrap-around). Works on any ``(..., 88)`` array."""
        out = np.zeros_like(frames)
        if abs(shift) >= N_KEYS:
            return out
        if shift >= 0:
            out[..., shift:] = frames[..., :N_KEYS - shift]
        else:
            out[..., :shift] = frames[..., -shift:]
        return out

    # --- serialisation
    def to_dict(self) -> dict:
        return {"name": self.name, "steps_per_beat": self.steps_per_beat, "qpm": self.qpm,
                "velocity": self.velocity, "low": LOW, "high": HIGH} | (
            {"beat_inputs": True} if self.beat_inputs else {}) | (
            {"phrase_inputs": True} if self.phrase_inputs else {}) | (
            {"lookback_inputs": True} if self.lookback_inputs else {})

    @classmethod
    def from_dict(cls, d: dict) -> PianoRoll:
        """Inverse of :meth:`to_dict`; ValueError for another representation or keyboard,
        or a field of the wrong type or out of range (a damaged checkpoint): an int
        ``steps_per_beat`` in 1..48, a number ``qpm`` in (0, 1000], an int ``velocity`` in
        1..127."""
        if not isinstance(d, dict):
            raise ValueError(f"not a {cls.name} representation")
        if d.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} representation: name {d.get('name')!r}")
        if (d.get("low"), d.get("high")) != (LOW, HIGH):
            raise ValueError(f"piano roll over keys {d.get('low')}-{d.get('high')}, this "
                             f"version reads {LOW}-{HIGH}")
        spb, qpm, velocity = d.get("steps_per_beat"), d.get("qpm"), d.get("velocity")
        for name, value in (("steps_per_beat", spb), ("velocity", velocity)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if isinstance(qpm, bool) or not isinstance(qpm, (int, float)) or not 0 < qpm <= 1000:
            raise ValueError(f"qpm must be a number in (0, 1000], got {qpm!r}")
        flags = {k: d.get(k, False) for k in ("beat_inputs", "phrase_inputs",
                                              "lookback_inputs")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        if flags["lookback_inputs"] and not flags["beat_inputs"]:
            raise ValueError("lookback_inputs needs beat_inputs")
        return cls(steps_per_beat=spb, qpm=float(qpm), velocity=velocity, **flags)


class FrameLookback:
    """The lookback inputs of one piece's frames, computed as its frames arrive: before
    each frame, :meth:`fill` writes them into the frame's input row (whose beat input,
    column 0, says where the bars begin: wherever the place in the bar falls back, or
    stays at 0); after it, :meth:`feed` reads the frame. :meth:`PianoRoll.with_inputs`
    makes training inputs with it and a sampler computes those of its frames with it, so
    both read the same thing. A bar's frames are matched exactly (their 88 keys), as the
    ABC lookback matches characters."""

    def __init__(self, column: int):
        self.column = column  # of the lookback class in an input row; the proposal follows
        self.lookback = Lookback()
        self.place = -1

    def copy(self) -> FrameLookback:
        new = FrameLookback(self.column)
        new.lookback, new.place = self.lookback.copy(), self.place
        return new

    def fill(self, row: np.ndarray) -> None:
        """Write the lookback's class and proposed frame into ``row``, the input row
        (classes, then the proposal's :data:`N_KEYS` columns) of the frame to come."""
        place = int(row[0])
        if place < self.place or place == self.place == 0:  # back to the bar line (a bar
            self.lookback.close()  # of one frame stays at 0; a capped place stays at 63)
        self.place = place
        nxt, run = self.lookback.proposal()
        keys = row[self.column + 1 : self.column + 1 + N_KEYS]
        keys[:] = 0
        if nxt is None:
            row[self.column] = NO_MATCH
        elif nxt is END:
            row[self.column] = BAR_ENDED
        else:
            row[self.column] = run
            keys[:] = np.unpackbits(np.frombuffer(nxt, np.uint8))[:N_KEYS]

    def offer(self, row: np.ndarray) -> np.ndarray | None:
        """The frame proposed in ``row`` (an input row :meth:`fill` wrote), or None."""
        if row[self.column] >= NO_MATCH:
            return None
        return row[self.column + 1 : self.column + 1 + N_KEYS]

    def feed(self, frame: np.ndarray) -> None:
        """Read a frame (its first :data:`N_KEYS` values, 0/1)."""
        on = np.asarray(frame[:N_KEYS]) > 0.5
        self.lookback.feed(np.packbits(on).tobytes())


def _places_in_bars(beats: np.ndarray, bounds) -> np.ndarray:
    """Each time's place in its bar (beats). ``bounds``: bar lines (beats, increasing), or
    None for bars of 4 beats from 0. A first bar shorter than the second is a pickup: its
    places count back from its end (a one-beat pickup in 4/4 is beat 3, 0-based). Past
    the last bar line, bars of the last bar's length go on."""
    if bounds is None or len(bounds) < 2:
        return beats % 4.0
    bounds = np.asarray(bounds, dtype=float)
    starts = bounds[:-1].copy()
    if len(bounds) > 2 and bounds[1] - bounds[0] < bounds[2] - bounds[1] - 1e-9:
        starts[0] = bounds[1] - (bounds[2] - bounds[1])
    i = np.clip(np.searchsorted(starts, beats + 1e-9, side="right") - 1, 0, None)
    last = float(bounds[-1] - bounds[-2])
    return np.where(beats >= bounds[-1] - 1e-9, (beats - bounds[-1]) % last,
                    np.maximum(beats - starts[i], 0.0))


def _columns(cols: list, frames: int) -> np.ndarray:
    """Input columns -> ``(frames, len(cols))`` uint8."""
    if not cols:
        return np.zeros((frames, 0), np.uint8)
    return np.stack([np.asarray(c) for c in cols], -1).astype(np.uint8)


def frames_from_notes(lengths: np.ndarray, notes: np.ndarray) -> np.ndarray:
    """A (T, 88) uint8 roll from the frames' note counts (T,) and all their MIDI numbers
    in frame order (already checked to lie in LOW..HIGH)."""
    frames = np.zeros((len(lengths), N_KEYS), np.uint8)
    frames[np.repeat(np.arange(len(lengths)), lengths), notes - LOW] = 1
    return frames


def _on(frames) -> np.ndarray:
    """A ``(T, 88)`` bool array: True where ``frames`` is True or > 0.5."""
    a = np.asarray(frames)
    if a.size == 0 and a.ndim < 2:  # [] or np.array([]): no frames
        a = a.reshape(0, N_KEYS)
    if a.ndim != 2 or a.shape[1] != N_KEYS:
        raise ValueError(f"expected frames of shape (T, {N_KEYS}), got {a.shape}")
    return a if a.dtype == np.bool_ else a > 0.5
