"""The budgets of issue 24 (io/limits.py, io/deadline.py): every reader refuses a file
over a limit before the work it guards, with one line naming the limit and the file;
TUNESMITH_LIMITS raises a limit; a read that takes too long is killed. The issue's
hanging inputs (a 38-byte ABC tune, a 100 KB one-line tune, a 20,000-note and a
10,000-track MIDI) each finish in seconds, through the commands a user runs."""

from __future__ import annotations

import csv
import functools
import os
import time
import warnings
import zipfile

import pytest

from tunesmith.errors import TunesmithError
from tunesmith.io import abc2midi, deadline
from tunesmith.io.abc import check_abc_text, check_tune, read_tune_book, tune_to_piece
from tunesmith.io.limits import ENV, Limits, OverLimit, limits
from tunesmith.io.read import piece_problem, read_piece
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

from .music_files import (
    BOOK,
    TINY_HANG_ABC,
    long_note,
    many_notes,
    many_tracks,
    multi_track,
    musicxml,
    one_line_abc,
    with_tempo,
)
from .test_cli import assert_one_line_error, run_cli

linux_only = pytest.mark.skipif(not deadline.FORK, reason="deadlines need fork (Linux)")


def names_the_limit(text: str, name: str) -> bool:
    return f"({name}" in text and f"raise it with {ENV}={name}=N)" in text


@functools.cache
def _contents() -> dict[str, bytes]:
    return {
        "tiny.abc": TINY_HANG_ABC.encode(),
        "long.abc": one_line_abc().encode(),
        "tracks.mid": many_tracks(10_000),
        "notes.mid": many_notes(20_000),
        "note77h.mid": long_note(77 * 3600 * 2),  # 77 hours at 120 qpm
        "zero_tempo.mid": with_tempo(0),
        "fast_tempo.mid": with_tempo(1),  # 60 million qpm
        "good.mid": multi_track(),
        "good.abc": BOOK.encode(),
    }


@pytest.fixture
def files(tmp_path):
    """The issue's hostile inputs, and a good MIDI and ABC file beside them."""
    for name, data in _contents().items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in _contents()}


# --- the limits themselves --------------------------------------------------------------

def test_the_environment_raises_a_limit_without_a_cache_to_clear(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert limits() == Limits()
    monkeypatch.setenv(ENV, "notes=10, parse_seconds=1.5")
    assert limits().notes == 10 and limits().parse_seconds == 1.5
    monkeypatch.setenv(ENV, "nots=3")
    with pytest.raises(TunesmithError, match="unknown limit 'nots'"):
        limits()


def test_an_over_limit_error_is_one_line_naming_the_limit_and_the_file():
    with pytest.raises(OverLimit) as err:
        Limits().check("tracks", 1025, "tracks", "x.mid")
    text = str(err.value)
    assert text.startswith("x.mid: tracks: 1,025 is over the limit of 1,024")
    assert names_the_limit(text, "tracks") and "\n" not in text
    assert isinstance(err.value, ValueError)  # the ABC parsers' callers catch ValueError
    assert "14,400.5 is over the limit of 14,400" in Limits().problem("seconds", 14400.5, "s")


# --- the issue's hanging inputs, through the CLI ------------------------------------------

@pytest.mark.parametrize("name, limit", [("tiny.abc", "abc_meter"),
                                         ("long.abc", "abc_tune_chars"),
                                         ("tracks.mid", "tracks"),
                                         ("note77h.mid", "note_beats")])
def test_render_refuses_the_issues_inputs_in_seconds(capsys, files, tmp_path, name, limit):
    start = time.monotonic()
    rc, _, err = run_cli(capsys, "render", files[name], "--to", "png", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, files[name])
    assert names_the_limit(err, limit)
    assert time.monotonic() - start < 10
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("name, reason", [("zero_tempo.mid", "absurd tempo (inf qpm)"),
                                          ("fast_tempo.mid", "absurd tempo (6e+07 qpm)")])
def test_render_applies_the_tempo_checks_prepare_applies(capsys, files, tmp_path, name,
                                                         reason):
    rc, _, err = run_cli(capsys, "render", files[name], "--to", "png", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, files[name], reason)


def test_prepare_drops_each_hostile_file_with_its_reason_and_keeps_the_rest(capsys, files,
                                                                            tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("tiny.abc", "long.abc", "tracks.mid", "notes.mid", "note77h.mid",
                 "good.mid", "good.abc"):
        files[name].rename(corpus / name)
    start = time.monotonic()
    rc, out, _ = run_cli(capsys, "prepare", "--corpus", corpus, "--report", tmp_path / "x.csv",
                         "--no-progress", "--max-seconds", 7200)
    assert rc == 0, out
    assert time.monotonic() - start < 30
    rows = {r["path"]: r for r in csv.DictReader(open(tmp_path / "x.csv"))}
    expect = {"tiny.abc#0": "abc_meter", "long.abc#0": "abc_tune_chars",
              "tracks.mid": "tracks", "note77h.mid": "note_beats"}
    for name, limit in expect.items():
        row = rows[str(corpus / name)]
        assert row["status"] == "dropped" and names_the_limit(row["reason"], limit), row
    for name in ("good.mid", "good.abc#0", "good.abc#1", "notes.mid"):
        assert rows[str(corpus / name)]["status"] == "kept", rows[str(corpus / name)]
    assert int(rows[str(corpus / "notes.mid")]["notes"]) == 20_000


def test_compose_refuses_a_hostile_primer_in_one_line(capsys, files, tmp_path):
    rc, _, err = run_cli(capsys, "compose", "--family", "events", "--primer", files["tiny.abc"],
                         "--num", 1, "--max-len", 20, "--no-wav", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, files["tiny.abc"])
    assert names_the_limit(err, "abc_meter")


# --- each limit, where a reader meets it --------------------------------------------------

@pytest.mark.parametrize("setting, name, limit", [
    ("notes=10000", "notes.mid", "notes"),
    ("beats=4", "good.mid", "beats"),
    ("changes=3", "good.mid", "changes"),
    ("seconds=3", "good.mid", "seconds"),
    ("file_bytes=50", "good.mid", "file_bytes"),
    ("file_bytes=50", "good.abc", "file_bytes"),
    ("abc_line_chars=10", "good.abc", "abc_line_chars"),
    ("abc_meter=2", "good.abc", "abc_meter"),
])
def test_each_limit_is_one_line_naming_it_and_the_file(capsys, monkeypatch, files, tmp_path,
                                                       setting, name, limit):
    monkeypatch.setenv(ENV, setting)
    rc, _, err = run_cli(capsys, "render", files[name], "--to", "png", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, files[name])
    assert names_the_limit(err, limit), err


def test_raising_a_limit_lets_the_file_through(capsys, monkeypatch, files, tmp_path):
    monkeypatch.setenv(ENV, "tracks=20000")
    piece = read_piece(files["tracks.mid"])
    assert len(piece.tracks) == 10_000


def test_a_compressed_musicxml_file_is_measured_unpacked(monkeypatch, tmp_path):
    path = tmp_path / "score.mxl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/container.xml",
                   '<container><rootfiles><rootfile full-path="s.xml"/></rootfiles>'
                   '</container>')
        z.writestr("s.xml", musicxml() + " " * 20_000)
    assert path.stat().st_size < 5_000
    monkeypatch.setenv(ENV, "file_bytes=10000")
    with pytest.raises(OverLimit, match="unpacked size") as err:
        read_piece(path)
    assert str(err.value).startswith(str(path))


def test_a_zip_whose_header_lies_is_refused_before_music21_unpacks_it(tmp_path):
    """Found by the fuzz suite: a 2 MB .mxl whose header says its score holds 1,000
    bytes took 2 GB of memory in music21 (zipfile's read() unpacks the whole stream before
    cutting it to the declared size). Here the members are unpacked a MiB at a time."""
    from tests.fuzz.hostile import zip_bomb

    path = tmp_path / "lying.mxl"
    path.write_bytes(zip_bomb(mib=256, lie=True))
    start = time.monotonic()
    with pytest.raises(TunesmithError, match="'score.xml' unpacks to more than the 1,000 "
                                             "bytes its header says") as err:
        read_piece(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert time.monotonic() - start < 10


def test_a_zip_member_compressed_otherwise_is_refused(tmp_path):
    path = tmp_path / "lzma.mxl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as z:
        z.writestr("s.musicxml", musicxml())
    with pytest.raises(TunesmithError, match="compressed with method 14"):
        read_piece(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("s.musicxml", musicxml())
    assert len(read_piece(path).notes) == 8


def test_analyze_skips_a_piece_over_analyze_notes(capsys, monkeypatch, files, tmp_path):
    monkeypatch.setenv(ENV, "analyze_notes=15")
    rc, _, err = run_cli(capsys, "analyze", files["good.mid"], "--out", tmp_path / "a")
    assert_one_line_error(rc, err, "good.mid", "notes to analyze: 16 is over the limit of 15")
    assert names_the_limit(err, "analyze_notes")
    rc, out, err = run_cli(capsys, "analyze", files["good.mid"], files["good.abc"], "--out",
                           tmp_path / "b", "--no-progress")
    assert rc == 0, err
    assert "skipped: good.mid/good.mid: notes to analyze: 16" in err


def test_piece_problem_names_a_note_longer_than_note_beats(monkeypatch):
    piece = Piece(tracks=[Track(notes=[Note(0, 1, 60), Note(1, 2501, 62)])])
    assert names_the_limit(piece_problem(piece), "note_beats")
    assert piece_problem(Piece(tracks=[Track(notes=[Note(0, 1, 60)])])) == ""
    many = Piece(tracks=[Track(notes=[Note(0, 1, 60)])],
                 tempos=[Tempo(i * 0.01, 120) for i in range(60)],
                 time_signatures=[TimeSignature(i * 0.01, 4, 4) for i in range(60)])
    assert piece_problem(many) == ""
    monkeypatch.setenv(ENV, "changes=100")
    assert names_the_limit(piece_problem(many), "changes")


# --- ABC text: checked before music21 or abc2midi sees it ---------------------------------

@pytest.mark.parametrize("field, fragment", [
    ("M:99999/1", "abc_meter"), ("L:1/99999", "abc_meter"), ("M:4/5", "not a power of two"),
    ("M:0/4", "positive"), ("L:1/0", "not a power of two"), ("M:99999", "abc_meter"),
    ("L:eighth", "fraction"), ("M:4/", "without a denominator"),
])
def test_meter_and_unit_length_sanity(field, fragment):
    for text in (f"X:1\n{field}\nK:C\nCDEF|\n", f"X:1\nM:4/4\nK:C\nCD [{field}] EF|\n",
                 f"X:1\nK:C\nCDEF|\n{field}\nCDEF|\n"):
        with pytest.raises(ValueError, match=fragment):
            check_abc_text(text)
        assert fragment in check_tune(text)


@pytest.mark.parametrize("field", ["M:C", "M:C|", "M:none", "M:6/8", "M:2+3+2/8",
                                   "M:(2+3)/8", "M:FREI4/4", "L:1/16", "M:64/64", "L:1/64",
                                   "M:3/4 % a comment"])
def test_real_meters_pass(field):
    check_abc_text(f"X:1\n{field}\nK:C\nCDEF|\n")


def test_the_text_family_skips_a_tune_over_a_limit_and_keeps_the_book(tmp_path):
    from tunesmith.corpora.abc import load_abc_corpus

    book = tmp_path / "book.abc"
    book.write_text(BOOK + "\n" + TINY_HANG_ABC.replace("X:1", "X:3"))
    corpus = load_abc_corpus(str(book))
    assert len(corpus) == 2
    assert len(corpus.problems) == 1 and ", tune 3 (X:3): M:99999/1" in corpus.problems[0]
    assert names_the_limit(corpus.problems[0], "abc_meter")


def test_every_abc_path_checks_before_parsing(monkeypatch):
    import music21.converter

    monkeypatch.setattr(music21.converter, "parse", lambda *a, **k: pytest.fail("parsed"))
    for parse in (tune_to_piece, abc2midi.played_piece, abc2midi.tune_piece):
        with pytest.raises(OverLimit, match="abc_meter"):
            parse(TINY_HANG_ABC)
    assert "abc_meter" in check_tune(TINY_HANG_ABC)


def test_a_byte_order_mark_reads_normally(capsys, tmp_path):
    abc = tmp_path / "bom.abc"
    abc.write_bytes(b"\xef\xbb\xbf" + BOOK.encode())
    assert [t.title for t in read_tune_book(abc)] == ["One", "Two"]
    assert len(read_piece(abc, tune=2).notes) == 9
    utf16 = tmp_path / "utf16.abc"
    utf16.write_bytes(BOOK.encode("utf-16"))
    assert len(read_tune_book(utf16)) == 2
    xml = tmp_path / "bom.musicxml"
    xml.write_bytes(b"\xef\xbb\xbf" + musicxml().encode())
    assert len(read_piece(xml).notes) == 8
    rc, _, err = run_cli(capsys, "render", abc, "--to", "png", "--out", tmp_path / "o")
    assert rc == 0, err


# --- music21's warnings stay quiet; ours do not -------------------------------------------

BAD_STEP = musicxml("CDEFGABC").replace("<step>E</step>", "<step>H</step>")


def test_music21_warnings_do_not_reach_the_terminal(capfd, tmp_path):
    bad = tmp_path / "bad.musicxml"
    bad.write_text(BAD_STEP)  # music21 warns (MusicXMLWarning), then fails
    rc = __import__("tunesmith.cli", fromlist=["main"]).main(["render", str(bad)])
    _, err = capfd.readouterr()
    assert_one_line_error(rc, err, bad, "Cannot make a step out of 'H'")


def test_quiet_silences_music21_only(capfd, monkeypatch):
    from music21 import environment
    from music21.musicxml.xmlObjects import MusicXMLWarning

    from tunesmith.io import m21

    real = m21.score_to_piece

    def noisy(score, repeats=True):
        environment.Environment("music21.test").warn("music21 talks")
        warnings.warn("music21 warns", MusicXMLWarning, stacklevel=1)
        warnings.warn("tunesmith warns", UserWarning, stacklevel=1)
        return real(score, repeats=repeats)

    monkeypatch.setattr(m21, "score_to_piece", noisy)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        tune_to_piece(BOOK.split("\n\n")[0])
    _, err = capfd.readouterr()
    assert "music21 talks" not in err
    assert [str(w.message) for w in seen] == ["tunesmith warns"]
    environment.Environment("music21.test").warn("after")  # restored
    assert "after" in capfd.readouterr()[1]


# --- the time budget ----------------------------------------------------------------------

@linux_only
def test_a_read_that_really_hangs_is_killed_at_parse_seconds(capsys, monkeypatch, files,
                                                             tmp_path):
    """With abc_meter raised, the 38-byte tune reaches music21 and hangs its tokenizer
    (for over 300 s before issue 24)."""
    monkeypatch.setenv(ENV, "abc_meter=100000,parse_seconds=0.5")
    start = time.monotonic()
    rc, _, err = run_cli(capsys, "render", files["tiny.abc"], "--to", "png", "--out",
                         tmp_path / "o")
    assert_one_line_error(rc, err, files["tiny.abc"], "took longer than 0.5 s to read")
    assert names_the_limit(err, "parse_seconds")
    assert time.monotonic() - start < 8


@linux_only
def test_prepare_drops_a_slow_file_and_goes_on(capsys, monkeypatch, files, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("tiny.abc", "good.abc", "good.mid"):
        files[name].rename(corpus / name)
    (corpus / "score.musicxml").write_text(musicxml())
    # 2 s: time enough for the good files on a busy machine, not for the hanging one
    monkeypatch.setenv(ENV, "abc_meter=100000,parse_seconds=2")
    start = time.monotonic()
    rc, out, _ = run_cli(capsys, "prepare", "--corpus", corpus, "--report", tmp_path / "x.csv",
                         "--no-progress")
    assert rc == 0, out
    assert time.monotonic() - start < 15
    rows = {r["path"]: r for r in csv.DictReader(open(tmp_path / "x.csv"))}
    slow = rows[str(corpus / "tiny.abc#0")]
    assert slow["status"] == "dropped"
    assert slow["reason"].startswith("took longer than 2 s to read (parse_seconds limit")
    assert [rows[str(corpus / n)]["status"] for n in
            ("good.abc#0", "good.abc#1", "good.mid", "score.musicxml")] == ["kept"] * 4


@linux_only
def test_compose_primer_has_the_same_deadline(capsys, monkeypatch, files, tmp_path):
    monkeypatch.setenv(ENV, "abc_meter=100000,parse_seconds=0.5")
    rc, _, err = run_cli(capsys, "compose", "--family", "events", "--primer", files["tiny.abc"],
                         "--num", 1, "--max-len", 20, "--no-wav", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, files["tiny.abc"], "took longer than 0.5 s to read")


def _slow(x):
    if x == "sleep":
        time.sleep(30)
    if x == "die":
        os._exit(3)
    if x == "limit":
        Limits().check("notes", 10**9, "notes", "f.mid")
    if x == "tunesmith":
        raise TunesmithError("bad file", "f.mid")
    if x == "value":
        raise ValueError("bad tune")
    if x == "bug":
        raise KeyError("oops")
    return x * 2


@linux_only
def test_run_all_kills_one_item_and_goes_on():
    start = time.monotonic()
    got = deadline.run_all(_slow, ["a", "sleep", "b", "die", "c", "limit", "tunesmith",
                                   "value", "bug", "d"],
                           workers=2, seconds=0.5, where=lambda x: f"<{x}>")
    assert time.monotonic() - start < 6
    assert [o.value for o in got] == ["aa", None, "bb", None, "cc", None, None, None, None,
                                      "dd"]
    errors = [str(o.error) if o.error else "" for o in got]
    assert errors[1].startswith("<sleep>: took longer than 0.5 s to read (parse_seconds")
    assert errors[3] == "<die>: the reading process died (exit status 3)"
    assert isinstance(got[5].error, OverLimit)
    assert errors[5].startswith("f.mid: notes: 1,000,000,000 is")
    assert errors[6] == "f.mid: bad file" and type(got[6].error) is TunesmithError
    assert type(got[7].error) is ValueError and errors[7] == "bad tune"
    assert errors[8] == "<bug>: could not be read (KeyError: 'oops')"


def _waits_or_spins(x):
    if x == "wait":  # the clock runs, the processor does not: a busy machine's read
        time.sleep(1.0)
    if x == "spin":
        while True:
            pass
    return x


@linux_only
def test_the_budget_is_processor_time_with_the_clock_as_a_backstop():
    """A read that waits 1 s for the processor (as on a machine busy with a training)
    keeps a 0.5 s budget; one that spins is ended at its budget; one that stalls (sleeps
    in _slow) is ended by the clock at four times the budget."""
    assert deadline.STALL_FACTOR == 4
    start = time.monotonic()
    got = deadline.run_all(_waits_or_spins, ["wait", "spin"], workers=2, seconds=0.5,
                           where=lambda x: f"<{x}>")
    assert got[0].value == "wait" and got[0].error is None
    assert str(got[1].error).startswith("<spin>: took longer than 0.5 s to read")
    assert time.monotonic() - start < 6
    start = time.monotonic()
    stalled = deadline.run_all(_slow, ["sleep"], workers=1, seconds=0.5)
    assert "took longer than 0.5 s" in str(stalled[0].error)
    assert 2.0 <= time.monotonic() - start < 6


@linux_only
def test_cpu_seconds_reads_a_process_and_gives_zero_for_none():
    spent = deadline.cpu_seconds(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert deadline.cpu_seconds(os.getpid()) >= spent + 0.1
    assert deadline.cpu_seconds(2**22 + 12345) == 0.0


@linux_only
def test_a_reader_patched_to_sleep_is_killed_in_its_child(monkeypatch, tmp_path):
    from tunesmith.io import musicxml as mx

    monkeypatch.setattr(mx, "read_musicxml", lambda path: time.sleep(30))
    monkeypatch.setenv(ENV, "parse_seconds=0.5")
    path = tmp_path / "s.musicxml"
    path.write_text(musicxml())
    start = time.monotonic()
    with pytest.raises(TunesmithError, match="took longer than 0.5 s to read"):
        read_piece(path)
    assert time.monotonic() - start < 5


# --- abc2midi: giving up is a rejection; its run has the time budget too ---------------------

needs_abc2midi = pytest.mark.skipif(not abc2midi.available(), reason="abcmidi not installed")


@needs_abc2midi
def test_abc2midi_runaway_is_a_rejection(monkeypatch):
    text = "X:1\nM:4/4\nL:1/8\nK:C\n" + "CDEFGABc|\n" * 10_000  # a ~500 KB MIDI
    monkeypatch.setenv(ENV, "abc_tune_chars=200000")
    found = abc2midi.convert_all([text])
    assert "runaway" in found[0].message
    with pytest.raises(ValueError, match="runaway"):
        abc2midi.played_piece(text)


@needs_abc2midi
def test_abc2midi_over_parse_seconds_is_a_rejection(monkeypatch):
    monkeypatch.setenv(ENV, "parse_seconds=0.000001")
    found = abc2midi.convert_all(["X:1\nM:4/4\nL:1/8\nK:C\nCDEF|\n"])
    assert found[0].message.startswith("abc2midi took longer than 1e-06 s (parse_seconds")


@linux_only
def test_checking_sampled_tunes_gives_up_on_one_music21_would_spin_on(monkeypatch):
    """evaluate's validity and compose's music21 fallback read sampled tunes with the same
    deadline: a sampled tune once held music21 for 6 minutes."""
    from tunesmith.io.abc import check_tunes, parse_tune_in_time

    good = BOOK.split("\n\n")[0]
    monkeypatch.setenv(ENV, "abc_meter=100000,parse_seconds=0.5")
    start = time.monotonic()
    reasons = check_tunes([good, TINY_HANG_ABC, "X:1\nK:C\nz|\n"])
    assert reasons[0] is None and reasons[2] == check_tune("X:1\nK:C\nz|\n") is not None
    assert reasons[1].startswith("took longer than 0.5 s to read (parse_seconds limit")
    with pytest.raises(ValueError, match="took longer than 0.5 s"):
        parse_tune_in_time(TINY_HANG_ABC)
    assert parse_tune_in_time(good, repeats=False).notes
    assert time.monotonic() - start < 10
