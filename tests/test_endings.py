"""Pieces composed for a length end on a cadence a little past it (sampling/endings.py)."""

import pytest

from tunesmith.music import Note, Piece, Track
from tunesmith.sampling.endings import HOLD, cut, ending, finish, finish_all

# triads (bass, then the upper voices) in C major, one per beat
CHORDS = {"C": (48, 64, 67, 72), "F": (41, 65, 69, 72), "G": (43, 62, 67, 71),
          "Am": (45, 64, 69, 72), "Dm": (50, 65, 69, 74), "E": (40, 64, 68, 71)}


def progression(names: str) -> Piece:
    notes = [Note(float(b), b + 1.0, p) for b, name in enumerate(names.split())
             for p in CHORDS[name]]
    return Piece(tracks=[Track(notes)])


# beats:            0 1 2 3 4  5 6 7 8  9  10 11 12 13 14 15
PIECE = progression("C F G C Am F G C Am Dm G  C  F  Dm E  Am")


def test_cut_ends_every_note_at_the_cut():
    part = cut(Piece(tracks=[Track([Note(0, 3, 60), Note(1, 2, 62), Note(2.5, 4, 64)])]), 2.0)
    assert part.notes == [Note(0, 2.0, 60), Note(1, 2, 62)]


def test_a_piece_ends_at_the_first_cadence_after_its_length_and_holds_its_last_chord():
    assert ending(cut(PIECE, 9)) == (False, False)  # ends on A minor
    out = finish(PIECE, length=9.0, grace=8.0)
    assert ending(out) == (True, True)  # G -> C at beat 12, C in the bass
    assert out.end_beat == 12 + HOLD
    assert all(n.start < 12 for n in out.notes)  # nothing after the cadence begins
    assert sorted(n.pitch for n in out.notes if n.end == out.end_beat) == list(CHORDS["C"])


def test_without_a_cadence_in_the_window_the_piece_ends_at_its_length():
    out = finish(PIECE, length=12.5, grace=1.0)  # beats 13 (F-Dm), no cadence, no tonic bass
    assert out.end_beat == 12.5 and ending(out) == (False, False)


def test_grace_zero_cuts_at_the_length_and_a_shorter_piece_is_kept_whole():
    assert finish(PIECE, length=9.0, grace=0).end_beat == 9.0
    assert finish(PIECE, length=20.0, grace=8.0) is PIECE


def test_a_piece_without_a_cadence_gets_fresh_endings_and_keeps_the_first_that_closes():
    wanders = progression("C F G C Am F G C Am Dm Dm Dm Dm Dm Dm Dm")
    asked = []

    def redraw(i, n):
        asked.append((i, n))
        return [wanders, PIECE]

    out = finish_all([wanders], length=9.0, grace=4.0, redraw=redraw, drafts=5)
    assert asked == [(0, 5)]
    assert ending(out[0]) == (True, True) and out[0].end_beat == 12 + HOLD
    # a piece that already closes in its window is not redrawn
    assert finish_all([PIECE], length=9.0, grace=4.0, redraw=redraw)[0].end_beat == 13
    assert asked == [(0, 5)]


@pytest.mark.parametrize("grace", ["-1", "65", "nan"])
def test_grace_out_of_range_is_refused(grace):
    from tunesmith.errors import OptionError
    from tunesmith.families.base import ComposeOptions

    with pytest.raises(OptionError, match="grace"):
        ComposeOptions(grace=float(grace))
