"""Which tracks of a piece a corpus keeps, and which pieces are usable (:class:`IngestFilter`).

The ingest defaults live here and nowhere else: :class:`IngestFilter`'s field defaults
(read them as ``IngestFilter().max_seconds``). Units: seconds come from each piece's
tempo map (:meth:`Piece.duration_seconds`, from beat 0 to the end of the last kept note);
programs are General MIDI numbers 0-127.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tunesmith.io.read import piece_problem
from tunesmith.music import Piece, Track
from tunesmith.options import opt

PIANO_PROGRAMS = frozenset(range(8))  # GM 1-8: acoustic grand ... clavinet


@dataclass(frozen=True)
class IngestFilter:
    """Which tracks of a piece to keep, and which pieces are usable.

    ``programs``: ``"all"`` (every non-drum track), ``"piano"`` (GM programs 0-7) or a
    comma-separated list of GM programs such as ``"0,1,40"``. Drum tracks are never
    kept. A piece is dropped when its kept tracks hold fewer than ``min_notes`` notes
    or last less than ``min_seconds`` or more than ``max_seconds`` (seconds through the
    tempo map, from beat 0 to the last note's end)."""

    programs: str = opt("all", "tracks to keep: all (every non-drum track), piano (GM "
                        "programs 0-7), or a list of GM programs, e.g. 0,1,40")
    min_seconds: float = opt(2.0, "drop pieces shorter than this (seconds)")
    max_seconds: float = opt(3600.0, "drop pieces longer than this (seconds)")
    min_notes: int = opt(8, "drop pieces with fewer notes than this in the tracks kept")

    def __post_init__(self):
        parse_programs(self.programs)  # raises ValueError
        if not (0.0 <= self.min_seconds < float("inf")):
            raise ValueError(f"min_seconds must be a finite number >= 0, got "
                             f"{self.min_seconds!r}")
        if not (self.min_seconds < self.max_seconds):
            raise ValueError(f"max_seconds ({self.max_seconds!r}) must be greater than "
                             f"min_seconds ({self.min_seconds!r})")
        if isinstance(self.min_notes, bool) or not isinstance(self.min_notes, int) \
                or self.min_notes < 1:
            raise ValueError(f"min_notes must be an integer >= 1, got {self.min_notes!r}")

    def keeps(self, track: Track) -> bool:
        """Whether this track survives the program filter (drum tracks never do)."""
        if track.is_drum:
            return False
        allowed = parse_programs(self.programs)
        return allowed is None or track.program in allowed


def parse_programs(spec: str) -> frozenset[int] | None:
    """``"all"`` -> None (no restriction), ``"piano"`` -> {0..7}, ``"0, 40"`` -> {0, 40}.
    Raises :class:`ValueError` for anything else."""
    text = str(spec).strip().lower()
    if text == "all":
        return None
    if text == "piano":
        return PIANO_PROGRAMS
    try:
        programs = frozenset(int(p) for p in text.split(","))
    except ValueError:
        programs = frozenset({-1})
    if not programs or not all(0 <= p <= 127 for p in programs):
        raise ValueError(f"programs must be 'all', 'piano' or a comma-separated list of "
                         f"General MIDI programs 0-127 (e.g. '0,1,40'), got {spec!r}")
    return programs


def filter_piece(piece: Piece, filt: IngestFilter = IngestFilter()) -> tuple[Piece | None, str]:
    """Apply ``filt``: ``(piece with only the kept tracks, "")`` or ``(None, reason)``.
    The input piece is not modified (the result shares its Track objects)."""
    kept, reason = _apply_filter(piece, filt)
    return (None, reason) if reason else (kept, "")


def _apply_filter(piece: Piece, filt: IngestFilter) -> tuple[Piece | None, str]:
    """Like :func:`filter_piece`, but returns the track-filtered piece (when it got that
    far) with the reason, so a report can say how short "too short" was."""
    if not any(t.notes for t in piece.tracks):
        return None, "no notes"
    if all(t.is_drum for t in piece.tracks if t.notes):
        return None, "drums only"
    problem = piece_problem(piece)
    if problem:
        return None, problem
    kept = dataclasses.replace(piece, tracks=[t for t in piece.tracks
                                              if t.notes and filt.keeps(t)])
    if not kept.tracks:
        return None, f"no notes after filtering (programs={filt.programs})"
    if not kept.plays_piano_keys():
        return None, "no notes on the piano keys (MIDI 21-108)"
    n = sum(len(t.notes) for t in kept.tracks)  # as the report's notes column counts
    seconds = kept.duration_seconds
    if n < filt.min_notes:
        return kept, f"too few notes ({n} < {filt.min_notes})"
    if seconds < filt.min_seconds:
        return kept, f"too short ({seconds:.2f} s < {filt.min_seconds:g} s)"
    if seconds > filt.max_seconds:
        return kept, f"too long ({seconds:.2f} s > {filt.max_seconds:g} s)"
    return kept, ""
