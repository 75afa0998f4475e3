"""MIDI / MusicXML / ABC ingest: good and broken files, the report, the cache, Piece dicts.

Every MIDI file is built byte by byte here (so running status, SMPTE divisions and
truncations are exactly what the test says), at 480 ticks per quarter unless noted.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.errors import TunesmithError
from tunesmith.io.ingest import (
    IngestFilter,
    cache_path,
    filter_piece,
    load_piece_corpus,
    read_piece,
)
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

TPQ = 480


# --- a Standard MIDI File writer, by hand -----------------------------------------------

def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def mtrk(events: list[tuple[int, bytes]]) -> bytes:
    """A track chunk from (absolute tick, raw event bytes); stable-sorted by tick."""
    body, now = b"", 0
    for tick, data in sorted(events, key=lambda e: e[0]):
        body += vlq(tick - now) + data
        now = tick
    body += vlq(0) + b"\xff\x2f\x00"
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def smf(fmt: int, tracks: list[bytes], division: int = TPQ) -> bytes:
    return (b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big")
            + len(tracks).to_bytes(2, "big") + division.to_bytes(2, "big") + b"".join(tracks))


def notes(ch: int, pitches, start: float = 0.0, beats: float = 1.0, tpq: int = TPQ):
    """Consecutive notes on channel ``ch``, each ``beats`` long (ticks at ``tpq``)."""
    ev = []
    for i, p in enumerate(pitches):
        on, off = round((start + i * beats) * tpq), round((start + (i + 1) * beats) * tpq)
        ev += [(on, bytes([0x90 | ch, p, 80])), (off, bytes([0x80 | ch, p, 0]))]
    return sorted(ev, key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))  # offs before ons


def tempo(beat: float, qpm: float) -> tuple[int, bytes]:
    return round(beat * TPQ), b"\xff\x51\x03" + round(60e6 / qpm).to_bytes(3, "big")


def meter(beat: float, num: int, den: int) -> tuple[int, bytes]:
    return round(beat * TPQ), b"\xff\x58\x04" + bytes([num, den.bit_length() - 1, 24, 8])


def program(ch: int, prog: int) -> tuple[int, bytes]:
    return 0, bytes([0xC0 | ch, prog])


SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def multi_track() -> bytes:
    """Type 1: a conductor track (100 qpm, then 150 qpm and 3/4 from beat 4), a piano
    melody and a violin line, 8 one-beat notes each: 4 beats at 100 + 4 at 150 = 4.0 s."""
    conductor = mtrk([tempo(0, 100), meter(0, 4, 4), tempo(4, 150), meter(4, 3, 4)])
    piano = mtrk([program(0, 0)] + notes(0, SCALE))
    violin = mtrk([program(1, 40)] + notes(1, [p - 12 for p in SCALE]))
    return smf(1, [conductor, piano, violin])


def running_status() -> bytes:
    """Type 0, 10 notes, one status byte for the whole track (note-on velocity 0 = off)."""
    body = [(0, b"\x90\x3c\x50")]
    for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 74, 76]):
        if i:
            body.append((i * TPQ, bytes([p, 80])))
        body.append(((i + 1) * TPQ, bytes([p, 0])))
    return smf(0, [mtrk(body)])


def smpte() -> bytes:
    """-25 fps x 40 ticks/frame = 1000 ticks/s; 8 notes of 500 ticks = 4.0 s. Its tempo
    event (120 qpm) is meaningless under SMPTE timing and must be ignored."""
    ev = [(0, b"\xff\x51\x03\x07\xa1\x20")] + notes(0, SCALE, beats=0.5, tpq=1000)
    return smf(0, [mtrk(ev)], division=(0xE7 << 8) | 40)


FILES = {
    # name: (bytes, expected status, expected reason fragment) under programs=piano
    "type0.mid": (smf(0, [mtrk([tempo(0, 120), program(0, 0), program(1, 1)]
                               + notes(0, SCALE) + notes(1, [48, 55, 52, 53]))]),
                  "kept", ""),
    "multi.mid": (multi_track(), "kept", ""),
    "sub/running.midi": (running_status(), "kept", ""),
    "smpte.mid": (smpte(), "kept", ""),
    "drums.mid": (smf(0, [mtrk(notes(9, [36, 38] * 6))]), "dropped", "drums only"),
    "silent.mid": (smf(1, [mtrk([tempo(0, 90), meter(0, 3, 4)])]), "dropped", "no notes"),
    "truncated.mid": (multi_track()[:-30], "dropped", "not a readable MIDI file (truncated"),
    "header_only.mid": (multi_track()[:14], "dropped",
                        "truncated: the header announces 3 tracks, the file holds 0"),
    "fake.mid": (b"this is not a MIDI file\n", "dropped", "not a readable MIDI file"),
    "bad_smpte.mid": (smf(0, [mtrk(notes(0, SCALE))], division=(0xE7 << 8)), "dropped",
                      "invalid SMPTE division"),
    "type2.mid": (smf(2, [mtrk(notes(0, SCALE))]), "dropped", "type 2"),
    "short.mid": (smf(0, [mtrk(notes(0, SCALE, beats=0.125))]), "dropped",
                  "too short (0.50 s < 2 s)"),
    "violin.mid": (smf(0, [mtrk([program(0, 40)] + notes(0, SCALE))]), "dropped",
                   "no notes after filtering (programs=piano)"),
    "slow.mid": (smf(0, [mtrk([(0, b"\xff\x51\x03\xff\xff\xff")] + notes(0, SCALE))]),
                 "dropped", "absurd tempo (3.576 qpm)"),
    "few.mid": (smf(0, [mtrk(notes(0, [60, 64, 67], beats=2))]), "dropped",
                "too few notes (3 < 8)"),
}


@pytest.fixture
def midi_folder(tmp_path) -> Path:
    root = tmp_path / "midis"
    for name, (data, _, _) in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "README.txt").write_text("not music")
    return root


def by_path(corpus, root: Path) -> dict:
    return {Path(r.path).relative_to(root).as_posix(): r for r in corpus.rows}


# --- a folder of good and broken files ----------------------------------------------------

def test_folder_report_has_one_row_per_file_with_the_reason(midi_folder, tmp_path):
    corpus = load_piece_corpus(str(midi_folder), IngestFilter(programs="piano"),
                               progress=False)
    rows = by_path(corpus, midi_folder)
    assert sorted(rows) == sorted(FILES)
    for name, (_, status, reason) in FILES.items():
        assert rows[name].status == status, (name, rows[name])
        assert reason in rows[name].reason, (name, rows[name].reason)
        assert (rows[name].reason == "") == (status == "kept")
    assert corpus.kept == 4 and corpus.dropped == len(FILES) - 4
    assert corpus.keys == ["multi.mid", "smpte.mid", "sub/running.midi", "type0.mid"]
    assert corpus.ignored == [str(midi_folder / "README.txt")]
    summary = corpus.summary()
    assert summary.startswith(f"{midi_folder}: {len(FILES)} files, 4 kept, ")
    assert "5 not a readable MIDI file" in summary and "1 drums only" in summary
    assert "\n" not in summary and "1 other files ignored (.txt)" in summary

    out = corpus.write_csv(tmp_path / "report" / "ingest.csv")
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["path", "status", "reason", "notes", "seconds", "tracks"]
    assert len(table) == len(FILES)
    short = next(r for r in table if r["path"].endswith("short.mid"))
    assert (short["status"], short["notes"], short["seconds"]) == ("dropped", "8", "0.500")


def test_kept_pieces_have_the_right_notes_tempo_and_tracks(midi_folder):
    corpus = load_piece_corpus(str(midi_folder), IngestFilter(programs="piano"),
                               progress=False)
    pieces = dict(zip(corpus.keys, corpus.pieces, strict=True))
    rows = by_path(corpus, midi_folder)

    type0 = pieces["type0.mid"]  # one track, two channels -> two tracks, programs 0 and 1
    assert sorted(t.program for t in type0.tracks) == [0, 1]
    assert len(type0.notes) == 12 and rows["type0.mid"].seconds == pytest.approx(4.0)

    multi = pieces["multi.mid"]  # the violin track is filtered out by programs=piano
    assert [(t.program, len(t.notes)) for t in multi.tracks] == [(0, 8)]
    assert [n.pitch for n in multi.notes] == SCALE
    assert rows["multi.mid"].seconds == pytest.approx(4.0)

    running = pieces["sub/running.midi"]
    assert [(n.start, n.end, n.pitch) for n in running.notes][:3] == [
        (0.0, 1.0, 60), (1.0, 2.0, 62), (2.0, 3.0, 64)]
    assert len(running.notes) == 10

    smpte_piece = pieces["smpte.mid"]  # 1000 ticks/s: a note every 0.5 s, 4.0 s in all
    assert smpte_piece.tempos == [Tempo(0.0, 60.0)]
    assert [round(smpte_piece.seconds(n.start), 6) for n in smpte_piece.notes] == [
        i * 0.5 for i in range(8)]
    assert smpte_piece.duration_seconds == pytest.approx(4.0)


def test_tempo_and_meter_changes_come_through(midi_folder):
    piece = read_piece(midi_folder / "multi.mid")
    assert [(t.beat, round(t.qpm, 3)) for t in piece.tempos] == [(0.0, 100.0), (4.0, 150.0)]
    assert piece.time_signatures == [TimeSignature(0.0, 4, 4), TimeSignature(4.0, 3, 4)]
    assert sorted(t.program for t in piece.tracks if t.notes) == [0, 40]
    assert piece.duration_seconds == pytest.approx(4.0)
    kept, reason = filter_piece(piece, IngestFilter())
    assert reason == "" and len(kept.tracks) == 2


def test_programs_filter_forms(midi_folder):
    piece = read_piece(midi_folder / "multi.mid")
    assert [t.program for t in filter_piece(piece, IngestFilter(programs="40"))[0].tracks] \
        == [40]
    assert filter_piece(piece, IngestFilter(programs="0, 40"))[0].tracks[0].program == 0
    assert filter_piece(piece, IngestFilter(programs="41,42")) == (
        None, "no notes after filtering (programs=41,42)")
    assert filter_piece(piece, IngestFilter(max_seconds=3.0)) == (
        None, "too long (4.00 s > 3 s)")


@pytest.mark.parametrize("kwargs", [
    {"programs": "pianos"}, {"programs": "0,128"}, {"programs": ""}, {"min_seconds": -1},
    {"min_seconds": 10, "max_seconds": 5}, {"min_notes": 0}, {"min_notes": 2.5},
])
def test_filter_validation(kwargs):
    with pytest.raises(ValueError):
        IngestFilter(**kwargs)


# --- single inputs: a one-line error that names the file -----------------------------------

@pytest.mark.parametrize("name", [n for n, (_, status, _) in FILES.items()
                                  if status == "dropped"])
def test_a_single_bad_file_is_a_one_line_error(midi_folder, name):
    path = midi_folder / name
    with pytest.raises(TunesmithError) as err:
        load_piece_corpus(str(path), IngestFilter(programs="piano"), progress=False)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert FILES[name][2] in message


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


def test_a_single_file_shows_no_progress_bar(midi_folder, capsys):
    """The CLI prints a lone file's error as the only line on stderr."""
    with pytest.raises(TunesmithError):
        load_piece_corpus(str(midi_folder / "fake.mid"), progress=True)
    corpus = load_piece_corpus(str(midi_folder / "multi.mid"), progress=True)
    assert corpus.kept == 1 and capsys.readouterr().err == ""


def test_read_piece_errors_name_the_file(midi_folder, tmp_path):
    for path, fragment in [(midi_folder / "fake.mid", "not a readable MIDI file"),
                           (midi_folder / "README.txt", "unsupported file type '.txt'"),
                           (tmp_path / "missing.mid", "no such file")]:
        with pytest.raises(TunesmithError, match=fragment) as err:
            read_piece(path)
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_missing_empty_and_useless_folders(tmp_path):
    with pytest.raises(TunesmithError, match="no such file or folder"):
        load_piece_corpus(str(tmp_path / "nope"), progress=False)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(TunesmithError, match="no music files in this folder"):
        load_piece_corpus(str(tmp_path / "docs"), progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mid").write_bytes(FILES["fake.mid"][0])
    (bad / "b.mid").write_bytes(FILES["drums.mid"][0])
    with pytest.raises(TunesmithError) as err:
        load_piece_corpus(str(bad), progress=False)
    assert str(err.value) == (f"{bad}: no usable pieces: all 2 inputs dropped "
                              "(1 not a readable MIDI file, 1 drums only)")


# --- MusicXML and ABC ---------------------------------------------------------------------

MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Violin</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions>
        <time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      {notes}
    </measure>
  </part>
</score-partwise>
"""


def musicxml(steps: str = "CDEFGABC") -> str:
    notes = "".join(f"<note><pitch><step>{s}</step><octave>5</octave></pitch>"
                    f"<duration>1</duration></note>" for s in steps)
    return MUSICXML.format(notes=notes)


BOOK = """X:1
T:One
M:4/4
L:1/4
K:C
CDEF|GABc|cBAG|FEDC|]

X:2
T:Two
M:4/4
L:1/4
K:G
GABc|dcBA|G4|]
"""


def test_musicxml_and_abc_books_in_a_folder(tmp_path):
    (tmp_path / "violin.musicxml").write_text(musicxml())
    (tmp_path / "broken.xml").write_text("<score-partwise><part")
    (tmp_path / "book.abc").write_text(BOOK)
    corpus = load_piece_corpus(str(tmp_path), progress=False)
    assert corpus.keys == ["book.abc#0", "book.abc#1", "violin.musicxml"]
    assert [r.status for r in corpus.rows] == ["kept", "kept", "dropped", "kept"]
    assert corpus.rows[2].reason.startswith("not a readable MusicXML file")
    violin = corpus.pieces[2]
    assert violin.tracks[0].program == 40 and len(violin.notes) == 8
    assert corpus.pieces[0].title == "One" and len(corpus.pieces[1].notes) == 9
    assert corpus.summary().startswith(f"{tmp_path}: 4 inputs, 3 kept, 1 dropped")


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


# --- the built-in cache, on a built-in made of fixture files ---------------------------------

def test_builtin_corpus_is_parsed_once_then_read_from_the_json_cache(tmp_path, monkeypatch):
    from tunesmith import corpora
    from tunesmith.io import musicxml as mx

    root = tmp_path / "m21corpus"
    (root / "tiny").mkdir(parents=True)
    for i, steps in enumerate(["CDEFGABC", "CEGCEGCE", "CD"]):
        (root / "tiny" / f"s{i}.xml").write_text(musicxml(steps))
    (root / "tiny" / "notes.rntxt").write_text("not a score")
    spec = corpora.BuiltinCorpus("tiny", "score", "fixture scores", "music21", ("tiny",))
    monkeypatch.setitem(corpora.BUILTIN, "tiny", spec)
    monkeypatch.setattr(corpora, "music21_corpus_dir", lambda: root)
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))

    first = load_piece_corpus("tiny", progress=False)
    assert first.summary() == "tiny: 3 files, 2 kept, 1 dropped (1 too few notes)"
    assert first.keys == ["tiny/s0.xml", "tiny/s1.xml"]
    assert cache_path("tiny").parent == tmp_path / "cache" / "corpora"
    cached = json.loads(cache_path("tiny").read_text())
    assert list(cached["files"]) == [f"tiny/s{i}.xml" for i in range(3)]
    assert corpora.count_tunes("tiny") == 3

    parsed = []
    real = mx.read_musicxml
    monkeypatch.setattr(mx, "read_musicxml", lambda path: parsed.append(path) or real(path))
    again = load_piece_corpus("tiny", IngestFilter(min_notes=2, min_seconds=0.5),
                              progress=False)
    assert parsed == [] and again.kept == 3 and again.pieces[:2] == first.pieces

    (root / "tiny" / "s3.xml").write_text(musicxml("GFEDCBAG"))  # only this one is parsed
    (root / "tiny" / "s0.xml").unlink()
    third = load_piece_corpus("tiny", progress=False)
    assert [Path(p).name for p in parsed] == ["s3.xml"]
    assert third.keys == ["tiny/s1.xml", "tiny/s3.xml"]
    assert list(json.loads(cache_path("tiny").read_text())["files"]) == [
        "tiny/s1.xml", "tiny/s2.xml", "tiny/s3.xml"]


def test_builtin_score_corpora_are_listed_and_counted():
    from tunesmith.corpora import BUILTIN, corpus_files, count_tunes

    assert BUILTIN["bach-chorales"].kind == BUILTIN["classical"].kind == "score"
    files = corpus_files("bach-chorales")
    assert count_tunes("bach-chorales") == len(files) == 409
    assert {f.suffix for f in files} == {".mxl", ".xml"}
    assert not any(f.name == "bwv846.mxl" for f in files)
    assert count_tunes("classical") == len(corpus_files("classical")) > 50


@pytest.mark.slow
def test_bach_chorales_load_for_real():
    corpus = load_piece_corpus("bach-chorales", progress=False)
    assert corpus.kept > 400 and len(corpus.rows) == 409
    assert all(k.startswith("bach/") for k in corpus.keys)


# --- Piece dicts ----------------------------------------------------------------------------

def test_piece_dict_round_trip_is_exact_through_json():
    piece = Piece(
        tracks=[Track(notes=[Note(0.0, 1 / 3, 60, 90), Note(1 / 3, 2.0, 64, 1)], program=40,
                      name="Violin I"),
                Track(notes=[Note(0.5, 0.75, 36, 127)], program=0, is_drum=True)],
        tempos=[Tempo(0.0, 100.0), Tempo(7.25, 62.00699300699301)],
        time_signatures=[TimeSignature(0.0, 6, 8), TimeSignature(12.0, 2, 4)],
        key="D major", title="Ünïcode \"title\"", source_text="X:1\nK:D\nABc|\n")
    back = Piece.from_dict(json.loads(json.dumps(piece.to_dict())))
    assert back == piece
    with pytest.raises(ValueError, match="format"):
        Piece.from_dict({**piece.to_dict(), "format": 99})


times = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(times, times, st.integers(0, 127), st.integers(1, 127)),
                max_size=20), st.lists(st.tuples(times, st.floats(5, 1000)), min_size=1))
def test_piece_dict_round_trip_property(raw_notes, raw_tempos):
    piece = Piece(tracks=[Track(notes=[Note(s, s + d + 1e-3, p, v) for s, d, p, v in raw_notes])],
                  tempos=[Tempo(b, q) for b, q in raw_tempos])
    assert Piece.from_dict(json.loads(json.dumps(piece.to_dict()))) == piece
