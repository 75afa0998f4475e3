"""Round trips, run over every registered representation (a new one is tested for free)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith import representations
from tunesmith.errors import TunesmithError
from tunesmith.io.abc import as_tune_book_entry, tune_to_piece
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.representations.events import Events
from tunesmith.representations.pianoroll import PianoRoll
from tunesmith.representations.remi import Remi
from tunesmith.representations.vocab import Vocab

TEXTS = ["M:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|]\n", "M:3/4\nK:G\nG2 AB c2|d6|]\n"]


def fitted(name: str):
    if name == "abc_chars":
        return AbcChars.fit(TEXTS)
    if name == "events":
        return Events(velocity_bins=8)
    if name == "pianoroll":
        return PianoRoll(steps_per_beat=4)
    if name == "remi":
        return Remi(velocity_bins=8)
    if name == "notes":
        from tunesmith.representations.notes import NoteFeatures

        return NoteFeatures(grid=12)
    if name == "abc_phrases":
        from tunesmith.representations.abc_phrases import AbcPhrases

        return AbcPhrases.fit_phrases(TEXTS, {"tradition": ["irish", "scottish"]},
                                      source_bars=1, target_bars=1)
    if name == "event_phrases":
        from tunesmith.representations.event_phrases import EventPhrases

        return EventPhrases(velocity_bins=8, styles={"style": ("any", "bach", "jazz")},
                            source_bars=2, target_bars=1, openings=(((40, 3, 5),),),
                            opening_grid=((3.0, 0.0, 3.0, 6.0),))
    if name == "remi_phrases":
        from tunesmith.representations.remi_phrases import RemiPhrases

        return RemiPhrases(velocity_bins=8, styles={"style": ("any", "bach", "jazz")},
                           source_bars=2, target_bars=1, openings=((3, 270, 26),))
    raise AssertionError(f"add a fitted example of {name} here")


@pytest.mark.parametrize("name", sorted(representations.REGISTRY))
def test_round_trip_through_dict_and_piece(name):
    rep = fitted(name)
    rebuilt = representations.from_dict(rep.to_dict())
    assert rebuilt.to_dict() == rep.to_dict()
    piece = tune_to_piece(as_tune_book_entry(TEXTS[0]))  # notes and source text
    ids = rep.encode(piece)
    assert np.array_equal(rebuilt.encode(piece), ids)
    back = rebuilt.decode(ids)
    assert np.array_equal(rep.encode(back), ids)  # equal after the representation's quantisation
    assert [n.pitch for n in played(name, back).notes][:3] == [62, 66, 69]


@pytest.mark.parametrize("name", sorted(representations.REGISTRY))
def test_every_step_has_a_position_in_bars_that_never_go_back(name):
    rep = fitted(name)
    ids = rep.encode(tune_to_piece(as_tune_book_entry(TEXTS[0])))  # 6/8: bars of 3 beats
    pos = rep.positions(ids, 3.0)
    assert len(pos.time) == len(pos.bars) == len(ids)
    assert list(pos.bars) == sorted(pos.bars) and list(pos.time) == sorted(pos.time)
    if pos.unit == "beat":
        assert all(b == int(t // 3) for t, b in zip(pos.time, pos.bars, strict=True))
    # the tune's two bars, 0 and 1 (ABC's header is -1); a note-off on the final bar line
    # is on the downbeat of the next
    assert max(b for b, t in zip(pos.bars, pos.time, strict=True) if t < 6) == 1


def played(name: str, piece):
    """The notes a decoded piece stands for. ``abc_chars`` keeps a tune's text and no
    notes (representations do not import io); music21 plays that text."""
    if name in ("abc_chars", "abc_phrases"):
        assert piece.notes == [] and piece.source_text.startswith("X:")
        return tune_to_piece(piece.source_text)
    return piece


def test_abc_chars_decode_keeps_the_tune_text_and_reads_its_header():
    rep = AbcChars.fit(TEXTS)
    back = rep.decode(rep.encode_text(TEXTS[0]))
    assert back.source_text == as_tune_book_entry(TEXTS[0])
    assert back.key == "D major" and back.title == ""
    assert [(t.numerator, t.denominator) for t in back.time_signatures] == [(6, 8)]
    assert back.key == tune_to_piece(back.source_text).key  # named as music21 names keys
    odd_text = "M:C\nK:none\nG2 AB c2|\n"  # no plain key, no numeric meter: left empty
    odd = AbcChars.fit([odd_text]).decode(AbcChars.fit([odd_text]).encode_text(odd_text))
    assert odd.source_text == as_tune_book_entry(odd_text)
    assert (odd.key, odd.time_signatures) == ("", [])


def test_abc_chars_text_round_trip_and_markers():
    rep = AbcChars.fit(TEXTS)
    for t in TEXTS:
        ids = rep.encode_text(t)
        assert ids[0] == rep.bos and ids[-1] == rep.eos
        assert rep.decode_text(ids) == t


def test_unseen_characters_become_unk_and_vanish_on_decode():
    rep = AbcChars.fit(TEXTS)
    ids = rep.encode_text("DF@A")
    assert rep.vocab.unk in ids
    assert rep.decode_text(ids) == "DFA"


def test_vocabulary_is_deterministic_and_rare_characters_map_to_unk():
    a = Vocab.build(["cab", "bca"])
    b = Vocab.build(["bca", "cab"])
    assert a.symbols == b.symbols == ("<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c")
    assert "z" not in Vocab.build(["aaz"], min_count=2)


def test_primer_outside_vocabulary_is_a_user_error():
    rep = AbcChars.fit(TEXTS)
    assert rep.primer_ids("M:6/8\n") == [rep.bos] + [rep.vocab.id(c) for c in "M:6/8\n"]
    with pytest.raises(TunesmithError, match="outside the model's vocabulary: '@'"):
        rep.primer_ids("M:6/8@")


ALPHABET = sorted(set("".join(TEXTS)))


@given(st.text(alphabet=ALPHABET, max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_text_over_the_vocabulary_round_trips(text):
    rep = AbcChars.fit(TEXTS)
    assert rep.decode_text(rep.encode_text(text)) == text


@given(st.lists(st.integers(min_value=-3, max_value=60), max_size=100))
@settings(max_examples=200, deadline=None)
def test_decoding_any_id_sequence_never_fails(ids):
    rep = AbcChars.fit(TEXTS)
    text = rep.decode_text(ids)
    assert all(c in rep.vocab for c in text)
