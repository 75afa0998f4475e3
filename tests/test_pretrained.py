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
    """`tunesmith compose --num 8 --out compositions`, as the README's first line runs it."""
    out = tmp_path / "compositions"
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--num", "8", "--out",
                           str(out), "--seed", "0"], capture_output=True, text=True, timeout=300)
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
