"""The Transformer models: causality, the key/value cache against the full pass (within and
past the context limit, after ragged primers), attention weights, overfitting, and the
families' commands end to end (``--arch transformer``, ``--arch transformer_nade``)."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from tunesmith import models, presets
from tunesmith.cli import main
from tunesmith.models import transformer
from tunesmith.models.transformer import Transformer, TransformerConfig
from tunesmith.models.transformer_nade import TransformerNade, TransformerNadeConfig

HEADS = {"abc": {"token": 11}, "events": {"note": 9, "velocity": 5, "time": 4}}


def tiny(heads, layers=2, context=64, dropout=0.0) -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(heads=heads, d_model=16, num_layers=layers,
                                         attention_heads=2, ff_size=32, dropout=dropout,
                                         context=context)).eval()


def tiny_nade(layers=2, context=64) -> TransformerNade:
    torch.manual_seed(0)
    return TransformerNade(TransformerNadeConfig(n_visible=6, d_model=16, num_layers=layers,
                                                 attention_heads=2, ff_size=32, dropout=0.0,
                                                 context=context, nade_hidden=5)).eval()


def random_ids(heads, b, t, seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, n, (b, t), generator=g) for n in heads.values()], -1)


def windowed(decoder, x):
    """The decoder's pass written out with an explicit sliding-window mask: query t sees
    keys t - C + 1 .. t (the reference the cache and the chunked pass must equal)."""
    pos = torch.arange(x.shape[1])
    gap = pos[:, None] - pos[None]
    attend = partial(F.scaled_dot_product_attention,
                     attn_mask=(gap >= 0) & (gap < decoder.context))
    cos, sin = decoder.rope.tables(pos, x.dtype)
    for block in decoder.blocks:
        x = block(x, cos, sin, attend)
    return decoder.norm(x)


def close(a, b):
    return torch.allclose(a, b, atol=2e-5, rtol=1e-4)


# --- causality ---------------------------------------------------------------------------
@pytest.mark.parametrize("family", HEADS)
@pytest.mark.parametrize("context", [64, 4])
def test_an_output_does_not_depend_on_later_inputs(family, context):
    model = tiny(HEADS[family], layers=1, context=context)
    x = model._inputs(random_ids(HEADS[family], 2, 10)).detach().requires_grad_()
    logits = model._heads(model.decoder(x)).joined  # (B, T, sum C)
    t = 6
    logits[:, t].sum().backward()
    assert torch.all(x.grad[:, t + 1:] == 0)
    assert torch.all(x.grad[:, max(0, t - context + 1) : t + 1].abs().sum(-1) > 0)
    assert torch.all(x.grad[:, : max(0, t - context + 1)] == 0)  # outside the window


def test_a_frame_context_sees_only_earlier_frames():
    model = tiny_nade()
    frames = torch.bernoulli(torch.full((2, 9, 6), 0.4)).requires_grad_()
    t = 5
    weights = torch.randn(16)  # (a plain sum of a LayerNorm's output is constant)
    (model.frame_contexts(frames)[:, t] @ weights).sum().backward()
    assert torch.all(frames.grad[:, t:] == 0)
    assert torch.all(frames.grad[:, :t].abs().sum(-1) > 0)


# --- the cache ---------------------------------------------------------------------------
@pytest.mark.parametrize("family", HEADS)
@pytest.mark.parametrize("context", [64, 5])  # 5: the cache slides past its limit
def test_step_with_the_cache_equals_the_full_pass_at_every_position(family, context):
    heads = HEADS[family]
    model = tiny(heads, context=context)
    ids = random_ids(heads, 3, 14)
    with torch.no_grad():
        full = model(ids).joined  # (B, T, C): chunked through the cache when T > context
        reference = model._heads(windowed(model.decoder, model._inputs(ids))).joined
        state = model.init_state(3)
        for t in range(ids.shape[1]):
            logits, state = model.step(ids[:, t], state)
            assert close(logits.joined, full[:, t]), t
    assert close(full, reference)
    assert state.slots == min(context, 16)  # the rings grow only as far as they must


def test_past_the_limit_one_layer_attends_exactly_to_the_last_context_tokens():
    heads = HEADS["abc"]
    model = tiny(heads, layers=1, context=6)
    ids = random_ids(heads, 2, 20)
    with torch.no_grad():
        state = model.init_state(2)
        for t in range(20):
            logits, state = model.step(ids[:, t], state)
            alone = model(ids[:, max(0, t - 5) : t + 1]).joined[:, -1]  # a fresh pass
            assert close(logits.joined, alone), t


def test_a_long_read_in_chunks_equals_the_windowed_pass(monkeypatch):
    monkeypatch.setattr(transformer, "CHUNK", 4)
    heads = HEADS["events"]
    model = tiny(heads, context=6)
    ids = random_ids(heads, 2, 23)
    with torch.no_grad():
        x = model._inputs(ids)
        assert close(model.decoder(x), windowed(model.decoder, x))


@pytest.mark.parametrize("family", HEADS)
@pytest.mark.parametrize("context", [64, 4])
def test_ragged_primers_in_one_call_equal_stepping_each(family, context, monkeypatch):
    monkeypatch.setattr(transformer, "CHUNK", 5)  # a long primer is read in chunks
    heads = HEADS[family]
    model = tiny(heads, context=context)
    lengths = torch.tensor([9, 1, 5])
    ids = random_ids(heads, 3, 9)
    more = random_ids(heads, 3, 6, seed=2)
    with torch.no_grad():
        logits, state = model.prime(ids, lengths, model.init_state(3))
        after = [logits.joined]
        for t in range(more.shape[1]):  # rows at different places step on together
            logits, state = model.step(more[:, t], state)
            after.append(logits.joined)
        for b in range(3):
            seq = torch.cat([ids[b, : lengths[b]], more[b]])[None]
            one = model.init_state(1)
            expected = []
            for t in range(seq.shape[1]):
                lg, one = model.step(seq[:, t], one)
                expected.append(lg.joined[0])
            for k, got in enumerate(after):
                assert close(got[b], expected[int(lengths[b]) - 1 + k]), (b, k)


def test_selected_rows_of_the_cache_go_on_as_those_rows():
    heads = HEADS["events"]
    model = tiny(heads, context=4)
    ids = random_ids(heads, 3, 7)
    rows = torch.tensor([2, 2, 0])
    with torch.no_grad():
        _, state = model.prime(ids[:, :6], torch.tensor([6, 3, 5]), None)
        logits, _ = model.step(ids[rows, 6], model.select_state(state, rows))
        for i, r in enumerate(rows.tolist()):
            _, one = model.prime(ids[r : r + 1, :6], torch.tensor([[6, 3, 5][r]]), None)
            lg, _ = model.step(ids[r : r + 1, 6], one)
            assert close(logits.joined[i], lg.joined[0])
    assert model.select_state(None, rows) is None


@pytest.mark.parametrize("context", [64, 3])
def test_the_nade_frame_context_by_steps_equals_the_teacher_forced_one(context):
    model = tiny_nade(context=context)
    frames = torch.bernoulli(torch.full((2, 11, 6), 0.4))
    with torch.no_grad():
        full = model.frame_contexts(frames)  # (B, T, D)
        context_t, state = model.context_start(2, "cpu")
        for t in range(frames.shape[1]):
            assert close(context_t, full[:, t]), t
            context_t, state = model.context_step(frames[:, t], state)
        # a primer in one call, then steps
        context_t, state = model.context_read(frames[:, :7], model.context_start(2, "cpu")[1])
        for t in range(7, frames.shape[1]):
            assert close(context_t, full[:, t]), t
            context_t, state = model.context_step(frames[:, t], state)


# --- attention weights -------------------------------------------------------------------
@pytest.mark.parametrize("context", [64, 4])
def test_attention_weights_are_causal_rows_that_sum_to_one(context):
    model = tiny(HEADS["events"], context=context).train()
    w = model.attention(random_ids(HEADS["events"], 1, 9)[0])
    assert w.shape == (2, 2, 9, 9) and model.training  # dropout off for it, then back on
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 9))
    gap = torch.arange(9)[:, None] - torch.arange(9)[None]
    assert torch.all(w[:, :, (gap < 0) | (gap >= context)] == 0)
    assert torch.all(w[:, :, (gap >= 0) & (gap < context)] > 0)
    nade = tiny_nade().attention(torch.bernoulli(torch.full((7, 6), 0.5)))
    assert nade.shape == (2, 2, 7, 7) and torch.allclose(nade.sum(-1), torch.ones(2, 2, 7))


# --- training ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", HEADS)
def test_it_overfits_one_batch(family):
    heads = HEADS[family]
    model = tiny(heads, context=16).train()
    ids = random_ids(heads, 4, 17)
    if family == "abc":  # a one-head batch is (B, T); its padding target is 0
        ids = ids[..., 0].clamp(min=1)
        targets = ids[:, 1:].clone()
        targets[0, -3:] = 0
    else:
        targets = ids[:, 1:].clone()
        targets[0, -3:] = -100
    batch = {"inputs": ids[:, :-1], "targets": targets}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch)
    assert int(first["count"]) == 4 * 16 - 3
    for _ in range(100):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        last = model.loss(batch)
    assert last["nll"] < 0.1 * first["nll"] and last["accuracy"] > 0.95
    names = {"nll", "accuracy", "count", "loss"}
    if family == "events":
        names |= {f"{m}_{h}" for m in ("nll", "acc") for h in heads}
    assert set(last) == names


def test_presets_build_and_run_at_their_context():
    for arch in ("transformer", "transformer_nade"):
        for name, p in presets.PRESETS[arch].items():
            sizes = ({"heads": HEADS["events"]} if arch == "transformer" else {})
            with torch.device("meta"):
                models.build(arch, {**p.model, **sizes})
            assert p.model["context"] == p.train.seq_len, (arch, name)  # distances trained


# --- the families' commands --------------------------------------------------------------
def train(tmp_path, *argv) -> object:
    run = tmp_path / "run"
    assert main(["train", *argv, "--preset", "debug", "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "20"]) == 0
    meta = json.loads((run / "best" / "tunesmith.json").read_text())
    return run, meta


def test_abc_trains_and_composes(tmp_path, abc_corpus):
    run, meta = train(tmp_path, "--family", "abc", "--arch", "transformer", "--corpus",
                      abc_corpus)
    assert meta["family"] == "transformer" and list(meta["model_config"]["heads"]) == ["token"]
    out = tmp_path / "tunes"
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--max-len", "120", "--no-wav", "--unconstrained", "--out", str(out)]) == 0
    assert len(list(out.glob("*.abc"))) == 2


def test_events_train_and_compose(tmp_path):
    from tunesmith.io.midi import write_midi

    from .test_events_cli import make_piece

    corpus = tmp_path / "midi"
    for i in range(4):
        write_midi(make_piece(i), corpus / f"piece{i}.mid")
    run, meta = train(tmp_path, "--family", "events", "--arch", "transformer", "--corpus",
                      corpus)
    assert list(meta["model_config"]["heads"]) == ["note", "velocity", "time"]
    out = tmp_path / "pieces"
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--max-len", "40", "--no-wav", "--out", str(out)]) == 0
    assert len(list(out.glob("*.mid"))) == 2


def test_pianoroll_trains_evaluates_and_composes(tmp_path, capsys):
    from .test_pianoroll_cli import write_benchmark

    data = write_benchmark(tmp_path / "jsb_chorales.json")
    run, meta = train(tmp_path, "--family", "pianoroll", "--arch", "transformer_nade",
                      "--corpus", data)
    assert meta["family"] == "transformer_nade"
    assert main(["evaluate", "--model", str(run / "best")]) == 0
    assert "test" in capsys.readouterr().out
    out = tmp_path / "rolls"
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--max-len", "40", "--primer", "corpus", "--no-wav", "--out", str(out)]) == 0
    assert len(list(out.glob("*.mid"))) == 2


@pytest.mark.slow
@pytest.mark.parametrize("family,arch", [("abc", "transformer"), ("events", "transformer"),
                                         ("pianoroll", "transformer_nade")])
def test_the_big_presets_run_a_few_steps_on_cpu(tmp_path, abc_corpus, family, arch):
    from tunesmith.io.midi import write_midi

    from .test_events_cli import make_piece
    from .test_pianoroll_cli import write_benchmark

    if family == "abc":
        corpus = abc_corpus
    elif family == "events":
        corpus = tmp_path / "midi"
        for i in range(4):
            write_midi(make_piece(i), corpus / f"piece{i}.mid")
    else:
        corpus = write_benchmark(tmp_path / "jsb_chorales.json")
    run = tmp_path / "run"
    assert main(["train", "--family", family, "--arch", arch, "--preset", "big", "--corpus",
                 str(corpus), "--out", str(run), "--no-progress", "--samples", "0",
                 "--steps", "3", "--batch-size", "2", "--seq-len", "128",
                 "--eval-every", "3", "--eval-max-items", "2"]) == 0
    assert (run / "best" / "model.safetensors").is_file()
