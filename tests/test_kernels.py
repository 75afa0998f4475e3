"""The sampling-step kernels (models/kernels.py): the fast path and the plain PyTorch
reference path each give what ``forward()`` gives, and the same as each other."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch.profiler import profile

from tunesmith.models import kernels
from tunesmith.models.bernoulli_rnn import BernoulliRnn, BernoulliRnnConfig
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.models.event_lstm import EventLSTM, EventLSTMConfig
from tunesmith.models.kernels import StepWeight, lstm_step, lstm_weights, onednn_linear
from tunesmith.models.rnn_nade import RnnNade, RnnNadeConfig
from tunesmith.models.rnn_rbm import RnnRbm, RnnRbmConfig

SETTINGS = ("auto", "reference")


def close(a, b):
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def ran_onednn(prof) -> bool:
    """Whether a oneDNN product ran (a weight's reordering, done once, does not count)."""
    return any(e.name.startswith("mkldnn::_linear_pointwise") for e in prof.events())


def reordered(prof) -> bool:
    return any(e.name == "mkldnn::_reorder_linear_weight" for e in prof.events())


def stepped(model, step, inputs, setting):
    """``step(model, inputs[:, t], state)`` over every position under ``setting``: the
    outputs stacked on dim 1, the last state, and whether a oneDNN op ran."""
    onednn_linear()  # the probe (once per process) runs the ops: not inside the profile
    with kernels.forced(setting), profile() as prof:
        state, outs = None, []
        for t in range(inputs.shape[1]):
            out, state = step(model, inputs[:, t], state)
            outs.append(out)
    if setting == "reference":  # no oneDNN copy made, no oneDNN product
        assert not reordered(prof) and not ran_onednn(prof)
    return torch.stack(outs, 1), state, ran_onednn(prof)


def check_step(model, step, inputs, full, full_state, packed: bool):
    """step() equals the teacher-forced ``full`` (B, T, ...) at every position under both
    settings, auto equals reference, and oneDNN ran only where it should (``packed``:
    the model has a weight large enough and the batch is >= 2)."""
    results = {}
    for setting in SETTINGS:
        out, state, fused = stepped(model, step, inputs, setting)
        close(out, full)
        for mine, theirs in zip(state if isinstance(state, tuple) else (state,),
                                full_state if isinstance(full_state, tuple) else (full_state,),
                                strict=True):
            close(mine, theirs)
        assert fused == (setting == "auto" and packed and onednn_linear())
        results[setting] = out
    close(results["auto"], results["reference"])


# hidden 256: W_hh (1024 x 256) large enough for oneDNN's copy; batch 20 x 256 values:
# the fast cell without tanh; batch 1 with it
SIZES = [(1, 16), (3, 16), (1, 256), (3, 256), (20, 256)]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(("batch", "hidden"), SIZES)
def test_char_rnn_step_equals_forward_under_both_settings(cell, batch, hidden):
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=hidden,
                                  num_layers=2, cell=cell)).eval()
    tokens = torch.randint(0, 11, (batch, 8))
    with torch.no_grad():
        full, full_state = model(tokens)

    def step(m, x, state):
        logits, state = m.step(x[:, None], state)
        return logits["token"], state

    check_step(model, step, tokens, full, full_state,
               packed=cell == "lstm" and hidden == 256 and batch > 1)


@pytest.mark.parametrize(("batch", "hidden"), SIZES)
def test_event_lstm_step_equals_forward_under_both_settings(batch, hidden):
    cfg = EventLSTMConfig(note_classes=91, velocity_classes=17, time_classes=12, note_dim=8,
                          velocity_dim=4, time_dim=4, hidden_size=hidden, num_layers=2,
                          dropout=0.0)
    torch.manual_seed(0)
    model = EventLSTM(cfg).eval()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.stack([rng.integers(0, 91, (batch, 8)),
                                   rng.integers(0, 17, (batch, 8)),
                                   rng.integers(0, 12, (batch, 8))], axis=-1))
    with torch.no_grad():
        full, full_state = model(x)

    def step(m, ids, state):
        logits, state = m.step(ids, state)
        return logits.joined, state

    check_step(model, step, x, full.joined, full_state, packed=hidden == 256 and batch > 1)


PIANO_ROLL = {
    "bernoulli_rnn": lambda cell, h: BernoulliRnn(BernoulliRnnConfig(
        n_visible=12, rnn_hidden=h, cell=cell, num_layers=2)),
    "rnn_nade": lambda cell, h: RnnNade(RnnNadeConfig(
        n_visible=12, rnn_hidden=h, nade_hidden=6, cell=cell, num_layers=2)),
    "rnn_rbm": lambda cell, h: RnnRbm(RnnRbmConfig(
        n_visible=12, rnn_hidden=h, rbm_hidden=6, cell=cell, num_layers=2)),
}


@pytest.mark.parametrize("family", sorted(PIANO_ROLL))
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(("batch", "hidden"), [(1, 16), (3, 256), (20, 256)])
def test_frame_rnn_step_equals_forward_under_both_settings(family, cell, batch, hidden):
    """FrameRNN.step(frame t) gives the context for frame t + 1: forward()'s context
    shifted by one, and forward()'s state after the last frame."""
    torch.manual_seed(0)
    model = PIANO_ROLL[family](cell, hidden).eval()
    frames = (torch.rand(batch, 8, 12) < 0.3).float()
    with torch.no_grad():
        context, full_state = model.rnn(frames)
        after, _ = model.rnn(torch.cat([frames, frames[:, :1]], 1))  # one more frame
    check_step(model, lambda m, f, s: m.rnn.step(f, s), frames, after[:, 1:], full_state,
               packed=cell == "lstm" and hidden == 256 and batch > 1)
    close(after[:, :-1], context)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_lstm_step_from_inputs_equals_nn_lstm(bias, batch):
    """lstm_step on plain inputs (not a gate table), with and without biases, on each
    path: nn.LSTM's own outputs and state."""
    torch.manual_seed(0)
    rnn = torch.nn.LSTM(5, 256, num_layers=2, bias=bias, batch_first=True)
    x = torch.randn(batch, 6, 5)
    with torch.no_grad():
        full, full_state = rnn(x)
        for fast in (True, False):
            weights = lstm_weights(rnn, fast=fast)
            assert weights.fast is fast
            state = None
            for t in range(6):
                y, state = lstm_step(weights, x[:, t], state)
                close(y, full[:, t])
            close(state[0], full_state[0])
            close(state[1], full_state[1])
        with pytest.raises(ValueError):
            kernels.lstm_step_reference(lstm_weights(rnn, fast=True), x[:, 0], None)


@pytest.mark.parametrize("batch", [1, 2, 64])
@pytest.mark.parametrize("fast", [True, False])
def test_step_weight_is_the_plain_product_with_and_without_the_packed_path(batch, fast):
    torch.manual_seed(0)
    for out, inp in ((1024, 256), (24, 10)):
        w, bias = torch.randn(out, inp), torch.randn(out)
        onednn_linear()  # the probe runs the ops once: not inside the profile
        sw = StepWeight(w, fast=fast)
        large = w.numel() >= StepWeight.PACKED_FROM
        assert (sw.packed is not None) == (fast and large and onednn_linear())
        x = torch.randn(batch, inp)
        with torch.no_grad():
            for add in (bias, torch.randn(batch, out)):
                with profile() as prof:
                    got = sw.addmm(add, x)
                close(got, add + torch.nn.functional.linear(x, w))
                assert ran_onednn(prof) == (sw.packed is not None and batch >= 2)


def test_step_weight_follows_the_setting_when_not_told():
    w = torch.randn(1024, 256)
    with kernels.forced("reference"):
        assert StepWeight(w).packed is None and not StepWeight(w).fast
    with kernels.forced("auto"):
        assert (StepWeight(w).packed is not None) == onednn_linear()


def test_the_plain_path_where_the_probe_finds_no_operators(monkeypatch):
    """``auto`` on a build without the private operators: no oneDNN copy, no oneDNN op,
    the same results as the reference path."""
    monkeypatch.setattr(kernels, "onednn_linear", lambda: False)
    assert StepWeight(torch.randn(1024, 256), fast=True).packed is None
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=256,
                                  num_layers=2)).eval()
    tokens = torch.randint(0, 11, (4, 6))

    def step(m, x, state):
        logits, state = m.step(x[:, None], state)
        return logits["token"], state

    with profile() as prof:
        auto, _, _ = stepped(model, step, tokens, "auto")
    assert not ran_onednn(prof) and not reordered(prof)
    reference, _, _ = stepped(model, step, tokens, "reference")
    close(auto, reference)


def test_the_probe_says_no_where_the_operators_fail(monkeypatch):
    probe = onednn_linear.__wrapped__  # the probe itself, not its cached answer
    for error in (AttributeError, RuntimeError, NotImplementedError):
        def missing(*args, error=error):
            raise error("not in this build")

        monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", missing)
        assert probe() is False
    monkeypatch.undo()
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert probe() is False


def test_the_setting_is_read_once_from_the_environment(monkeypatch):
    monkeypatch.setattr(kernels, "_setting", None)
    monkeypatch.setenv(kernels.SETTING, "reference")
    assert kernels.mode() == "reference"
    monkeypatch.setenv(kernels.SETTING, "auto")
    assert kernels.mode() == "reference"  # read at first use only
    with kernels.forced("auto"):
        assert kernels.mode() == "auto"
        with kernels.forced("reference"):
            assert kernels.mode() == "reference"
        assert kernels.mode() == "auto"
    assert kernels.mode() == "reference"
    monkeypatch.setattr(kernels, "_setting", None)
    monkeypatch.delenv(kernels.SETTING)
    assert kernels.mode() == "auto"
    monkeypatch.setattr(kernels, "_setting", None)
    monkeypatch.setenv(kernels.SETTING, "fastest")
    with pytest.raises(ValueError, match=kernels.SETTING):
        kernels.mode()
    with pytest.raises(ValueError), kernels.forced("fastest"):
        pass


def test_a_model_rebuilds_its_step_weights_when_the_setting_changes():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=16)).eval()
    x = torch.randint(0, 11, (2, 1))
    for setting in ("auto", "reference", "auto"):
        with kernels.forced(setting):
            model.step(x, None)
            layers = model.__dict__["_step_cache"][-1][0]
            assert layers.fast == (setting == "auto")


# --- moved from test_char_rnn.py (StepWeight and lstm_weights), on the auto path


def test_step_weights_give_the_plain_product_at_every_batch_size():
    """StepWeight multiplies a large weight by its oneDNN copy (bias or a whole added
    matrix fused) from StepWeight.BATCH_FROM rows on, and everything else by W^T."""
    torch.manual_seed(0)
    fused = set()  # (weight, batch, what was added) where the oneDNN op ran
    with torch.no_grad(), kernels.forced("auto"):
        for name, (out, inp) in (("large", (1024, 256)), ("small", (24, 10))):
            w, bias = torch.randn(out, inp), torch.randn(out)
            sw = StepWeight(w)
            for b in (1, 2, 5, 64):
                x = torch.randn(b, inp)
                for kind, add in (("bias", bias), ("matrix", torch.randn(b, out))):
                    with profile() as prof:
                        torch.testing.assert_close(sw.addmm(add, x), add + x @ w.T,
                                                   atol=1e-4, rtol=1e-5)
                    if any(e.name == "mkldnn::_linear_pointwise" for e in prof.events()):
                        fused.add((name, b, kind))
    assert 1024 * 256 >= StepWeight.PACKED_FROM > 24 * 10 and StepWeight.BATCH_FROM == 2
    if onednn_linear():  # this build has oneDNN: the fused path ran, only where it should
        assert fused == {("large", b, k) for b in (2, 5, 64) for k in ("bias", "matrix")}
    else:
        assert not fused


def test_step_weights_keep_gradients_and_dtypes():
    """A bias that needs a gradient takes the plain product (oneDNN's op has no backward:
    it would leave the gradient None), and the step weights keep the LSTM's dtype."""
    with kernels.forced("auto"):
        bias = torch.nn.Parameter(torch.randn(1024))
        sw = StepWeight(torch.randn(1024, 256))  # large enough for the oneDNN copy
        assert (sw.packed is not None) == onednn_linear()
        sw.addmm(bias, torch.randn(20, 256)).sum().backward()
        torch.testing.assert_close(bias.grad, torch.full((1024,), 20.0))
        (w_ih, w_hh, b), = lstm_weights(torch.nn.LSTM(4, 8).to(torch.bfloat16))
        assert w_ih.weight.dtype == w_hh.weight.dtype == b.dtype == torch.bfloat16
    (w_ih, w_hh, b), = lstm_weights(torch.nn.LSTM(4, 8).to(torch.bfloat16), fast=False)
    assert w_ih.weight.dtype == w_hh.weight.dtype == b.dtype == torch.bfloat16


def test_step_weights_copy_and_pickle():
    """oneDNN's copy of a weight has no storage: copying or pickling a StepWeight builds
    a new one, which multiplies the same."""
    with kernels.forced("auto"):
        sw = StepWeight(torch.randn(1024, 256))
    x, add = torch.randn(5, 256), torch.randn(5, 1024)
    for twin in (copy.deepcopy(sw), pickle.loads(pickle.dumps(sw))):
        assert (twin.packed is None) == (sw.packed is None)
        assert twin.t.data_ptr() != sw.t.data_ptr()
        torch.testing.assert_close(twin.addmm(add, x), sw.addmm(add, x))
