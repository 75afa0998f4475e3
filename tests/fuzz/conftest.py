"""The fuzz suite's fixtures: one runner for the session (its server process imports
tunesmith once), the models its cases damage, and the Hypothesis settings of the
default and the slow run."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.cases import Models, quick, share
from tests.fuzz.runner import BAD, Runner

# drawn cases: ~100 in the default run (each group's ``quick``), 10,000 under -m slow
# (TUNESMITH_FUZZ_CASES changes that), shared among the groups by weight
QUICK = quick()
SLOW = share(int(os.environ.get("TUNESMITH_FUZZ_CASES", "10000")))


def hypothesis_settings(examples: int) -> settings:
    """Reproducible draws (derandomized), no deadline (a case runs a command in a fresh
    process: the runner has its own time limit), no example database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="session")
def runner(tmp_path_factory) -> Runner:
    return Runner(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="session")
def models(debug_run, tmp_path_factory) -> Models:
    """The debug ABC run of tests/conftest.py, the shipped events and piano-roll models,
    and a debug piano-roll model of a benchmark file (which reads no bars): copied into
    each case's sandbox, never used in place."""
    from tests.test_pianoroll_cli import write_benchmark
    from tunesmith.cli import main

    root = tmp_path_factory.mktemp("frames")
    write_benchmark(root / "jsb_chorales.json")
    assert main(["train", "--family", "pianoroll", "--preset", "debug", "--corpus",
                 str(root / "jsb_chorales.json"), "--out", str(root / "run"), "--steps", "2",
                 "--no-progress", "--samples", "0"]) == 0
    return Models.with_run(debug_run, root / "run" / "best")


def none_bad(results) -> str:
    """"" when no result is a traceback, hang, blowup or touched; else one line each."""
    return "\n".join(r.line() for r in results if r.outcome in BAD)

