"""Representation ``notes``: a Piece <-> one row of continuous features per note, what
the RNN-GAN (``rnn_gan``) reads and writes.

Mogren's C-RNN-GAN (2016) describes each tone by four real values: its length, its
frequency, its intensity and the time since the previous tone; chords are several tones
with no time between them. The rows here are those four, scaled so that each spans a few
units around 0 (a generator's linear output and a discriminator's input both like that):

====  ==========  =============================================================
col   name        value
====  ==========  =============================================================
0     ``pitch``   ``(MIDI number - 60) / 12`` (octaves from middle C)
1     ``step``    beats since the previous note's onset (the first note: since 0)
2     ``length``  ``log2`` of the note's length in beats (an eighth note is -1)
3     ``velocity`` ``(velocity - 64) / 64``
====  ==========  =============================================================

Notes are in the order of :attr:`Piece.notes` (by onset, then length, then pitch); all
non-drum tracks are merged; pitches off the piano (21..108) are dropped.

Decoding reads any real rows (a generator's output): the onsets (the running sum of
``step``, negative steps read as 0) and the lengths are rounded to a grid of ``1 / grid``
beats (a sixteenth note by default; a note keeps at least one grid step), the pitch to the
nearest piano key and the velocity to 1..127; NaN reads as 0. Onsets are rounded after
summing, so rounding errors do not add up along a piece. ``decode(encode(p))`` is ``p``
with its onsets and lengths on the grid (:meth:`quantise`), and
``quantise(quantise(p)) == quantise(p)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representations.base import FixedTempo, Positions, beat_positions
from tunesmith.representations.events import _merge_same_pitch as merge_same_pitch

LOW, HIGH = 21, 108  # the piano keys
COLUMNS = ("pitch", "step", "length", "velocity")
MAX_STEP_BEATS = 16.0  # a longer silence between onsets is read as this long
MAX_LENGTH_BEATS = 16.0  # a note held longer is cut to this


@dataclass(frozen=True)
class NoteFeatures(FixedTempo):
    grid: int = 4  # decoded onsets and lengths fall on 1/grid beats (4: sixteenth notes)
    qpm: float = 120.0  # tempo of decoded pieces, quarter notes per minute
    name: ClassVar[str] = "notes"

    def __post_init__(self):
        if isinstance(self.grid, bool) or not isinstance(self.grid, (int, np.integer)) \
                or not 1 <= self.grid <= 48:
            raise ValueError(f"grid must be an int in 1..48, got {self.grid!r}")
        if not (isinstance(self.qpm, (int, float)) and not isinstance(self.qpm, bool)
                and math.isfinite(self.qpm) and 0 < self.qpm <= 1000):
            raise ValueError(f"qpm must be a number in (0, 1000], got {self.qpm!r}")
        object.__setattr__(self, "grid", int(self.grid))
        object.__setattr__(self, "qpm", float(self.qpm))

    @property
    def heads(self) -> dict[str, int]:
        """No softmax heads: the rows are real values (:data:`COLUMNS`)."""
        return {}

    @property
    def features(self) -> int:
        return len(COLUMNS)

    # --- Piece <-> rows
    def encode(self, piece: Piece) -> np.ndarray:
        """``(n_notes, 4)`` float32 rows (see the module docstring)."""
        notes = [n for n in piece.notes if LOW <= n.pitch <= HIGH]
        if not notes:
            return np.zeros((0, len(COLUMNS)), np.float32)
        start = np.array([n.start for n in notes], np.float64)
        length = np.array([max(n.end - n.start, 1e-6) for n in notes], np.float64)
        rows = np.stack([
            (np.array([n.pitch for n in notes]) - 60) / 12.0,
            np.diff(start, prepend=0.0).clip(0, MAX_STEP_BEATS),
            np.log2(length.clip(None, MAX_LENGTH_BEATS)),
            (np.array([n.velocity for n in notes]) - 64) / 64.0,
        ], axis=1)
        return rows.astype(np.float32)

    def decode(self, rows) -> Piece:
        """A Piece from ``(n, 4)`` real rows (any values; see the module docstring)."""
        r = np.nan_to_num(np.asarray(rows, np.float64).reshape(-1, len(COLUMNS)))
        g = self.grid
        onsets = np.round(np.cumsum(r[:, 1].clip(0, MAX_STEP_BEATS)) * g) / g
        lengths = np.maximum(np.round(np.exp2(r[:, 2].clip(-12, math.log2(MAX_LENGTH_BEATS)))
                                      * g), 1) / g
        pitches = np.round(r[:, 0] * 12 + 60).clip(LOW, HIGH).astype(int)
        velocities = np.round(r[:, 3] * 64 + 64).clip(1, 127).astype(int)
        # one key sounds once at a time, as in every other representation's pieces: a
        # note struck again while it sounds ends there (same-start copies merge)
        notes = merge_same_pitch(Note(float(s), float(s + d), int(p), int(v))
                                 for s, d, p, v in zip(onsets, lengths, pitches, velocities,
                                                       strict=True))
        return Piece(tracks=[Track(notes=notes, program=0, name="piano")],
                     tempos=[Tempo(0.0, self.qpm)])

    def onsets(self, rows) -> np.ndarray:
        """Each row's onset in beats (not rounded)."""
        r = np.nan_to_num(np.asarray(rows, np.float64).reshape(-1, len(COLUMNS)))
        return np.cumsum(r[:, 1].clip(0, MAX_STEP_BEATS))

    def positions(self, rows, beats_per_bar: float = 4.0) -> Positions:
        """The onset of each note, bars of ``beats_per_bar``."""
        return beat_positions(self.onsets(rows), beats_per_bar)

    @staticmethod
    def transpose(rows: np.ndarray, shift: int) -> np.ndarray:
        """``rows`` moved ``shift`` semitones (a pitch off the piano clamps on decoding)."""
        out = np.array(rows, np.float32, copy=True)
        out[..., 0] += shift / 12.0
        return out

    # --- serialisation
    def to_dict(self) -> dict:
        return {"name": self.name, "grid": self.grid, "qpm": self.qpm,
                "columns": list(COLUMNS)}

    @classmethod
    def from_dict(cls, d: dict) -> NoteFeatures:
        """Inverse of :meth:`to_dict`; ValueError for another representation, other
        columns or a field out of range (a damaged checkpoint)."""
        if not isinstance(d, dict) or d.get("name") != cls.name:
            raise ValueError(f"not a {cls.name} representation")
        if d.get("columns") != list(COLUMNS):
            raise ValueError(f"note rows of columns {d.get('columns')!r}; this version reads "
                             f"{list(COLUMNS)}")
        return cls(grid=d.get("grid"), qpm=d.get("qpm"))
