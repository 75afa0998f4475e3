"""A second style judge for MIDI passages: logistic regression over musical features.

The n-gram judge (:mod:`tunesmith.evaluation.style_classifier`, read over messages) keys
on exact keys and exact message orders: it recognises real held-out chorales almost
always (0.98), but it also calls "not a chorale" anything with one odd chord, so it
hardly tells a model's style from its slips. Even the events LSTM, trained on chorales
alone, continues held-out chorales as "Bach" in only about 60% of passages by that judge
(benchmarks/RESULTS.md). The features below describe what a listener calls a style
(texture, rhythm, register, the key-free pitch classes, motion) and not which keys were
struck, so a passage in the right style with a wrong note still reads as that style.

Written here, not taken from a library: MusPy's metrics (pitch-class entropy, polyphony,
scale consistency...) cover some of these but need its own Music objects and score
whole pieces; these are a dozen lines over the messages a continuation already is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# onset places within a beat: on it, on the eighth, on a sixteenth, on a triplet
_PLACES = (0.0, 0.5, 0.25, 0.75, 1 / 3, 2 / 3)
_DURATIONS = (0.25, 0.5, 1.0, 2.0)  # upper edges of the duration bins, beats (last: more)


def passage_features(rep, messages: Sequence, bar_line: float = 0.0) -> np.ndarray:
    """A passage of event messages (key, velocity class, time class) of ``rep`` as a
    vector of musical features; see :data:`FEATURES` for their names. ``bar_line``:
    beats from the passage's clock (where its first message's gap starts: the message
    before it) to a bar line, so that onset places are counted in the bar's beats."""
    from tunesmith.representations.events import N_KEYS

    times = rep.times([list(m) for m in messages]) - bar_line if len(messages) \
        else np.zeros(0)
    onsets: dict[float, list[int]] = {}
    started: dict[int, float] = {}
    durations, sounding_at_onset = [], []
    sounding = 0
    for (key, velocity, _), t in zip(messages, times, strict=True):
        key, t = int(key), round(float(t), 6)
        if key >= N_KEYS:
            continue
        if velocity:
            onsets.setdefault(t, []).append(key)
            started[key] = t
            sounding += 1
            sounding_at_onset.append(sounding)
        elif key in started:
            durations.append(t - started.pop(key))
            sounding = max(sounding - 1, 0)
    keys = [k for group in onsets.values() for k in group]
    if not keys:
        return np.zeros(len(FEATURES))
    span = max(float(times[-1]) - float(times[0]), 1.0)
    groups = list(onsets.values())
    places = np.array([t % 1.0 for t in onsets])
    place_share = [float(np.mean(np.isclose(places, p, atol=1e-3))) for p in _PLACES]
    d = np.array(durations) if durations else np.zeros(1)
    edges = np.searchsorted(np.array(_DURATIONS) + 1e-6, d)
    duration_share = np.bincount(edges, minlength=len(_DURATIONS) + 1) / len(d)
    pcs = np.bincount(np.array(keys) % 12, minlength=12).astype(float)
    pcs = np.roll(pcs, -int(pcs.argmax())) / pcs.sum()  # from its most common class
    tops = np.array([max(g) for g in groups])
    steps = np.abs(np.diff(tops)) if len(tops) > 1 else np.zeros(1)
    k = np.array(keys, dtype=float) / N_KEYS
    return np.array([
        len(keys) / span, len(groups) / span, float(np.mean([len(g) for g in groups])),
        float(np.mean(sounding_at_onset)), float(np.max(sounding_at_onset)),
        k.mean(), k.std(), k.min(), k.max(),
        float(np.mean([max(g) - min(g) for g in groups])) / 12,
        *place_share, 1 - sum(place_share),
        float(np.log2(d.clip(1 / 16)).mean()), float(np.log2(d.clip(1 / 16)).std()),
        *duration_share, *pcs,
        float(steps.mean()), float(np.mean(steps <= 2)), float(np.mean(steps >= 5))])


FEATURES = ("notes per beat", "onsets per beat", "notes per onset", "sounding at an onset",
            "most sounding", "mean key", "key spread", "lowest key", "highest key",
            "chord span (octaves)",
            *(f"onsets at {p:.2f} of a beat" for p in _PLACES), "onsets elsewhere",
            "log2 duration", "log2 duration spread",
            *(f"durations up to {e:g} beats" for e in _DURATIONS), "longer durations",
            *(f"pitch class +{i}" for i in range(12)),
            "top voice's mean step", "top voice's steps", "top voice's leaps")


class FeatureClassifier:
    """Multinomial logistic regression from :func:`passage_features` (standardised on
    the training passages) to one of ``labels``; classes weighed by the inverse of their
    share, as :class:`~tunesmith.evaluation.style_classifier.StyleClassifier`."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)

    def fit(self, x: np.ndarray, labels: Sequence[str], steps: int = 300,
            weight_decay: float = 1e-3, seed: int = 0) -> FeatureClassifier:
        import torch

        x = np.asarray(x, dtype=np.float64)
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-6
        xs = torch.tensor((x - self.mean) / self.scale, dtype=torch.float32)
        y = torch.tensor([self.labels.index(lab) for lab in labels])
        counts = torch.bincount(y, minlength=len(self.labels)).float()
        weight = len(y) / (len(self.labels) * counts.clamp(min=1))
        torch.manual_seed(seed)
        self.linear = torch.nn.Linear(xs.shape[1], len(self.labels))
        opt = torch.optim.LBFGS(self.linear.parameters(), max_iter=steps,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.linear(xs), y, weight=weight)
            loss = loss + weight_decay * self.linear.weight.square().sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self

    def predict(self, x: np.ndarray) -> list[str]:
        import torch

        if not len(x):
            return []
        xs = torch.tensor((np.asarray(x) - self.mean) / self.scale, dtype=torch.float32)
        with torch.no_grad():
            return [self.labels[i] for i in self.linear(xs).argmax(-1).tolist()]
