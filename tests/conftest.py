"""Shared fixtures: small ABC corpora made in code, a trained debug model, ../shared data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

NOTES = "DEFGABcdefg"


def make_tune(i: int, rng: random.Random) -> str:
    meter, bar = rng.choice([("6/8", 6), ("4/4", 8), ("3/4", 6)])
    key = rng.choice(["D", "G", "A", "Em"])
    bars = []
    for _ in range(8):
        notes, left = [], bar
        while left:
            d = 2 if left >= 2 and rng.random() < 0.3 else 1
            notes.append(rng.choice(NOTES) + ("2" if d == 2 else ""))
            left -= d
        bars.append("".join(notes))
    body = "|".join(bars[:4]) + "|\n" + "|".join(bars[4:]) + "|]\n"
    return f"X:{i}\nT:Fixture tune {i}\nM:{meter}\nL:1/8\nK:{key}\n{body}"


def write_book(path: Path, n: int, seed: int = 0, start: int = 1) -> Path:
    rng = random.Random(seed)
    path.write_text("\n".join(make_tune(start + i, rng) for i in range(n)))
    return path


@pytest.fixture(scope="session")
def abc_corpus(tmp_path_factory) -> Path:
    """A folder with two tune books, 120 tunes in all (enough for every split)."""
    root = tmp_path_factory.mktemp("corpus")
    write_book(root / "book1.abc", 60, seed=1)
    (root / "sub").mkdir()
    write_book(root / "sub" / "book2.abc", 60, seed=2, start=61)
    return root


@pytest.fixture(scope="session")
def debug_run(tmp_path_factory, abc_corpus) -> Path:
    """A run folder with a debug char_rnn trained on the fixture corpus (a few seconds)."""
    from tunesmith.cli import main

    run = tmp_path_factory.mktemp("runs") / "debug"
    rc = main(["train", "--preset", "debug", "--corpus", str(abc_corpus), "--out", str(run),
               "--no-progress", "--samples", "0", "--steps", "30"])
    assert rc == 0
    return run
