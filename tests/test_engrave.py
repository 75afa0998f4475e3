"""Sheet music for the studio (studio/engrave.py): Verovio engraves in a forked child, so
a crash in it costs one score, not the server."""

import os
import signal

import pytest

from tunesmith.errors import TunesmithError
from tunesmith.io import deadline
from tunesmith.studio import engrave

pytestmark = pytest.mark.skipif(not engrave.available(), reason="verovio not installed")

TUNE = "X:1\nT:x\nM:6/8\nL:1/8\nK:D\nA|dfa afd|fed e2A|dfa afd|e3 d3|]\n"


def test_an_abc_tune_engraves_to_one_svg():
    svg = engrave.engrave_abc(TUNE)
    assert svg.lstrip().startswith(("<svg", "<?xml")) and "</svg>" in svg


@pytest.mark.skipif(not deadline.available(), reason="no forked children here")
def test_a_verovio_crash_is_one_lines_error_and_this_process_lives_on(monkeypatch):
    def crash(data, kind):
        os.kill(os.getpid(), signal.SIGSEGV)  # what Verovio's ABC reader did on one tune

    monkeypatch.setattr(engrave, "_verovio_here", crash)
    with pytest.raises(TunesmithError) as e:
        engrave.engrave_abc(TUNE)
    assert "score" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.undo()
    assert "</svg>" in engrave.engrave_abc(TUNE)  # and the next score is engraved
