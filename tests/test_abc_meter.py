"""Bars against their meter, and endings, read from ABC text (abc_meter.py): what
compose's constrained sampling resamples from."""

from fractions import Fraction as F

import pytest

from tunesmith.abc_meter import _read, bars, ending_error, meter_error, meter_length


def lengths(text):
    return [b.length for b in bars(text)]


@pytest.mark.parametrize("field, length", [("6/8", F(3, 4)), ("C", F(1)), ("C|", F(1)),
                                           ("2+3/8", F(5, 8)), ("none", None), ("", None)])
def test_meter_lengths(field, length):
    assert meter_length(field) == length


@pytest.mark.parametrize("music, length", [
    ("A B c d", F(4, 8)),  # unit notes
    ("A2 B/ c// d3/2", F(2 + F(1, 2) + F(1, 4) + F(3, 2), 8)),  # length suffixes
    ("A>B c<d", F(4, 8)),  # broken rhythm keeps the pair's length
    ("A>>B", F(2, 8)),
    ("(3ABc d2", F(4, 8)),  # a triplet: three in the time of two
    ("(3:2:2A2B d2", F(4, 8)),  # (p:q:r: three in the time of two, for two notes
    ("[CEG]2 [C2E2]", F(4, 8)),  # chords: the first note's length times the chord's
    ('"Am"A {ga}B !trill!c ~d', F(4, 8)),  # quotes, grace notes, decorations take no time
    ("z2 x A", F(4, 8)),  # rests
    ("^A =B _c' d,", F(4, 8)),  # accidentals and octave marks
])
def test_note_lengths(music, length):
    assert lengths(f"M:4/4\nL:1/8\nK:C\n{music}|\n") == [length]


def test_unit_length_follows_abc_defaults_and_inline_fields():
    assert lengths("M:2/4\nK:C\nABCD|\n") == [F(4, 16)]  # below 3/4: 1/16
    assert lengths("M:4/4\nK:C\nABCD|\n") == [F(4, 8)]  # otherwise 1/8
    text = "M:4/4\nL:1/8\nK:C\nA8|[L:1/4]A4|\nM:3/4\nA3|[M:2/4]A2|\n"
    assert [(b.length, b.target) for b in bars(text)] == [
        (F(1), F(1)), (F(1), F(1)), (F(3, 4), F(3, 4)), (F(1, 2), F(1, 2))]


def test_bar_lines_repeats_and_endings():
    text = "M:6/8\nL:1/8\nK:D\nA|dfa afd:|\n|:[1 dfa afd:|[2 d6|]\n"
    found = bars(text)
    assert [text[b.start:b.end].strip() for b in found] == ["A", "dfa afd", "dfa afd", "d6"]
    assert [b.closes for b in found] == ["|", ":|", ":|", "|]"]
    # a bar opens with all the bar lines since the last music
    assert found[1].opens == "|" and found[2].opens == ":||:[1"


def test_a_full_bar_at_a_line_end_closes_there():
    """Essen's songs (most of folk-abc) end a phrase line on a full bar, with no bar line."""
    text = "M:2/4\nL:1/8\nK:G\nGABc|d4\nd2B2|G4|]\n"
    assert lengths(text) == [F(1, 2)] * 4 and meter_error(text) is None


def test_meter_errors_allow_pickups_and_shared_bars_only():
    good = "M:6/8\nL:1/8\nK:D\nA|dfa afd|fed e2:|\n|:f|gfe d3|\n"
    assert meter_error(good) is None  # pickup, short bar at :|, pickup after |:
    shared = "M:6/8\nL:1/8\nK:D\ndfa afd|d3 d2|A|dfa afd|d6|]\n"
    assert meter_error(shared) is None  # a phrase's last bar and the next pickup: 5 + 1
    short = "M:6/8\nL:1/8\nK:D\ndfa afd|d3 d|dfa afd|d6|]\n"
    offset, message = meter_error(short)
    assert short[offset:].startswith("d3 d|") and "bar 2 is too short" in message
    long = "M:6/8\nL:1/8\nK:D\ndfa afd|dfa afd d|d6|]\n"
    offset, message = meter_error(long)
    assert long[offset:].startswith("dfa afd d") and "too long: 7/8" in message
    assert meter_error(long, keep=long.index("d6")) is None  # the primer is not judged
    assert meter_error("M:none\nL:1/8\nK:D\nabc|abcde|\n") is None
    assert meter_error("M:4/4\nL:1/8\nK:D\nZ4|abcdefga|\n") is None  # bars of rest


def test_an_unfinished_last_bar_is_judged_only_when_too_long():
    assert meter_error("M:4/4\nL:1/8\nK:D\nabcdefga|abc") is None
    assert meter_error("M:4/4\nL:1/8\nK:D\nabcdefga|abcdefgab") is not None


def test_a_text_that_goes_on_has_its_last_bar_judged():
    """A continuation's step (open_end=False): more bars follow, so its last bar may not
    be short, closed or not; at a section's end it still may."""
    head = "M:4/4\nL:1/8\nK:D\nabcdefga|"
    assert meter_error(head + "abc|") is None  # a tune's last bar may be short
    assert "bar 2 is too short" in meter_error(head + "abc|", open_end=False)[1]
    assert "bar 2 is too short" in meter_error(head + "abc", open_end=False)[1]
    assert meter_error(head + "abcdefga|", open_end=False) is None
    assert meter_error(head + "abc:|", open_end=False) is None  # a section's last bar


@pytest.mark.parametrize("key, last, ok", [("D", "d6", True), ("D", "e6", False),
                                           ("Ador", '"Am"[A,EA]6', True), ("F#m", "F6", True),
                                           ("Bb", "_B6", True), ("none", "e6", True)])
def test_endings_on_the_tonic(key, last, ok):
    text = f"M:6/8\nL:1/8\nK:{key}\nA|dfa afd|{last}|]\n"
    error = ending_error(text)
    assert (error is None) == ok
    if error:
        assert text[error[0]:].startswith(last) and "not on the tonic" in error[1]
    reader = _read(text)  # where the last note's letter is (benchmarks/endings.py)
    letter = last.index("[") + 1 if "[" in last else len(last) - len(last.lstrip("^_="))
    assert reader.final_at == text.index(last) + letter  # a chord's first note, not "Am"


def test_the_ending_follows_a_key_change():
    assert ending_error("M:4/4\nL:1/8\nK:D\nd8|\nK:G\ng8|]\n") is None
    assert ending_error("M:4/4\nL:1/8\nK:D\nd8|[K:G]d8|]\n") is not None
