"""Reading one file (io/read.py): MIDI, MusicXML and ABC, by content first, then suffix."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.corpora import IngestFilter, filter_piece
from tunesmith.errors import TunesmithError
from tunesmith.io.midi import write_midi
from tunesmith.io.read import (
    SUPPORTED_SUFFIXES,
    TuneOutOfRange,
    file_format,
    piece_problem,
    read_piece,
    sniff,
)
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

from .music_files import (
    BOOK,
    multi_track,
    musicxml,
    running_status,
    smpte,
    write_midi_folder,
)


@pytest.fixture
def midi_folder(tmp_path) -> Path:
    return write_midi_folder(tmp_path)


def test_tempo_and_meter_changes_come_through(midi_folder):
    piece = read_piece(midi_folder / "multi.mid")
    assert [(t.beat, round(t.qpm, 3)) for t in piece.tempos] == [(0.0, 100.0), (4.0, 150.0)]
    assert piece.time_signatures == [TimeSignature(0.0, 4, 4), TimeSignature(4.0, 3, 4)]
    assert sorted(t.program for t in piece.tracks if t.notes) == [0, 40]
    assert piece.duration_seconds == pytest.approx(4.0)
    kept, reason = filter_piece(piece, IngestFilter())
    assert reason == "" and len(kept.tracks) == 2


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([multi_track(), running_status(), smpte()]),
       st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.booleans()), min_size=1,
                max_size=4))
def test_damaged_midi_reads_or_fails_with_one_line(tmp_path_factory, data, edits):
    """Random byte edits never escape as anything but a one-line TunesmithError."""
    raw = bytearray(data)
    for where, value, replace in edits:
        i = min(int(where * len(raw)), len(raw) - 1)
        if replace:
            raw[i] = value
        else:
            del raw[i]
    path = tmp_path_factory.mktemp("fuzz") / "damaged.mid"
    path.write_bytes(bytes(raw))
    try:
        filter_piece(read_piece(path))
    except TunesmithError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)


def test_read_piece_errors_name_the_file(midi_folder, tmp_path):
    for path, fragment in [(midi_folder / "fake.mid", "not a readable MIDI file"),
                           (midi_folder / "README.txt", "unsupported file type '.txt'"),
                           (tmp_path / "missing.mid", "no such file")]:
        with pytest.raises(TunesmithError, match=fragment) as err:
            read_piece(path)
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


# --- MusicXML ---------------------------------------------------------------------------

TIED = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions>
        <time><beats>2</beats><beat-type>4</beat-type></time></attributes>
      <note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>
      <note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration>
        <tie type="start"/></note>
    </measure>
    <measure number="2">
      <note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration>
        <tie type="stop"/><tie type="start"/></note>
    </measure>
    <measure number="3">
      <note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration>
        <tie type="stop"/></note>
      <note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration></note>
    </measure>
  </part>
</score-partwise>
"""


def test_musicxml_ties_are_merged(tmp_path):
    (tmp_path / "tied.xml").write_text(TIED)
    piece = read_piece(tmp_path / "tied.xml")
    assert [(n.start, n.end, n.pitch) for n in piece.notes] == [
        (0.0, 1.0, 60), (1.0, 4.0, 67), (4.0, 5.0, 67)]
    assert piece.tracks[0].program == 0 and piece.title == "tied"


def test_merge_ties_joins_only_abutting_notes_of_the_same_pitch():
    from tunesmith.io.musicxml import merge_ties

    notes = [Note(0, 1, 60), Note(0, 1, 64), Note(1, 2, 60), Note(1, 2, 67), Note(2, 3, 60),
             Note(4, 5, 64), Note(5, 6, 64), Note(7, 8, 64)]
    forward = {(0.0, 60), (1.0, 60), (4.0, 64), (5.0, 64), (1.0, 67)}
    assert merge_ties(notes, forward) == [Note(0, 1, 64), Note(0, 3, 60), Note(1, 2, 67),
                                          Note(4, 6, 64), Note(7, 8, 64)]




# --- content first, then suffix ------------------------------------------------------------

CONTAINER = ('<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
             '<rootfile full-path="score.xml"/></rootfiles></container>\n')


def mxl_bytes(xml: str) -> bytes:
    """Compressed MusicXML: a zip holding the score and META-INF/container.xml."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/container.xml", CONTAINER)
        z.writestr("score.xml", xml)
    return buf.getvalue()


def rmid_bytes(smf_data: bytes) -> bytes:
    """A Standard MIDI File in a RIFF RMID wrapper (an INFO chunk first, odd length)."""
    info = b"LIST" + (5).to_bytes(4, "little") + b"INFOx" + b"\x00"  # padded to even
    data = b"data" + len(smf_data).to_bytes(4, "little") + smf_data
    body = b"RMID" + info + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


MELODY = Piece(tracks=[Track(notes=[Note(i, i + 1, 60 + i) for i in range(8)])])


def test_sniff_names_each_format_from_the_first_bytes():
    assert sniff(multi_track()) == "midi"
    assert sniff(rmid_bytes(multi_track())) == "rmid"
    assert sniff(mxl_bytes(musicxml())) == "mxl"
    assert sniff(musicxml().encode()) == "musicxml"
    assert sniff(b"\xef\xbb\xbf  " + musicxml().encode()) == "musicxml"  # BOM, blanks
    assert sniff(b"<score-timewise version='3.1'>") == "musicxml"
    assert sniff(b"<!DOCTYPE score-partwise PUBLIC '-//Recordare//DTD'>\n<score-partwise>") \
        == "musicxml"
    assert sniff(BOOK.encode()) == sniff(b"% header\nK:D\nABc|\n") == "abc"
    for other in (b"", b"just some prose\n", b"\x00\x01\x02binary", b"<html></html>",
                  b"RIFF\x04\x00\x00\x00WAVE"):
        assert sniff(other) is None, other


def test_content_wins_over_the_suffix(tmp_path):
    """A MIDI file named .abc is MIDI; MusicXML and ABC are what they hold, too."""
    plain = read_piece(write_midi(MELODY, tmp_path / "tune.mid"))
    for name in ("midi_named.abc", "midi_named.xml", "midi_with_no_suffix"):
        (tmp_path / name).write_bytes((tmp_path / "tune.mid").read_bytes())
        assert file_format(tmp_path / name) == "midi"
        assert read_piece(tmp_path / name).notes == plain.notes

    (tmp_path / "score.abc").write_text(musicxml())
    (tmp_path / "packed.xml").write_bytes(mxl_bytes(musicxml()))
    for name in ("score.abc", "packed.xml"):
        piece = read_piece(tmp_path / name)
        assert file_format(tmp_path / name) == "musicxml"
        assert piece.tracks[0].program == 40 and len(piece.notes) == 8
        assert piece.title == Path(name).stem

    (tmp_path / "book.mid").write_text(BOOK)
    assert file_format(tmp_path / "book.mid") == "abc"
    assert read_piece(tmp_path / "book.mid").title == "One"


def test_rmid_and_compressed_musicxml_read_like_their_plain_forms(tmp_path):
    (tmp_path / "multi.rmi").write_bytes(rmid_bytes(multi_track()))
    (tmp_path / "multi.mid").write_bytes(multi_track())
    wrapped, plain = read_piece(tmp_path / "multi.rmi"), read_piece(tmp_path / "multi.mid")
    assert wrapped.tracks == plain.tracks and wrapped.tempos == plain.tempos
    assert wrapped.title == "multi"
    (tmp_path / "score.mxl").write_bytes(mxl_bytes(musicxml()))
    (tmp_path / "score.xml").write_text(musicxml())
    assert read_piece(tmp_path / "score.mxl").notes == read_piece(tmp_path / "score.xml").notes
    (tmp_path / "broken.rmi").write_bytes(rmid_bytes(multi_track()[:20]))
    with pytest.raises(TunesmithError, match="not a readable MIDI file") as err:
        read_piece(tmp_path / "broken.rmi")
    assert str(err.value).startswith(str(tmp_path / "broken.rmi"))


@pytest.mark.parametrize("name, content, fragment", [
    ("notes.txt", b"just some prose, no tunes\n", "unsupported file type '.txt'"),
    ("blob.bin", b"\x00\x01\x02\x03 binary", "unsupported file type '.bin'"),
    ("noext", b"prose", "unsupported file type '(no suffix)'"),
    ("fake.mid", b"this is not MIDI\n",
     "not a readable MIDI file (no MThd header: the file holds text)"),
    ("blob.midi", b"\x00\x01\x02\x03 binary",
     "not a readable MIDI file (no MThd header: the file holds binary data)"),
    ("empty.mid", b"", "not a readable MIDI file (empty file)"),
    ("prose.musicxml", b"just prose\n", "not a readable MusicXML file (the file holds text)"),
    ("blob.mxl", b"\x00\x01\x02 binary",
     "not a readable MusicXML file (the file holds binary data)"),
    ("prose.abc", b"just prose\n", "not an ABC file: no tunes found"),
    ("blob.abc", b"\x00\x01MThd binary", "not an ABC file (binary data)"),
])
def test_a_file_that_is_no_music_format_is_a_one_line_error(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TunesmithError) as err:
        read_piece(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert fragment in message
    assert name.endswith(SUPPORTED_SUFFIXES) or "unsupported" in message


def test_abc_books_give_the_tune_asked_for(tmp_path):
    book = tmp_path / "book.abc"
    book.write_text(BOOK)
    assert read_piece(book).title == "One"
    second = read_piece(book, tune=2)
    assert second.title == "Two" and [n.pitch for n in second.notes][:2] == [67, 69]
    with pytest.raises(TuneOutOfRange, match="tune 3 out of range \\(the file has 2 tunes\\)"):
        read_piece(book, tune=3)
    with pytest.raises(ValueError, match="abc_player"):
        read_piece(book, abc_player="timidity")


def test_absurd_tempo_is_a_problem():
    slow = Piece(tracks=[Track(notes=[Note(0, 1, 60)])], tempos=[Tempo(0.0, 3.0)])
    assert piece_problem(slow) == "absurd tempo (3 qpm)"
    assert piece_problem(MELODY) == ""
