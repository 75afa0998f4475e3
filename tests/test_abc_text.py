"""ABC as text (tunesmith.abc_text): cutting tune books, header fields, model text."""

import pytest

from tunesmith.abc_text import model_text, primer_text, read_header, split_tunes

BOOK = """% a tune book with a file header
%%abc-version 2.1

X:1
T:First
R:jig
M:6/8
L:1/8
Q:1/4=120
K:D
DFA dAF|GBd gdB|

AFD DFA|d3 d3|]
X:2
T:Second % with a comment
M:4/4
K:G
W:lyrics after the tune are not music
GABc d2B2|c2A2 G4|]
w:some words
"""


def test_split_by_x_not_blank_lines():
    tunes = split_tunes(BOOK, source="book.abc")
    assert [t.fields["X"] for t in tunes] == ["1", "2"]
    assert "AFD DFA" in tunes[0].text  # the blank line inside tune 1 did not split it
    assert tunes[1].label == "book.abc, tune 2 (X:2 'Second')"


def test_header_fields():
    h = read_header(split_tunes(BOOK)[0].text)
    assert h == {"X": "1", "T": "First", "R": "jig", "M": "6/8", "L": "1/8", "Q": "1/4=120",
                 "K": "D"}
    assert read_header(split_tunes(BOOK)[1].text)["T"] == "Second"


def test_model_text_keeps_music_only():
    a, b = (model_text(t) for t in split_tunes(BOOK))
    assert a == "M:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|\nAFD DFA|d3 d3|]\n"
    assert b == "M:4/4\nK:G\nGABc d2B2|c2A2 G4|]\n"


@pytest.mark.parametrize("primer, read", [
    ("X:1\nT:A title\nR:jig\nM:6/8\nL:1/8\nK:D\n", "M:6/8\nL:1/8\nK:D\n"),
    ("%abc-2.1\n\nX:1\nK:G\nM:3/4\n% a comment\nT:Part two\nGAB|", "K:G\nM:3/4\nGAB|"),
    ("X:1\n K:D\nABc|\n", "K:D\nABc|\n"),  # a field line read as the ABC tools read it
    ("X:1\nM:6/8\nL:1/8\nABc def|\n", "M:6/8\nL:1/8\nABc def|\n"),  # no K: yet
    ("M:6/8\nL:1/8\nK:D\nFA", "M:6/8\nL:1/8\nK:D\nFA"),  # the last line goes on as it is
    ("FAA dAA|", "FAA dAA|"),  # music alone: as given
    ("", ""),
])
def test_a_primer_keeps_what_a_model_reads(primer, read):
    assert primer_text(primer) == read


@pytest.mark.parametrize("value, spelled", [
    ("D Major", "D"), ("Dmaj", "D"), ("D", "D"), ("A Dorian", "Ador"), ("Ador", "Ador"),
    ("E Minor", "Em"), ("Amin", "Am"), ("Eaeolian", "Em"), ("F# mixolydian", "F#mix"),
    ("Bb Lydian", "Bblyd"), ("G Ionian", "G"), ("C#m", "C#m"),
    # more than a tonic and a mode: as written
    ("D exp ^f", "D exp ^f"), ("A dorian clef=bass", "A dorian clef=bass"), ("none", "none"),
    ("HP", "HP"), ("D Majestic", "D Majestic"), ("Dmi", "Dmi"),
])
def test_a_key_has_one_spelling(value, spelled):
    from tunesmith.abc_text import canonical_key

    assert canonical_key(value) == spelled


def test_keys_written_out_read_as_the_short_spelling_by_a_model_fitted_so():
    """irish.abc writes K:D Major: a model fitted since keys had one spelling reads its
    tunes and a primer saying K:D alike; a model fitted before reads keys as written."""
    from tunesmith.abc_text import respell_keys
    from tunesmith.representations.abc_chars import AbcChars

    tune = split_tunes("X:1\nT:Reel\nM:4/4\nL:1/8\nK:D Major\nABcd efga|\nK:A Dorian\n"
                       "abag fedB|]\n")[0]
    written = model_text(tune)
    assert written == "M:4/4\nL:1/8\nK:D Major\nABcd efga|\nK:A Dorian\nabag fedB|]\n"
    assert respell_keys(written) == "M:4/4\nL:1/8\nK:D\nABcd efga|\nK:Ador\nabag fedB|]\n"
    assert respell_keys(primer_text("X:1\nM:6/8\nK:E Minor\nB|")) == "M:6/8\nK:Em\nB|"
    new = AbcChars.fit([respell_keys(written)], canonical_keys=True)
    assert new.read_text(written) == respell_keys(written)
    assert AbcChars.from_dict(new.to_dict()).canonical_keys is True
    old = dict(new.to_dict())
    del old["canonical_keys"]  # a checkpoint from before: its keys as it learned them
    assert AbcChars.from_dict(old).read_text(written) == written
