"""The model that ships in the package, and the README's first command."""

import subprocess
import sys

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


def test_shipped_events_model_composes_offline(tmp_path):
    """`tunesmith compose --family events` works at once with the shipped event model."""
    shipped = families.pretrained_dir("events")
    ck = load_checkpoint(shipped)
    assert ck.meta["family"] == "event_lstm" and ck.representation.name == "events"
    assert "tunesmith train --family events" in (shipped / "RECIPE.md").read_text()
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--family", "events",
                           "--num", "2", "--seconds", "8", "--out", str(tmp_path), "--seed", "0",
                           "--no-wav"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    from tunesmith.io.midi import read_midi

    for f in sorted(tmp_path.glob("*.mid")):
        piece = read_midi(f)
        # 8 s, then up to 8 beats (4 s) to end on a cadence, and a beat (0.5 s) held
        assert len(piece.notes) > 10 and 7.5 <= piece.duration_seconds <= 12.5
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_shipped_pianoroll_model_composes_offline(tmp_path):
    """`tunesmith compose --family pianoroll` works at once with the shipped model."""
    shipped = families.pretrained_dir("pianoroll")
    ck = load_checkpoint(shipped)
    assert ck.representation.name == "pianoroll"
    assert "tunesmith train --family pianoroll" in (shipped / "RECIPE.md").read_text()
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--family",
                           "pianoroll", "--num", "2", "--seconds", "8", "--out", str(tmp_path),
                           "--seed", "0", "--no-wav"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    from tunesmith.io.midi import read_midi

    for f in sorted(tmp_path.glob("*.mid")):
        piece = read_midi(f)
        assert len(piece.notes) > 10 and piece.duration_seconds <= 12.5  # as above
        assert max(len([n for n in piece.notes if n.start <= t < n.end])  # polyphony
                   for t in (n.start for n in piece.notes)) >= 2
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_shipped_remi_model_composes_offline(tmp_path):
    """`tunesmith compose --family remi --bars 4` works at once with the shipped model:
    four bars (and up to 8 beats to end on a cadence), every onset on its bar's grid."""
    shipped = families.pretrained_dir("remi")
    ck = load_checkpoint(shipped)
    assert ck.meta["family"] == "transformer" and ck.representation.name == "remi"
    assert "tunesmith train --family remi" in (shipped / "RECIPE.md").read_text()
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--family", "remi",
                           "--num", "2", "--bars", "4", "--out", str(tmp_path), "--seed", "0",
                           "--no-wav"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    from tunesmith.io.midi import read_midi

    for f in sorted(tmp_path.glob("*.mid")):
        piece = read_midi(f)
        longest = float(ck.representation.meter_sizes()[0].max())  # a bar, in beats
        assert len(piece.notes) > 10 and piece.end_beat <= 4 * longest + 8 + 1
        assert all((n.start * 8) % 1 == 0 for n in piece.notes)  # REMI's 8 positions a beat
