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


# --- the MIDI continue families (tests/test_continue_*.py) --------------------------------

@pytest.fixture(scope="session")
def styled_folder(tmp_path_factory) -> Path:
    """A MIDI folder with a sub-folder per style: 12 marches, 12 waltzes (3/4, a pickup)."""
    from tunesmith.io.midi import write_midi

    from .test_continue_events import three_four
    from .test_events_cli import make_piece

    root = tmp_path_factory.mktemp("styled")
    for i in range(12):
        write_midi(make_piece(i, bars=10), root / "march" / f"m{i}.mid")
        write_midi(three_four(i), root / "waltz" / f"w{i}.mid")
    return root


def _continue_run(tmp_path_factory, styled_folder, family: str, *more: str) -> Path:
    from tunesmith.cli import main

    out = tmp_path_factory.mktemp("runs") / family
    assert main(["train", "--family", family, "--preset", "debug", "--corpus",
                 str(styled_folder), "--source-bars", "2", "--target-bars", "1",
                 "--transpose", "2", "--samples", "2", *more, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def events_run(tmp_path_factory, styled_folder) -> Path:
    return _continue_run(tmp_path_factory, styled_folder, "continue-events")


@pytest.fixture(scope="session")
def remi_run(tmp_path_factory, styled_folder) -> Path:
    return _continue_run(tmp_path_factory, styled_folder, "continue-remi", "--steps", "40")


@pytest.fixture(params=["continue-events", "continue-remi"])
def midi_run(request) -> tuple[str, Path]:
    """(family, run folder) of each MIDI continue family, trained on :func:`styled_folder`."""
    return request.param, request.getfixturevalue(
        {"continue-events": "events_run", "continue-remi": "remi_run"}[request.param])
