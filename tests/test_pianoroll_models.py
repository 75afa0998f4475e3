"""The piano-roll models' probability maths, checked against brute force on tiny sizes."""

import dataclasses
import itertools
import math

import pytest
import torch

from tunesmith import models
from tunesmith.models.bernoulli_rnn import BernoulliRnn, BernoulliRnnConfig
from tunesmith.models.rnn_nade import RnnNade, RnnNadeConfig
from tunesmith.models.rnn_rbm import RnnRbm, RnnRbmConfig
from tunesmith.models.transformer_nade import TransformerNade, TransformerNadeConfig


def all_frames(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))  # (2^n, n)


def randomise(model, scale=1.0):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def test_nade_probabilities_over_all_frames_sum_to_one():
    n = 6
    model = randomise(RnnNade(RnnNadeConfig(n_visible=n, rnn_hidden=4, nade_hidden=5)))
    bv, bh = torch.randn(n), torch.randn(5)
    frames = all_frames(n)
    nll = model.frame_nll(frames, bv.expand(len(frames), n), bh.expand(len(frames), 5))
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_nade_sampled_keys_follow_its_probabilities():
    n = 4
    model = randomise(RnnNade(RnnNadeConfig(n_visible=n, rnn_hidden=3, nade_hidden=5)))
    bv, bh = torch.randn(1, n), torch.randn(1, 5)
    frames = all_frames(n)
    exact = torch.exp(-model.frame_nll(frames, bv.expand(16, n), bh.expand(16, 5)))
    marginal = (exact[:, None] * frames).sum(0)  # P(key on), exactly
    gen = torch.Generator().manual_seed(1)
    estimate = model.marginals(bv, bh, samples=20000, generator=gen)[0]
    assert torch.allclose(estimate, marginal, atol=0.02)


def brute_log_z(model, bv, bh):
    frames = all_frames(model.config.n_visible)
    return torch.logsumexp(-model.free_energy(frames, bv, bh), 0)


@torch.no_grad()
def test_rbm_free_energy_and_partition_function_match_brute_force():
    n, h = 5, 3
    model = randomise(RnnRbm(RnnRbmConfig(n_visible=n, rnn_hidden=2, rbm_hidden=h)))
    bv, bh, W = torch.randn(n), torch.randn(h), model.W.detach()
    hidden = all_frames(h)
    frames = all_frames(n)
    # energy E(v, h) = -bv.v - bh.h - h W v, summed over both layers by brute force
    energy = -(frames @ bv)[:, None] - (hidden @ bh)[None] - frames @ W.t() @ hidden.t()
    brute_free = -torch.logsumexp(-energy, 1)  # F(v) = -log sum_h exp(-E(v, h))
    assert torch.allclose(model.free_energy(frames, bv, bh), brute_free, atol=1e-5)
    log_z = torch.logsumexp(-energy.flatten(), 0).item()
    assert brute_log_z(model, bv, bh).item() == pytest.approx(log_z, abs=1e-5)


def test_ais_lands_near_the_exact_log_partition_function():
    n, h = 10, 8
    model = randomise(RnnRbm(RnnRbmConfig(n_visible=n, rnn_hidden=2, rbm_hidden=h)), 0.7)
    torch.manual_seed(3)
    bv, bh = torch.randn(4, n), torch.randn(4, h)
    exact = torch.stack([brute_log_z(model, bv[i], bh[i]) for i in range(4)])
    gen = torch.Generator().manual_seed(0)
    estimate = model.log_partition(bv, bh, chains=200, betas=500, generator=gen)
    assert torch.allclose(estimate, exact, atol=0.05), (estimate, exact)


def toy_frames(n_frames=64, n=12):
    """Two chords that alternate: the RBM should learn them."""
    a = torch.zeros(n)
    a[[0, 4, 7]] = 1
    b = torch.zeros(n)
    b[[2, 5, 9]] = 1
    return torch.stack([a if t % 2 == 0 else b for t in range(n_frames)])[None]


def test_cd_training_lowers_reconstruction_error():
    torch.manual_seed(0)
    frames = toy_frames()
    batch = {"frames": frames, "mask": torch.ones(frames.shape[:2], dtype=torch.bool)}
    model = RnnRbm(RnnRbmConfig(n_visible=12, rnn_hidden=8, rbm_hidden=16, cd_steps=1))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    first = model.loss(batch)["recon"].item()
    for _ in range(150):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert model.loss(batch)["recon"].item() < 0.3 * first


@pytest.mark.parametrize("family", ["rnn_nade", "bernoulli_rnn", "rnn_rbm", "transformer_nade"])
def test_training_lowers_the_validation_nll(family):
    torch.manual_seed(0)
    frames = toy_frames(40)
    batch = {"frames": frames, "mask": torch.ones(frames.shape[:2], dtype=torch.bool)}
    small = {"rnn_nade": {"rnn_hidden": 8, "nade_hidden": 8},
             "bernoulli_rnn": {"rnn_hidden": 8},
             "rnn_rbm": {"rnn_hidden": 8, "rbm_hidden": 8, "cd_steps": 1,
                         "ais_chains": 32, "ais_betas": 100},
             "transformer_nade": {"d_model": 16, "num_layers": 1, "attention_heads": 2,
                                  "ff_size": 32, "dropout": 0.0, "nade_hidden": 8}}[family]
    model = models.build(family, {"n_visible": 12, **small})
    model.eval()
    with torch.no_grad():
        before = model.loss(batch)
    assert before["nll"].item() == pytest.approx(12 * math.log(2), rel=0.2)  # about uniform
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    for _ in range(150):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = model.loss(batch)
    assert after["nll"].item() < 0.5 * before["nll"].item()
    acc = after["tp"] / (after["tp"] + after["fp"] + after["fn"])
    assert acc > 0.6


FRAME_MODELS = [name for name, cls in models.registry().items() if cls.sampler == "frames"]
SMALL = {"rnn_hidden": 5, "nade_hidden": 4, "rbm_hidden": 4, "d_model": 8,
         "attention_heads": 2, "ff_size": 16, "num_layers": 2, "context": 4}


@pytest.mark.parametrize("family", FRAME_MODELS)
def test_the_frame_context_by_steps_equals_the_teacher_forced_one(family):
    """context_start, then context_read of a primer or context_step frame by frame, give
    what frame_contexts gives for the whole piece (past a Transformer's context too)."""
    fields = {f.name for f in dataclasses.fields(models.registry()[family].config_class)}
    torch.manual_seed(0)
    model = models.build(family, {"n_visible": 6, **{k: v for k, v in SMALL.items()
                                                     if k in fields}}).eval()
    frames = torch.bernoulli(torch.full((2, 9, 6), 0.4))
    with torch.no_grad():
        full = model.frame_contexts(frames)  # (B, T, R)
        for primer in (0, 5):
            context, state = model.context_start(2, "cpu")
            if primer:
                context, state = model.context_read(frames[:, :primer], state)
            for t in range(primer, 9):
                assert torch.allclose(context, full[:, t], atol=1e-5), (primer, t)
                context, state = model.context_step(frames[:, t], state)


def test_context_never_sees_the_frame_it_predicts():
    model = BernoulliRnn(BernoulliRnnConfig(n_visible=6, rnn_hidden=5)).eval()
    frames = torch.bernoulli(torch.full((1, 7, 6), 0.5))
    changed = frames.clone()
    changed[0, 4] = 1 - changed[0, 4]
    a, _ = model.rnn(frames)
    b, _ = model.rnn(changed)
    assert torch.equal(a[0, :5], b[0, :5]) and not torch.equal(a[0, 5], b[0, 5])


@pytest.mark.parametrize("model", [
    RnnNade(RnnNadeConfig(n_visible=3, rnn_hidden=4, nade_hidden=5)),
    RnnRbm(RnnRbmConfig(n_visible=3, rnn_hidden=4, rbm_hidden=5)),
    BernoulliRnn(BernoulliRnnConfig(n_visible=3, rnn_hidden=4)),
    TransformerNade(TransformerNadeConfig(n_visible=3, d_model=4, attention_heads=2,
                                          nade_hidden=5))], ids=lambda m: m.family)
def test_a_new_model_starts_its_keys_at_their_rates_in_the_training_frames(model):
    import numpy as np

    from tunesmith import families
    from tunesmith.families.base import Prepared

    init_model = families.get("pianoroll").init_model

    # key 0 on in 1 of 4 frames, key 1 in 3 of 4, key 2 never
    rolls = [np.array([[1, 1, 0], [0, 1, 0]], np.uint8), np.array([[0, 1, 0], [0, 0, 0]], np.uint8)]
    init_model(model, Prepared(None, {"train": rolls, "valid": [], "test": []}, {}))
    ctx = torch.zeros(1, 4)  # with no context, the model's keys are on at the start rates
    bias = model.out(ctx) if model.family == "bernoulli_rnn" else model.conditionals(ctx)[0]
    expected = [math.log(1 / 3), math.log(3), math.log((1 / 4) / (3 / 4))]  # never -> 1 frame
    assert bias[0].tolist() == pytest.approx(expected, abs=1e-6)
