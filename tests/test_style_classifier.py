"""The style classifier that judges whether a continuation sounds like the style it was
asked for (benchmarks/style_control.py)."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import pytest

from tunesmith.evaluation.style_classifier import StyleClassifier, ngram_features, recall


def passages(style: str, n: int, seed: int) -> list[str]:
    """Bars a jig and a reel tell apart by rhythm: 6/8 groups of three against 4/4 runs
    with dotted pairs, from the same notes."""
    rng = random.Random(seed)
    notes = "DEFGABcdef"
    out = []
    for _ in range(n):
        bars = []
        for _ in range(4):
            if style == "jig":
                bars.append(" ".join("".join(rng.choice(notes) for _ in range(3))
                                     for _ in range(2)))
            else:
                bars.append(" ".join(rng.choice(notes) + ">" + rng.choice(notes)
                                     + "".join(rng.choice(notes) for _ in range(2))
                                     for _ in range(2)))
        out.append("|".join(bars) + "|")
    return out


def test_features_are_the_same_in_every_run_and_unit_length():
    ids, w = ngram_features("ABc d2|")
    assert (ids, w) == ngram_features("ABc  d2|")  # whitespace runs read alike
    assert math.isclose(sum(x * x for x in w), 1.0)
    assert ngram_features("") == ([], [])
    # not Python's salted hash: two processes with different hash seeds agree
    code = ("from tunesmith.evaluation.style_classifier import ngram_features as f; "
            "print(f('ABc d2|(3efg'))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=os.environ | {"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1 and runs.pop().strip() == str(ngram_features("ABc d2|(3efg"))


def test_it_learns_styles_from_real_passages_and_judges_held_out_ones():
    train = passages("jig", 60, 0) + passages("reel", 60, 1)
    labels = ["jig"] * 60 + ["reel"] * 60
    clf = StyleClassifier(["jig", "reel"]).fit(train, labels, seed=0)
    test = passages("jig", 30, 2) + passages("reel", 30, 3)
    wanted = ["jig"] * 30 + ["reel"] * 30
    got = clf.predict(test)
    assert recall(got, wanted, "jig")[0] >= 27 and recall(got, wanted, "reel")[0] >= 27
    p = clf.probabilities(test)
    assert p.shape == (60, 2) and abs(p.sum(1) - 1).max() < 1e-5
    assert (p[:30, 0] > 0.5).mean() >= 0.9  # confident where it is right


def test_labels_it_was_not_given_are_refused():
    with pytest.raises(ValueError, match="polka"):
        StyleClassifier(["jig", "reel"]).fit(["ABc|"], ["polka"])
