"""The musical-evaluation report as a user runs it: `tunesmith analyze` on folders of files,
`tunesmith evaluate --music` on a model, and what bad input gives."""

from __future__ import annotations

import json
import math

import pytest

from tunesmith import app
from tunesmith.evaluation.report import PieceSet, compare_sets
from tunesmith.io.midi import write_midi
from tunesmith.music import Note, Piece, TimeSignature, Track

from .conftest import write_book
from .test_cli import assert_one_line_error, run_cli


def scale_piece(shift: int, bars: int = 4) -> Piece:
    """Quarter notes up a C major scale, in 4/4, transposed by ``shift``."""
    steps = [0, 2, 4, 5, 7, 9, 11, 12]
    notes = [Note(float(i), float(i + 1), 60 + shift + steps[i % 8]) for i in range(4 * bars)]
    return Piece(tracks=[Track(notes=notes)], time_signatures=[TimeSignature(0.0, 4, 4)])


def midi_folder(tmp_path, name: str, shifts) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for i, s in enumerate(shifts):
        write_midi(scale_piece(s, bars=3 + i % 3), folder / f"{name}_{i}.mid")
    return str(folder)


def test_analyze_compares_two_folders_and_writes_the_report(tmp_path, capsys):
    mine = midi_folder(tmp_path, "mine", range(6))
    real = midi_folder(tmp_path, "real", range(0, 12, 2))
    rc, out, _ = run_cli(capsys, "analyze", mine, "--real", real, "--out", tmp_path / "r",
                         "--no-progress")
    assert rc == 0 and "pitch_class_entropy" in out
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["features.csv", "report.html", "summary.json"]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["generated"]["pieces"] == 6 and summary["real"]["pieces"] == 6
    rows = {r["name"]: r for r in summary["features"]}
    # every piece is a plain scale in 4/4: the same bar length as the time signature
    assert rows["note_count"]["generated"] == pytest.approx((12 + 16 + 20) * 2 / 6)
    assert rows["grid_onset_rate"]["generated"] == 1.0
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.count("data:image/png;base64,") > 30 and "http" not in page.split("<body>")[1]
    csv_lines = (tmp_path / "r" / "features.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 12 and csv_lines[0].startswith("set,piece,pitch_range")


def test_analyze_compares_with_a_benchmark_files_test_split(tmp_path, capsys):
    mine = midi_folder(tmp_path, "mine", range(4))
    chord = [60, 64, 67]
    bench = tmp_path / "jsb_chorales.json"  # JSB: one frame per quarter note
    bench.write_text(json.dumps({"train": [[chord] * 8], "valid": [[chord] * 8],
                                 "test": [[chord] * 8, [[62]] * 4 + [[]] * 2 + [[65]] * 2,
                                          [[]] * 4]}))
    rc, out, err = run_cli(capsys, "analyze", mine, "--real", bench, "--out", tmp_path / "r",
                           "--no-progress")
    assert rc == 0, err
    assert ("jsb_chorales.json: its test split, 2 pieces (1 silent, skipped), read as JSB "
            "Chorales at 1 frame(s) per quarter note") in out + err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["real"]["pieces"] == 2
    rows = {r["name"]: r for r in summary["features"]}
    assert rows["note_count"]["real"] == pytest.approx((3 + 2) / 2)  # a held chord; D, F
    # one frame a quarter note: the chord held 8 frames lasts 8 beats, D 4 beats
    assert rows["longest_held_note"]["real"] == pytest.approx((8 + 4) / 2)
    other = tmp_path / "mine.json"
    other.write_text(bench.read_text())
    rc, out, err = run_cli(capsys, "analyze", mine, "--real", other, "--out", tmp_path / "o",
                           "--no-progress")
    assert rc == 0 and "a name tunesmith does not know: the grid is assumed" in out + err
    report = tmp_path / "r" / "summary.json"  # a .json that is no benchmark file
    rc, _, err = run_cli(capsys, "analyze", mine, "--real", report, "--out", tmp_path / "x")
    assert_one_line_error(rc, err, f"{report}: not a Boulanger benchmark file (")


def test_analyze_reads_mixed_formats_and_skips_pieces_without_notes(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_midi(scale_piece(0), folder / "a.mid")
    write_midi(Piece(tracks=[Track()]), folder / "empty.mid")
    write_book(folder / "tunes.abc", 3)
    result = app.analyze([folder], options=app.AnalyzeOptions(out=str(tmp_path / "r")))
    assert len(result.generated.pieces) == 4  # one MIDI file and three tunes
    assert any("empty.mid" in s and "no notes" in s for s in result.generated.skipped)
    assert any("no real set" in n for n in result.notes)


def test_one_piece_cannot_make_a_distribution_and_says_so():
    one = PieceSet("generated", [scale_piece(0)], ["one"]).measure()
    real = PieceSet("real", [scale_piece(s) for s in range(4)], list("abcd")).measure()
    row = next(r for r in compare_sets(one, real) if r.name == "pitch_range")
    assert row.status == "n/a" and "needs" in row.reason and math.isnan(row.oa)


def test_a_feature_that_needs_a_time_signature_is_na_without_one():
    bare = [Piece(tracks=[Track(notes=[Note(float(i), i + 1.0, 60 + i) for i in range(8)])])
            for _ in range(4)]
    s = PieceSet("x", bare, list("abcd")).measure()
    row = next(r for r in compare_sets(s, s) if r.name == "bar_repetition_rate")
    assert row.status == "n/a" and row.n_generated == 0


@pytest.mark.parametrize("argv,fragment", [
    (["analyze", "{tmp}/nothing"], "no such file or folder"),
    (["analyze", "{tmp}"], "no music files"),
])
def test_bad_analyze_input_is_one_line(capsys, tmp_path, argv, fragment):
    rc, _, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in argv], "--out",
                         tmp_path / "report")
    assert_one_line_error(rc, err, fragment)


def test_music_report_of_a_trained_model(debug_run, tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "evaluate", "--music", "--model", debug_run / "best",
                         "--num", 4, "--draws", 2, "--out", tmp_path / "m", "--no-progress",
                         "--json", tmp_path / "figures" / "music.json")
    assert rc == 0 and "within the real-vs-real band" in out and "memorisation" in out
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert json.loads((tmp_path / "figures" / "music.json").read_text()) == summary
    assert summary["real"]["pieces"] == 4
    n = max(1, summary["generated"]["pieces"])  # those the debug model wrote readably
    assert summary["settings"]["band"] == (f"2 samples of {n} training "
                                           f"{'piece' if n == 1 else 'pieces'} (of 12)")
    assert summary["memorisation"]["unit"] == "characters"
    rows = {r["name"]: r for r in summary["features"]}
    # the fixture tunes are written bar by bar to their meter
    assert rows["bar_length_match_rate"]["real"] == pytest.approx(1.0)
    assert sum(summary["counts"].values()) == len(rows)


def test_likelihood_flags_and_music_flags_do_not_mix(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "evaluate", "--draws", 3)
    assert_one_line_error(rc, err, "--draws", "--music")
    rc, _, err = run_cli(capsys, "evaluate", "--music", "--splits", "test")
    assert_one_line_error(rc, err, "--splits", "not --music")


def test_a_music_report_of_a_model_whose_corpus_moved(tmp_path, capsys):
    """Said before any piece is composed; --corpus says where the corpus is now."""
    import shutil

    from tests.conftest import write_book

    (tmp_path / "tunes").mkdir()
    write_book(tmp_path / "tunes" / "book.abc", 40, seed=3)
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", tmp_path / "tunes",
                         "--out", tmp_path / "run", "--no-progress", "--samples", 0,
                         "--steps", 4)
    assert rc == 0, err
    shutil.move(tmp_path / "tunes", tmp_path / "moved")
    argv = ["evaluate", "--music", "--model", tmp_path / "run" / "best", "--num", 2,
            "--draws", 2, "--no-progress"]
    rc, out, err = run_cli(capsys, *argv, "--out", tmp_path / "m")
    assert_one_line_error(rc, err, "the corpus this model was trained on is not here",
                          "--corpus")
    assert "composing" not in out + err
    rc, _, err = run_cli(capsys, *argv, "--out", tmp_path / "m", "--corpus",
                         tmp_path / "moved")
    assert rc == 0, err
