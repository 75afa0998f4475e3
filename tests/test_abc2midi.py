import pytest

from tunesmith.cli import main
from tunesmith.io import abc2midi

from .conftest import write_book

pytestmark = pytest.mark.skipif(not abc2midi.available(), reason="abcmidi not installed")

GOOD = "M:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n"
DANGLING_TIE = "M:4/4\nL:1/8\nK:D\nDEFG- ABcd|d8|]\n"  # a tie into a different pitch


def test_errors_name_the_rejected_tunes_only():
    errors = abc2midi.abc2midi_errors([GOOD, DANGLING_TIE, GOOD, "X:9\nT:t\n" + GOOD])
    assert list(errors) == [1]
    assert "tied" in errors[1]


def test_clean_skips_and_reports_tunes_abc2midi_rejects(capsys, tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_book(corpus / "good.abc", 60)
    (corpus / "tie.abc").write_text("X:1\nT:Tied\n" + DANGLING_TIE)
    rc = main(["train", "--preset", "debug", "--corpus", str(corpus), "--clean", "--steps", "2",
               "--out", str(tmp_path / "r"), "--no-progress", "--samples", "0"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert f"skipped: {corpus / 'tie.abc'}#0 (X:1 'Tied'): abc2midi: " in err
    assert "1 skipped" in out
