"""A crash test for training (issue 24): a debug ABC run is killed with SIGKILL at random
points, many of them inside a checkpoint write, and resumed with ``train --resume`` until
it is done. Its ``metrics.csv`` (step, split and every metric but the timing columns) and
its final weights and optimiser state must be bit-identical to an uninterrupted run of
the same seed, and after every kill ``best`` and ``last`` (when they exist) must load
once the writer's recovery has run.

Kills are timed from outside, with no hook in the product: on seeing a checkpoint
write's journal (``.last.swap.json`` / ``.best.swap.json``) appear, after a random delay
of up to 8 ms (a write takes 7-70 ms on a busy 2-core machine); or up to 0.3 s after
``metrics.csv`` shows a random step; or at a random moment of start-up. Run with
``python -m pytest -m slow tests/test_crash.py`` (a few minutes on a 2-core CPU); ``-s``
prints what each kill hit.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunesmith.training.checkpoint import load_checkpoint, recover

from .conftest import write_book

pytestmark = pytest.mark.slow

STEPS = 48
TRAIN = ["--preset", "debug", "--steps", STEPS, "--eval-every", 8, "--checkpoint-every", 3,
         "--log-every", 2, "--dropout", 0.1, "--seed", 5]
TIMING = {"tokens_per_s", "elapsed_s"}
KILL_SEEDS = (0, 1, 2)
MAX_KILLS = 6  # per seed; then the run goes on to the end
JOURNALS = (".last.swap.json", ".best.swap.json")


def tunesmith(*argv) -> list[str]:
    return [sys.executable, "-m", "tunesmith", *map(str, argv)]


def start(run: Path, corpus: Path) -> subprocess.Popen:
    """``train`` when the run has no ``last`` yet, else ``train --resume``."""
    if (run / "last").exists():
        argv = tunesmith("train", "--resume", run, "--samples", 0, "--no-progress")
    else:
        argv = tunesmith("train", *TRAIN, "--corpus", corpus, "--out", run, "--samples", 0,
                         "--no-progress")
    # niced, so that on a busy machine the poller below still sees a write's journal
    # during the ~20 ms it exists (the priority changes no result)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=lambda: os.nice(10))


def kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_for_journal(proc: subprocess.Popen, run: Path, skip: int, deadline: float) -> bool:
    """Poll until the ``skip``-th next checkpoint write's journal appears (True), or the
    process ends or the deadline passes (False)."""
    seen, present = 0, False
    while time.monotonic() < deadline and proc.poll() is None:
        now = any((run / j).exists() for j in JOURNALS)
        if now and not present:
            if seen == skip:
                return True
            seen += 1
        present = now
        time.sleep(0.0002)
    return False


def resumed_at(run: Path) -> int:
    """The step the next start resumes from (0 for a fresh start)."""
    try:
        return int(json.loads((run / "last" / "training_state.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for_step(proc: subprocess.Popen, run: Path, target: int, deadline: float) -> None:
    """Poll ``metrics.csv`` until a row of step ``target`` or later is logged (timing by
    progress, not by the clock, so that a busy machine does not move the kills)."""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            lines = (run / "metrics.csv").read_text().splitlines()
        except OSError:
            lines = []
        last = lines[-1].split(",", 1)[0] if len(lines) > 1 else ""
        if last.isdigit() and int(last) >= target:
            return
        time.sleep(0.005)


def what_the_kill_hit(run: Path) -> str:
    """Where in a checkpoint write the process died, read off the folders it left."""
    hits = []
    for name in ("last", "best"):
        if not (run / f".{name}.swap.json").exists():
            continue
        tmp = list(run.glob(f".{name}.tmp-*"))
        old = list(run.glob(f".{name}.old-*"))
        if not (run / name).exists():
            hits.append(f"{name}: between the renames" if old
                        else f"{name}: writing its first copy")
        elif tmp:
            hits.append(f"{name}: writing the new copy")
        elif old:
            hits.append(f"{name}: after the swap, removing the old copy")
        else:
            hits.append(f"{name}: removing the journal")
    if (run / ".last.swap.json.tmp").exists() or (run / ".best.swap.json.tmp").exists():
        hits.append("writing the journal")
    return "; ".join(hits) or "outside a checkpoint write"


def check_loadable_after_recovery(run: Path) -> None:
    """What ``train --resume`` does first (the writer's recovery), then both checkpoints
    load and no temporary name is left."""
    for name in ("last", "best"):
        recover(run / name)
    for name in ("last", "best"):
        if (run / name).exists():
            load_checkpoint(run / name)
    leftovers = [p.name for p in run.iterdir()
                 if p.name.startswith((".last", ".best"))]
    assert leftovers == []


def metric_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def tensors(path: Path) -> dict:
    return load_file(str(path))


def assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = tensors(a), tensors(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        assert ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]), (a, k)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash-corpus")
    write_book(root / "book1.abc", 60, seed=1)
    write_book(root / "book2.abc", 60, seed=2, start=61)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus) -> tuple[Path, float]:
    """The uninterrupted run, and how long it took (to spread the timed kills over)."""
    run = tmp_path_factory.mktemp("crash") / "reference"
    t0 = time.monotonic()
    proc = start(run, corpus)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return run, time.monotonic() - t0


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_killed_and_resumed_training_equals_the_uninterrupted_run(tmp_path, corpus,
                                                                  reference, seed):
    ref, duration = reference
    rng = random.Random(seed)
    run = tmp_path / "run"
    kills: list[str] = []
    while True:
        proc = start(run, corpus)
        if len(kills) >= MAX_KILLS:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
            break
        if rng.random() < 0.6:  # inside a checkpoint write, a few ms after it starts
            mode = "on a journal"
            deadline = time.monotonic() + 2 * duration
            if wait_for_journal(proc, run, rng.randrange(3), deadline):
                time.sleep(rng.uniform(0, 0.008))
            else:  # none seen in time (a busy machine): kill now
                mode = "no journal seen, timed"
        elif rng.random() < 0.25:  # during start-up (or wherever it is by then)
            mode = "timed"
            time.sleep(rng.uniform(0.2, 3.0))
        else:  # a random moment after a random step: a step, a validation, a write
            mode = "after a random step"
            lo = min(resumed_at(run) + 1, STEPS - 1)
            target = rng.randrange(lo, max(lo + 1, STEPS - 3))
            wait_for_step(proc, run, target, time.monotonic() + 2 * duration)
            time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is not None:  # it finished first
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        kill(proc)
        kills.append(f"{mode}: {what_the_kill_hit(run)}")
        check_loadable_after_recovery(run)
    print(f"\nseed {seed}: {len(kills)} kills:\n  " + "\n  ".join(kills))
    assert kills  # the test killed something
    assert metric_rows(run) == metric_rows(ref)
    for path in ("last/model.safetensors", "best/model.safetensors",
                 "last/training_state.safetensors"):
        assert_same_tensors(run / path, ref / path)
    check_loadable_after_recovery(run)
