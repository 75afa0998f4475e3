"""Batch sources for autoregressive token models: one id per step (``abc_chars``) or
several (``events``: ``(note, velocity, time)`` per message, arrays of shape ``(L, H)``).

Training draws random windows from the concatenation of all training sequences; which
windows a step gets is a pure function of ``(seed, step)``, so a resumed run sees exactly
the batches the uninterrupted run would have seen, with no sampler state to save.
Validation runs over whole sequences, each from its start (as sampling does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch


class TokenWindows:
    """Random training windows of ``seq_len + 1`` tokens over the concatenated sequences.

    A share ``aligned`` of each batch's windows starts exactly at a sequence's first token
    (its start marker). The model begins every window from a zero state, and sampling and
    validation begin every tune that way; windows that start at random positions almost
    never show it a start marker in that state, and a model trained only on those began
    7.6% of its sampled tunes with a broken header. The other windows start anywhere, so
    the later parts of long tunes are trained on too.

    ``weights`` (one float array per sequence, as long as it) give each token's weight as
    a target; batches then carry ``weights`` beside ``targets`` for the model's loss.
    """

    def __init__(self, sequences: Sequence, seq_len: int, batch_size: int,
                 seed: int = 0, aligned: float = 0.5, augment: Callable | None = None,
                 weights: Sequence[np.ndarray] | None = None):
        lengths = [len(s) for s in sequences]
        self.stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        self.weights = (None if weights is None else
                        np.concatenate([np.asarray(w, np.float32) for w in weights]))
        self.batch_size, self.seed = batch_size, seed
        self.augment = augment  # (windows (B, T+1, ...), rng) -> windows, e.g. transposition
        if len(self.stream) < 2:
            raise ValueError("training data has fewer than two tokens")
        self.seq_len = min(seq_len, len(self.stream) - 1)
        last_start = len(self.stream) - self.seq_len - 1
        self.starts = np.minimum(np.cumsum([0] + lengths[:-1]), last_start)  # (n_sequences,)
        self.n_aligned = int(round(aligned * batch_size))

    @property
    def tokens_per_batch(self) -> int:
        return self.seq_len * self.batch_size

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        n_random = self.batch_size - self.n_aligned
        starts = np.concatenate([
            self.starts[rng.integers(0, len(self.starts), size=self.n_aligned)],
            rng.integers(0, len(self.stream) - self.seq_len, size=n_random),
        ])
        idx = starts[:, None] + np.arange(self.seq_len + 1)  # (B, T+1)
        w = self.stream[idx]  # (B, T+1) or (B, T+1, H)
        if self.augment is not None:
            w = self.augment(w, rng)
        w = torch.from_numpy(np.ascontiguousarray(w))
        batch = {"inputs": w[:, :-1], "targets": w[:, 1:]}
        if self.weights is not None:
            batch["weights"] = torch.from_numpy(self.weights[idx[:, 1:]])
        return batch


class SequenceBatches:
    """Whole sequences grouped by length; iterable many times. Inputs are padded with 0,
    targets with ``pad_target`` (the id the model's loss ignores)."""

    def __init__(self, sequences: Sequence, batch_size: int = 32, max_items: int = 0,
                 max_len: int = 4096, pad_target: int = 0):
        seqs = [np.asarray(s, dtype=np.int64)[:max_len] for s in sequences if len(s) > 1]
        if max_items:
            seqs = seqs[:max_items]
        self.sequences = sorted(seqs, key=len)
        self.batch_size = batch_size
        self.pad_target = pad_target

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[dict]:
        for i in range(0, len(self.sequences), self.batch_size):
            group = self.sequences[i : i + self.batch_size]
            width = max(len(s) for s in group)
            arr = np.zeros((len(group), width, *group[0].shape[1:]), dtype=np.int64)
            targets = np.full_like(arr, self.pad_target)
            for j, s in enumerate(group):
                arr[j, : len(s)] = s
                targets[j, : len(s)] = s
            yield {"inputs": torch.from_numpy(arr[:, :-1]),
                   "targets": torch.from_numpy(np.ascontiguousarray(targets[:, 1:]))}
