"""Sheet music for the studio (studio/engrave.py): Verovio engraves in a child process, so
a crash in it costs one score, not the server."""

import signal

import pytest

from tunesmith.errors import TunesmithError
from tunesmith.studio import engrave

pytestmark = pytest.mark.skipif(not engrave.available(), reason="verovio not installed")

TUNE = "X:1\nT:x\nM:6/8\nL:1/8\nK:D\nA|dfa afd|fed e2A|dfa afd|e3 d3|]\n"


def test_an_abc_tune_engraves_to_one_svg():
    svg = engrave.engrave_abc(TUNE)
    assert svg.lstrip().startswith(("<svg", "<?xml")) and "</svg>" in svg


def test_an_abc_tune_has_a_musicxml_download_with_its_notes_and_title(tmp_path):
    from music21 import converter

    engrave.write_abc_musicxml(TUNE.replace("T:x", "T:Kesh"), tmp_path / "score.musicxml")
    score = converter.parse(str(tmp_path / "score.musicxml"))
    assert score.metadata.bestTitle == "Kesh"
    assert [n.name for n in score.flatten().notes][:4] == ["A", "D", "F#", "A"]  # K:D
    assert score.flatten().getTimeSignatures()[0].ratioString == "6/8"
    with pytest.raises(TunesmithError, match="MusicXML"):
        engrave.musicxml_of_abc("X:1\nL:0/0\nK:D\nabc|\n")  # no length a note can have


def test_a_tune_with_an_invisible_rest_engraves_its_notes_in_their_bars(tmp_path):
    from music21 import converter

    engrave.write_abc_musicxml("X:1\nM:2/4\nL:1/8\nK:C\nx2 AB|Z|cd e2|]\n",
                               tmp_path / "score.musicxml")
    score = converter.parse(str(tmp_path / "score.musicxml"))
    bars = score.parts[0].getElementsByClass("Measure")
    assert [[n.name for n in bar.notes] for bar in bars] == [["A", "B"], [], ["C", "D", "E"]]


def test_a_verovio_crash_is_one_lines_error_and_this_process_lives_on(monkeypatch, tmp_path):
    crash = tmp_path / "crash.py"  # what Verovio's ABC reader did on one tune
    crash.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(engrave, "CHILD", crash)
    with pytest.raises(TunesmithError) as e:
        engrave.engrave_abc(TUNE)
    assert str(e.value) == f"score: Verovio's process died (killed by signal {signal.SIGSEGV})"
    fails = tmp_path / "fails.py"  # a Python error: its last line is said
    fails.write_text("raise ValueError('no such option')\n")
    monkeypatch.setattr(engrave, "CHILD", fails)
    with pytest.raises(TunesmithError, match=r"died \(exit status 1: ValueError: no such "
                                             r"option\)$"):
        engrave.engrave_abc(TUNE)
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(30)\n")
    monkeypatch.setattr(engrave, "CHILD", hang)
    monkeypatch.setattr(engrave, "SECONDS", 0.5)
    with pytest.raises(TunesmithError, match="^score: took longer than 0.5 s to engrave$"):
        engrave.engrave_abc(TUNE)
    monkeypatch.undo()
    assert "</svg>" in engrave.engrave_abc(TUNE)  # and the next score is engraved


def test_a_piece_in_three_four_has_both_staves_in_three_four():
    import re

    from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

    notes = ([Note(i * 1.0, i * 1.0 + 1.5, 72 if i % 2 else 48, 80) for i in range(24)]
             + [Note(i * 1.0, i * 1.0 + 1.0, 55, 80) for i in range(24)])
    piece = Piece(tracks=[Track(notes=notes)], tempos=[Tempo(0.0, 80.0)],
                  time_signatures=[TimeSignature(0.0, 3, 4)])
    xml = engrave.musicxml_of_piece(piece)  # treble and bass staff: both barred in 3/4
    assert re.findall(r"<beats>(\d+)</beats>", xml) == ["3", "3"]
    assert xml.count("<clef") == 2


def test_a_meter_change_bars_both_staves_alike():
    import re

    from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

    notes = ([Note(i * 1.0, i * 1.0 + 1.0, 72, 80) for i in range(24)]
             + [Note(i * 1.0, i * 1.0 + 1.0, 48, 80) for i in range(24)])
    piece = Piece(tracks=[Track(notes=notes)], tempos=[Tempo(0.0, 80.0)],
                  time_signatures=[TimeSignature(0.0, 3, 4), TimeSignature(12.0, 4, 4)])
    xml = engrave.musicxml_of_piece(piece)  # 4 bars of 3/4, then 3 of 4/4, on each staff
    assert re.findall(r"<beats>(\d+)</beats>", xml) == ["3", "4", "3", "4"]
    assert xml.count("<measure ") == 14
