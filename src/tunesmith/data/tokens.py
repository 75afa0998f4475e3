"""Batch sources for single-stream token models (``abc_chars``).

Training draws random windows from the concatenation of all training sequences; which
windows a step gets is a pure function of ``(seed, step)``, so a resumed run sees exactly
the batches the uninterrupted run would have seen, with no sampler state to save.
Validation runs over whole sequences, each from its start (as sampling does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


class TokenWindows:
    def __init__(self, sequences: Sequence[Sequence[int]], seq_len: int, batch_size: int,
                 seed: int = 0):
        self.stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        if len(self.stream) < 2:
            raise ValueError("training data has fewer than two tokens")
        self.seq_len = min(seq_len, len(self.stream) - 1)

    @property
    def tokens_per_batch(self) -> int:
        return self.seq_len * self.batch_size

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        starts = rng.integers(0, len(self.stream) - self.seq_len, size=self.batch_size)
        idx = starts[:, None] + np.arange(self.seq_len + 1)  # (B, T+1)
        w = torch.from_numpy(self.stream[idx])
        return {"inputs": w[:, :-1], "targets": w[:, 1:]}


class SequenceBatches:
    """Whole sequences, padded with 0, grouped by length; iterable many times."""

    def __init__(self, sequences: Sequence[Sequence[int]], batch_size: int = 32,
                 max_items: int = 0, max_len: int = 4096):
        seqs = [list(s)[:max_len] for s in sequences if len(s) > 1]
        if max_items:
            seqs = seqs[:max_items]
        self.sequences = sorted(seqs, key=len)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[dict]:
        for i in range(0, len(self.sequences), self.batch_size):
            group = self.sequences[i : i + self.batch_size]
            width = max(len(s) for s in group)
            arr = np.zeros((len(group), width), dtype=np.int64)
            for j, s in enumerate(group):
                arr[j, : len(s)] = s
            t = torch.from_numpy(arr)
            yield {"inputs": t[:, :-1], "targets": t[:, 1:]}
