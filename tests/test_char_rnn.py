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
