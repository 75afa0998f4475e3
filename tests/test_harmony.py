"""Keys, chords, cadences and tonic endings (tunesmith.evaluation.harmony) on tiny
hand-made pieces, with the expected values worked out by hand beside each assertion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.evaluation import harmony as H
from tunesmith.music import Note, Piece, TimeSignature, Track


def piece(notes, key="") -> Piece:
    return Piece(tracks=[Track(notes=[Note(s, e, p) for s, e, p in notes])],
                 time_signatures=[TimeSignature(0.0, 4, 4)], key=key)


def progression(*chords, beats=2.0, key="") -> Piece:
    """Block chords of ``beats`` each, one after another."""
    return piece([(i * beats, (i + 1) * beats, p) for i, ch in enumerate(chords) for p in ch],
                 key=key)


# C major: I, IV, V, vi, and V7, each as bass + three upper voices
I_ = (48, 64, 67, 72)  # C3 E4 G4 C5
IV = (53, 65, 69, 72)  # F3 F4 A4 C5
V_ = (55, 62, 67, 71)  # G3 D4 G4 B4
V7 = (55, 65, 67, 71)  # G3 F4 G4 B4
VI = (57, 64, 69, 72)  # A3 E4 A4 C5
I6 = (52, 60, 67, 72)  # E3 C4 G4 C5: C major with E in the bass


def test_parse_key_reads_music21_names():
    assert H.parse_key("D major") == H.Key(2, "major")
    assert H.parse_key("E minor") == H.Key(4, "minor")
    assert H.parse_key("F# dorian") == H.Key(6, "dorian")
    assert H.parse_key("B- major") == H.Key(10, "major")  # music21 writes flats as '-'
    assert H.parse_key("Bb minor") == H.Key(10, "minor")  # as tunesmith's readers write them
    assert H.parse_key("g minor") == H.Key(7, "minor")  # music21's analyze() lower case
    assert H.parse_key("C") == H.Key(0, "major")
    assert H.parse_key("A aeolian") == H.Key(9, "minor")
    assert H.parse_key("") is None and H.parse_key("H major") is None
    assert H.parse_key("C blues") is None
    assert H.Key(9, "dorian").scale == (9, 11, 0, 2, 4, 6, 7)  # A B C D E F# G


def test_abc_modes_arrive_as_names_parse_key_reads():
    from tunesmith.io.abc import tune_to_piece

    p = tune_to_piece("X:1\nM:4/4\nL:1/8\nK:ADor\nABcd efga|gfed cBA2|\n")
    assert p.key == "A dorian"
    assert H.resolve_key(p) == H.Key(9, "dorian")


def test_krumhansl_finds_c_major_in_the_scale():
    p = piece([(i, i + 1, q) for i, q in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])
    k = H.estimate_key(p)
    assert (k.tonic, k.mode) == (0, "major")
    # x = seconds per pitch class: C 2 beats (two Cs), D E F G A B one each
    x = np.array([2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=float)
    y = H.KK_MAJOR  # the C major profile, unrotated
    r = ((x - x.mean()) * (y - y.mean())).sum() / math.sqrt(
        ((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())  # Pearson's r
    assert k.correlation == pytest.approx(r)
    assert r == pytest.approx(0.9014, abs=1e-4)
    assert H.key_correlation(p) == pytest.approx(r)


def test_krumhansl_finds_a_minor():
    # A harmonic minor, A held longest: A B C D E F G# A
    pitches = [57, 59, 60, 62, 64, 65, 68, 69]
    p = piece([(i, i + (3 if i == 0 else 1), q) for i, q in enumerate(pitches)])
    k = H.estimate_key(p)
    assert (k.tonic, k.mode) == (9, "minor")


def test_resolve_key_prefers_the_argument_then_piece_key():
    p = piece([(0, 1, 60)], key="G major")
    assert H.resolve_key(p) == H.Key(7, "major")
    assert H.resolve_key(p, "D minor") == H.Key(2, "minor")
    with pytest.raises(ValueError, match="not a key name"):
        H.resolve_key(p, "nonsense")
    assert H.resolve_key(Piece()) is None


def test_chord_of_templates():
    def w(*pcs):
        v = np.zeros(12)
        v[list(pcs)] = 1
        return v

    assert H.chord_of(w(0, 4, 7)) == (0, "maj")  # C E G
    assert H.chord_of(w(9, 0, 4)) == (9, "min")  # A C E
    assert H.chord_of(w(7, 11, 2, 5)) == (7, "7")  # G B D F: all four in G7, no triad has F
    assert H.chord_of(w(11, 2, 5)) == (11, "dim")  # B D F
    # C and E only: C major (G missing) and A minor (A missing) both score 1 - 0.05;
    # the tie goes to the chord whose root is the bass
    assert H.chord_of(w(0, 4), bass=0) == (0, "maj")
    assert H.chord_of(w(0, 4), bass=9) == (9, "min")
    # with E in the bass neither root is the bass: the heavier root wins (C 0.5, A 0)
    assert H.chord_of(w(0, 4), bass=4) == (0, "maj")
    assert H.chord_of(np.zeros(12)) is None


def test_chords_merge_repeated_beats():
    cs = H.chords(progression(I_, IV, V_, I_))
    assert [(c.start, c.end, c.root, c.quality) for c in cs] == [
        (0, 2, 0, "maj"), (2, 4, 5, "maj"), (4, 6, 7, "maj"), (6, 8, 0, "maj")]


def test_cadences():
    # I IV V I in C: the last two chords are G (root on the 5th of C) then C -> authentic
    assert H.final_cadence(progression(I_, IV, V_, I_), "C major") == "V-I"
    assert H.final_cadence(progression(I_, IV, V7, I_), "C major") == "V-I"
    # I V IV I: F (4th degree) then C -> plagal
    assert H.final_cadence(progression(I_, V_, IV, I_), "C major") == "IV-I"
    # I IV V vi: deceptive, ends on A minor -> no cadence
    assert H.final_cadence(progression(I_, IV, V_, VI), "C major") == "none"
    # an inversion still counts: the root decides
    assert H.final_cadence(progression(I_, V_, I6), "C major") == "V-I"
    # a half close (I IV I V) ends on V: no cadence to the tonic
    assert H.final_cadence(progression(I_, IV, I_, V_), "C major") == "none"
    # judged in G major, G then C is I-IV, not a cadence
    assert H.cadence_ending(progression(I_, IV, V_, I_), "G major") == 0.0
    # without a key, the Krumhansl estimate (C major for these chords) decides
    assert H.cadence_ending(progression(I_, IV, V_, I_)) == 1.0
    assert H.cadence_ending(progression(I_, IV, V_, VI)) == 0.0
    # Piece.key is not used for cadences (key signatures name minor keys major)
    assert H.cadence_ending(progression(I_, IV, V_, I_, key="A minor")) == 1.0
    # C minor ending on C major (a Picardy third) after G: V-I
    i_minor = (48, 63, 67, 72)  # C3 Eb4 G4 C5
    assert H.final_cadence(progression(i_minor, V_, I_), "C minor") == "V-I"
    # ending on a diminished chord is no cadence
    vii = (59, 62, 65, 71)  # B3 D4 F4 B4
    assert H.final_cadence(progression(I_, V_, vii), "C major") == "none"
    with pytest.raises(ValueError, match="not a key name"):
        H.final_cadence(progression(I_, V_, I_), "nonsense")
    # one chord is no progression: undefined
    assert math.isnan(H.cadence_ending(progression(I_)))
    assert math.isnan(H.cadence_ending(Piece()))


def test_tonic_ending():
    melody = piece([(0, 1, 62), (1, 2, 66), (2, 3, 64), (3, 4, 62)])  # D F# E D
    assert H.final_bass(melody) == 62
    assert H.tonic_ending(melody, "D major") == 1.0  # last note D = tonic of D major
    assert H.tonic_ending(melody, "G major") == 0.0  # D is not G
    melody.key = "B minor"
    assert H.tonic_ending(melody) == 0.0  # Piece.key: B is the tonic
    # the lowest note sounding at the end: I6 has E in the bass -> not the tonic
    assert H.tonic_ending(progression(I_, V_, I6), "C major") == 0.0
    assert H.tonic_ending(progression(I_, V_, I_), "C major") == 1.0  # bass C3
    # a bass that stops before the end does not count: the lowest note still sounding
    p = piece([(0, 2, 48), (0, 4, 67)])  # C3 for two beats, G4 to the end
    assert H.final_bass(p) == 67 and H.tonic_ending(p, "C major") == 0.0
    assert math.isnan(H.tonic_ending(Piece()))
