"""Batch sources for piano-roll models: sequences of binary frames, each (T, V) uint8.

A batch is ``{"frames": (B, L, V) float32 0/1, "mask": (B, L) bool}``; ``mask`` marks the
frames that are scored (padding is not). Sequences whose arrays hold more columns than the
``n_visible`` keys carry the representation's inputs there (``PianoRoll.with_inputs``):
those come out as ``"inputs": (B, L, F) int64`` (0 in padding), never transposed, but for
their last ``proposal_keys`` columns: a lookback's proposed frame, keys that move with the
frames.

As in :mod:`tunesmith.data.tokens`, which windows a training step gets is a pure function
of ``(seed, step)`` (exact resume, no sampler state).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from tunesmith.representations.pianoroll import PianoRoll


class FrameWindows:
    """Random training windows of ``seq_len`` frames, each inside one sequence (a window
    never runs from one piece into the next). Sequences are drawn in proportion to their
    length (a window of a piece shorter than ``seq_len`` holds all of it, so its frames
    are seen somewhat less often than those of long pieces). A share ``aligned`` of the
    windows starts at a sequence's first frame, where the model starts from a zero state
    as it does in evaluation and generation; in the other windows the first frame has no
    past, so it is not scored. ``transpose`` > 0 shifts each window by a random number of
    semitones in [-transpose, transpose], limited so that every note stays on the
    keyboard (the proposed frame's too, with ``proposal_keys``)."""

    def __init__(self, sequences: Sequence[np.ndarray], seq_len: int, batch_size: int,
                 seed: int = 0, aligned: float = 0.25, transpose: int = 0,
                 n_visible: int | None = None, proposal_keys: int = 0):
        self.sequences = [np.asarray(s, dtype=np.uint8) for s in sequences if len(s) > 0]
        if not self.sequences:
            raise ValueError("no training frames")
        self.lengths = np.array([len(s) for s in self.sequences])
        self.p = self.lengths / self.lengths.sum()
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.n_aligned = int(round(aligned * batch_size))
        self.transpose = transpose
        self.n_visible = n_visible or self.sequences[0].shape[1]
        self.proposal_keys = proposal_keys

    @property
    def tokens_per_batch(self) -> int:
        return self.seq_len * self.batch_size

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        which = rng.choice(len(self.sequences), size=self.batch_size, p=self.p)
        v = self.n_visible
        frames = np.zeros((self.batch_size, self.seq_len, v), dtype=np.float32)
        inputs = np.zeros((self.batch_size, self.seq_len, self.sequences[0].shape[1] - v),
                          dtype=np.int64)
        mask = np.zeros((self.batch_size, self.seq_len), dtype=bool)
        for row, i in enumerate(which):
            seq = self.sequences[i]
            start = 0
            if row >= self.n_aligned and len(seq) > self.seq_len:
                start = int(rng.integers(0, len(seq) - self.seq_len + 1))
            w = seq[start : start + self.seq_len, :v]
            extra = seq[start : start + self.seq_len, v:]
            if self.transpose:
                proposed = extra[:, extra.shape[1] - self.proposal_keys:]
                keys = np.nonzero(w.any(0) | (proposed.any(0) if self.proposal_keys else 0))[0]
                lo, hi = ((-self.transpose, self.transpose) if len(keys) == 0 else
                          (max(-self.transpose, -int(keys[0])),
                           min(self.transpose, self.n_visible - 1 - int(keys[-1]))))
                shift = int(rng.integers(lo, hi + 1))
                w = PianoRoll.transpose(w, shift)
                if self.proposal_keys:
                    extra = np.concatenate([extra[:, : extra.shape[1] - self.proposal_keys],
                                            PianoRoll.transpose(proposed, shift)], 1)
            inputs[row, : len(w)] = extra
            frames[row, : len(w)] = w
            mask[row, : len(w)] = True
            if start > 0:
                mask[row, 0] = False
        return _batch(frames, mask, inputs)


def _batch(frames: np.ndarray, mask: np.ndarray, inputs: np.ndarray) -> dict:
    out = {"frames": torch.from_numpy(frames), "mask": torch.from_numpy(mask)}
    if inputs.shape[-1]:
        out["inputs"] = torch.from_numpy(inputs)
    return out


class FrameBatches:
    """Whole sequences, each scored from its first frame, grouped by length into batches
    of at most ``max_frames`` padded frames (a long MuseData piece has 4,000+ frames, and
    a NADE holds a (frames, keys, hidden) tensor). Iterable many times."""

    def __init__(self, sequences: Sequence[np.ndarray], max_frames: int = 8192,
                 max_items: int = 0, n_visible: int | None = None):
        seqs = [np.asarray(s, dtype=np.uint8) for s in sequences if len(s) > 0]
        if max_items:
            seqs = seqs[:max_items]
        self.sequences = sorted(seqs, key=len)
        self.max_frames = max_frames
        self.n_visible = n_visible

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def frames(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def __iter__(self) -> Iterator[dict]:
        group: list[np.ndarray] = []
        for s in self.sequences:  # ascending length: the newest is the longest
            if group and len(s) * (len(group) + 1) > self.max_frames:
                yield self._pack(group)
                group = []
            group.append(s)
        if group:
            yield self._pack(group)

    def _pack(self, group: list[np.ndarray]) -> dict:
        width = max(len(s) for s in group)
        v = self.n_visible or group[0].shape[1]
        frames = np.zeros((len(group), width, v), dtype=np.float32)
        inputs = np.zeros((len(group), width, group[0].shape[1] - v), dtype=np.int64)
        mask = np.zeros((len(group), width), dtype=bool)
        for j, s in enumerate(group):
            frames[j, : len(s)] = s[:, :v]
            inputs[j, : len(s)] = s[:, v:]
            mask[j, : len(s)] = True
        return _batch(frames, mask, inputs)
