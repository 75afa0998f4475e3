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
from tunesmith.representations.vocab import Vocab

TEXTS = ["M:6/8\nL:1/8\nK:D\nDFA dAF|GBd gdB|]\n", "M:3/4\nK:G\nG2 AB c2|d6|]\n"]


def fitted(name: str):
    if name == "abc_chars":
        return AbcChars.fit(TEXTS)
    if name == "events":
        return Events(velocity_bins=8)
    if name == "pianoroll":
        return PianoRoll(steps_per_beat=4)
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
    assert [n.pitch for n in back.notes][:3] == [62, 66, 69]


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
