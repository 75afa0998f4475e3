import re

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
    assert f"skipped: {corpus / 'tie.abc'}, tune 1 (X:1 'Tied'): abc2midi: " in err
    assert "1 skipped" in out


def test_error_offsets_point_into_model_text_and_full_tunes():
    full = "X:3\nT:t\n" + DANGLING_TIE
    found = abc2midi.convert_all([DANGLING_TIE, full])
    for i, text in enumerate([DANGLING_TIE, full]):
        # abc2midi notices the missing tied note at the end of the line
        assert text[abc2midi.error_offset(text, found[i]):].startswith("|]")


def test_convert_all_writes_the_midi_of_accepted_tunes(tmp_path):
    from tunesmith.io.midi import read_midi

    paths = [tmp_path / "good.mid", tmp_path / "tie.mid"]
    assert list(abc2midi.convert_all([GOOD, DANGLING_TIE], paths)) == [1]
    assert [n.pitch for n in read_midi(paths[0]).notes][:4] == [62, 64, 66, 67]  # D E F# G


def test_a_tune_that_plays_too_long_is_rejected_at_its_end():
    """Repeat signs that nest badly can make abc2midi play a sampled tune for half an
    hour; with max_seconds such a tune is an error at its end (GOOD plays for 4 s)."""
    assert abc2midi.convert_all([GOOD]) == {}
    found = abc2midi.convert_all([GOOD], max_seconds=1)
    assert list(found) == [0] and found[0].message.startswith("plays for 0:04, over")
    assert abc2midi.error_offset(GOOD, found[0]) == len(GOOD)
    assert abc2midi.convert_all([GOOD], max_seconds=60) == {}


def test_compose_resamples_rejected_tunes_from_their_errors(tmp_path, capsys):
    """Seed 0 of the shipped model samples a tune abc2midi rejects (benchmarks/validity.py
    has the rates) and tunes whose bars break their meter or that end off the tonic;
    compose resamples them, so every tune it writes converts, keeps its meter and ends
    on its tonic."""
    from tunesmith.abc_meter import ending_error, meter_error

    rc = main(["compose", "--num", "8", "--seed", "0", "--no-wav", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0 and "8 tunes, 8 valid" in out
    assert "by abc2midi" in err and "from the error" in err
    tunes = [p.read_text() for p in sorted(tmp_path.glob("*.abc"))]
    assert len(tunes) == 8 and abc2midi.abc2midi_errors(tunes) == {}
    # all but the tunes it reports as kept as drawn (none of whose drafts passed)
    kept = int(re.search(r"(\d+) kept as drawn", err).group(1))
    assert sum(bool(meter_error(t) or ending_error(t)) for t in tunes) == kept <= 1
    assert len(list(tmp_path.glob("*.mid"))) == 8


def test_unconstrained_compose_keeps_what_the_model_sampled(tmp_path, capsys):
    rc = main(["compose", "--num", "8", "--seed", "2", "--no-wav", "--unconstrained",
               "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0 and "resampled" not in err
    tunes = [p.read_text() for p in sorted(tmp_path.glob("*.abc"))]
    assert abc2midi.abc2midi_errors(tunes)  # the raw seed-2 batch has a rejected tune
    from tunesmith.abc_meter import ending_error, meter_error

    assert any(meter_error(t) or ending_error(t) for t in tunes)  # and one off its form


def test_played_piece_plays_the_repeats():
    piece = abc2midi.played_piece("X:1\nT:r\nM:4/4\nL:1/4\nK:C\n|:CDEF:|\n")
    assert [n.pitch for n in piece.notes] == [60, 62, 64, 65] * 2
    with pytest.raises(ValueError, match="abc2midi: Could not find note to be tied"):
        abc2midi.played_piece(DANGLING_TIE)


def test_a_tune_only_music21_plays_is_written_with_a_warning_said_beside_it(tmp_path):
    """abc2midi refuses a first ending before any repeat; music21 reads it: the tune is
    kept (it plays), and the file, the summary and composition.json say what happened."""
    from tunesmith.app.composing import ComposeResult
    from tunesmith.families.abc import _Tunes

    tunes = _Tunes(["M:4/4\nL:1/8\nK:D\n[1 ABcd efga|abag fedc|\n", GOOD], None)
    rejected = tunes.publish([0, 1])
    assert list(rejected) == [0]
    tunes.by_music21(0, rejected[0])
    first, second = tunes.done()
    assert first.valid and first.warning == ("abc2midi refused it (found [1 or like before "
                                             "|:); its MIDI is music21's reading")
    assert second.valid and not second.warning
    result = ComposeResult(total=2, valid=2, label="tunes", count_valid=True,
                           warnings=[f"tune_01.abc: {first.warning}"])
    assert result.summary == "2 tunes, 2 valid (1 with a warning)"
