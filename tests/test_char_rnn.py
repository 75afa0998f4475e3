import pytest
import torch

from tunesmith.models.char_rnn import CharRNN, CharRNNConfig


@pytest.mark.parametrize(("cell", "batch"), [("lstm", 3), ("gru", 3), ("rnn", 3), ("lstm", 20)])
def test_step_logits_equal_the_full_forward_pass(cell, batch):
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=16,
                                  num_layers=2, cell=cell)).eval()
    tokens = torch.randint(0, 11, (batch, 12))
    full, _ = model(tokens)  # (B, T, V)
    state = model.init_state(batch)
    for t in range(12):
        logits, state = model.step(tokens[:, t : t + 1], state)
        assert torch.allclose(logits["token"], full[:, t], atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_prime_reads_primers_of_different_lengths_like_step(cell):
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=16,
                                  num_layers=2, cell=cell)).eval()
    tokens = torch.randint(0, 11, (3, 9, 1))
    # rows 3-5 repeat rows 0 and 2 (read once), row 5 with a shorter length (read apart)
    tokens, lengths = tokens[[0, 1, 2, 0, 2, 2]], torch.tensor([5, 1, 9, 5, 9, 4])
    with torch.no_grad():  # as the sampler reads primers
        logits, state = model.prime(tokens, lengths, model.init_state(6))
    for row, n in enumerate(lengths.tolist()):
        one = None
        for t in range(n):
            last, one = model.step(tokens[row : row + 1, t], one)
        torch.testing.assert_close(logits["token"][row], last["token"][0], atol=1e-5, rtol=1e-4)
        mine = state[0] if cell == "lstm" else state
        theirs = one[0] if cell == "lstm" else one
        torch.testing.assert_close(mine[:, row], theirs[:, 0], atol=1e-5, rtol=1e-4)


def test_outputs_are_causal():
    """Changing a later token never changes earlier logits."""
    model = CharRNN(CharRNNConfig(vocab_size=9, embedding_dim=4, hidden_size=8)).eval()
    a = torch.randint(0, 9, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 1) % 9
    assert torch.allclose(model(a)[0][:, :6], model(b)[0][:, :6])
    assert not torch.allclose(model(a)[0][:, 6:], model(b)[0][:, 6:])


def test_overfits_one_small_batch():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=12, embedding_dim=16, hidden_size=64))
    x = torch.randint(4, 12, (4, 33))
    batch = {"inputs": x[:, :-1], "targets": x[:, 1:]}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch)["loss"].item()
    for _ in range(200):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert first > 2.0 and out["loss"].item() < 0.05
    assert out["accuracy"].item() == 1.0


def test_padding_is_ignored_in_loss_and_count():
    model = CharRNN(CharRNNConfig(vocab_size=8, embedding_dim=4, hidden_size=8))
    x = torch.tensor([[1, 5, 6, 2, 0, 0]])
    out = model.loss({"inputs": x[:, :-1], "targets": x[:, 1:]})
    assert int(out["count"]) == 3


def test_step_follows_the_weights_after_training_and_loading():
    """step() keeps folded copies of the weights; an optimizer step or load_state_dict
    must not leave it sampling from the old ones."""
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=16)).eval()
    tokens = torch.randint(1, 11, (2, 6))

    def agrees():
        full, _ = model(tokens)
        state = None
        for t in range(6):
            logits, state = model.step(tokens[:, t : t + 1], state)
            if not torch.allclose(logits["token"], full[:, t], atol=1e-5):
                return False
        return True

    assert agrees()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.loss({"inputs": tokens[:, :-1], "targets": tokens[:, 1:]})["loss"].backward()
    opt.step()
    assert agrees()
    other = CharRNN(CharRNNConfig(vocab_size=11, embedding_dim=8, hidden_size=16))
    model.load_state_dict(other.state_dict())
    assert agrees()


def test_step_weights_give_the_plain_product_at_every_batch_size():
    """StepWeight multiplies a large weight by its oneDNN copy (bias or a whole added
    matrix fused) from StepWeight.BATCH_FROM rows on, and everything else by W^T."""
    from torch.profiler import profile

    from tunesmith.models.layers import StepWeight, onednn_linear

    torch.manual_seed(0)
    fused = set()  # (weight, batch, what was added) where the oneDNN op ran
    with torch.no_grad():
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
    from tunesmith.models.layers import StepWeight, lstm_weights, onednn_linear

    bias = torch.nn.Parameter(torch.randn(1024))
    sw = StepWeight(torch.randn(1024, 256))  # large enough for the oneDNN copy
    assert (sw.packed is not None) == onednn_linear()
    sw.addmm(bias, torch.randn(20, 256)).sum().backward()
    torch.testing.assert_close(bias.grad, torch.full((1024,), 20.0))
    (w_ih, w_hh, b), = lstm_weights(torch.nn.LSTM(4, 8).to(torch.bfloat16))
    assert w_ih.weight.dtype == w_hh.weight.dtype == b.dtype == torch.bfloat16


def test_step_weights_copy_and_pickle():
    """oneDNN's copy of a weight has no storage: copying or pickling a StepWeight builds
    a new one, which multiplies the same."""
    import copy
    import pickle

    from tunesmith.models.layers import StepWeight

    sw = StepWeight(torch.randn(1024, 256))
    x, add = torch.randn(5, 256), torch.randn(5, 1024)
    for twin in (copy.deepcopy(sw), pickle.loads(pickle.dumps(sw))):
        assert (twin.packed is None) == (sw.packed is None)
        assert twin.t.data_ptr() != sw.t.data_ptr()
        torch.testing.assert_close(twin.addmm(add, x), sw.addmm(add, x))
