"""A style classifier for ABC passages: does a continuation sound like the style it was
asked for? (the ``continue`` family's style control, issue 20)

:class:`StyleClassifier` is multinomial logistic regression over hashed character n-grams
(1 to :data:`MAX_N` characters) of a passage of ABC music (a few bars, no header): the
n-grams of ABC text carry what tells folk styles apart (note lengths ``3/2``, ``>``
dotted rhythms, triplets ``(3``, bar lengths, the pentatonic scales of Chinese songs,
German songs' long notes). It is trained on real tunes only and judged on held-out real
ones before it judges generated music.

Written here on torch (an ``EmbeddingBag`` of n-gram weights is the whole model) rather
than with scikit-learn's ``HashingVectorizer`` + ``LogisticRegression``, which would do the
same but add scikit-learn and SciPy (neither is a dependency of tunesmith) for one linear
model in a benchmark. Hashing is CRC-32, not Python's ``hash`` (salted per process), so a
classifier is the same in every run.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

MAX_N = 4  # longest n-gram (characters)
BUCKETS = 1 << 18  # hashed n-gram features


def ngram_features(text: str, max_n: int = MAX_N, buckets: int = BUCKETS
                   ) -> tuple[list[int], list[float]]:
    """The passage's n-grams (1..``max_n`` characters, whitespace runs read as one space)
    as (bucket ids, weights): each count damped as 1 + log(count), the vector scaled to
    unit length, so long and short passages weigh alike."""
    text = " ".join(text.split())
    counts: Counter = Counter()
    for n in range(1, max_n + 1):
        for i in range(len(text) - n + 1):
            counts[zlib.crc32(f"{n}{text[i:i + n]}".encode()) % buckets] += 1
    if not counts:
        return [], []
    ids = list(counts)
    w = [1.0 + math.log(counts[k]) for k in ids]
    norm = math.sqrt(sum(x * x for x in w))
    return ids, [x / norm for x in w]


class StyleClassifier:
    """Logistic regression from a passage's n-grams to one of ``labels``."""

    def __init__(self, labels: Sequence[str], buckets: int = BUCKETS, max_n: int = MAX_N):
        import torch

        self.labels = list(labels)
        self.buckets, self.max_n = buckets, max_n
        self.weights = torch.nn.EmbeddingBag(buckets, len(self.labels), mode="sum")
        torch.nn.init.zeros_(self.weights.weight)
        self.bias = torch.nn.Parameter(torch.zeros(len(self.labels)))

    def _bags(self, texts: Sequence[str]):
        import torch

        ids, weights, offsets = [], [], []
        for t in texts:
            offsets.append(len(ids))
            i, w = ngram_features(t, self.max_n, self.buckets)
            ids += i
            weights += w
        return (torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long),
                torch.tensor(weights, dtype=torch.float32))

    def _logits(self, bags, rows=None):
        import torch

        ids, offsets, weights = bags
        if rows is not None:  # a minibatch: its rows' slices of the flat bags
            ends = torch.cat([offsets[1:], torch.tensor([len(ids)])])
            parts = [torch.arange(int(offsets[r]), int(ends[r])) for r in rows]
            lengths = torch.tensor([len(p) for p in parts])
            take = torch.cat(parts)
            ids, weights = ids[take], weights[take]
            offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
        return self.weights(ids, offsets, per_sample_weights=weights) + self.bias

    def fit(self, texts: Sequence[str], labels: Sequence[str], epochs: int = 8,
            batch_size: int = 128, lr: float = 0.2, weight_decay: float = 1e-6,
            balanced: bool = True, seed: int = 0) -> StyleClassifier:
        """Train on real passages and their labels (each one of :attr:`labels`).
        ``balanced`` weighs each class by the inverse of its share, so a rare style's
        recall is not traded for the common ones' (the recalls are what is compared)."""
        import torch

        unknown = sorted(set(labels) - set(self.labels))
        if unknown:
            raise ValueError(f"labels not in the classifier's: {unknown}")
        y = torch.tensor([self.labels.index(lab) for lab in labels])
        counts = torch.bincount(y, minlength=len(self.labels)).float()
        class_weight = (len(y) / (len(self.labels) * counts.clamp(min=1))) if balanced \
            else torch.ones(len(self.labels))
        bags = self._bags(texts)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adagrad([self.weights.weight, self.bias], lr=lr,
                                  weight_decay=weight_decay)
        for _ in range(epochs):
            for rows in torch.randperm(len(y), generator=gen).split(batch_size):
                loss = torch.nn.functional.cross_entropy(self._logits(bags, rows), y[rows],
                                                         weight=class_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return self

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), labels) class probabilities."""
        import torch

        if not texts:
            return np.zeros((0, len(self.labels)))
        with torch.no_grad():
            return self._logits(self._bags(texts)).softmax(-1).numpy()

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.probabilities(texts).argmax(-1)]


def recall(predicted: Sequence[str], wanted: Sequence[str], label: str) -> tuple[int, int]:
    """(how many passages wanted as ``label`` were classified so, how many were wanted)."""
    hits = sum(p == label for p, w in zip(predicted, wanted, strict=True) if w == label)
    return hits, sum(w == label for w in wanted)
