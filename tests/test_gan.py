"""The gan family as a user runs it (train, resume, compose, evaluate) and the pieces
that make the RNN-GAN train in the shared trainer: note rows, each player's gradient
reaching only its own network, the two optimiser groups, a discriminator trained afresh."""

import json
import math

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.io.midi import read_midi, write_midi
from tunesmith.models.rnn_gan import RnnGan, RnnGanConfig, distance, wasserstein_1d
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representations.notes import NoteFeatures

from .test_cli import assert_one_line_error, run_cli
from .test_events_cli import make_piece


def chord_piece() -> Piece:
    notes = [Note(0, 1, 60), Note(0, 1, 64), Note(0, 1, 67), Note(1, 1.5, 62, 100),
             Note(2.5, 4, 59, 40)]
    return Piece(tracks=[Track(notes=notes)], tempos=[Tempo(0.0, 90.0)])


# --- the representation ------------------------------------------------------------------

def test_note_rows_hold_pitch_step_length_and_velocity():
    rows = NoteFeatures().encode(chord_piece())
    assert rows.shape == (5, 4)
    assert np.allclose(rows[:, 0] * 12 + 60, [60, 64, 67, 62, 59])
    assert np.allclose(rows[:, 1], [0, 0, 0, 1, 1.5])  # a chord: no time between its notes
    assert np.allclose(np.exp2(rows[:, 2]), [1, 1, 1, 0.5, 1.5])
    assert np.allclose(rows[:, 3] * 64 + 64, [80, 80, 80, 100, 40])
    back = NoteFeatures().decode(rows)
    assert back.notes == chord_piece().notes


def test_any_rows_decode_to_playable_notes_on_the_grid():
    rows = np.array([[np.nan, -3, -20, 9], [40.0, 0.37, 8.0, -9], [-40, 100, 0.1, 0]])
    piece = NoteFeatures(grid=4).decode(rows)
    for n in piece.notes:
        assert 21 <= n.pitch <= 108 and 1 <= n.velocity <= 127
        assert n.end > n.start >= 0
        assert (n.start * 4) == int(n.start * 4) and (n.end * 4) == int(n.end * 4)
    rep = NoteFeatures(grid=4)
    once = rep.quantise(make_piece(3))
    assert rep.quantise(once).notes == once.notes
    # a key struck again while it sounds ends there: it never sounds twice at once
    again = rep.decode(np.array([[0.25, 0, 2.0, 0], [0.25, 0.5, 2.0, 0], [0.25, 0, 1.0, 0]]))
    assert [(n.start, n.end, n.pitch) for n in again.notes] == [(0, 0.5, 63), (0.5, 4.5, 63)]


# --- the model -------------------------------------------------------------------------

def tiny(**over) -> RnnGan:
    cfg = RnnGanConfig(noise_dim=3, hidden_size=8, num_layers=1, disc_hidden=6,
                       disc_layers=1, **over)
    torch.manual_seed(0)
    return RnnGan(cfg).train()


def batch(step: int, b: int = 3, t: int = 7) -> dict:
    g = torch.Generator().manual_seed(step)
    return {"notes": torch.randn(b, t, 4, generator=g),
            "step": torch.full((b,), step, dtype=torch.long)}


def test_a_frozen_discriminator_gets_no_gradient_from_the_generators_loss():
    """The generator is scored through the discriminator's detached weights."""
    for g_loss in ("feature_matching", "nonsaturating"):
        model = tiny(pretrain_steps=0, freeze_ratio=1e9, g_loss=g_loss)  # always frozen
        out = model.loss(batch(5))
        assert out["d_frozen"] == 1
        out["loss"].backward()
        assert all(p.grad is None or not p.grad.any() for p in model.discriminator.parameters())
        assert any(p.grad is not None and p.grad.any() for p in model.generator.parameters())


@pytest.mark.parametrize("output", ["point", "gaussian"])
def test_the_discriminators_loss_does_not_reach_the_generator(output):
    """In pre-training the generator's gradient is its MLE loss's alone, though the
    discriminator trains in the same backward pass on the generated rows."""
    model = tiny(pretrain_steps=10, freeze_ratio=0.0, output=output)
    b = batch(2)
    torch.manual_seed(7)
    out = model.loss(b)
    assert out["pretraining"] == 1 and out["d_frozen"] == 0
    out["loss"].backward()
    together = [p.grad.clone() for p in model.generator.parameters()]
    assert any(p.grad is not None and p.grad.any() for p in model.discriminator.parameters())
    model.zero_grad()
    torch.manual_seed(7)  # the same teacher-forcing noise: the loss draws it first
    real = b["notes"]
    noise = model.generator.noise(*real.shape[:2])
    model.generator.nll(real, noise).backward()
    for a, p in zip(together, model.generator.parameters(), strict=True):
        assert torch.allclose(a, p.grad, atol=1e-6)


@pytest.mark.parametrize("output", ["point", "gaussian"])
def test_generation_is_seeded_and_shaped(output):
    model = tiny(output=output)
    a = model.generate(2, 5, generator=torch.Generator().manual_seed(1))
    b = model.generate(2, 5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 5, 4) and torch.equal(a, b) and model.training
    c = model.generate(2, 5, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(a, c)


def test_a_gaussian_generators_mle_is_the_normal_likelihood():
    model = tiny(output="gaussian")
    real = torch.randn(2, 6, 4)
    noise = model.generator.noise(2, 6)
    assert noise.shape == (2, 6, 3 + 4)
    with torch.no_grad():
        model.generator.out.weight.zero_()
        model.generator.out.bias.zero_()  # mean 0, log spread 0: a standard normal
    expected = -torch.distributions.Normal(0.0, 1.0).log_prob(real).mean() \
        - 0.5 * math.log(2 * math.pi)
    assert torch.allclose(model.generator.nll(real, noise), expected, atol=1e-6)


def test_validation_scores_a_distance_to_the_real_rows():
    real = torch.randn(4, 10, 4)
    assert float(distance(real, real)["distance"]) == 0
    shifted = real.clone()
    shifted[..., 0] += 0.5
    d = distance(shifted, real)
    assert math.isclose(float(d["w1_0"]), 0.5, rel_tol=1e-5) and float(d["w1_1"]) == 0
    assert float(wasserstein_1d(torch.tensor([0.0, 1]), torch.tensor([1.0, 0]))) == 0
    model = tiny().eval()
    out = model.loss(batch(0))
    assert {"loss", "count", "w1_interval", "d_real_acc", "mle"} <= set(out)
    assert torch.equal(out["loss"], model.loss(batch(0))["loss"])  # fixed noise


def test_the_two_players_are_optimiser_groups_with_their_own_rates_and_norms(tmp_path):
    from tunesmith.data.notes import NoteBlocks, NoteWindows
    from tunesmith.training.config import TrainConfig
    from tunesmith.training.trainer import Trainer

    pieces = [NoteFeatures().encode(make_piece(i)) for i in range(4)]
    cfg = TrainConfig(steps=4, batch_size=2, seq_len=8, lr=1e-3, warmup=0, log_every=2,
                      eval_every=4, schedule="constant")
    model = tiny(d_lr_scale=0.25, beta1=0.5)
    trainer = Trainer(model, NoteFeatures(), NoteWindows(pieces, 8, 2), NoteBlocks(pieces, 8),
                      cfg, tmp_path / "run", tensorboard=False)
    trainer.fit()
    lrs = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert lrs == {"generator": 1e-3, "discriminator": 2.5e-4}
    assert all(g["betas"][0] == 0.5 for g in trainer.optimizer.param_groups)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"grad_norm_generator", "grad_norm_discriminator", "d_loss", "g_loss",
            "d_real_acc", "d_fake_acc"} <= set(header)


# --- the family as a user runs it -------------------------------------------------------

@pytest.fixture(scope="module")
def chorale_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan_midi")
    for i in range(40):
        write_midi(make_piece(i, bars=6), root / f"piece{i:02d}.mid")
    return root


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, chorale_folder):
    run = tmp_path_factory.mktemp("runs") / "gan-debug"
    rc = main(["train", "--family", "gan", "--preset", "debug", "--corpus",
               str(chorale_folder), "--out", str(run), "--no-progress", "--samples", "1"])
    assert rc == 0
    return run


def test_train_writes_the_players_curves_and_a_playable_sample(gan_run):
    rows = (gan_run / "metrics.csv").read_text().splitlines()
    assert "d_loss" in rows[0] and any(",valid," in r for r in rows)
    assert (gan_run / "curves.png").stat().st_size > 0
    piece = read_midi(gan_run / "samples" / "piece_01.mid")
    assert piece.notes
    config = json.loads((gan_run / "config.json").read_text())
    assert config["family"] == "gan" and config["arch"] == "rnn_gan"


def test_a_resumed_run_logs_what_the_uninterrupted_one_did(tmp_path, chorale_folder, gan_run):
    run = tmp_path / "r"
    args = ["train", "--family", "gan", "--preset", "debug", "--corpus", str(chorale_folder),
            "--out", str(run), "--no-progress", "--samples", "0"]
    assert main(args + ["--stop-at", "20"]) == 0
    assert main(["train", "--resume", str(run), "--no-progress", "--samples", "0"]) == 0

    def train_rows(folder):
        return [r.split(",")[:8] for r in (folder / "metrics.csv").read_text().splitlines()
                if ",train," in r]

    assert train_rows(run) == train_rows(gan_run)


def test_compose_writes_pieces_of_the_asked_length(capsys, gan_run, tmp_path):
    rc, out, err = run_cli(capsys, "compose", "--model", gan_run / "best", "--num", 2,
                           "--seconds", 4, "--seed", 3, "--out", tmp_path / "c", "--no-wav")
    assert rc == 0, err
    piece = read_midi(tmp_path / "c" / "piece_01.mid")
    beats = 4 * piece.tempos[0].qpm / 60
    assert piece.notes and max(n.end for n in piece.notes) <= beats + 1e-6
    rc, _, _ = run_cli(capsys, "compose", "--model", gan_run / "best", "--num", 2,
                       "--seconds", 4, "--seed", 3, "--out", tmp_path / "d", "--no-wav")
    assert (tmp_path / "c" / "piece_02.mid").read_bytes() == \
        (tmp_path / "d" / "piece_02.mid").read_bytes()


@pytest.mark.parametrize("flags, name", [(["--beam", "2"], "--beam"),
                                         (["--mode", "argmax"], "--mode"),
                                         (["--temperature", "0.8"], "--temperature")])
def test_what_only_a_likelihood_model_does_is_a_one_line_error(capsys, gan_run, tmp_path,
                                                                 flags, name):
    rc, _, err = run_cli(capsys, "compose", "--model", gan_run / "best", *flags,
                         "--out", tmp_path / "x")
    assert_one_line_error(rc, err, name, "not an autoregressive likelihood model")


def test_evaluate_reports_distances_not_a_likelihood(capsys, gan_run):
    rc, out, err = run_cli(capsys, "evaluate", "--model", gan_run / "best", "--no-progress")
    assert rc == 0, err
    assert "distance" in out and "nll" not in out.split("\n")[1]


def test_a_corpus_too_small_for_a_discriminator_is_refused(capsys, tmp_path):
    for i in range(5):
        write_midi(make_piece(i), tmp_path / "few" / f"p{i}.mid")
    rc, _, err = run_cli(capsys, "train", "--family", "gan", "--preset", "debug", "--corpus",
                         tmp_path / "few", "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, "needs at least 20", "few")


def test_a_time_split_is_refused_and_evaluate_takes_a_small_corpus(capsys, tmp_path,
                                                                    chorale_folder, gan_run):
    rc, _, err = run_cli(capsys, "train", "--family", "gan", "--preset", "debug", "--corpus",
                         chorale_folder, "--split", "time", "--out", tmp_path / "r",
                         "--no-progress")
    assert_one_line_error(rc, err, "--split", "held-out pieces")
    few = tmp_path / "few"
    for i in range(40, 45):  # pieces the model did not see, too few to train on
        write_midi(make_piece(i, bars=6), few / f"p{i}.mid")
    rc, out, err = run_cli(capsys, "evaluate", "--model", gan_run / "best", "--corpus", few,
                           "--splits", "train", "--no-progress")
    assert rc == 0, err
    assert "distance" in out


def test_a_diverged_run_names_its_last_good_checkpoint(tmp_path, monkeypatch, capsys,
                                                       chorale_folder):
    calls = {"n": 0}
    loss = RnnGan.loss

    def poisoned(self, b):
        out = loss(self, b)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 12:  # after the checkpoint of step 10 (debug preset)
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(RnnGan, "loss", poisoned)
    rc, _, err = run_cli(capsys, "train", "--family", "gan", "--preset", "debug", "--corpus",
                         chorale_folder, "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, "at step 13", "from step 10")


# --- judging it -----------------------------------------------------------------------

def test_a_fresh_discriminator_tells_apart_what_differs_and_not_what_does_not():
    from tunesmith.evaluation.distinguish import distinguishability

    rng = np.random.default_rng(0)

    def pieces(shift, n):
        return [rng.normal(size=(64, 4)).astype(np.float32) + shift for _ in range(n)]

    apart = distinguishability(pieces(0, 12), pieces(2, 12), pieces(0, 6), pieces(2, 6),
                               steps=60, repeats=2)
    assert apart["accuracy"] > 0.9 and apart["auc"] > 0.95
    same = distinguishability(pieces(0, 12), pieces(0, 12), pieces(0, 6), pieces(0, 6),
                              steps=60, repeats=2)
    assert same["accuracy"] < 0.8 and same["auc"] < 0.8


def test_auc_counts_pairs_ranked_right_and_ties_half():
    from tunesmith.evaluation.distinguish import auc

    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert auc(np.array([2.0]), np.array([2.0])) == 0.5


def test_the_shipped_gan_composes_offline(capsys, tmp_path):
    """`compose --family gan` with the model that ships in the package."""
    rc, out, err = run_cli(capsys, "compose", "--family", "gan", "--num", 2, "--seconds", 5,
                           "--seed", 0, "--out", tmp_path / "c", "--no-wav")
    assert rc == 0, err
    for i in (1, 2):
        assert read_midi(tmp_path / "c" / f"piece_0{i}.mid").notes
    assert (tmp_path / "c" / "piece_01.png").stat().st_size > 0
