"""Piece dicts: the JSON-safe form the corpus cache stores."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

# --- Piece dicts ----------------------------------------------------------------------------

def test_piece_dict_round_trip_is_exact_through_json():
    piece = Piece(
        tracks=[Track(notes=[Note(0.0, 1 / 3, 60, 90), Note(1 / 3, 2.0, 64, 1)], program=40,
                      name="Violin I"),
                Track(notes=[Note(0.5, 0.75, 36, 127)], program=0, is_drum=True)],
        tempos=[Tempo(0.0, 100.0), Tempo(7.25, 62.00699300699301)],
        time_signatures=[TimeSignature(0.0, 6, 8), TimeSignature(12.0, 2, 4)],
        key="D major", title="Ünïcode \"title\"", source_text="X:1\nK:D\nABc|\n")
    back = Piece.from_dict(json.loads(json.dumps(piece.to_dict())))
    assert back == piece
    with pytest.raises(ValueError, match="format"):
        Piece.from_dict({**piece.to_dict(), "format": 99})


times = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(times, times, st.integers(0, 127), st.integers(1, 127)),
                max_size=20), st.lists(st.tuples(times, st.floats(5, 1000)), min_size=1))
def test_piece_dict_round_trip_property(raw_notes, raw_tempos):
    piece = Piece(tracks=[Track(notes=[Note(s, s + d + 1e-3, p, v) for s, d, p, v in raw_notes])],
                  tempos=[Tempo(b, q) for b, q in raw_tempos])
    assert Piece.from_dict(json.loads(json.dumps(piece.to_dict()))) == piece
