"""The canonical music object: :class:`Piece`.

Every reader returns a Piece and every writer takes one. Units, stated once:

- time is in **beats**, where a beat is a quarter note (music21's ``quarterLength``,
  MIDI's ticks / ticks-per-quarter). Seconds come from the tempo map (:meth:`Piece.seconds`).
- pitch is a MIDI note number (0-127; piano keys are 21-108).
- velocity is MIDI velocity (1-127).
- tempo is in quarter notes per minute (qpm).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

DEFAULT_QPM = 120.0
PIANO_KEYS = (21, 108)  # MIDI numbers of the lowest and highest piano keys
PIECE_DICT_FORMAT = 1  # version of the layout written by Piece.to_dict


@dataclass(frozen=True, order=True)
class Note:
    start: float  # beats
    end: float  # beats, > start
    pitch: int  # MIDI number
    velocity: int = 80


@dataclass
class Track:
    notes: list[Note] = field(default_factory=list)
    program: int = 0  # General MIDI program, 0 = acoustic grand piano
    is_drum: bool = False
    name: str = ""


@dataclass(frozen=True)
class Tempo:
    beat: float
    qpm: float


@dataclass(frozen=True)
class TimeSignature:
    beat: float
    numerator: int
    denominator: int


@dataclass
class Piece:
    """One piece of music.

    ``source_text`` keeps the text a piece was read from when that text *is* the
    representation a model learns (ABC tunes); it is empty otherwise.

    ``bar_lines`` are the bars as the source *wrote* them (ABC, MusicXML), in beats and
    in increasing order: bar ``i`` spans ``bar_lines[i]`` to ``bar_lines[i + 1]``, so the
    list holds one more entry than there are bars (the start of the first bar, usually
    0, and the end of the last). A pickup bar, a bar a tune writes too short or too long,
    and repeats as played (when the reader expands them) all show in it. It is empty when
    the source has no written bars (MIDI, generated events and piano rolls): their bars
    exist only as implied by ``time_signatures``.

    ``fermatas`` are the ``(start, end)`` beats of the notes the source marks with a
    fermata (MusicXML: a chorale's phrase ends), one span per distinct time, in
    increasing order; empty when the source marks none (MIDI has no such mark).
    """

    tracks: list[Track] = field(default_factory=list)
    tempos: list[Tempo] = field(default_factory=lambda: [Tempo(0.0, DEFAULT_QPM)])
    time_signatures: list[TimeSignature] = field(default_factory=list)
    key: str = ""  # e.g. "D major", as music21 names keys; "" if unknown
    title: str = ""
    source_text: str = ""
    bar_lines: list[float] = field(default_factory=list)  # beats; see the docstring
    fermatas: list[tuple[float, float]] = field(default_factory=list)  # (start, end) beats

    @property
    def notes(self) -> list[Note]:
        """All notes of all non-drum tracks, sorted by (start, end, pitch, velocity)."""
        return sorted(n for t in self.tracks if not t.is_drum for n in t.notes)

    def plays_piano_keys(self) -> bool:
        """Whether any note of a non-drum track lies on the 88 piano keys
        (:data:`PIANO_KEYS`), which every piece family plays: the others are dropped."""
        low, high = PIANO_KEYS
        return any(low <= n.pitch <= high for t in self.tracks if not t.is_drum
                   for n in t.notes)

    @property
    def end_beat(self) -> float:
        return max((n.end for t in self.tracks for n in t.notes), default=0.0)

    def seconds(self, beat: float) -> float:
        """Convert a time in beats (>= 0) to seconds through the tempo map."""
        beat = max(0.0, beat)
        tempos = sorted(self.tempos, key=lambda t: t.beat) or [Tempo(0.0, DEFAULT_QPM)]
        if tempos[0].beat > 0:
            tempos.insert(0, Tempo(0.0, tempos[0].qpm))
        starts = [t.beat for t in tempos]
        i = bisect.bisect_right(starts, beat) - 1
        total = 0.0
        for a, b in zip(tempos[:i], tempos[1 : i + 1], strict=True):
            total += (b.beat - a.beat) * 60.0 / a.qpm
        return total + (beat - tempos[i].beat) * 60.0 / tempos[i].qpm

    @property
    def duration_seconds(self) -> float:
        return self.seconds(self.end_beat)

    # --- JSON-safe form (used by the corpus cache; no pickle) ---------------------------

    def to_dict(self) -> dict:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal Piece.

        Notes are ``[start, end, pitch, velocity]`` lists (compact: corpora hold ~10^5
        notes), tempos ``[beat, qpm]``, time signatures ``[beat, numerator, denominator]``,
        ``bar_lines`` a list of beats and ``fermatas`` a list of ``[start, end]`` (optional
        keys: dicts written before they existed load with none). Floats survive ``json``
        exactly (it writes ``repr``); times must be finite."""
        return {
            "format": PIECE_DICT_FORMAT,
            "tracks": [
                {"name": t.name, "program": t.program, "is_drum": t.is_drum,
                 "notes": [[n.start, n.end, n.pitch, n.velocity] for n in t.notes]}
                for t in self.tracks
            ],
            "tempos": [[t.beat, t.qpm] for t in self.tempos],
            "time_signatures": [[s.beat, s.numerator, s.denominator]
                                for s in self.time_signatures],
            "key": self.key,
            "title": self.title,
            "source_text": self.source_text,
            "bar_lines": list(self.bar_lines),
            "fermatas": [[s, e] for s, e in self.fermatas],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Piece:
        """Inverse of :meth:`to_dict`. Raises :class:`ValueError` for another format
        version and ``KeyError``/``TypeError``/``ValueError`` for a malformed dict."""
        if d.get("format") != PIECE_DICT_FORMAT:
            raise ValueError(f"Piece dict format {d.get('format')!r}, expected "
                             f"{PIECE_DICT_FORMAT}")
        tracks = [
            Track(notes=[Note(s, e, p, v) for s, e, p, v in t["notes"]],
                  program=t["program"], is_drum=t["is_drum"], name=t["name"])
            for t in d["tracks"]
        ]
        return cls(
            tracks=tracks,
            tempos=[Tempo(b, q) for b, q in d["tempos"]],
            time_signatures=[TimeSignature(b, n, den) for b, n, den in d["time_signatures"]],
            key=d["key"],
            title=d["title"],
            source_text=d["source_text"],
            bar_lines=[float(b) for b in d.get("bar_lines", [])],
            fermatas=[(float(s), float(e)) for s, e in d.get("fermatas", [])],
        )
