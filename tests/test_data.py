import torch

from tunesmith.data.tokens import SequenceBatches, TokenWindows

SEQS = [[1] + [5 + (i % 7)] * (3 + i % 11) + [2] for i in range(50)]  # BOS=1 ... EOS=2


def test_windows_are_a_pure_function_of_the_step():
    a, b = TokenWindows(SEQS, 8, 6, seed=4), TokenWindows(SEQS, 8, 6, seed=4)
    assert torch.equal(a.batch(17)["inputs"], b.batch(17)["inputs"])
    assert not torch.equal(a.batch(17)["inputs"], a.batch(18)["inputs"])


def test_half_the_windows_start_at_a_tune_start():
    w = TokenWindows(SEQS, 8, 10, seed=0)
    for step in range(20):
        batch = w.batch(step)
        assert (batch["inputs"][:5, 0] == 1).all()  # aligned rows begin with BOS
        assert torch.equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])


def test_validation_batches_cover_every_token_once():
    batches = list(SequenceBatches(SEQS, batch_size=7))
    targets = sum(int((b["targets"] != 0).sum()) for b in batches)
    assert targets == sum(len(s) - 1 for s in SEQS)
