"""Corpora of Pieces (tunesmith.corpora): good and broken files, the report, the filter,
the built-ins and their cache, progress events."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tunesmith.cli.progress import tqdm_progress
from tunesmith.corpora import (
    IngestFilter,
    cache_path,
    filter_piece,
    load_piece_corpus,
)
from tunesmith.errors import TunesmithError
from tunesmith.io.read import read_piece
from tunesmith.music import Tempo
from tunesmith.progress import ProgressEvent

from .music_files import BOOK, FILES, SCALE, musicxml, write_midi_folder


@pytest.fixture
def midi_folder(tmp_path) -> Path:
    return write_midi_folder(tmp_path)


def by_path(corpus, root: Path) -> dict:
    return {Path(r.path).relative_to(root).as_posix(): r for r in corpus.rows}


# --- a folder of good and broken files ----------------------------------------------------

def test_folder_report_has_one_row_per_file_with_the_reason(midi_folder, tmp_path):
    corpus = load_piece_corpus(str(midi_folder), IngestFilter(programs="piano"),
                               progress=None)
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
                               progress=None)
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
        load_piece_corpus(str(path), IngestFilter(programs="piano"), progress=None)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert FILES[name][2] in message


def test_a_single_file_shows_no_progress_bar(midi_folder, capsys):
    """The CLI prints a lone file's error as the only line on stderr."""
    with pytest.raises(TunesmithError):
        load_piece_corpus(str(midi_folder / "fake.mid"), progress=tqdm_progress())
    corpus = load_piece_corpus(str(midi_folder / "multi.mid"), progress=tqdm_progress())
    assert corpus.kept == 1 and capsys.readouterr().err == ""


def test_missing_empty_and_useless_folders(tmp_path):
    with pytest.raises(TunesmithError, match="no such file or folder"):
        load_piece_corpus(str(tmp_path / "nope"), progress=None)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(TunesmithError, match="no music files in this folder"):
        load_piece_corpus(str(tmp_path / "docs"), progress=None)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mid").write_bytes(FILES["fake.mid"][0])
    (bad / "b.mid").write_bytes(FILES["drums.mid"][0])
    with pytest.raises(TunesmithError) as err:
        load_piece_corpus(str(bad), progress=None)
    assert str(err.value) == (f"{bad}: no usable pieces: all 2 inputs dropped "
                              "(1 not a readable MIDI file, 1 drums only)")


def test_folders_tunesmith_wrote_are_left_out_and_linked_folders_read(tmp_path):
    """A corpus folder that holds a composition, a run or a checkpoint would feed the model
    its own pieces: they are left out and said so; a linked sub-folder is read (once)."""
    import os

    from tunesmith.corpora import load_abc_corpus

    good = FILES["multi.mid"][0]
    root = tmp_path / "midi"
    for folder, marker in (("mine", None), ("mine/generated", "composition.json"),
                           ("runs/r1/samples", None), ("old-model", "tunesmith.json")):
        (root / folder).mkdir(parents=True)
        if marker:
            (root / folder / marker).write_text("{}")
        (root / folder / "piece.mid").write_bytes(good)
    (root / "runs" / "r1" / "config.json").write_text("{}")
    (root / "runs" / "r1" / "metrics.csv").write_text("step\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "linked.mid").write_bytes(good)
    os.symlink(elsewhere, root / "link")
    os.symlink(root, root / "mine" / "up")  # a loop: read once
    os.symlink(root / "mine", root / "alias")  # a link inside: the folder keeps its name
    corpus = load_piece_corpus(str(root), progress=None)
    assert corpus.keys == ["link/linked.mid", "mine/piece.mid"]
    assert corpus.summary().endswith(
        "; 3 folders tunesmith wrote left out (mine/generated: a composition, old-model: a "
        "checkpoint, runs/r1: a training run)")
    only = tmp_path / "only"
    (only / "out").mkdir(parents=True)
    (only / "out" / "composition.json").write_text("{}")
    (only / "out" / "piece_01.mid").write_bytes(good)
    with pytest.raises(TunesmithError, match=r"no music files in this folder \(.*; 1 folder "
                                             r"tunesmith wrote left out \(out: a composition"):
        load_piece_corpus(str(only), progress=None)
    assert load_piece_corpus(str(only / "out"), progress=None).keys == ["piece_01.mid"]
    abc = tmp_path / "abc"
    (abc / "tunes").mkdir(parents=True)
    (abc / "tunes" / "book.abc").write_text(BOOK)
    (abc / "tunes" / "composed").mkdir()
    (abc / "tunes" / "composed" / "composition.json").write_text("{}")
    (abc / "tunes" / "composed" / "tune_01.abc").write_text(BOOK)
    c = load_abc_corpus(str(abc))
    assert {t.source for t in c.tunes} == {str(abc / "tunes" / "book.abc")}
    assert c.left_out == [f"{abc / 'tunes' / 'composed'}: left out, a composition "
                          "tunesmith wrote"] and c.problems == []


# --- MusicXML and ABC ---------------------------------------------------------------------

def test_musicxml_and_abc_books_in_a_folder(tmp_path):
    (tmp_path / "violin.musicxml").write_text(musicxml())
    (tmp_path / "broken.xml").write_text("<score-partwise><part")
    (tmp_path / "book.abc").write_text(BOOK)
    corpus = load_piece_corpus(str(tmp_path), progress=None)
    assert corpus.keys == ["book.abc#0", "book.abc#1", "violin.musicxml"]
    assert [r.status for r in corpus.rows] == ["kept", "kept", "dropped", "kept"]
    assert corpus.rows[2].reason.startswith("not a readable MusicXML file")
    violin = corpus.pieces[2]
    assert violin.tracks[0].program == 40 and len(violin.notes) == 8
    assert corpus.pieces[0].title == "One" and len(corpus.pieces[1].notes) == 9
    assert corpus.summary().startswith(f"{tmp_path}: 4 inputs, 3 kept, 1 dropped")


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
    monkeypatch.setattr(corpora.builtin, "music21_corpus_dir", lambda: root)
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))

    first = load_piece_corpus("tiny", progress=None)
    assert first.summary() == "tiny: 3 files, 2 kept, 1 dropped (1 too few notes)"
    assert first.keys == ["tiny/s0.xml", "tiny/s1.xml"]
    assert cache_path("tiny").parent == tmp_path / "cache" / "corpora"
    cached = json.loads(cache_path("tiny").read_text())
    assert list(cached["files"]) == [f"tiny/s{i}.xml" for i in range(3)]
    assert corpora.count_tunes("tiny") == 3

    log = tmp_path / "parsed.txt"  # the parses run in worker processes: they log to a file
    log.touch()
    real = mx.read_musicxml

    def logged(path):
        with open(log, "a") as fh:
            fh.write(f"{Path(path).name}\n")
        return real(path)

    monkeypatch.setattr(mx, "read_musicxml", logged)
    again = load_piece_corpus("tiny", IngestFilter(min_notes=2, min_seconds=0.5),
                              progress=None)
    assert log.read_text() == "" and again.kept == 3 and again.pieces[:2] == first.pieces

    (root / "tiny" / "s3.xml").write_text(musicxml("GFEDCBAG"))  # only this one is parsed
    (root / "tiny" / "s0.xml").unlink()
    third = load_piece_corpus("tiny", progress=None)
    assert log.read_text().split() == ["s3.xml"]
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
    corpus = load_piece_corpus("bach-chorales", progress=None)
    assert corpus.kept > 400 and len(corpus.rows) == 409
    assert all(k.startswith("bach/") for k in corpus.keys)


# --- progress: events to a callback, drawn as bars by the CLI only ------------------------

def test_progress_hears_of_every_file_parsed(midi_folder, tmp_path, monkeypatch):
    events: list[ProgressEvent] = []
    corpus = load_piece_corpus(str(midi_folder), progress=events.append)
    n = len(corpus.rows)
    assert [e.done for e in events] == list(range(n + 1))
    assert {(e.task, e.total, e.unit) for e in events} == {("midis", n, "file")}
    assert events[-1].finished

    from tunesmith import corpora

    (tmp_path / "m21" / "tiny").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "m21" / "tiny" / f"s{i}.xml").write_text(musicxml())
    monkeypatch.setitem(corpora.BUILTIN, "tiny", corpora.BuiltinCorpus(
        "tiny", "score", "fixture scores", "music21", ("tiny",)))
    monkeypatch.setattr(corpora.builtin, "music21_corpus_dir", lambda: tmp_path / "m21")
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    events.clear()
    load_piece_corpus("tiny", progress=events.append)
    assert events[0].task.startswith("tiny: parsing once, cached in ")
    assert [e.done for e in events] == [0, 1, 2, 3]
    events.clear()
    load_piece_corpus("tiny", progress=events.append)  # all from the cache: nothing to hear
    assert events == []


def test_tqdm_progress_draws_one_bar_per_task_and_none_for_one_unit(capsys):
    from tunesmith.progress import report

    draw = tqdm_progress(delay=0.0)
    report(draw, "lone", 0, 1, unit="file")
    report(draw, "lone", 1, 1, unit="file")
    assert capsys.readouterr().err == ""
    for done in range(4):
        report(draw, "three files", done, 3, unit="file")
    err = capsys.readouterr().err
    assert "three files" in err and "3/3" in err
