"""Form (tunesmith.evaluation.form) and the written bar lines it reads (Piece.bar_lines,
filled by io.m21.score_to_piece), on tiny hand-made pieces with values worked out by hand
beside each assertion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tunesmith.evaluation import form
from tunesmith.music import Note, Piece, TimeSignature, Track


def piece(notes, ts=(4, 4), bar_lines=()) -> Piece:
    tracks = notes if notes and isinstance(notes[0], list) else [notes]
    return Piece(tracks=[Track(notes=[Note(s, e, p) for s, e, p in t]) for t in tracks],
                 time_signatures=[TimeSignature(0.0, *ts)] if ts else [],
                 bar_lines=list(bar_lines))


def bars_of(*bars, length=4.0):
    """Consecutive bars of (offset in bar, duration, pitch) notes -> (start, end, pitch)."""
    return [(i * length + o, i * length + o + d, p) for i, bar in enumerate(bars)
            for o, d, p in bar]


# Four bars of an "A" tune and four of a "B", in quarter and eighth notes (4/4)
A1 = [(0, 1, 62), (1, 1, 66), (2, 1, 69), (3, 1, 66)]
A2 = [(0, 0.5, 67), (0.5, 0.5, 69), (1, 1, 71), (2, 2, 67)]
A3 = [(0, 1, 66), (1, 1, 64), (2, 1, 62), (3, 1, 64)]
A4 = [(0, 2, 66), (2, 2, 62)]  # first ending
A4b = [(0, 4, 62)]  # second ending
B1 = [(0, 0.5, 74), (0.5, 0.5, 73), (1, 0.5, 71), (1.5, 0.5, 69), (2, 2, 71)]
B2 = [(0, 1.5, 69), (1.5, 0.5, 67), (2, 2, 66)]
B3 = [(0, 0.5, 64), (0.5, 0.5, 66), (1, 1, 67), (2, 1, 69), (3, 1, 71)]
B4 = [(0, 3, 74), (3, 1, 62)]
AABB = [A1, A2, A3, A4, A1, A2, A3, A4b, B1, B2, B3, B4, B1, B2, B3, B4]


# --- the grid ------------------------------------------------------------------------


def test_signature_bars():
    p = piece([(0, 9, 60)])
    np.testing.assert_array_equal(form.signature_bars(p), [0, 4, 8, 12])  # 4/4 to 9 -> 3 bars
    p = piece([(0, 7, 60)], ts=(6, 8))
    np.testing.assert_array_equal(form.signature_bars(p), [0, 3, 6, 9])  # 6/8 bar = 3 beats
    # 4/4 for two bars, then 3/4 from beat 8: bars end at 4, 8, 11, 14 (notes to 12)
    p = piece([(0, 12, 60)])
    p.time_signatures.append(TimeSignature(8.0, 3, 4))
    np.testing.assert_array_equal(form.signature_bars(p), [0, 4, 8, 11, 14])
    # a change in mid-bar cuts the bar there: 4/4, then 2/4 at beat 6
    p = piece([(0, 8, 60)])
    p.time_signatures.append(TimeSignature(6.0, 2, 4))
    np.testing.assert_array_equal(form.signature_bars(p), [0, 4, 6, 8])
    assert form.signature_bars(piece([(0, 4, 60)], ts=None)) is None  # no 4/4 assumed
    assert form.bar_bounds(piece([(0, 4, 60)], ts=None)) is None


def test_bar_bounds_prefer_written_bar_lines():
    p = piece([(0, 8, 60)], bar_lines=[0, 1, 5, 8])
    np.testing.assert_array_equal(form.bar_bounds(p), [0, 1, 5, 8])
    np.testing.assert_array_equal(form.beat_bounds(p), np.arange(9))


# --- written bar lines ---------------------------------------------------------------


def test_piece_dict_keeps_bar_lines_and_reads_old_dicts():
    p = piece([(0, 1, 60)], bar_lines=[0.0, 0.5, 4.5])
    d = json.loads(json.dumps(p.to_dict()))
    assert Piece.from_dict(d) == p and Piece.from_dict(d).bar_lines == [0.0, 0.5, 4.5]
    del d["bar_lines"]  # written before the field existed
    assert Piece.from_dict(d).bar_lines == []


def test_abc_bar_lines_show_short_bars():
    from tunesmith.io.abc import tune_to_piece

    # bars of 7, 8, 6 and 8 eighths in 4/4: 3.5, 4, 3 and 4 beats
    p = tune_to_piece("X:1\nM:4/4\nL:1/8\nK:D\nDEFG ABc|dcBA GFED|DEFG AB|d8|]\n")
    assert p.bar_lines == [0.0, 3.5, 7.5, 10.5, 14.5]
    assert form.bar_length_match_rate(p) == 0.5  # 2 of 4 bars are 4 beats long
    assert form.meter_consistent(p) == 1.0  # 4 beats: 2 bars; 3.5 and 3: one each
    # a pickup and repeats, as played: D | A A | B B with A = GAB cde | dcB AGF and
    # B = gfe dcB | AGF G2 (2.5 beats): 0.5, 3, 3, 3, 3, 3, 2.5, 3, 2.5
    p = tune_to_piece("X:1\nM:6/8\nL:1/8\nK:G\nD|:GAB cde|dcB AGF:|\n|:gfe dcB|AGF G2:|\n")
    assert p.bar_lines == [0.0, 0.5, 3.5, 6.5, 9.5, 12.5, 15.5, 18.0, 21.0, 23.5]
    assert form.bar_length_match_rate(p) == pytest.approx(6 / 9)  # all but 0.5, 2.5, 2.5
    assert form.meter_consistent(p) == 1.0
    # music21 builds no measures for some short tunes: no bar lines, so n/a (not guessed)
    p = tune_to_piece("X:1\nM:6/8\nL:1/8\nK:G\n|:GAB cde|dcB AGF:|\n")
    assert p.bar_lines == [] and math.isnan(form.bar_length_match_rate(p))


def test_meter_consistency():
    # three bars of 3.5 beats and one of 4 in 4/4: 1 of 4 matches, the mode is 3.5
    p = piece([(0, 14, 60)], bar_lines=[0, 3.5, 7, 10.5, 14.5])
    assert form.bar_length_match_rate(p) == 0.25
    assert form.meter_consistent(p) == 0.0
    # two right, two of other lengths (3 and 5): the signature's length is the mode
    p = piece([(0, 16, 60)], bar_lines=[0, 4, 7, 12, 16])
    assert form.meter_consistent(p) == 1.0
    # a tie between the signature's length and another is not "matches"
    p = piece([(0, 14, 60)], bar_lines=[0, 4, 7, 11, 14])
    assert form.meter_consistent(p) == 0.0
    # each bar is judged by the signature in force at its start: 4/4 then 3/4 from 4
    p = piece([(0, 10, 60)], bar_lines=[0, 4, 7, 10])
    p.time_signatures.append(TimeSignature(4.0, 3, 4))
    assert form.bar_length_match_rate(p) == 1.0
    # without written bar lines (the signature's grid matches by construction): n/a
    assert math.isnan(form.bar_length_match_rate(piece([(0, 8, 60)])))
    assert math.isnan(form.meter_consistent(piece([(0, 8, 60)], ts=None, bar_lines=[0, 4, 8])))


# --- repetition ----------------------------------------------------------------------


def test_bar_repetition():
    p = piece(bars_of(*AABB))
    # bars 5, 6, 7 repeat 1, 2, 3 (8 is the second ending) and 13-16 repeat 9-12: 7 of 16
    assert form.bar_repetition_rate(p) == 7 / 16
    # C D E F | D E F# G (the same, a tone up) | C D E F
    up = [[(0, 1, 60), (1, 1, 62), (2, 1, 64), (3, 1, 65)],
          [(0, 1, 62), (1, 1, 64), (2, 1, 66), (3, 1, 67)]]
    p = piece(bars_of(up[0], up[1], up[0]))
    assert form.bar_repetition_rate(p) == pytest.approx(1 / 3)  # bar 3 = bar 1
    assert form.transposed_bar_repetition_rate(p) == pytest.approx(2 / 3)  # and bar 2
    # empty bars are not counted: C D E F | (rest) | C D E F -> 1 of 2 bars with notes
    p = piece(bars_of(up[0], [], up[0]))
    assert form.bar_repetition_rate(p) == 0.5
    assert math.isnan(form.bar_repetition_rate(piece(bars_of(*AABB), ts=None)))


def test_longest_repeated_span():
    # C D E F C D E F G in quarters: "C D E F" (4 beats) twice, side by side
    p = piece([(i, i + 1, q) for i, q in enumerate([60, 62, 64, 65, 60, 62, 64, 65, 67])],
              ts=None)
    assert form.longest_repeated_span(p) == 4.0
    # five quarter-note Cs: the two copies may not overlap -> C C | C C = 2 beats
    assert form.longest_repeated_span(piece([(i, i + 1, 60) for i in range(5)])) == 2.0
    # a scale repeats nothing
    assert form.longest_repeated_span(
        piece([(i, i + 1, 60 + i) for i in range(8)])) == 0.0
    # AABB: A (bars 1-3, 12 beats) and B (16 beats) each come twice; B's copies are apart
    assert form.longest_repeated_span(piece(bars_of(*AABB))) == 16.0
    assert math.isnan(form.longest_repeated_span(Piece()))


def test_self_similarity():
    # bar 1: C on 1, D on 2; bar 2: C on 1, E on 2; bar 3 empty; bar 4 = bar 1
    b1, b2 = [(0, 1, 60), (1, 1, 62)], [(0, 1, 60), (1, 1, 64)]
    s = form.self_similarity(piece(bars_of(b1, b2, [], b1)))
    assert s.shape == (4, 4) and np.all(np.diag(s) == 1)
    assert s[0, 1] == pytest.approx(1 / 3)  # {C@0, D@1} vs {C@0, E@1}: 1 shared of 3
    assert s[0, 2] == 0.0 and s[0, 3] == 1.0 and s[1, 0] == s[0, 1]
    assert form.self_similarity(piece(bars_of(b1), ts=None)) is None


def test_section_structure():
    assert form.section_structure(piece(bars_of(*AABB))) == "AABB"
    assert form.aabb(piece(bars_of(*AABB))) == 1.0
    # A B A B
    abab = [A1, A2, A3, A4, B1, B2, B3, B4] * 2
    assert form.section_structure(piece(bars_of(*abab))) == "ABAB"
    assert form.aabb(piece(bars_of(*abab))) == 0.0
    # the B's differing in two of four bars are not the same section
    abbc = [A1, A2, A3, A4, B1, B2, B3, B4, B1, B2, A3, A4, A4, A4, A4, A4]
    assert form.section_structure(piece(bars_of(*abbc))) == "ABCD"
    # 6 bars do not split into four equal sections
    assert form.section_structure(piece(bars_of(*AABB[:6]))) == ""
    assert form.aabb(piece(bars_of(*AABB[:6]))) == 0.0
    assert form.section_structure(piece(bars_of(*AABB), ts=None)) is None
    assert math.isnan(form.aabb(piece(bars_of(*AABB), ts=None)))


def test_section_structure_with_written_pickups():
    # |: (pickup) | 3 bars | short bar :| played twice, then the same for B:
    # written bars 1, 4, 4, 4, 3 | 1, 4, 4, 4, 3 | ... ; the pickup is left out and each
    # short bar joins the next pickup, giving 4 bars per section
    def section(bars, last):
        pick = [(0, 1, 69)]
        return [pick, *bars, last]

    a = section([A1, A2, A3], [(0, 3, 62)])
    b = section([B1, B2, B3], [(0, 3, 74)])
    written = a + a + b + b
    lengths = [1, 4, 4, 4, 3] * 4
    starts = np.concatenate([[0], np.cumsum(lengths)])
    notes = [(starts[i] + o, starts[i] + o + d, p) for i, bar in enumerate(written)
             for o, d, p in bar]
    p = piece(notes, bar_lines=starts.tolist())
    assert len(form.counted_bars(p)) == 16  # 20 written, less the pickup, 3 pairs joined
    assert form.section_structure(p) == "AABB"
    assert form.misfit_bars(p) == 0
    # the B part's last bar a beat short: it no longer completes the pickup after it
    lengths = [1, 4, 4, 4, 3] * 2 + [1, 4, 4, 4, 2] * 2
    b_short = section([B1, B2, B3], [(0, 2, 74)])
    starts = np.concatenate([[0], np.cumsum(lengths)])
    notes = [(starts[i] + o, starts[i] + o + d, p) for i, bar in enumerate(a + a + b_short
                                                                          + b_short)
             for o, d, p in bar]
    p = piece(notes, bar_lines=starts.tolist())
    assert form.misfit_bars(p) == 2  # the first B's 2 and the pickup after it (the last aside)
    assert form.section_structure(p) == ""
    assert form.misfit_bars(piece(bars_of(*AABB), ts=None)) is None


# --- time ----------------------------------------------------------------------------


def test_grid_onset_rate():
    # onsets 0, 0.5, 1, 4/3, 5/3, 2: on the eighth grid 0, 0.5, 1, 2 -> 4 of 6
    p = piece([(0, 0.5, 60), (0.5, 1, 62), (1, 4 / 3, 64), (4 / 3, 5 / 3, 65),
               (5 / 3, 2, 67), (2, 3, 69), (2, 3, 60)])  # a chord at 2 is one onset
    assert form.grid_onset_rate(p) == pytest.approx(4 / 6)
    # on the triplet-eighth grid: 0, 1, 4/3, 5/3, 2 -> 5 of 6
    assert form.grid_onset_rate(p, grid=1 / 3) == pytest.approx(5 / 6)
    assert math.isnan(form.grid_onset_rate(Piece()))


def test_register_drift():
    # C major scale over 8 beats; thirds of 8/3 beats: onsets 0, 1, 2 (C D E, mean 62)
    # and 6, 7 (B C, mean 71.5): drift 9.5 semitones, upwards
    scale = [(i, i + 1, q) for i, q in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    assert form.register_drift(piece(scale)) == 9.5
    assert form.register_drift(piece(scale), signed=True) == 9.5
    down = [(i, i + 1, q) for i, q in enumerate([72, 71, 69, 67, 65, 64, 62, 60])]
    # first third 72 71 69 (mean 212/3), last third 62 60 (mean 61): 61 - 212/3 = -29/3
    assert form.register_drift(piece(down), signed=True) == pytest.approx(-29 / 3)
    # a single note: the first third holds it, the last third no onset: n/a
    assert math.isnan(form.register_drift(piece([(0, 4, 60)])))


def test_longest_held_note():
    assert form.longest_held_note(piece([(0, 1, 60), (1, 4.5, 62), (2, 3, 67)])) == 3.5
    assert math.isnan(form.longest_held_note(Piece()))


def test_pile_up_rate():
    # five pitches for 1 beat, then four for 3 beats: >= 5 sounding 1 beat of 4
    five = [(0, 1, p) for p in (48, 55, 60, 64, 67)]
    four = [(1, 4, p) for p in (48, 55, 60, 64)]
    assert form.pile_up_rate(piece(five + four)) == 0.25
    # a sixth voice doubling a pitch already sounding does not make it 5 + 1
    p = piece([four + [(1, 4, 67)], [(1, 4, 67)]])
    assert form.pile_up_rate(p) == 0.75  # beats 1-4 of 4: five distinct pitches
    assert form.pile_up_rate(p, min_notes=6) == 0.0
    assert math.isnan(form.pile_up_rate(Piece()))


def test_sounding_profile_merges_overlaps_of_one_pitch():
    # C 0-2 and C 1-3 overlap (two notes, one key), E 2-4
    edges, counts = form.sounding_profile(piece([(0, 2, 60), (1, 3, 60), (2, 4, 64)]))
    np.testing.assert_array_equal(edges, [0, 2, 3, 4])
    np.testing.assert_array_equal(counts, [1, 2, 1])
