"""ABC files and music21 parsing (tunesmith.io.abc)."""

from tunesmith import abc_text
from tunesmith.io import abc as abc_io
from tunesmith.io.abc import (
    as_tune_book_entry,
    check_tune,
    model_text,
    split_tunes,
    tune_to_piece,
)

from .test_abc_text import BOOK


def test_io_abc_still_offers_the_text_helpers():
    for name in ("AbcTune", "split_tunes", "read_header", "model_text", "as_tune_book_entry"):
        assert getattr(abc_io, name) is getattr(abc_text, name)


def test_tune_to_piece_reads_notes_meter_key():
    piece = tune_to_piece(split_tunes(BOOK)[0].text)
    assert piece.title == "First"
    first = piece.notes[:3]
    assert [n.pitch for n in first] == [62, 66, 69]  # D4 F#4 A4 in D major
    assert [round(n.end - n.start, 3) for n in first] == [0.5, 0.5, 0.5]  # eighths, in beats
    assert piece.time_signatures[0].numerator == 6
    assert piece.key.lower().startswith("d")


def test_invisible_and_whole_bar_rests_keep_their_time():
    """music21 drops x and Z (and reads X as a note); abc2midi plays them as rests, and so
    does tune_to_piece: the first A comes after the rest, as it does in abc2midi's MIDI."""
    def first_a(body, header="M:4/4\nL:1/8\n"):
        piece = tune_to_piece(f"X:1\n{header}K:C\n{body}\n")
        assert piece.source_text == f"X:1\n{header}K:C\n{body}\n"  # the text as written
        return next(n.start for n in piece.notes if n.pitch == 69)

    assert first_a("x2 A2 B2 c2|d8|]") == first_a("z2 A2 B2 c2|d8|]") == 1.0
    assert first_a("Z|A2B2c2d2|]") == 4.0
    assert first_a("X2|A2B2c2d2|]") == 8.0
    # a meter changed inside the tune; the default unit of 6/8 (1/8); quotes kept
    assert first_a('"x"Z|[M:3/4]X|A2 B2 c2|]', header="M:6/8\n") == 6.0
    # a body M: keeps the header's unit (1/16 for 2/4), as abc2midi reads it
    assert first_a("C2 D2|[M:3/4]Z|A2 B2|]", header="M:2/4\n") == 4.0


def test_music21_rests_spells_only_rests():
    from tunesmith.abc_meter import MAX_BAR_RESTS, music21_rests

    text = 'X:1\nM:3/4\nL:1/4\nK:Amix\nx/2 "x" !x!A x3/2|Z2|\nM:none\nZ|] % x Z\n'
    assert music21_rests(text) == ('X:1\nM:3/4\nL:1/4\nK:Amix\nz/2 "x" !x!A z3/2|z3|z3|'
                                   '\nM:none\nZ|] % x Z\n')
    # whole bars one by one (music21 is slow on one long rest); past the cap, as written
    assert music21_rests("X:1\nM:2/4\nL:1/8\nK:C\nZ3|\n+: x Z\nA4|]") == (
        "X:1\nM:2/4\nL:1/8\nK:C\nz4|z4|z4|\n+: x Z\nA4|]")
    many = f"X:1\nK:C\nZ{MAX_BAR_RESTS + 1}|A8|]"
    assert music21_rests(many) == many
    tune = "X:1\nK:D\nDFA|]\n"
    assert music21_rests(tune) == tune


def test_check_tune():
    assert check_tune(as_tune_book_entry("M:6/8\nL:1/8\nK:D\nDFA dAF|d3 d3|]\n")) is None
    assert check_tune("X:1\nT:no notes\nK:D\n") is not None  # parses, but no bar of notes
    assert check_tune("X:1\nK:D\n|]]]((((\n") is not None


def test_the_seed_labs_tune_book_splits_into_its_804_tunes():
    """The lab's own splitter found 817 'songs' in irish.abc; the file has 804 X: lines."""
    import pytest

    from tunesmith.io.abc import read_tune_book

    from .conftest import SHARED_DATA

    path = SHARED_DATA / "abc" / "irish.abc"
    if not path.exists():
        pytest.skip("../shared/data/abc/irish.abc is not beside this checkout")
    tunes = read_tune_book(path)
    assert len(tunes) == 804
    assert all(t.fields.get("K") and t.fields.get("M") for t in tunes)
    assert all(model_text(t).count("|") > 4 for t in tunes)  # the last one too



def _score_with_repeat(times: int):
    from music21 import bar, note, stream

    part = stream.Part()
    for pitches in (["C4", "D4"], ["E4", "F4"]):
        m = stream.Measure()
        for p in pitches:
            m.append(note.Note(p, quarterLength=2))
        part.append(m)
    part.getElementsByClass(stream.Measure)[0].leftBarline = bar.Repeat(direction="start")
    part.getElementsByClass(stream.Measure)[1].rightBarline = bar.Repeat(direction="end",
                                                                         times=times)
    return stream.Score([part])


def test_a_part_without_a_start_repeat_is_played_as_abc2midi_plays_it():
    """``A :| B :|``: the B part repeats from A's ``:|``, not from the tune's start
    (A A B B, as abc2midi and a musician read it; music21 alone plays A A B A A B)."""
    head = "X:1\nT:t\nM:4/4\nL:1/8\nK:C\n"
    a, b = "CDEF GABc|DEFG ABcd", "cBAG FEDC|BAGF EDCB"  # bars starting 60, 62 / 72, 71
    a2, b2 = "CDEF GABc|1 DEFG ABcd:|2 EFGA Bcde||", "cBAG FEDC|1 BAGF EDCB:|2 A,8|]"

    def firsts(body):  # the first pitch of each bar played
        notes = tune_to_piece(head + body + "\n").notes
        return [n.pitch for n in notes if n.start % 4 == 0]

    aabb = [60, 62, 60, 62, 72, 71, 72, 71]
    assert firsts(f"{a}:|\n{b}:|") == aabb
    assert firsts(f"|:{a}:|\n|:{b}:|") == aabb  # written out, as before
    assert firsts(f"{a}::\n{b}:|") == aabb
    # after first and second endings the B part starts past the second ending
    assert firsts(f"{a2}\n{b2}") == [60, 62, 60, 64, 72, 71, 72, 57]
    # a double bar after a repeat starts the next section; a second ending of two bars
    assert firsts("|:C8|D8:|E8|F8||G8|A8:|") == [60, 62, 60, 62, 64, 65, 67, 69, 67, 69]
    assert firsts("C8|D8:|E8|1F8:|2G8|A8||B8|c8:|") == [
        60, 62, 60, 62, 64, 65, 64, 67, 69, 71, 72, 71, 72]
    # with no repeat before it, a double bar does not (abc2midi: A B A B); nor does the
    # tune's first section, which repeats from the start
    assert firsts(f"{a}||{b}:|") == [60, 62, 72, 71] * 2


def test_repeats_are_played_unless_they_run_away_or_are_not_wanted():
    from tunesmith.io.m21 import score_to_piece

    played = [n.pitch for n in score_to_piece(_score_with_repeat(2)).notes]
    assert played == [60, 62, 64, 65] * 2
    written = [n.pitch for n in score_to_piece(_score_with_repeat(2), repeats=False).notes]
    assert written == [60, 62, 64, 65]
    # 10 times through is not a folk tune's repeat: the written order is kept
    assert len(score_to_piece(_score_with_repeat(10)).notes) == 4
