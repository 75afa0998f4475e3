"""How distinguishable generated pieces are from real ones: a discriminator trained
afresh on real vs generated note rows (:mod:`tunesmith.representations.notes`), scored on
pieces it did not train on.

The classifier is the RNN-GAN's own discriminator architecture (a BiLSTM; the mean of its
per-step logits says "real") with fresh weights, trained with Adam on windows of
``window`` notes, balanced between the classes. Its accuracy on held-out windows is the
mean of the accuracy on each class, so 0.5 means "cannot tell them apart" whatever the
class sizes, and 1.0 means every window is told right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

MUSIC = (0, 1, 2)  # the note rows' pitch, step and length columns


def windows(pieces: Sequence[np.ndarray], window: int,
            columns: Sequence[int] = MUSIC) -> np.ndarray:
    """Each piece's consecutive windows of ``window`` rows, (N, window, len(columns)); a
    piece shorter than ``window`` gives none (a window holds the piece's own rows only)."""
    out = [p[s:s + window, list(columns)] for p in pieces
           for s in range(0, len(p) - window + 1, window)]
    if not out:
        return np.zeros((0, window, len(columns)), np.float32)
    return np.stack(out).astype(np.float32)


def auc(real_scores: np.ndarray, fake_scores: np.ndarray) -> float:
    """The probability that a real window scores above a generated one (ties count half):
    the area under the ROC curve, 0.5 when the scores cannot tell them apart."""
    scores = np.concatenate([real_scores, fake_scores])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # ties share their mean rank
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_real, n_fake = len(real_scores), len(fake_scores)
    return float((ranks[:n_real].sum() - n_real * (n_real + 1) / 2) / (n_real * n_fake))


def _train_once(rt, ft, rv, fv, steps: int, batch: int, hidden: int, seed: int):
    """One fresh discriminator: its scores (mean logit) of the test windows."""
    from tunesmith.models.rnn_gan import Discriminator

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Discriminator(rt.shape[-1], hidden, 1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    half = batch // 2
    for _ in range(steps):
        x = torch.cat([rt[rng.integers(0, len(rt), half)], ft[rng.integers(0, len(ft), half)]])
        y = torch.cat([torch.ones(half), torch.zeros(half)])
        logits, _ = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.mean(dim=1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return model(rv)[0].mean(dim=1).numpy(), model(fv)[0].mean(dim=1).numpy()


def distinguishability(real_train: Sequence[np.ndarray], fake_train: Sequence[np.ndarray],
                       real_test: Sequence[np.ndarray], fake_test: Sequence[np.ndarray],
                       window: int = 32, steps: int = 500, batch: int = 32,
                       hidden: int = 64, seed: int = 0, repeats: int = 3,
                       columns: Sequence[int] = MUSIC) -> dict:
    """Train ``repeats`` fresh discriminators (seeds ``seed``, ``seed + 1``, ...) on the
    ``*_train`` pieces (arrays of note rows) and score the ``*_test`` ones: the mean over
    them of the balanced accuracy (threshold 0) and of the AUC (threshold-free: one
    discriminator, its threshold off for the held-out pieces, told 0.95 of the real
    windows and 0.39 of the generated ones), the AUC's range, and the window counts."""
    sets = [windows(s, window, columns)
            for s in (real_train, fake_train, real_test, fake_test)]
    if any(len(s) == 0 for s in sets):
        raise ValueError(f"every set needs a piece of at least {window} notes")
    rt, ft, rv, fv = (torch.from_numpy(s) for s in sets)
    runs = []
    for k in range(repeats):
        real, fake = _train_once(rt, ft, rv, fv, steps, batch, hidden, seed + k)
        real_ok, fake_ok = float((real > 0).mean()), float((fake <= 0).mean())
        runs.append((auc(real, fake), (real_ok + fake_ok) / 2, real_ok, fake_ok))
    a = np.array(runs)
    return {"auc": float(a[:, 0].mean()), "auc_range": (float(a[:, 0].min()),
                                                        float(a[:, 0].max())),
            "accuracy": float(a[:, 1].mean()), "real_accuracy": float(a[:, 2].mean()),
            "fake_accuracy": float(a[:, 3].mean()),
            "windows": {"train": len(rt) + len(ft), "test": len(rv) + len(fv)}}
