"""The continue family's ABC training data (issue 20): training tunes transposed by
abc2abc, and pairs from a tune's A part to its B part where repeat signs mark them.
Small hand-written tunes; the abc2abc tests skip without abcmidi."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.continuation import ContinueData, ContinueFamily
from tunesmith.io import abc2abc
from tunesmith.representations.abc_phrases import AbcPhrases

from .conftest import write_book

HEAD = "M:4/4\nL:1/8\nK:D\n"
AABB = (HEAD +  # a pickup, |: A :| |: B :|
        "A|:d2fd A2FA|d2fd e2ce|d2fd A2FA|G2E2 E3A|\n"
        "d2fd A2FA|d2fd e2ce|fgaf gfed|c2A2 A2:|\n"
        "|:fgaf gfed|c2e2 e3g|fgaf gfed|cAAG FDD2|\n"
        "fgaf gfed|c2e2 e3g|fgaf gfed|c2A2 A2:|\n")
ENDINGS = ("M:6/8\nL:1/8\nK:G\n"  # first and second endings on one line
           "|:GAB c2A|BGG D3|GAB c2A|1 BGF G3:|2 BGF G2d||\n"
           "|:g2d edB|dBG AGE|g2d edB|dBA G3:|\n")
BRACKETS = (HEAD +  # the endings of the A part on lines of their own, as O'Neill's
            "fg|afdg faa2|bged ceag|fgaf gfed|c2A2 A2|\n"
            "[1 fg|afdg faa2|bged ceag|d2dc d2:|\n"
            "[2 (3ABc|d2AF d2AF|dcdf ecAg|d2dc d2|]\n"
            "AG|FADg fdec|dcdf ecAG|FADg fdec|d2dc d2:|\n")
PLAIN = (HEAD +  # no repeat signs
         "d2fd A2FA|d2fd e2ce|d2fd A2FA|G2E2 E4|\n"
         "fgaf gfed|c2e2 e3g|fgaf gfed|c2A2 A4|]\n")
ONE_SECTION = HEAD + "|:d2fd A2FA|d2fd e2ce|d2fd A2FA|G2E2 E4:|\n"
OPEN_B = (HEAD +  # an A part played once, then |: B :|
          "d2fd A2FA|d2fd e2ce|d2fd A2FA|G2E2 E4|\n"
          "|:fgaf gfed|c2e2 e3g|fgaf gfed|c2A2 A4:|\n")


def rep(source_bars=4, target_bars=4) -> AbcPhrases:
    return AbcPhrases.fit_phrases([AABB], {}, source_bars=source_bars,
                                  target_bars=target_bars)


def bars_of(text: str, part: tuple[int, int]) -> str:
    starts = [AbcPhrases.header_end(text)] + AbcPhrases.cuts(text)
    return text[starts[part[0]]:starts[part[1]]]


# --- A part -> B part ----------------------------------------------------------------------
def test_repeat_signs_mark_an_a_and_a_b_part():
    parts = AbcPhrases.parts(AABB)
    assert parts == [(0, 9), (9, 17)]  # the pickup belongs to the A part; |: after it no part
    assert bars_of(AABB, parts[0]).endswith("c2A2 A2:|")
    src, tgt, ends = rep().part_pairs(AABB)[0]
    assert src == HEAD + AABB[len(HEAD):AABB.index(":|") + 2]  # the header and the A part
    assert tgt == "\n|:fgaf gfed|c2e2 e3g|fgaf gfed|cAAG FDD2|" and not ends
    assert AABB.startswith(src + tgt)
    # a target that reaches the tune's end keeps what follows its last bar line
    src, tgt, ends = rep(target_bars=8).part_pairs(AABB)[0]
    assert ends and AABB.endswith(tgt)


def test_first_and_second_endings_stay_in_their_part():
    parts = AbcPhrases.parts(ENDINGS)
    assert parts == [(0, 5), (5, 9)]
    assert bars_of(ENDINGS, parts[0]).endswith(":|2 BGF G2d||")
    parts = AbcPhrases.parts(BRACKETS)
    assert bars_of(BRACKETS, parts[0]).endswith("[2 (3ABc|d2AF d2AF|dcdf ecAg|d2dc d2|]")
    assert bars_of(BRACKETS, parts[1]) == "\nAG|FADg fdec|dcdf ecAG|FADg fdec|d2dc d2:|"
    src, tgt, _ = rep(target_bars=2).part_pairs(BRACKETS)[0]
    assert src.endswith("d2dc d2|]") and tgt == "\nAG|FADg fdec|"


def test_a_tune_without_two_marked_parts_has_no_part_pair():
    for tune in (PLAIN, ONE_SECTION):
        assert AbcPhrases.parts(tune) == [] and rep().part_pairs(tune) == []
    assert AbcPhrases.parts(OPEN_B) == [(0, 4), (4, 8)]  # |: after a whole A part
    # an A part of source_bars bars where a source starts: pairs() has that pair already
    assert rep().part_pairs(OPEN_B) == []
    assert rep(source_bars=2).part_pairs(OPEN_B)[0][0] == HEAD + OPEN_B[len(HEAD):].split(
        "\n")[0]


def test_a_long_part_keeps_its_last_bars():
    from tunesmith.representations.abc_phrases import MAX_PART_BARS

    long_a = HEAD + "|:" + "d2fd A2FA|" * (MAX_PART_BARS + 4) + "\nc2A2 A4:|\n|:" + (
        "fgaf gfed|" * 4) + "c2A2 A4:|\n"
    src = rep().part_pairs(long_a)[0][0]
    assert src.count("|") == MAX_PART_BARS and src.endswith("c2A2 A4:|")


# --- transposition -------------------------------------------------------------------------
needs_abc2abc = pytest.mark.skipif(not abc2abc.available(),
                                   reason="abc2abc (abcmidi) is not installed")


def test_keys_keep_the_tunes_spelling():
    from tunesmith.io.abc2abc import _respell

    assert _respell("D Major", "Emaj") == "E Major"
    assert _respell("Ador", "Bdor") == "Bdor"
    assert _respell("G", "Amaj") == "A"
    assert _respell("Em", "F#m") == "F#m"
    assert _respell("D exp ^f ^c", "Emaj exp ^g^d") == "Emaj exp ^g^d"  # abc2abc's


@needs_abc2abc
def test_copies_are_model_text_in_the_corpus_spelling():
    tunes = [AABB.replace("K:D", "K:D Major"), ENDINGS.replace("K:G", "K:A Dorian"),
             AABB.replace("K:D", "K:HP"), AABB.replace("K:D", "K:none")]
    copies = abc2abc.transposed_copies(tunes, 2)
    assert [(i, s) for i, s, _ in copies] == [(0, -2), (0, -1), (0, 1), (0, 2),
                                             (1, -2), (1, -1), (1, 1), (1, 2)]
    by = {(i, s): t for i, s, t in copies}
    up = by[0, 2]
    assert up.startswith("M:4/4\nL:1/8\nK:E Major\nB|:e2ge B2GB|")  # no X:, as the corpus
    assert up.count("\n") == tunes[0].count("\n")
    assert by[0, -2].split("\n")[2] == "K:C Major"
    assert by[1, 2].split("\n")[2] == "K:B Dorian"
    # the parts are where they were
    assert AbcPhrases.parts(up) == AbcPhrases.parts(tunes[0])


@needs_abc2abc
def test_only_training_tunes_are_transposed_with_their_labels(tmp_path: Path):
    root = tmp_path / "styled"
    for k, name in enumerate(("irish", "scottish")):
        (root / name).mkdir(parents=True)
        write_book(root / name / "book.abc", 100, seed=30 + k, start=1 + 100 * k)
    fam = ContinueFamily()
    plain = fam.prepare_data(str(root), ContinueData())
    moved = fam.prepare_data(str(root), ContinueData(transpose=1))
    assert moved.info["transposed"] == 2 * plain.info["tunes"]["train"]
    for s in ("valid", "test"):  # the same pairs (the vocabularies differ)
        assert [[moved.representation.decode_text(x) for x in p[:2]] + [p[2]]
                for p in moved.sequences[s]] == [
            [plain.representation.decode_text(x) for x in p[:2]] + [p[2]]
            for p in plain.sequences[s]]
    styles = [collections.Counter(tuple(p[2]) for p in prep.sequences["train"])
              for prep in (plain, moved)]
    assert styles[1] == {k: 3 * n for k, n in styles[0].items()}  # each copy its tune's
    # the vocabulary is fitted on the copies too: they encode without <unk>
    vocab = moved.representation.vocab
    assert all(vocab.unk not in src + tgt for src, tgt, _ in moved.sequences["train"])


def test_parts_add_training_pairs_only(tmp_path: Path):
    book = tmp_path / "book.abc"
    book.write_text("\n".join(f"X:{i}\n{t}" for i, t in enumerate(
        [AABB.replace("d2fd e2ce", f"d2fd e2c{'e' if i % 2 else 'c'}", i % 3 + 1)
         .replace("fgaf gfed", f"fgaf g{'f' if i % 4 else 'e'}ed", 1 + i % 5)
         for i in range(60)], 1)))
    fam = ContinueFamily()
    off = fam.prepare_data(str(book), ContinueData(styles=False))
    on = fam.prepare_data(str(book), ContinueData(styles=False, parts=True))
    assert on.info["part_pairs"] == off.info["tunes"]["train"] > 0  # one A -> B each
    assert len(on.sequences["train"]) == len(off.sequences["train"]) + on.info["part_pairs"]
    assert on.sequences["valid"] == off.sequences["valid"]


def test_transpose_is_checked_and_needs_abc2abc(tmp_path: Path, monkeypatch):
    with pytest.raises(OptionError, match="transpose"):
        ContinueData(transpose=7)
    monkeypatch.setattr(abc2abc, "available", lambda: False)
    book = write_book(tmp_path / "book.abc", 40)
    with pytest.raises(TunesmithError, match="apt-get install abcmidi") as e:
        ContinueFamily().prepare_data(str(book), ContinueData(styles=False, transpose=1))
    assert "\n" not in str(e.value)
    notes: list[str] = []
    data = ContinueFamily().usable_data(ContinueData(transpose=2), notes)
    assert data.transpose == 0 and "abc2abc is not installed" in notes[0]


@needs_abc2abc
def test_train_cli_takes_the_options(tmp_path: Path):
    from tunesmith.cli import main
    from tunesmith.jsonfile import read_json

    book = write_book(tmp_path / "book.abc", 60)
    run = tmp_path / "run"
    rc = main(["train", "--family", "continue", "--preset", "debug", "--corpus", str(book),
               "--no-styles", "--transpose", "1", "--parts", "--steps", "4",
               "--out", str(run), "--no-progress", "--samples", "0"])
    assert rc == 0
    data = read_json(run / "config.json")["data"]
    assert data["transpose"] == 1 and data["parts"] is True
