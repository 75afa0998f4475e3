"""Memorisation (tunesmith.evaluation.memorisation): the longest run a generated piece
shares with any training piece, on tiny hand-made texts and melodies, and its speed on a
few thousand tunes."""

from __future__ import annotations

import math
import random
import time

import pytest

from tunesmith.evaluation.memorisation import Match, TrainingIndex, copy_rate, note_tokens
from tunesmith.music import Note, Piece, Track


def melody(pitches, start=0.0, dur=1.0) -> Piece:
    return Piece(tracks=[Track(notes=[Note(start + i * dur, start + (i + 1) * dur, p)
                                      for i, p in enumerate(pitches)])])


def test_longest_run_in_text():
    index = TrainingIndex(["abcdef", "xyzabc", "qqqq"], names=["one", "two", "three"])
    # "zabcq": "zabc" is in "xyzabc" (4 characters, from its 3rd); "abc" alone is in both
    m = index.longest_match("zabcq")
    assert m == Match(length=4, index=1, name="two", query_start=0, train_start=2)
    assert index.longest_match("mnop") == Match(0, -1, "", 0, 0)
    assert index.longest_match("") == Match(0, -1, "", 0, 0)
    assert len(index) == 3


def test_runs_never_span_two_training_pieces():
    index = TrainingIndex(["ab", "cd"])
    assert index.longest_match("abcd").length == 2  # "ab" or "cd", never "abcd"


def test_note_tokens_are_transposition_and_time_invariant():
    tokens = note_tokens(melody([60, 62, 64]))
    # (interval, onset gap, duration) in 1/48 beats; the first note has no predecessor
    assert tokens == [(0, 0, 48), (2, 48, 48), (2, 48, 48)]
    assert note_tokens(melody([67, 69, 71], start=8.0)) == tokens


def test_longest_run_of_notes():
    train = [note_tokens(melody([60, 62, 64, 65, 67])), note_tokens(melody([50, 40, 50]))]
    index = TrainingIndex(train, names=["scale", "other"])
    # the whole scale, a tone up and later: all 5 tokens match
    assert index.longest_match(note_tokens(melody([62, 64, 66, 67, 69], start=8.0))).length == 5
    # X then D E F# G A: tokens (0,0,1) (D-X, 1, 1) (2,1,1) (2,1,1) (1,1,1) (2,1,1); the
    # scale's are (0,0,1) (2,1,1) (2,1,1) (1,1,1) (2,1,1): the last 4 match (E F# G A,
    # each with its interval from the note before)
    m = index.longest_match(note_tokens(melody([80, 62, 64, 66, 67, 69])))
    assert (m.length, m.name, m.query_start, m.train_start) == (4, "scale", 2, 1)
    # a note length never seen in training matches nothing
    assert index.longest_match(note_tokens(melody([60, 62], dur=0.75))).length == 0


def test_an_index_holds_one_kind():
    with pytest.raises(ValueError, match="mixed"):
        TrainingIndex(["abc", [(0, 0, 48)]])
    with pytest.raises(TypeError):
        TrainingIndex(["abc"]).longest_match([(0, 0, 48)])
    with pytest.raises(ValueError, match="names"):
        TrainingIndex(["abc"], names=["a", "b"])
    empty = TrainingIndex([])  # takes either kind, matches nothing
    assert empty.longest_match("abc").length == empty.longest_match([(0, 0, 48)]).length == 0


def test_copy_rate():
    ms = [Match(10, 0, "", 0, 0), Match(40, 1, "", 0, 0), Match(50, 2, "", 0, 0)]
    assert copy_rate(ms, 30) == pytest.approx(2 / 3)  # 40 and 50 reach 30
    assert copy_rate(ms, 60) == 0.0
    assert math.isnan(copy_rate([], 30))


def test_thousands_of_tunes_quickly():
    rng = random.Random(0)
    letters = "abcdefgABCDEFG|2/"
    train = ["".join(rng.choice(letters) for _ in range(300)) for _ in range(3000)]
    index = TrainingIndex(train, names=[f"tune {i}" for i in range(3000)])
    # 50 characters of tune 1234, between characters no training tune uses
    query = "xyz" * 40 + train[1234][100:150] + "xyz" * 40
    t0 = time.perf_counter()
    m = index.longest_match(query)
    assert time.perf_counter() - t0 < 2.0
    assert (m.length, m.index, m.name, m.query_start, m.train_start) == (
        50, 1234, "tune 1234", 120, 100)
