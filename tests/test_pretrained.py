"""The model that ships in the package, and the README's first command."""

import subprocess
import sys

import pytest

from tunesmith import families
from tunesmith.training.checkpoint import load_checkpoint

SHIPPED = families.pretrained_dir("abc")


def test_shipped_model_loads_with_its_recipe():
    ck = load_checkpoint(SHIPPED)
    assert ck.meta["family"] == "char_rnn"
    assert ck.meta["summary"]["best_valid"]["bits"] < 2.0
    recipe = (SHIPPED / "RECIPE.md").read_text()
    assert "tunesmith train" in recipe and "--seed" in recipe


def test_readme_compose_command(tmp_path):
    """`tunesmith compose --num 8`, as the README's first line runs it: the tunes land in
    compositions/001, and a second run in compositions/002."""
    out = tmp_path / "compositions" / "001"
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--num", "8",
                           "--seed", "0"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("8 tunes, ")
    n_valid = int(summary.split("tunes, ")[1].split(" valid")[0])
    assert n_valid >= 6  # the shipped model's validity rate is far above this (benchmarks/)
    assert len(list(out.glob("*.abc"))) == 8
    assert len(list(out.glob("*.mid"))) == n_valid
    from tunesmith.io.audio import fluidsynth_available

    if fluidsynth_available():
        assert len(list(out.glob("*.wav"))) == n_valid
    again = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--num", "1",
                            "--no-wav"], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.strip().endswith("compositions/002")
    assert len(list(out.glob("*.abc"))) == 8  # the first run's tunes are untouched


def shipped(family: str, arch: str, representation: str):
    """The family's shipped checkpoint, checked: its model, representation and recipe."""
    folder = families.pretrained_dir(family)
    ck = load_checkpoint(folder)
    assert ck.meta["family"] == arch and ck.representation.name == representation
    assert f"tunesmith train --family {family}" in (folder / "RECIPE.md").read_text()
    return ck


def composed(tmp_path, family: str, *length: str) -> list:
    """`tunesmith compose --family F --num 2 LENGTH --seed 0` in a fresh process (as a user
    runs it, offline): the pieces of its MIDI files, each beside its piano-roll PNG."""
    from tunesmith.io.midi import read_midi

    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--family", family,
                           "--num", "2", *length, "--out", str(tmp_path), "--seed", "0",
                           "--no-wav"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    mids = sorted(tmp_path.glob("*.mid"))
    assert len(mids) == 2 and all(m.with_suffix(".png").is_file() for m in mids)
    return [read_midi(m) for m in mids]


def test_shipped_events_model_composes_offline(tmp_path):
    shipped("events", "event_lstm", "events")
    for piece in composed(tmp_path, "events", "--seconds", "8"):
        # 8 s, then up to 8 beats (4 s) to end on a cadence, and a beat (0.5 s) held
        assert len(piece.notes) > 10 and 7.5 <= piece.duration_seconds <= 12.5


def test_shipped_pianoroll_model_composes_offline(tmp_path):
    shipped("pianoroll", "rnn_nade", "pianoroll")
    for piece in composed(tmp_path, "pianoroll", "--seconds", "8"):
        assert len(piece.notes) > 10 and piece.duration_seconds <= 12.5  # as above
        assert max(len([n for n in piece.notes if n.start <= t < n.end])  # polyphony
                   for t in (n.start for n in piece.notes)) >= 2


def test_shipped_remi_model_composes_offline(tmp_path):
    """Four bars (and up to 8 beats to end on a cadence), every onset on its bar's grid."""
    ck = shipped("remi", "transformer", "remi")
    longest = float(ck.representation.meter_sizes()[0].max())  # a bar, in beats
    for piece in composed(tmp_path, "remi", "--bars", "4"):
        assert len(piece.notes) > 10 and piece.end_beat <= 4 * longest + 8 + 1
        assert all((n.start * 8) % 1 == 0 for n in piece.notes)  # REMI's 8 positions a beat


@pytest.mark.parametrize("family", ["events", "remi"])
def test_a_primer_longer_than_seconds_is_refused_not_given_back(capsys, tmp_path, family):
    from tunesmith.io.midi import write_midi
    from tunesmith.music import Note, Piece, Track

    from .test_cli import assert_one_line_error, run_cli

    primer = tmp_path / "long.mid"  # 40 beats of quarter-note pairs: 20 s at 120 qpm
    write_midi(Piece(tracks=[Track(notes=[Note(i * 0.5, i * 0.5 + 0.5, 60 + i % 12, 80)
                                          for i in range(80)])]), primer)
    rc, _, err = run_cli(capsys, "compose", "--family", family, "--primer", primer,
                         "--primer-len", 600, "--seconds", 8, "--num", 1, "--no-wav",
                         "--out", tmp_path / "out")
    assert_one_line_error(rc, err, "--seconds is 8, but the primer already lasts",
                          "primer included")
    assert not (tmp_path / "out").exists()
