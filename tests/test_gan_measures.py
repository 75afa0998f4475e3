"""Measures that judge a GAN generator (tunesmith.evaluation.mogren, .diversity): each on a
small hand-made piece whose value is worked out by hand in the comment beside it."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from tunesmith.evaluation import diversity as D
from tunesmith.evaluation import features as F
from tunesmith.evaluation import mogren as M
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]  # C4 .. C5
A_HARMONIC_MINOR = [57, 59, 60, 62, 64, 65, 68, 69]  # A3 B C D E F G# A4


def piece(*tracks, **kw) -> Piece:
    """Each track a list of (start, end, pitch) in beats."""
    return Piece(tracks=[Track(notes=[Note(s, e, p) for s, e, p in t]) for t in tracks], **kw)


def melody(pitches, step=1.0) -> Piece:
    """One note per ``step`` beats, each ``step`` long."""
    return piece([(i * step, (i + 1) * step, p) for i, p in enumerate(pitches)])


def chords() -> Piece:
    """A 2-note chord at beat 0, one note at 1, a triad at 2 (the triad's top in a second
    track): events of sizes 2, 1, 3."""
    return piece([(0, 1, 60), (0, 1, 64), (1, 2, 62), (2, 3, 60), (2, 3, 64)],
                 [(2, 3, 67)])


# --- Mogren's measures ---------------------------------------------------------------


def test_c_major_scale():
    p = melody(C_MAJOR)
    assert M.scale_consistency(p) == 1.0  # every tone in C major
    assert M.tone_span(p) == 12.0  # 72 - 60
    assert M.tone_span(p) == F.pitch_range(p)
    assert M.polyphony(p) == 0.0  # a melody: no onset holds two tones
    assert M.repetitions(p, 3) == 0.0  # no 3-tone window recurs
    assert M.repetitions(p, 1) == 0.0  # no pitch recurs (C4 and C5 differ)


def test_scale_consistency_counts_harmonic_minor_unlike_features():
    p = melody(A_HARMONIC_MINOR)
    assert M.scale_consistency(p) == 1.0  # all 8 in A harmonic minor
    # MusPy's (major / natural minor only): at best C major = A minor, 7 of 8 (not G#)
    assert F.scale_consistency(p) == pytest.approx(7 / 8)
    # C C# D: no major or minor scale (harmonic included) has three semitones in a row,
    # so at best 2 of the 3 tones fit
    assert M.scale_consistency(melody([60, 61, 62])) == pytest.approx(2 / 3)


def test_polyphony_counts_onset_events():
    p = chords()
    # events of sizes 2, 1, 3: two of the three start two or more tones
    assert M.polyphony(p) == pytest.approx(2 / 3)
    # as Mogren's loop counts: P = (1 + 0 + 2) + 1 (closed event of size 2) = 4,
    # M = 3 + 1 (closed event of size 1) = 4 -> 4 / 8
    assert M.polyphony(p, as_coded=True) == pytest.approx(0.5)
    # k = 2 triads: 1 here; as coded (3k - 1) / (4k - 1) = 5 / 7
    triads = piece([(0, 1, 60), (0, 1, 64), (0, 1, 67), (1, 2, 62), (1, 2, 65), (1, 2, 69)])
    assert M.polyphony(triads) == 1.0
    assert M.polyphony(triads, as_coded=True) == pytest.approx(5 / 7)
    # a melody is 0 both ways
    assert M.polyphony(melody(C_MAJOR), as_coded=True) == 0.0


def test_polyphony_needs_the_same_onset_not_overlap():
    # two long notes that overlap but start half a beat apart: not polyphonous
    assert M.polyphony(piece([(0, 4, 60), (0.5, 4, 64)])) == 0.0
    # onsets equal after rounding to 1/480 beat count as together
    assert M.polyphony(piece([(0, 1, 60), (1e-9, 1, 64)])) == 1.0


def test_repetitions_count_non_overlapping_window_pairs():
    phrase3 = melody([60, 62, 64] * 3)
    # windows (60 62 64) at 0, 3, 6 -> 3 pairs; (62 64 60) at 1, 4 -> 1; (64 60 62) at
    # 2, 5 -> 1: 5 in all
    assert M.repetitions(phrase3, 3) == 5.0
    # as coded: the last window (start 6) is never compared -> 1 + 1 + 1 = 3
    assert M.repetitions(phrase3, 3, as_coded=True) == 3.0
    # overlapping windows do not pair: 60 60 60 60, length 2 -> only windows 0 and 2
    assert M.repetitions(melody([60] * 4), 2) == 1.0
    # timing is ignored: the same pitches in another rhythm count the same
    uneven = piece([(0, 0.5, 60), (0.5, 2, 62), (2, 2.25, 64),
                    (3, 4, 60), (4, 4.5, 62), (5, 7, 64)])
    assert M.repetitions(uneven, 3) == 1.0
    # as coded, length 3 needs n // 2 > 3: six tones give 0 (clean: 1)
    twice = melody([60, 62, 64] * 2)
    assert M.repetitions(twice, 3) == 1.0
    assert M.repetitions(twice, 3, as_coded=True) == 0.0
    with pytest.raises(ValueError):
        M.repetitions(twice, 0)


def test_max_tones_crops_in_onset_order():
    p = melody(C_MAJOR)
    assert M.tone_span(p, max_tones=3) == 4.0  # 60 62 64
    assert [n.pitch for n in M.tones(chords())] == [60, 64, 62, 60, 64, 67]
    with pytest.raises(ValueError):
        M.tones(p, max_tones=0)


def test_mogren_measures_means_and_skips_empty_pieces():
    pieces = [melody(C_MAJOR), Piece(), chords(), piece([(0, 1, 35)], [])]
    pieces[3].tracks[0].is_drum = True  # only drums: no notes
    out = M.mogren_measures(pieces, lengths=(2, 3))
    assert out["pieces"] == 2.0 and out["skipped"] == 2.0
    assert out["polyphony"] == pytest.approx((0 + 2 / 3) / 2)
    assert out["tone_span"] == pytest.approx((12 + 7) / 2)  # chords: 60 .. 67
    assert out["scale_consistency"] == 1.0  # chords: C D E G, all in C major
    assert set(out) == {"polyphony", "scale_consistency", "tone_span", "repetitions_2",
                        "repetitions_3", "pieces", "skipped"}
    assert M.piece_measures(chords())["polyphony"] == pytest.approx(2 / 3)
    empty = M.mogren_measures([Piece()])
    assert empty["pieces"] == 0.0 and empty["skipped"] == 1.0
    assert math.isnan(empty["polyphony"]) and math.isnan(empty["repetitions_3"])
    assert math.isnan(M.scale_consistency(Piece())) and math.isnan(M.polyphony(Piece()))


# --- diversity -----------------------------------------------------------------------


def test_feature_matrix_default_and_named():
    assert all(F.FEATURES[n].kind == "scalar" for n in D.DEFAULT_FEATURES)
    pieces = [melody(C_MAJOR), melody(C_MAJOR), chords()]
    m = D.feature_matrix(pieces)
    assert m.shape == (3, len(D.DEFAULT_FEATURES))
    np.testing.assert_array_equal(m[0], m[1])
    assert not np.array_equal(m[0], m[2])
    named = D.feature_matrix(pieces, ["pitch_range", "scale_consistency"])
    np.testing.assert_array_equal(named, [[12, 1], [12, 1], [7, 1]])
    assert D.feature_matrix([], ["pitch_range"]).shape == (0, 1)
    with pytest.raises(ValueError, match="histogram"):
        D.feature_matrix(pieces, ["pitch_class_histogram"])
    with pytest.raises(ValueError, match="unknown"):
        D.feature_matrix(pieces, ["no_such_feature"])


def test_mean_pairwise_distance_in_reference_units():
    same = np.array([[1.0, 5.0], [1.0, 5.0], [1.0, 5.0]])
    ref = np.array([[0.0, 0.0], [2.0, 4.0]])  # means 1, 2; standard deviations 1, 2
    assert D.mean_pairwise_distance(same, ref) == 0.0  # identical rows
    # [0, 0] and [2, 4] in reference units: (2, 2) apart -> sqrt(8)
    assert D.mean_pairwise_distance(ref, ref) == pytest.approx(math.sqrt(8))
    # the same rows measured by a reference twice as spread: half the distance
    assert D.mean_pairwise_distance(ref, 2 * ref) == pytest.approx(math.sqrt(8) / 2)
    # three rows 0, 1, 2 (std sqrt(2/3)): pair distances 1, 2, 1 -> (4/3) / sqrt(2/3)
    x = np.array([[0.0], [1.0], [2.0]])
    assert D.mean_pairwise_distance(x, x) == pytest.approx((4 / 3) / math.sqrt(2 / 3))
    assert math.isnan(D.mean_pairwise_distance(x[:1], x))  # one row: no pair


def test_mean_pairwise_distance_handles_nan_and_constant_columns():
    ref = np.array([[0.0, np.nan, 3.0, 0.0], [2.0, np.nan, 3.0, 2.0]])
    # column 1 all NaN and column 2 constant in the reference: left out; columns 0 and 3
    # have mean 1, std 1
    m = np.array([[0.0, 7.0, 1.0, 0.0], [2.0, 9.0, 8.0, np.nan]])
    # shared column 0 only: (1 - (-1))^2 = 4, scaled by 2 columns / 1 shared -> sqrt(8)
    assert D.mean_pairwise_distance(m, ref) == pytest.approx(math.sqrt(8))
    assert math.isnan(D.mean_pairwise_distance(m[:, 1:3], ref[:, 1:3]))  # no usable column
    with pytest.raises(ValueError):
        D.mean_pairwise_distance(m, ref[:, :2])


def test_distinct_openings():
    a = melody(C_MAJOR)
    assert D.distinct_openings([a, melody(C_MAJOR), a]) == 1  # identical pieces
    changed_late = melody(C_MAJOR[:4] + [50, 51, 52, 53])  # differs from beat 4 on
    assert D.distinct_openings([a, changed_late]) == 1
    changed_early = melody([61] + C_MAJOR[1:])
    assert D.distinct_openings([a, changed_late, changed_early]) == 2
    assert D.distinct_openings([a, changed_late], beats=5.0) == 2
    # onsets compared at 1/12 beat: a 1e-6 beat jitter is the same opening, a triplet
    # eighth later is not
    jitter = piece([(1e-6, 1, 60), (1, 2, 62)])
    assert D.opening(jitter) == ((0.0, 60), (1.0, 62))
    assert D.distinct_openings([piece([(0, 1, 60), (1, 2, 62)]), jitter]) == 1
    assert D.distinct_openings([piece([(1 / 3, 1, 60)]), piece([(0, 1, 60)])]) == 2
    # openings with no note (nothing starts before beat 4): one kind
    late1, late2 = piece([(5, 6, 60)]), piece([(6, 7, 70)])
    assert D.opening(late1) == ()
    assert D.distinct_openings([late1, late2, Piece()]) == 1
    # a chord's notes are sorted, so track order does not matter
    assert D.distinct_openings([piece([(0, 1, 64)], [(0, 1, 60)]),
                                piece([(0, 1, 60), (0, 1, 64)])]) == 1


def test_shuffled_keeps_rhythm_and_pitch_multiset():
    p = piece([(i * 0.5, i * 0.5 + 0.25 * (i % 3 + 1), q) for i, q in enumerate(C_MAJOR)],
              [(0, 2, 48), (2, 4, 43)],
              tempos=[Tempo(0.0, 90.0)], time_signatures=[TimeSignature(0.0, 3, 4)],
              title="t", key="C major", source_text="X:1", bar_lines=[0.0, 3.0])
    p.tracks[0].notes[0] = Note(0.0, 0.25, 60, velocity=30)
    drums = Track(notes=[Note(0, 1, 36), Note(1, 2, 38)], is_drum=True, program=0)
    p.tracks.append(drums)
    before = p.to_dict()
    s = D.shuffled(p, np.random.default_rng(0))
    assert p.to_dict() == before  # the original is untouched
    assert sorted(n.pitch for n in s.notes) == sorted(n.pitch for n in p.notes)
    for old, new in zip(p.tracks, s.tracks, strict=True):
        assert [(n.start, n.end, n.velocity) for n in new.notes] == \
               [(n.start, n.end, n.velocity) for n in old.notes]
        assert (new.program, new.is_drum, new.name) == (old.program, old.is_drum, old.name)
    assert s.tracks[2].notes == drums.notes  # drums kept as they were
    assert [n.pitch for n in s.notes] != [n.pitch for n in p.notes]  # this seed moves some
    assert (s.tempos, s.time_signatures, s.title, s.key, s.bar_lines) == \
           (p.tempos, p.time_signatures, p.title, p.key, p.bar_lines)
    assert s.source_text == ""
    again = D.shuffled(p, np.random.default_rng(0))
    assert again.to_dict() == s.to_dict()  # the generator decides the permutation
    # shuffling a scale keeps its Mogren scale consistency and tone span
    assert M.scale_consistency(s) == M.scale_consistency(p)
    assert M.tone_span(s) == M.tone_span(p)


def test_no_torch_import():
    code = ("import sys; import tunesmith.evaluation.mogren, tunesmith.evaluation.diversity;"
            " sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
