"""The same command with the same seed writes the same music, release after release: the
three shipped models' compositions (ABC text, the notes of every MIDI file) and the
Boulanger NLL of a tiny run, against figures recorded by an earlier version
(``tests/golden/outputs.json``; ``python -m tests.test_golden`` writes them anew, which
is only right when a change of the music is intended and said in the commit)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tunesmith.io import abc2midi

GOLDEN = Path(__file__).parent / "golden" / "outputs.json"

COMMANDS = {
    "abc": ["compose", "--num", "4", "--seed", "11", "--no-wav"],
    "events": ["compose", "--family", "events", "--num", "2", "--seed", "11",
               "--max-len", "150", "--no-wav"],
    "events_hot": ["compose", "--family", "events", "--num", "2", "--seed", "5",
                   "--max-len", "80", "--temperature", "note=1.3,time=0.7", "--top-k", "20",
                   "--no-wav"],
    "pianoroll": ["compose", "--family", "pianoroll", "--num", "2", "--seed", "11",
                  "--max-len", "48", "--no-wav"],
}


def fixture_rolls(seed: int = 0) -> dict:
    """A tiny benchmark file: a few sequences of a four-voice texture walking by steps."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", 12), ("valid", 3), ("test", 3)):
        seqs = []
        for _ in range(n):
            voices = rng.integers(48, 72, size=4)
            frames = []
            for _ in range(int(rng.integers(20, 40))):
                voices = np.clip(voices + rng.integers(-2, 3, size=4), 36, 84)
                frames.append(sorted({int(v) for v in voices}))
            seqs.append(frames)
        out[split] = seqs
    return out


def produce(tmp: Path) -> dict:
    from tunesmith.cli import main
    from tunesmith.io.midi import read_midi

    result = {}
    for name, argv in COMMANDS.items():
        out = tmp / name
        assert main([*argv, "--out", str(out)]) == 0
        files = {}
        for f in sorted(out.iterdir()):
            if f.suffix == ".abc":
                files[f.name] = f.read_text()
            elif f.suffix == ".mid":
                files[f.name] = [[round(n.start, 6), round(n.end, 6), n.pitch, n.velocity]
                                 for n in read_midi(f).notes]
        result[name] = files
    data = tmp / "boulanger"
    data.mkdir()
    (data / "jsb_chorales.json").write_text(json.dumps(fixture_rolls()))
    bench = tmp / "bench"
    assert main(["benchmark", "boulanger", "--data", str(data), "--datasets", "jsb",
                 "--arch", "rnn_nade,bernoulli_rnn", "--preset", "debug", "--steps", "12",
                 "--out", str(bench), "--no-progress"]) == 0
    import csv

    with open(bench / "results.csv") as f:
        result["boulanger"] = {r["model"]: float(r["test_nll"]) for r in csv.DictReader(f)}
    return result


@pytest.mark.skipif(not abc2midi.available(), reason="the ABC outputs were recorded with "
                    "abc2midi (apt-get install abcmidi)")
def test_the_same_command_and_seed_write_the_same_music(tmp_path, capsys):
    want = json.loads(GOLDEN.read_text())
    got = produce(tmp_path)
    capsys.readouterr()
    for name in COMMANDS:
        assert got[name] == want[name], name
    for arch, nll in want["boulanger"].items():
        assert got["boulanger"][arch] == pytest.approx(nll, abs=2e-4), arch


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(produce(Path(tmp)), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
