"""The shared sampler, on a model whose next-token distribution is known exactly."""

import torch

from tunesmith.sampling.decode import sample
from tunesmith.sampling.filters import SamplingSettings

LOGITS = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])


class Fixed:
    """Same logits at every step, whatever came before."""

    primes = False

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


class ThreeHeads:
    """Three heads (sizes 5, 3, 4) whose logits depend on the last ids; ``joined``: the
    logits come as one tensor (HeadLogits, as event_lstm's step gives them)."""

    SIZES = {"a": 5, "b": 3, "c": 4}
    primes = False

    def __init__(self, joined: bool):
        self.joined = joined
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(12, 12, generator=g)  # (last ids one-hot) -> logits

    def eval(self):
        return self

    def init_state(self, batch):
        return None

    def step(self, ids, state):
        from tunesmith.models.layers import HeadLogits

        onehot = torch.zeros(len(ids), 12)
        onehot.scatter_(1, ids + torch.tensor([0, 5, 8]), 1.0)
        out = onehot @ self.table
        if self.joined:
            return HeadLogits(out, self.SIZES), state
        parts = out.split(list(self.SIZES.values()), -1)
        return dict(zip(self.SIZES, parts, strict=True)), state


def test_the_joint_draw_of_every_head_equals_the_draw_head_by_head(monkeypatch):
    from tunesmith.sampling import decode

    calls = []
    draw = decode._JointDraw.draw
    monkeypatch.setattr(decode._JointDraw, "draw",
                        lambda self, *a: calls.append(1) or draw(self, *a))
    kw = {"num": 7, "max_steps": 30, "heads": list(ThreeHeads.SIZES), "seed": 5,
          "settings": SamplingSettings(), "banned": {"a": [1], "c": [0, 3]}}
    joint = sample(ThreeHeads(joined=True), [[0, 0, 0]], **kw)
    assert len(calls) == 30  # the joint draw ran, once a step
    calls.clear()
    assert joint == sample(ThreeHeads(joined=False), [[0, 0, 0]], **kw)
    assert not calls  # ... and the reference drew head by head
    ids = torch.tensor(joint)  # (7, 30, 3)
    assert not bool((ids[..., 0] == 1).any() | (ids[..., 2] == 0).any() | (ids[..., 2] == 3).any())
    assert int(ids[..., 1].max()) <= 2 and int(ids[..., 2].max()) <= 3  # within each head
    # a filter on one head: every head is drawn head by head
    calls.clear()
    sample(ThreeHeads(joined=True), [[0, 0, 0]], **(kw | {"settings": {
        "a": SamplingSettings(top_k=2), "b": SamplingSettings(), "c": SamplingSettings()}}))
    assert not calls


def test_the_joint_draw_follows_each_heads_softmax():
    out = sample(ThreeHeads(joined=True), [[0, 0, 0]], num=6000, max_steps=1,
                 heads=list(ThreeHeads.SIZES), settings=SamplingSettings(), seed=2)
    ids = torch.tensor([seq[0] for seq in out])  # (6000, 3)
    logits, _ = ThreeHeads(joined=True).step(torch.zeros(1, 3, dtype=torch.long), None)
    for k, h in enumerate(ThreeHeads.SIZES):
        freq = torch.bincount(ids[:, k], minlength=ThreeHeads.SIZES[h]).float() / len(ids)
        torch.testing.assert_close(freq, logits[h][0].softmax(-1), atol=0.025, rtol=0)
