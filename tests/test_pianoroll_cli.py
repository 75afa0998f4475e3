"""The piano-roll family as a user runs it: train on a benchmark-format file, compose,
evaluate, and the Boulanger benchmark on a slice."""

import json
import random

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.data.frames import FrameBatches, FrameWindows
from tunesmith.io.midi import read_midi

from .conftest import SHARED_DATA
from .test_cli import assert_one_line_error, run_cli


def chorale_like(rng: random.Random, frames: int) -> list[list[int]]:
    """Four voices moving by small steps around a chord: structure a model can learn."""
    voices = [48, 55, 64, 72]
    out = []
    for _ in range(frames):
        voices = [min(96, max(36, v + rng.choice([-2, -1, 0, 0, 1, 2]))) for v in voices]
        out.append(sorted(set(voices)))
    return out


def write_benchmark(path, n=(12, 4, 4), seed=0):
    rng = random.Random(seed)
    data = {s: [chorale_like(rng, rng.randint(20, 40)) for _ in range(k)]
            for s, k in zip(("train", "valid", "test"), n, strict=True)}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("boulanger")
    write_benchmark(root / "jsb_chorales.json")
    return root


@pytest.fixture(scope="module", params=["rnn_nade", "rnn_rbm"])
def pianoroll_run(request, tmp_path_factory, bench_dir):
    run = tmp_path_factory.mktemp("runs") / request.param
    rc = main(["train", "--family", "pianoroll", "--arch", request.param, "--preset", "debug",
               "--corpus", str(bench_dir / "jsb_chorales.json"), "--out", str(run),
               "--no-progress", "--samples", "1"])
    assert rc == 0
    return run


def test_train_writes_a_run_and_samples(pianoroll_run):
    config = json.loads((pianoroll_run / "config.json").read_text())
    assert config["family"] == "pianoroll" and config["arch"] in ("rnn_nade", "rnn_rbm")
    assert (pianoroll_run / "best" / "model.safetensors").is_file()
    assert list((pianoroll_run / "samples").glob("*.mid"))


def test_compose_writes_midi_png_and_keeps_argmax_monophonic(capsys, pianoroll_run, tmp_path):
    rc, out, _ = run_cli(capsys, "compose", "--model", pianoroll_run / "best", "--num", "2",
                         "--max-len", "24", "--mode", "argmax", "--gibbs-steps", "3",
                         "--seed", "1", "--no-wav", "--out", tmp_path)
    assert rc == 0 and "2 pieces" in out
    for mid in sorted(tmp_path.glob("*.mid")):
        piece = read_midi(mid)
        starts = [n.start for n in piece.notes]
        assert len(starts) == len(set(starts))  # one key per frame: a melody
        assert mid.with_suffix(".png").is_file()


def test_compose_from_a_primer_continues_it(capsys, pianoroll_run, tmp_path):
    from tunesmith.io.midi import write_midi
    from tunesmith.representations.pianoroll import PianoRoll

    rep = PianoRoll(steps_per_beat=1)
    primer = rep.decode(PianoRoll.from_lists([[60, 64, 67]] * 4 + [[62, 65, 69]] * 4))
    write_midi(primer, tmp_path / "primer.mid")
    rc, _, _ = run_cli(capsys, "compose", "--model", pianoroll_run / "best", "--num", "1",
                       "--max-len", "8", "--primer", tmp_path / "primer.mid", "--no-wav",
                       "--seed", "0", "--out", tmp_path / "out")
    assert rc == 0
    notes = read_midi(tmp_path / "out" / "piece_01.mid").notes
    assert [n.pitch for n in notes if n.start == 0] == [60, 64, 67]


def test_evaluate_prints_nll_per_frame_and_accuracy(capsys, pianoroll_run):
    rc, out, _ = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best",
                         "--ais-chains", "4", "--ais-betas", "20")
    assert rc == 0
    assert "frames" in out and "test " in out and "TP / (TP + FP + FN)" in out


def test_sampling_flags_the_family_does_not_have_are_refused(capsys, pianoroll_run):
    rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best",
                          "--temperature", "0.5")
    assert_one_line_error(rc, err, "--temperature")


def test_a_malformed_benchmark_file_is_a_one_line_error(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": [[[60]]], "valid": [[[12]]], "test": [[[60]]]}))
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                          "--corpus", bad, "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, "note 12 outside 21-108")


def test_benchmark_debug_run_writes_the_table(capsys, bench_dir, tmp_path):
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress")
    assert rc == 0
    assert "| rnn_nade `debug` (tunesmith) |" in out and "RNN-NADE (BL2012, published)" in out
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0].startswith("dataset,model") and rows[1].startswith("jsb,rnn_nade,debug")
    # a second call takes the finished run instead of training again
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress")
    assert rc == 0 and "tunesmith train" not in out


def test_benchmark_on_a_slice_of_real_jsb(capsys, tmp_path):
    data = SHARED_DATA / "boulanger2012"
    if not (data / "jsb_chorales.json").is_file():
        pytest.skip("../shared/data/boulanger2012 is not here")
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", data, "--datasets", "jsb",
                         "--preset", "debug", "--slice", "8", "--out", tmp_path,
                         "--no-progress")
    assert rc == 0 and "JSB Chorales" in out
    nll = float((tmp_path / "results.csv").read_text().splitlines()[1].split(",")[3])
    assert 3 < nll < 88 * np.log(2)  # learned something, and a real number of nats


def test_benchmark_bad_input(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "benchmark", "boulanger", "--data", tmp_path / "nope")
    assert_one_line_error(rc, err, "no such folder")
    rc, _, err = run_cli(capsys, "benchmark", "boulanger", "--data", tmp_path,
                          "--datasets", "jsb")
    assert_one_line_error(rc, err, "jsb_chorales.json")


def test_frame_windows_are_a_function_of_the_step_and_stay_on_the_keyboard():
    rng = np.random.default_rng(0)
    seqs = [(rng.random((n, 88)) < 0.05).astype(np.uint8) for n in (30, 50, 200)]
    seqs[0][:, 0] = 1  # the lowest key: no room to transpose down
    w = FrameWindows(seqs, seq_len=40, batch_size=8, seed=3, transpose=6)
    a, b = w.batch(5), w.batch(5)
    assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["mask"], b["mask"])
    total_in = sum(s.sum() for s in seqs)
    assert total_in > 0
    for step in range(20):
        batch = w.batch(step)
        kept = batch["frames"].sum(-1)  # a transposition never drops a note
        assert kept.shape == (8, 40)
    valid = list(FrameBatches(seqs, max_frames=100))
    assert sum(int(b["mask"].sum()) for b in valid) == 280
