"""Batch sources of note rows (:mod:`tunesmith.representations.notes`) for the RNN-GAN.

A training batch is ``batch_size`` windows of ``seq_len`` consecutive notes, each inside
one piece (a window across two pieces would show the discriminator a seam no real piece
has), drawn as a pure function of ``(seed, step)`` so that a resumed run sees exactly the
batches the uninterrupted run would have seen. Each batch carries its ``step`` (one per
row, as every tensor of a batch has the batch on its first axis): the model's MLE
pre-training ends at a step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


class NoteWindows:
    """Random windows of ``seq_len`` rows from the pieces at least that long (a piece is
    drawn in proportion to the windows it holds), each transposed by up to ``transpose``
    semitones."""

    def __init__(self, pieces: Sequence[np.ndarray], seq_len: int, batch_size: int,
                 seed: int = 0, transpose: int = 0):
        self.pieces = [np.asarray(p, np.float32) for p in pieces if len(p) >= seq_len]
        if not self.pieces:
            longest = max((len(p) for p in pieces), default=0)
            raise ValueError(f"no training piece has {seq_len} notes (the longest has "
                             f"{longest}): use a shorter --seq-len")
        self.seq_len, self.batch_size = seq_len, batch_size
        self.seed, self.transpose = seed, transpose
        starts = np.array([len(p) - seq_len + 1 for p in self.pieces], np.float64)
        self.weights = starts / starts.sum()

    @property
    def tokens_per_batch(self) -> int:
        return self.seq_len * self.batch_size

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        which = rng.choice(len(self.pieces), size=self.batch_size, p=self.weights)
        rows = []
        for i in which:
            piece = self.pieces[i]
            start = int(rng.integers(0, len(piece) - self.seq_len + 1))
            rows.append(piece[start:start + self.seq_len])
        windows = np.stack(rows)
        if self.transpose:
            shift = rng.integers(-self.transpose, self.transpose + 1, size=self.batch_size)
            windows[..., 0] += shift[:, None] / 12.0
        return {"notes": torch.from_numpy(windows),
                "step": torch.full((self.batch_size,), step, dtype=torch.long)}


class NoteBlocks:
    """Validation: each piece cut into consecutive windows of ``seq_len`` rows from its
    start (a shorter tail is left out), in batches of ``batch_size``; the same batches at
    every pass. ``max_items`` > 0 reads only the first that many pieces."""

    def __init__(self, pieces: Sequence[np.ndarray], seq_len: int, batch_size: int = 32,
                 max_items: int = 0):
        pieces = list(pieces)[:max_items] if max_items else list(pieces)
        self.blocks = [np.asarray(p[s:s + seq_len], np.float32) for p in pieces
                       for s in range(0, len(p) - seq_len + 1, seq_len)]
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.blocks) // self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        for i in range(0, len(self.blocks), self.batch_size):
            notes = torch.from_numpy(np.stack(self.blocks[i:i + self.batch_size]))
            yield {"notes": notes, "step": torch.zeros(len(notes), dtype=torch.long)}
