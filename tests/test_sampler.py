"""The shared sampler, on a model whose next-token distribution is known exactly."""

import torch

from tunesmith.sampling.decode import sample
from tunesmith.sampling.filters import SamplingSettings

LOGITS = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])


class Fixed:
    """Same logits at every step, whatever came before."""

    def eval(self):
        return self

    def init_state(self, batch):
        return None

    def step(self, ids, state):
        return {"token": LOGITS.expand(ids.shape[0], -1)}, state


def draws(n=4000, **kw):
    out = sample(Fixed(), [[0]], num=n, max_steps=1, heads=["token"],
                 settings=SamplingSettings(), seed=1, **kw)
    return torch.tensor([seq[0][0] for seq in out])


def test_draws_follow_the_softmax():
    counts = torch.bincount(draws(), minlength=5).float() / 4000
    torch.testing.assert_close(counts, LOGITS.softmax(-1), atol=0.025, rtol=0)


def test_banned_ids_are_never_drawn_and_the_rest_renormalise():
    got = draws(banned={"token": [0, 3]})
    assert not bool(((got == 0) | (got == 3)).any())
    counts = torch.bincount(got, minlength=5).float() / len(got)
    want = LOGITS.index_fill(0, torch.tensor([0, 3]), float("-inf")).softmax(-1)
    torch.testing.assert_close(counts, want, atol=0.03, rtol=0)


def test_a_seed_gives_the_same_draws_and_lengths_stop_at_the_stop_token():
    a = sample(Fixed(), [[0]], num=6, max_steps=40, heads=["token"],
               settings=SamplingSettings(), seed=3, stop=("token", 4))
    b = sample(Fixed(), [[0]], num=6, max_steps=40, heads=["token"],
               settings=SamplingSettings(), seed=3, stop=("token", 4))
    assert a == b
    for seq in a:
        ids = [s[0] for s in seq]
        assert 4 not in ids[:-1]  # cut right after the first stop
        assert ids[-1] == 4 or len(ids) == 40
