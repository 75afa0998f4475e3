"""Batch sources for (source, target) pairs: a phrase and what follows it (``seq2seq``).

A pair is ``(source ids, target ids, style ids)``; the target starts with BOS (the
decoder's first input). Training draws ``batch_size`` random pairs per step, a pure
function of ``(seed, step)`` (exact resume, as :class:`~tunesmith.data.tokens.TokenWindows`);
validation goes over every pair once, grouped by length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

Pair = tuple[Sequence[int], Sequence[int], Sequence[int]]
IGNORE = -100  # what pads pairs of messages: no id, nothing scored


def collate(pairs: Sequence[Pair]) -> dict:
    """Pairs -> ``source`` (B, S), ``source_len`` (B,), ``style`` (B, sets), ``target``
    (B, T + 1), padded with 0 (a vocabulary's padding id). Pairs of messages, one id per
    head, give (B, S, K) and (B, T + 1, K), padded with -100 (nothing scored)."""
    width_s = max(len(p[0]) for p in pairs)
    width_t = max(len(p[1]) for p in pairs)
    heads = np.shape(pairs[0][1])[1:]  # () for ids, (K,) for messages
    pad = IGNORE if heads else 0
    source = np.full((len(pairs), width_s, *heads), pad, dtype=np.int64)
    target = np.full((len(pairs), width_t, *heads), pad, dtype=np.int64)
    for k, (s, t, _) in enumerate(pairs):
        source[k, :len(s)] = s
        target[k, :len(t)] = t
    style = np.array([list(p[2]) for p in pairs], dtype=np.int64).reshape(len(pairs), -1)
    return {"source": torch.from_numpy(source),
            "source_len": torch.tensor([len(p[0]) for p in pairs]),
            "style": torch.from_numpy(style), "target": torch.from_numpy(target)}


def style_weights(pairs: Sequence[Pair]) -> np.ndarray:
    """Each pair's chance of being drawn so that every style is drawn alike: 1 / (pairs of
    its style). With several label sets (tradition and tune type), the geometric mean of
    each set's 1 / count, so each set is balanced half-way (a pair of a rare tradition and
    a rare type is drawn most). Unlabelled pairs count as a style of their own."""
    ids = np.array([list(p[2]) for p in pairs], dtype=np.int64).reshape(len(pairs), -1)
    log_w = np.zeros(len(pairs))
    for column in ids.T:
        _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
        log_w -= np.log(counts[inverse]) / ids.shape[1]
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


class PairBatches:
    """Random training batches of pairs. With ``steps`` (the run's length), each batch
    also carries ``progress`` (B,): the step's share of the run, every row alike (a
    model may schedule something by it, as ``seq2seq`` does its teacher forcing; one
    value per row, so a batch cut into rows keeps it). With ``balance``, pairs are drawn
    with :func:`style_weights`, so a style with few pairs is seen as often as a common
    one (a corpus of 60 long piano pieces and 400 short chorales otherwise trains
    mostly on the pieces)."""

    def __init__(self, pairs: Sequence[Pair], batch_size: int, seed: int = 0,
                 steps: int = 0, augment=None, balance: bool = False):
        if not pairs:
            raise ValueError("no training pairs")
        self.pairs, self.batch_size, self.seed, self.steps = pairs, batch_size, seed, steps
        self.augment = augment  # (pair, rng) -> pair, e.g. transposing both phrases alike
        self.weights = style_weights(pairs) if balance else None
        sizes = np.array([len(p[1]) - 1 for p in pairs])
        mean = sizes @ self.weights if balance else sizes.mean()
        self.tokens_per_batch = batch_size * int(mean)

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        if self.weights is None:
            picked = rng.integers(0, len(self.pairs), self.batch_size)
        else:
            picked = rng.choice(len(self.pairs), self.batch_size, p=self.weights)
        chosen = [self.pairs[i] for i in picked]
        if self.augment is not None:
            chosen = [self.augment(p, rng) for p in chosen]
        out = collate(chosen)
        if self.steps:
            # the run trains steps 0 .. steps - 1: the last one is all the way
            done = min(step / max(self.steps - 1, 1), 1.0)
            out["progress"] = torch.full((self.batch_size,), done)
        return out


class PairSet:
    """Every pair once (``max_items``: that many, drawn evenly from the whole list with a
    fixed seed, so a corpus whose pairs come style by style is validated on every style),
    sorted by target length; iterable many times."""

    def __init__(self, pairs: Sequence[Pair], batch_size: int = 64, max_items: int = 0):
        pairs = list(pairs)
        if max_items and len(pairs) > max_items:
            keep = np.sort(np.random.default_rng(0).choice(len(pairs), max_items,
                                                           replace=False))
            pairs = [pairs[i] for i in keep]
        self.pairs = sorted(pairs, key=lambda p: (len(p[1]), len(p[0])))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[dict]:
        for i in range(0, len(self.pairs), self.batch_size):
            yield collate(self.pairs[i:i + self.batch_size])
