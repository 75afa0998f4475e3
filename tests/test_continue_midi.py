"""What both MIDI continue families (continue-events over messages, continue-remi over REMI
tokens) do alike, as a user runs them: a primer's bars come back as they were and the
continuation follows in a style; without a primer, held-out openings; bad input is a
one-line error; attention pictures read only the bars each step read."""

import json

import numpy as np
import pytest

from tunesmith.io.midi import read_midi, write_midi

from .test_cli import assert_one_line_error, run_cli
from .test_continue_events import three_four


def test_train_then_continue_a_primer_in_a_style(capsys, midi_run, styled_folder, tmp_path):
    family, run = midi_run
    meta = json.loads((run / "best" / "tunesmith.json").read_text())
    assert meta["representation"]["styles"] == {"style": ["any", "march", "waltz"]}
    assert len(list((run / "samples").glob("*.mid"))) == 2
    primer = styled_folder / "waltz" / "w3.mid"
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", primer,
                         "--style", "march", "--bars", "3", "--num", "2", "--seed", "1",
                         "--out", tmp_path / "c", "--no-wav")
    assert rc == 0, err
    written = read_midi(tmp_path / "c" / "piece_01.mid")
    # a MIDI file keeps no bar lines: the primer's bars are its 3/4's, from beat 0, and
    # its first two (6 beats) come back as they were, at its tempo
    first = [(n.start, n.pitch) for n in read_midi(primer).notes if n.start < 6.0 - 1e-6]
    assert [(n.start, n.pitch) for n in written.notes if n.start < 6.0 - 1e-6] == first
    assert round(written.tempos[0].qpm) == 90
    # the primer's meter, three bars of it and no note past them
    assert [(t.numerator, t.denominator) for t in written.time_signatures] == [(3, 4)]
    assert written.end_beat <= 6.0 + 3 * 3.0 + 1e-6


@pytest.mark.parametrize("rest", [1, 3])
def test_a_primer_that_opens_with_a_rest_comes_back_where_it_was(capsys, midi_run, tmp_path,
                                                                 rest):
    from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

    _, run = midi_run
    notes = [Note(float(t), t + 1.0, 60 + (t * 5) % 12, 80) for t in range(rest, 12)]
    primer = tmp_path / "rest.mid"  # 4/4, a rest before the first note (a MIDI pickup)
    write_midi(Piece(tracks=[Track(notes=notes)], tempos=[Tempo(0.0, 100.0)],
                     time_signatures=[TimeSignature(0.0, 4, 4)]), primer)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", primer,
                         "--bars", "1", "--num", "1", "--seed", "2", "--out", tmp_path / "c",
                         "--no-wav")
    assert rc == 0, err
    written = read_midi(tmp_path / "c" / "piece_01.mid")
    first = [(n.start, n.pitch) for n in read_midi(primer).notes if n.start < 8.0 - 1e-6]
    assert [(n.start, n.pitch) for n in written.notes if n.start < 8.0 - 1e-6] == first
    assert [(t.beat, t.numerator, t.denominator) for t in written.time_signatures] == [
        (0.0, 4, 4)]  # its bars from beat 0, as the file's are
    assert written.end_beat <= 12.0 + 1e-6


def test_beam_search_and_openings_without_a_primer(capsys, midi_run, tmp_path):
    _, run = midi_run
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--beam", "2",
                         "--num", "2", "--out", tmp_path / "b", "--no-wav")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", "corpus",
                         "--num", "1", "--seed", "3", "--out", tmp_path / "c", "--no-wav")
    assert rc == 0, err
    assert len(list((tmp_path / "b").glob("*.mid"))) == 2
    assert len(list((tmp_path / "c").glob("*.mid"))) == 1


def test_bad_input_is_a_one_line_error(capsys, midi_run, styled_folder, tmp_path):
    family, run = midi_run
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--style", "jazz",
                         "--out", tmp_path / "x")
    assert_one_line_error(rc, err, "--style 'jazz' is not a style this model knows (march, "
                                   "waltz")
    short = tmp_path / "short.mid"
    write_midi(three_four(0, bars=0), short)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", short,
                         "--out", tmp_path / "y")
    assert_one_line_error(rc, err, "the primer has 1 bar; the model reads the first 2")
    silent = tmp_path / "silent.mid"
    late = three_four(4)
    for track in late.tracks:  # MIDI keeps no bar lines: bars of 3/4 from 0, two resting
        track.notes = [n for n in track.notes if n.start >= 6.0]
    write_midi(late, silent)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", silent,
                         "--out", tmp_path / "u")
    assert_one_line_error(rc, err, "first 2 bars hold no note")
    rc, _, err = run_cli(capsys, "train", "--family", family, "--preset", "debug",
                         "--corpus", f"all={styled_folder}", "--out", tmp_path / "z")
    assert_one_line_error(rc, err, "do not have two style labels", "--no-styles")
    rc, _, err = run_cli(capsys, "train", "--family", family, "--preset", "debug",
                         "--corpus", styled_folder / "march", "--out", tmp_path / "v")
    assert_one_line_error(rc, err, "12 usable pieces", "at least 20")
    rc, _, err = run_cli(capsys, "train", "--family", family, "--preset", "debug",
                         "--corpus", styled_folder, "--split", "time", "--out", tmp_path / "w")
    assert_one_line_error(rc, err, "split")
    rc, _, err = run_cli(capsys, "train", "--family", family, "--preset", "debug", "--corpus",
                         f"any={styled_folder / 'march'}", "--corpus",
                         f"waltz={styled_folder / 'waltz'}", "--out", tmp_path / "t")
    assert_one_line_error(rc, err, "a style is named 'any'", "rename")


def test_attention_of_a_continuation_spans_what_each_step_read(capsys, midi_run,
                                                               styled_folder, tmp_path):
    from tunesmith import app
    from tunesmith.families import get

    family, run = midi_run
    ckpt = app.load_model(run / "best")
    piece = read_midi(styled_folder / "waltz" / "w2.mid")
    w, row_bars, col_bars = get(family).source_attention(ckpt, piece, {})
    steps, cuts = ckpt.representation.split_piece(piece)
    assert w.shape == (len(steps) - cuts[2] + 1, len(steps) + 2)  # + the end marker
    assert np.allclose(w.sum(1), 1.0)
    assert (row_bars >= 2).all() and col_bars[0] == -1 and col_bars[-1] == -2
    # a row writing bar b reads only bars b - 2 and b - 1 (and the two markers)
    for r in range(0, len(w), 7):
        read = {int(col_bars[c]) for c in np.nonzero(w[r])[0]} - {-1, -2}
        assert read <= {row_bars[r] - 2, row_bars[r] - 1}, (r, read)
    rc, _, err = run_cli(capsys, "attention", "--model", run / "best",
                         styled_folder / "waltz" / "w2.mid", "--style", "waltz",
                         "--out", tmp_path / "a.png")
    assert rc == 0, err
    assert (tmp_path / "a.png").stat().st_size > 1000


def _compose(capsys, run, primer, out, *more):
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", primer,
                         "--bars", "1", "--num", "1", "--seed", "4", "--out", out, "--no-wav",
                         *more)
    assert rc == 0, err
    return read_midi(out / "piece_01.mid")


def test_a_pickup_tempo_changes_and_the_instrument_come_back(capsys, midi_run, tmp_path):
    from tunesmith.io.read import read_piece
    from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

    _, run = midi_run
    abc = tmp_path / "pickup.abc"  # a quarter-note pickup in 4/4
    abc.write_text("X:1\nT:pickup\nM:4/4\nL:1/4\nQ:1/4=100\nK:C\nG|c d e f|g a b c'|"
                   "c' b a g|f e d c|]\n")
    written = _compose(capsys, run, abc, tmp_path / "a")
    # a MIDI file writes the pickup as a short first meter, so its bar lines are the score's
    assert [(t.beat, t.numerator, t.denominator) for t in written.time_signatures] == [
        (0.0, 1, 4), (1.0, 4, 4)]
    # the two bars the model reads, the pickup and the first full bar, as they were
    first = [(n.start, n.pitch) for n in read_piece(abc).notes if n.start < 5.0 - 1e-6]
    assert [(n.start, n.pitch) for n in written.notes if n.start < 5.0 - 1e-6] == first
    assert written.end_beat <= 9.0 + 1e-6

    notes = [Note(float(t), t + 1.0, 67 + t % 5, 80) for t in range(12)]
    slower = tmp_path / "slower.mid"  # 3/4, 90 BPM, then 60 from its second bar; a violin
    write_midi(Piece(tracks=[Track(notes=notes, program=40)],
                     tempos=[Tempo(0.0, 90.0), Tempo(3.0, 60.0)],
                     time_signatures=[TimeSignature(0.0, 3, 4)]), slower)
    written = _compose(capsys, run, slower, tmp_path / "b")
    assert [(t.beat, round(t.qpm)) for t in written.tempos] == [(0.0, 90), (3.0, 60)]
    assert {t.program for t in written.tracks} == {40}


def test_a_primer_of_drums_alone_is_a_one_line_error(capsys, midi_run, tmp_path):
    from tunesmith.music import Note, Piece, Track

    _, run = midi_run
    drums = tmp_path / "drums.mid"
    write_midi(Piece(tracks=[Track(notes=[Note(float(t), t + 0.5, 36, 90) for t in range(24)],
                                   is_drum=True)]), drums)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--primer", drums,
                         "--out", tmp_path / "x")
    assert_one_line_error(rc, err, "drums.mid", "no pitched note")
