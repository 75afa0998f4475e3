"""Per-piece features (tunesmith.evaluation.features): each on a tiny hand-made piece with
its value computed by hand in the comment beside the assertion; the FEATURES table's
shapes and n/a rules; and, when MusPy is installed, agreement with MusPy's own metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.evaluation import features as F
from tunesmith.music import Note, Piece, TimeSignature, Track

C_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def piece(notes, ts=(4, 4), bar_lines=(), key="") -> Piece:
    """notes: (start, end, pitch) triples, or lists of them for several tracks."""
    tracks = notes if notes and isinstance(notes[0], list) else [notes]
    return Piece(tracks=[Track(notes=[Note(s, e, p) for s, e, p in t]) for t in tracks],
                 time_signatures=[TimeSignature(0.0, *ts)] if ts else [],
                 bar_lines=list(bar_lines), key=key)


def scale() -> Piece:
    """C4 D E F G A B C5 in quarter notes, 4/4: two bars."""
    return piece([(i, i + 1, p) for i, p in enumerate(C_SCALE)])


# --- pitch ---------------------------------------------------------------------------


def test_pitch_counts_and_range():
    p = scale()
    assert F.pitch_range(p) == 12  # 72 - 60
    assert F.n_pitches_used(p) == 8  # eight different MIDI numbers
    assert F.n_pitch_classes_used(p) == 7  # C appears twice (60, 72)


def test_entropies():
    p = scale()
    # eight pitches once each: -8 * (1/8) log2(1/8) = 3 bits
    assert F.pitch_entropy(p) == pytest.approx(3.0)
    # C 2/8, six others 1/8: -(0.25 log2 0.25 + 6 * 0.125 log2 0.125) = 0.5 + 2.25 = 2.75
    assert F.pitch_class_entropy(p) == pytest.approx(2.75)
    # one pitch only: entropy 0
    assert F.pitch_class_entropy(piece([(0, 1, 60), (1, 2, 72)])) == 0.0


def test_pitch_class_histogram_is_duration_weighted():
    # C sounds 2 beats (60 and 72), D E F G A B 1 beat each, of 8 beats
    expected = np.zeros(12)
    expected[[0, 2, 4, 5, 7, 9, 11]] = [2, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(F.pitch_class_histogram(scale()), expected / 8)
    # a half note C and a quarter note G: 2/3 and 1/3 (mgeval weights by duration)
    h = F.pitch_class_histogram(piece([(0, 2, 60), (2, 3, 67)]))
    assert h[0] == pytest.approx(2 / 3) and h[7] == pytest.approx(1 / 3)


def test_pitch_class_transition_matrix():
    m = F.pitch_class_transition_matrix(scale())
    # seven steps C>D, D>E, E>F, F>G, G>A, A>B, B>C, each 1/7 of the total
    for a, b in [(0, 2), (2, 4), (4, 5), (5, 7), (7, 9), (9, 11), (11, 0)]:
        assert m[a, b] == pytest.approx(1 / 7)
    assert m.sum() == pytest.approx(1.0) and np.count_nonzero(m) == 7


def test_pitch_in_scale_rate_and_scale_consistency():
    p = scale()
    assert F.pitch_in_scale_rate(p, key="C major") == 1.0  # all eight notes diatonic
    assert F.pitch_in_scale_rate(p, key="G major") == 7 / 8  # F natural is not in G major
    assert F.pitch_in_scale_rate(p, key="D minor") == 7 / 8  # B natural is not in D minor
    assert F.pitch_in_scale_rate(p, key="D dorian") == 1.0  # D dorian = white keys
    p.key = "G major"  # Piece.key is used when no key is passed
    assert F.pitch_in_scale_rate(p) == 7 / 8
    assert F.scale_consistency(scale()) == 1.0
    chromatic = piece([(i, i + 1, 60 + i) for i in range(12)])
    # any major or minor scale holds 7 of the 12 chromatic notes
    assert F.scale_consistency(chromatic) == pytest.approx(7 / 12)


def test_intervals():
    p = scale()
    # |steps|: 2 2 1 2 2 2 1 -> mean 12 / 7
    assert F.average_interval(p) == pytest.approx(12 / 7)
    h = F.interval_histogram(p)
    assert h[1] == pytest.approx(2 / 7) and h[2] == pytest.approx(5 / 7)  # 2 semitones, 5 tones
    # a leap of 19 semitones goes in the last bin ("wider than an octave")
    h = F.interval_histogram(piece([(0, 1, 60), (1, 2, 79)]))
    assert h[13] == 1.0
    # the line is the highest note of each onset: C-E-G chord then D: line G -> D = 5
    assert F.average_interval(piece([(0, 1, 60), (0, 1, 64), (0, 1, 67), (1, 2, 62)])) == 5


# --- rhythm --------------------------------------------------------------------------


def test_counts_density_ioi():
    p = scale()
    assert F.note_count(p) == 8
    assert F.note_density(p) == 1.0  # 8 notes in 8 beats
    assert F.average_ioi(p) == 1.0  # onsets a beat apart
    # onsets 0, 0.5, 2 (a chord at 0 counts once): gaps 0.5 and 1.5, mean 1.0
    q = piece([(0, 0.5, 60), (0, 0.5, 64), (0.5, 2, 62), (2, 3, 60)])
    assert F.average_ioi(q) == 1.0
    assert F.note_density(q) == pytest.approx(4 / 3)  # 4 notes over 3 beats


def test_length_classes():
    # 16th, 8th, dotted quarter, half, 8th triplet, whole; 1/5 beat -> 16th; 8 beats -> whole
    cls = F.length_class(np.array([0.25, 0.5, 1.5, 2.0, 1 / 3, 4.0, 0.2, 8.0]))
    assert [F.LENGTH_NAMES[c] for c in cls] == [
        "16th", "8th", "dotted quarter", "half", "8th triplet", "whole", "16th", "whole"]


def test_note_length_and_ioi_histograms_and_transitions():
    # dotted quarter, eighth, half: lengths 1.5, 0.5, 2 beats; onsets 0, 1.5, 2
    p = piece([(0, 1.5, 60), (1.5, 2, 62), (2, 4, 64)])
    h = F.note_length_histogram(p)
    dq, e, half = (F.LENGTH_NAMES.index(n) for n in ("dotted quarter", "8th", "half"))
    assert h[dq] == h[e] == h[half] == pytest.approx(1 / 3)
    m = F.note_length_transition_matrix(p)
    assert m[dq, e] == m[e, half] == 0.5  # two transitions: dq > 8th, 8th > half
    ioi = F.ioi_histogram(p)  # gaps 1.5 and 0.5
    assert ioi[dq] == ioi[e] == 0.5
    t = F.ioi_transition_matrix(p)
    assert t[dq, e] == 1.0  # one transition between two gaps
    q = scale()
    quarter = F.LENGTH_NAMES.index("quarter")
    assert F.note_length_histogram(q)[quarter] == 1.0
    assert F.ioi_transition_matrix(q)[quarter, quarter] == 1.0


def test_empty_beat_rate():
    # notes in beat 0 and beat 3 of four beats: beats 1 and 2 are empty -> 2/4
    assert F.empty_beat_rate(piece([(0, 1, 60), (3, 3.5, 62)])) == 0.5
    # a note over beats 0-2.5 fills beats 0, 1, 2 of three -> 0
    assert F.empty_beat_rate(piece([(0, 2.5, 60)])) == 0.0
    assert F.empty_beat_rate(piece([(0, 1, 60)], ts=None)) == 0.0  # needs no meter


def test_groove_consistency():
    # bars 1 and 2 hit beats 1-4; bar 3 only beat 1: Hamming 0 then 3 (beats 2, 3, 4)
    # over 96 steps per 4/4 bar (24 per beat): 1 - (0 + 3) / (96 * 2) = 0.984375
    notes = [(b * 4 + i, b * 4 + i + 1, 60) for b in range(2) for i in range(4)]
    p = piece(notes + [(8, 12, 60)])
    assert F.groove_consistency(p) == pytest.approx(1 - 3 / 192)
    assert F.groove_consistency(scale()) == 1.0  # two identical rhythms
    assert math.isnan(F.groove_consistency(piece(notes, ts=None)))  # no bars: n/a
    assert math.isnan(F.groove_consistency(piece([(0, 1, 60)])))  # one bar: n/a


# --- texture -------------------------------------------------------------------------


def test_polyphony_and_rate():
    # C-E-G for 2 beats, then C alone for 2 beats, a rest, D for a beat (beat 5-6)
    p = piece([(0, 2, 60), (0, 2, 64), (0, 2, 67), (2, 4, 60), (5, 6, 62)])
    # sounding: 3 for 2 beats, 1 for 2, 0 for 1, 1 for 1 -> (6 + 2 + 1) / 5 beats with sound
    assert F.polyphony(p) == pytest.approx(9 / 5)
    # more than 2 pitches: 2 beats of 6
    assert F.polyphony_rate(p) == pytest.approx(2 / 6)
    assert F.polyphony_rate(p, threshold=0) == pytest.approx(5 / 6)  # anything sounding
    # the same pitch in two tracks counts once (a piano roll)
    unison = piece([[(0, 1, 60)], [(0, 1, 60)]])
    assert F.polyphony(unison) == 1.0


# --- the table -----------------------------------------------------------------------


def test_every_feature_has_the_shape_its_kind_says():
    p = piece([(i * 0.5, i * 0.5 + 0.5, p) for i, p in enumerate(C_SCALE * 2)],
              key="C major")
    for name, feat in F.FEATURES.items():
        v = feat.function(p)
        assert feat.name == name and feat.description
        if feat.kind == "scalar":
            assert isinstance(v, float), name
        else:
            assert np.ndim(v) == (1 if feat.kind == "histogram" else 2), name
            assert np.nansum(v) == pytest.approx(1.0), name


def test_no_notes_gives_nan_everywhere():
    empty = Piece(time_signatures=[TimeSignature(0, 4, 4)], bar_lines=[0.0, 4.0])
    for name, feat in F.FEATURES.items():
        v = feat.function(empty)
        if name == "note_count":
            assert v == 0.0  # a count is defined: zero notes
        else:
            assert np.isnan(v).all(), name


def test_needs_are_honoured():
    no_meter = piece([(i, i + 1, p) for i, p in enumerate(C_SCALE)], ts=None)
    assert not F.has(no_meter, "bars") and not F.has(no_meter, "time_signature")
    for feat in F.FEATURES.values():
        v = feat.function(no_meter)
        if feat.needs:
            assert np.isnan(v).all(), feat.name  # n/a, never guessed
    assert F.has(scale(), "bars") and not F.has(scale(), "bar_lines")


def test_single_note_piece():
    p = piece([(0, 1, 60)])
    assert F.pitch_range(p) == 0.0
    assert math.isnan(F.average_interval(p))  # no interval
    assert math.isnan(F.average_ioi(p))  # no gap between onsets
    assert np.isnan(F.pitch_class_transition_matrix(p)).all()


# --- against MusPy -------------------------------------------------------------------


def test_agrees_with_muspy():
    """The MusPy-defined features equal MusPy's own values on a random polyphonic piece
    whose notes end off the beat and whose last note ends inside a bar (where MusPy's
    empty_beat_rate and groove_consistency count as we do)."""
    muspy = pytest.importorskip("muspy")
    rng = np.random.default_rng(0)
    notes = []
    for beat in range(14):
        for _ in range(rng.integers(0, 4)):
            start = beat + rng.choice([0.0, 0.25, 0.5])
            notes.append((start, beat + rng.choice([0.75, 0.875]), int(rng.integers(48, 80))))
    notes.append((14.0, 14.5, 60))  # ends inside the fourth bar
    p = piece(notes)
    res = 24
    music = muspy.Music(resolution=res, tracks=[muspy.Track(notes=[
        muspy.Note(time=round(s * res), pitch=pt, duration=round((e - s) * res), velocity=64)
        for s, e, pt in notes])])
    pairs = {
        "pitch_range": muspy.pitch_range(music),
        "n_pitches_used": muspy.n_pitches_used(music),
        "n_pitch_classes_used": muspy.n_pitch_classes_used(music),
        "pitch_entropy": muspy.pitch_entropy(music),
        "pitch_class_entropy": muspy.pitch_class_entropy(music),
        "scale_consistency": muspy.scale_consistency(music),
        "polyphony": muspy.polyphony(music),
        "polyphony_rate": muspy.polyphony_rate(music),
        "empty_beat_rate": muspy.empty_beat_rate(music),
        "groove_consistency": muspy.groove_consistency(music, 4 * res),
    }
    for name, expected in pairs.items():
        assert F.FEATURES[name].function(p) == pytest.approx(float(expected)), name
    assert F.pitch_in_scale_rate(p, key="E minor") == pytest.approx(
        muspy.pitch_in_scale_rate(music, 4, "minor"))
