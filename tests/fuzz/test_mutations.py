"""Damaged copies of valid files, drawn by Hypothesis (tests/fuzz/mutate.py: bit flips,
bytes parsers trip on, cut, repeated or spliced spans, format tokens, truncation), through
every command that reads them: a MIDI, ABC, MusicXML or ``.mxl`` file through ``render``,
``compose --primer``, ``prepare``, ``analyze`` and ``train``; a checkpoint's
``tunesmith.json`` or safetensors header through ``compose``, ``evaluate`` and
``export``; a Boulanger piano-roll file; a ``--config`` file. No case may trace back,
hang, blow up or touch what it was not given. About 100 cases in the default run (the
same ones every time: derandomized; a few groups only under ``-m slow``), 10,000 under
``-m slow``; a failure is shrunk to a small damage of the valid file."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.cases import GROUPS
from tests.fuzz.runner import BAD

from .conftest import QUICK, SLOW, hypothesis_settings

IDS = [f"{g.command} {g.kind}".replace(" ", "_") for g in GROUPS]


def survives(runner, models, group, examples: int) -> None:
    @hypothesis_settings(examples)
    @given(group.strategy(models))
    def case_survives(case):
        result = runner.run(case)
        assert result.outcome not in BAD, result.line()

    case_survives()


@pytest.mark.parametrize("group", [pytest.param(g, marks=[] if QUICK[g] else pytest.mark.slow)
                                   for g in GROUPS], ids=IDS)
def test_a_damaged_file_is_read_or_refused(runner, models, group):
    survives(runner, models, group, QUICK[group] or 1)


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS, ids=IDS)
def test_ten_thousand_damaged_files(runner, models, group):
    survives(runner, models, group, SLOW[group])
