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
                         "--max-len", "24", "--mode", "argmax", "--seed", "1", "--no-wav",
                         "--out", tmp_path,
                         *(["--gibbs-steps", "3"] if pianoroll_run.name == "rnn_rbm" else []))
    assert rc == 0 and "2 pieces" in out
    mids = sorted(tmp_path.glob("*.mid"))
    assert len(mids) == 2
    for mid in mids:
        notes = read_midi(mid).notes
        assert notes  # the debug model still sounds something in 24 frames
        assert all(a.end <= b.start for a, b in zip(notes, notes[1:], strict=False))
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


def test_a_primer_keeps_its_tempo(capsys, pianoroll_run, tmp_path):
    from dataclasses import replace

    from tunesmith.io.midi import write_midi
    from tunesmith.music import Tempo
    from tunesmith.representations.pianoroll import PianoRoll

    rep = PianoRoll(steps_per_beat=1)
    primer = rep.decode(PianoRoll.from_lists([[60, 64, 67]] * 4 + [[62, 65, 69]] * 4))
    write_midi(replace(primer, tempos=[Tempo(0.0, 75.0)]), tmp_path / "primer.mid")
    rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best", "--num", "1",
                         "--max-len", "8", "--primer", tmp_path / "primer.mid", "--no-wav",
                         "--seed", "0", "--out", tmp_path / "out",
                         *(["--gibbs-steps", "3"] if pianoroll_run.name == "rnn_rbm" else []))
    assert rc == 0, err
    assert [t.qpm for t in read_midi(tmp_path / "out" / "piece_01.mid").tempos] == [75.0]


def test_seconds_count_the_primer_too(capsys, pianoroll_run, tmp_path):
    from tunesmith.io.midi import write_midi
    from tunesmith.representations.pianoroll import PianoRoll

    primer = PianoRoll(steps_per_beat=1).decode(PianoRoll.from_lists([[60, 64, 67]] * 8))
    write_midi(primer, tmp_path / "primer.mid")  # 8 beats at 120 BPM: 4 s
    gibbs = ["--gibbs-steps", "3"] if pianoroll_run.name == "rnn_rbm" else []
    rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best", "--num", "1",
                         "--seconds", "6", "--grace", "0", "--primer", tmp_path / "primer.mid",
                         "--primer-len", "64", "--no-wav", "--seed", "0", "--out",
                         tmp_path / "out", *gibbs)
    assert rc == 0, err
    assert read_midi(tmp_path / "out" / "piece_01.mid").end_beat <= 12 + 1e-6  # 6 s, not 10
    rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best", "--num", "1",
                         "--seconds", "3", "--primer", tmp_path / "primer.mid", "--primer-len",
                         "64", "--no-wav", "--out", tmp_path / "short", *gibbs)
    assert_one_line_error(rc, err, "the primer already lasts 4.0 s")


def test_evaluate_prints_nll_per_frame_and_accuracy(capsys, pianoroll_run):
    rc, out, _ = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best",
                         "--ais-chains", "4", "--ais-betas", "20")
    assert rc == 0
    assert "frames" in out and "test " in out and "TP / (TP + FP + FN)" in out


def test_evaluate_only_the_splits_asked_for(capsys, pianoroll_run, tmp_path):
    rc, out, _ = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best", "--splits",
                         "test", "--ais-chains", "4", "--ais-betas", "20", "--json",
                         tmp_path / "new" / "m.json")  # its folder is made
    assert rc == 0 and "test " in out and "valid " not in out
    assert list(json.loads((tmp_path / "new" / "m.json").read_text())) == ["test"]
    (tmp_path / "file").write_text("")
    rc, out, err = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best", "--json",
                           tmp_path / "file" / "m.json")
    assert_one_line_error(rc, err, "is a file, not a folder")
    assert out == ""  # refused before the work
    rc, _, err = run_cli(capsys, "evaluate", "--model", tmp_path / "no-model", "--json",
                         tmp_path / "made" / "deep" / "m.json")
    assert rc == 2 and not (tmp_path / "made").exists()  # a failed evaluation leaves none
    rc, _, err = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best", "--splits",
                         "tset")
    assert_one_line_error(rc, err, "--splits")


def test_sampling_flags_the_family_does_not_have_are_refused(capsys, pianoroll_run):
    rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best",
                          "--temperature", "0.5")
    assert_one_line_error(rc, err, "--temperature")
    if pianoroll_run.name == "rnn_nade":
        rc, _, err = run_cli(capsys, "compose", "--model", pianoroll_run / "best",
                             "--gibbs-steps", "5")
        assert_one_line_error(rc, err, "--gibbs-steps is for RBM models")


def test_a_malformed_benchmark_file_is_a_one_line_error(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": [[[60]]], "valid": [[[12]]], "test": [[[60]]]}))
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                          "--corpus", bad, "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, "note 12 outside 21-108")


def test_a_benchmark_file_with_no_valid_pieces_says_so(capsys, tmp_path):
    corpus = tmp_path / "ev.json"
    corpus.write_text(json.dumps({"train": [[[60], [62]], [[64]]], "valid": [],
                                  "test": [[[60]]]}))
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", corpus, "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, f"{corpus}: its valid split is empty")


def test_benchmark_debug_run_writes_the_table(capsys, bench_dir, tmp_path):
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress",
                         "--lr", "0.02", "--eval-max-items", "2")
    assert rc == 0
    # a run of settings given over the preset is named for them, folder and row alike
    run = tmp_path / "jsb-rnn_nade-debug-eval_max_items2-lr0.02"
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["lr"] == 0.02 and train["eval_max_items"] == 2  # overrides reach the run
    assert "| rnn_nade `debug eval_max_items=2 lr=0.02` (tunesmith) |" in out
    assert "RNN-NADE (BL2012, published)" in out
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0].startswith("dataset,model")
    assert rows[1].startswith("jsb,rnn_nade,debug eval_max_items=2 lr=0.02,")
    # a second call takes the finished run instead of training again
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress",
                         "--eval-max-items", "2", "--lr", "0.02")
    assert rc == 0 and "tunesmith train" not in out and "taking the finished run" in out
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 2
    # a run made before folders named their settings is taken when its settings match
    run.rename(tmp_path / "jsb-rnn_nade-debug")
    (tmp_path / "results.csv").unlink()
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress",
                         "--eval-max-items", "2", "--lr", "0.02", "--log-every", "5")
    assert rc == 0 and f"taking the finished run in {tmp_path / 'jsb-rnn_nade-debug'}" in out


def test_benchmark_interrupted_writes_no_result_and_says_so(capsys, bench_dir, tmp_path,
                                                             monkeypatch):
    from tunesmith.app import training

    class Cut:  # what train returns after Ctrl-C: the checkpoint saved, interrupted
        interrupted = True

    monkeypatch.setattr(training, "train", lambda *a, **kw: Cut())
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress")
    assert rc == 130 and "interrupted while training" in out and "same command:" in out
    assert not (tmp_path / "results.csv").exists()
    rc, out, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path, "--no-progress",
                         "--retrain")
    assert rc == 130 and "the same command without --retrain" in out


def test_benchmark_refuses_a_run_trained_on_another_file_and_marks_slices(
        capsys, bench_dir, tmp_path):
    import shutil

    rc, _, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                       "jsb", "--preset", "debug", "--out", tmp_path / "b", "--no-progress",
                       "--slice", "2")
    assert rc == 0
    md = (tmp_path / "b" / "results.md").read_text()
    assert "| rnn_nade `debug`, first 2 sequences of each split (--slice 2) (tunesmith) |" in md
    assert "jsb-rnn_nade-debug-slice2 " in md  # the wall-time line names the run
    changed = tmp_path / "changed"  # a file whose first two sequences are others
    changed.mkdir()
    data = json.loads((bench_dir / "jsb_chorales.json").read_text())
    data["train"][0] = data["train"][0][:-1]
    (changed / "jsb_chorales.json").write_text(json.dumps(data))
    rc, _, err = run_cli(capsys, "benchmark", "boulanger", "--data", changed, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path / "b", "--no-progress",
                         "--slice", "2")
    assert_one_line_error(rc, err, "data-slice2/jsb_chorales.json: holds the first 2 "
                          "sequences of another file", "--retrain")
    other = tmp_path / "other"
    shutil.copytree(bench_dir, other)
    rc, _, _ = run_cli(capsys, "benchmark", "boulanger", "--data", bench_dir, "--datasets",
                       "jsb", "--preset", "debug", "--out", tmp_path / "c", "--no-progress")
    assert rc == 0
    rc, _, err = run_cli(capsys, "benchmark", "boulanger", "--data", other, "--datasets",
                         "jsb", "--preset", "debug", "--out", tmp_path / "c", "--no-progress")
    assert_one_line_error(rc, err, "was trained on", "--retrain")


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
    (tmp_path / "jsb_chorales.json").write_text("{}")
    for args, says in ((["--data", tmp_path / "jsb_chorales.json"],
                        "jsb_chorales.json: is a file; --data takes the folder that holds it"),
                       ([], "--data is needed"),
                       (["--data", tmp_path, "--datasets", ","], "--datasets is empty"),
                       (["--data", tmp_path, "--datasets", "jsb", "--arch", ","],
                        "--arch is empty")):
        rc, _, err = run_cli(capsys, "benchmark", "boulanger", *args, "--out", tmp_path / "o")
        assert_one_line_error(rc, err, says)
    (tmp_path / "jsb_chorales.json").unlink()
    rc, _, err = run_cli(capsys, "benchmark", "boulanger", "--data", tmp_path,
                          "--datasets", "jsb")
    assert_one_line_error(rc, err, "jsb_chorales.json")


def test_frame_windows_are_a_function_of_the_step_and_stay_on_the_keyboard():
    rng = np.random.default_rng(0)
    seqs = [np.zeros((n, 88), np.uint8) for n in (30, 50, 200)]
    for s in seqs:
        s[:, 20:60] = rng.random((len(s), 40)) < 0.1  # room to move both ways
    seqs[0][:, 0] = 1  # the lowest key: this one can only move up
    w = FrameWindows(seqs, seq_len=40, batch_size=8, seed=3, transpose=6)
    a, b = w.batch(5), w.batch(5)
    assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["mask"], b["mask"])
    # windows as long as the longest piece hold whole pieces: the same with and without
    # transposition, so the two can be compared note for note
    whole = FrameWindows(seqs, seq_len=200, batch_size=8, seed=3, transpose=6)
    plain = FrameWindows(seqs, seq_len=200, batch_size=8, seed=3)
    moved = 0
    for step in range(20):
        x, y = plain.batch(step)["frames"], whole.batch(step)["frames"]
        assert torch.equal(x.sum(-1), y.sum(-1))  # a transposition never drops a note
        moved += int(not torch.equal(x, y))
    assert moved >= 18  # and it does transpose
    valid = list(FrameBatches(seqs, max_frames=100))
    assert sum(int(b["mask"].sum()) for b in valid) == 280


def test_the_protocol_averages_over_frames_not_sequences():
    from tunesmith.evaluation.boulanger import frame_protocol
    from tunesmith.models.bernoulli_rnn import BernoulliRnn, BernoulliRnnConfig

    torch.manual_seed(0)
    model = BernoulliRnn(BernoulliRnnConfig(n_visible=88, rnn_hidden=4)).eval()
    with torch.no_grad():
        model.out.bias.fill_(-3.0)  # expects sparse frames: dense ones cost more
    rng = np.random.default_rng(0)
    short = (rng.random((5, 88)) < 0.3).astype(np.uint8)
    long = (rng.random((60, 88)) < 0.02).astype(np.uint8)
    per_seq = []
    with torch.no_grad():
        for s in (short, long):
            f = torch.from_numpy(s).float()[None]
            logits = model.out(model.rnn(f)[0])
            per_seq.append(torch.nn.functional.binary_cross_entropy_with_logits(
                logits, f, reduction="none").sum(-1)[0])
    flat = torch.cat(per_seq).mean().item()
    by_sequence = (per_seq[0].mean() + per_seq[1].mean()).item() / 2
    m = frame_protocol(model, [short, long])
    assert m["frames"] == 65 and m["nll"] == pytest.approx(flat, rel=1e-5)
    assert abs(flat - by_sequence) > 1  # the two averages differ a lot here


def test_a_run_counts_as_finished_only_when_its_checkpoint_says_so(tmp_path):
    from tunesmith.app.benchmarking import _finished
    from tunesmith.evaluation.boulanger import train_seconds as _train_seconds

    last = tmp_path / "last"
    last.mkdir()
    def meta(summary):
        (last / "tunesmith.json").write_text(json.dumps({"summary": summary}))
    meta({"step": 10, "train_config": {"steps": 30}})
    assert not _finished(tmp_path)
    meta({"step": 30, "train_config": {"steps": 30}})
    assert not _finished(tmp_path)  # no best checkpoint yet
    (tmp_path / "best").mkdir()
    assert _finished(tmp_path)
    meta({"step": 12, "stopped_early": True, "train_config": {"steps": 30}})
    assert _finished(tmp_path)
    meta({})
    assert not _finished(tmp_path)
    (tmp_path / "metrics.csv").write_text("step,split,elapsed_s\n5,train,2\n10,train,4\n"
                                          "10,valid,\n15,train,1.5\n20,train,3\n")
    assert _train_seconds(tmp_path) == pytest.approx(7.0)  # a resumed run: 4 s + 3 s


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stepping_the_rnn_frame_by_frame_equals_the_whole_sequence(cell):
    from tunesmith.models.layers import FrameRNN

    torch.manual_seed(0)
    rnn = FrameRNN(88, 12, cell, num_layers=2).eval()
    frames = torch.bernoulli(torch.full((3, 7, 88), 0.1))
    context, _ = rnn(frames)
    state = None
    with torch.no_grad():
        for t in range(6):
            ctx, state = rnn.step(frames[:, t], state)
            assert torch.allclose(ctx, context[:, t + 1], atol=1e-5)


def test_a_music_report_refuses_what_a_piano_roll_composer_does_not_take(capsys, tmp_path,
                                                                          pianoroll_run):
    for flag in (["--temperature", "0.5"], ["--unconstrained"]):
        rc, out, err = run_cli(capsys, "evaluate", "--music", "--model",
                               pianoroll_run / "best", "--num", 2, "--out", tmp_path / "m",
                               *flag)
        assert_one_line_error(rc, err, f"{flag[0]} is not an option of the pianoroll "
                              "family's composer")


def test_evaluating_on_a_benchmark_file_of_another_frame_grid_is_refused(capsys, tmp_path,
                                                                          bench_dir,
                                                                          pianoroll_run):
    import shutil

    shutil.copy(bench_dir / "jsb_chorales.json", tmp_path / "nottingham.json")
    rc, _, err = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best", "--corpus",
                         tmp_path / "nottingham.json", "--samples", 0)
    assert_one_line_error(rc, err, "is Nottingham, 2 frame(s) per quarter note; this model "
                          "reads 1")
    rc, out, _ = run_cli(capsys, "evaluate", "--model", pianoroll_run / "best", "--splits",
                         "test,test", "--samples", 0)
    assert rc == 0 and out.count("\ntest ") == 1  # a split asked twice is scored once
