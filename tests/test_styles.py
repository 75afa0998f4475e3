"""Style labels (tunesmith.corpora.styles): the tradition a tune comes from and its tune
type, from the files' names and R: fields; counted by ``tunesmith corpora --styles``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunesmith.abc_text import split_tunes
from tunesmith.cli import main
from tunesmith.corpora import (
    MIN_LABEL_TUNES,
    StyleLabels,
    builtin_tradition,
    corpus_styles,
    folder_tradition,
    style_counts,
    style_of,
    tune_type_from_rhythm,
    tune_type_from_title,
)
from tunesmith.errors import TunesmithError


def tune(header: str, body: str = "ABcd|efga|") -> str:
    return f"X:1\n{header}\nM:4/4\nL:1/8\nK:D\n{body}\n"


# --- tune type from R: -----------------------------------------------------------------------

@pytest.mark.parametrize("rhythm, label", [
    # O'Neill's and Ryan's dance types
    ("reel", "reel"), ("Reel", "reel"), ("hornpipe", "hornpipe"), ("jig", "jig"),
    ("double jig", "jig"),  # 6/8 like a jig: folded
    ("slipjig", "slip jig"), ("slip jig", "slip jig"),  # 9/8: kept apart from jig
    ("strathspey", "strathspey"), ("highland fling", "highland fling"),
    ("fling", "highland fling"), ("clog", "clog"), ("air", "air"), ("waltz", "waltz"),
    ("march", "march"), ("polka", "polka"), ("slide", "slide"),
    # Essen's German genres: the first keyword decides
    ("liebes - lied", "love song"), ("Liebeslieder]", "love song"),
    ("Liebes - Lied, Leid, Klage", "love song"),
    ("romanze, ballade, lied", "ballad"), ("Ballade, Kampf", "ballad"),
    ("erzaehlendes Volks - Lied, Sage, Mord", "ballad"),
    ("kinder -, wiegen - lied", "children's song"), ("Kinder - Lied ?", "children's song"),
    ("Geistliches, religiöses Lied]", "religious song"),
    ("berufslied, geistlich, religi\x94s]", "occupational song"),
    ("Staende -, Soldaten -, Kriegs - Lied", "occupational song"),
    ("Soldaten - Lied, Ballade", "soldier song"), ("tanz - lied", "dance song"),
    ("Trink - Lied", "drinking song"), ("Zech -, Schalks - Lied", "drinking song"),
    ("Scherz - Lied", "humorous song"), ("Hochzeits -, Ehestands - Lied", "custom song"),
    ("Abschieds - Lied, Liebe", "lyric song"), ("Tageszeiten - Lied, Nacht", "lyric song"),
    ("Tage -, Kilt - Lied", "love song"), ("J\x84gerlied]", "occupational song"),
    ("Historisches Lied, Napoleon", "historical song"), ("Lied", "other"),
    # Essen's Chinese genres
    ("xiaodiao]", "xiaodiao"), ("shange]", "shange"), ("shange. nann\x81 qing]", "shange"),
    ("Xiaodiao. Xin minge]", "xiaodiao"), ("haozi, chuanjiang haozi]", "work song"),
    ("Wuge, Shuichuan qu. Xin minge]", "dance song"),
    # a keyword the table does not know is kept, as its letters
    ("Polska", "polska"), ("Moral - Lied, Ballade", "morallied"),
])
def test_rhythm_field_is_normalised_by_its_first_keyword(rhythm, label):
    assert tune_type_from_rhythm(rhythm) == label


@pytest.mark.parametrize("rhythm", ["", "   ", "???", "???]", "yyy]", "?"])
def test_rhythm_field_that_says_nothing_gives_none(rhythm):
    assert tune_type_from_rhythm(rhythm) is None


@pytest.mark.parametrize("title, label", [
    ("Acacia Reel", "reel"), ("Andrew Carey's Slipjig", "slip jig"),
    ("Avalanche Lancashire Clog", "clog"), ("BlueVelvetClog", "clog"),
    ("Butcher's March -- Jig", "jig"),  # the last type named
    ("Brian Boru's March", "march"), ("Belles of Edinboro Highland Fling", "highland fling"),
    ("The Reeling Sailor", None), ("Jiggery", None), ("The Enchanted Valley", None),
])
def test_title_names_a_dance_type(title, label):
    assert tune_type_from_title(title) == label


def test_r_field_wins_over_the_title_and_the_title_over_nothing(tmp_path):
    (tune_r,) = split_tunes(tune("T:Hang Fire -- Jig\nR:reel"))
    (tune_t,) = split_tunes(tune("T:Bag of Meal, The\nT:Acacia Reel\nR:???"))
    (tune_0,) = split_tunes(tune("T:The Enchanted Valley"))
    path = tmp_path / "book.abc"
    assert style_of(tune_r, path).tune_type == "reel"
    assert style_of(tune_t, path).tune_type == "reel"  # from its second title
    assert style_of(tune_0, path).tune_type == "unknown"


# --- tradition -------------------------------------------------------------------------------

@pytest.mark.parametrize("path, tradition", [
    ("essenFolksong/han1.abc", "chinese"), ("essenFolksong/erk10.abc", "german"),
    ("essenFolksong/zuccal0.abc", "german"), ("essenFolksong/ballad40.abc", "german"),
    ("essenFolksong/lux.abc", "luxembourgish"), ("essenFolksong/lot.abc", "lorraine"),
    ("essenFolksong/irl.abc", "irish"), ("essenFolksong/test0.abc", "other"),
    ("essenFolksong/folkHaydn.abc", "other"), ("essenFolksong/variant0.abc", "other"),
    ("oneills1850/0001-0050.abc", "irish"), ("ryansMammoth/AcaciaReel.abc", "american"),
    ("airdsAirs/book1.abc", "scottish"),
    ("miscFolk/northumbrianminstrelsyopus.abc", "english"),
    ("miscFolk/americanfifeopus.abc", "american"), ("elsewhere/x.abc", "unknown"),
])
def test_tradition_of_folk_abc_from_collection_and_file(path, tradition):
    assert builtin_tradition(Path("/m21/corpus") / path) == tradition


def test_tradition_of_a_users_file_is_its_sub_folder(tmp_path):
    assert folder_tradition(tmp_path, tmp_path / "Irish" / "x.abc") == "irish"
    assert folder_tradition(tmp_path, tmp_path / "irish" / "deep" / "x.mid") == "irish"
    assert folder_tradition(tmp_path, tmp_path / "x.abc") == "unknown"
    assert folder_tradition(tmp_path / "a", tmp_path / "b" / "x.abc") == "unknown"


def test_oneills_book_section_names_the_type_of_an_untagged_tune(tmp_path):
    (air,) = split_tunes(tune("T:Doherty's Fancy"))
    for name, label in [("0811-0899.abc", "jig"), ("1376-1475.abc", "reel"),
                        ("1625-1700.abc", "hornpipe"), ("0001-0050.abc", "unknown")]:
        assert style_of(air, tmp_path / "oneills1850" / name).tune_type == label


# --- a user's folder ----------------------------------------------------------------------

@pytest.fixture
def styled_folder(tmp_path) -> Path:
    """Irish reels and jigs, Scottish strathspeys, one top-level tune, one rare type."""
    root = tmp_path / "tunes"
    for folder, types in {"irish": ["reel"] * 3 + ["jig"] * 2,
                          "scottish": ["strathspey"] * 2 + ["polska"]}.items():
        (root / folder).mkdir(parents=True)
        book = "\n".join(tune(f"T:Tune {i}\nR:{t}").replace("X:1", f"X:{i + 1}")
                         for i, t in enumerate(types))
        (root / folder / "book.abc").write_text(book)
    (root / "loose.abc").write_text(tune("T:The Loose Reel"))
    return root


def test_users_folder_gets_labels_with_the_rare_ones_folded(styled_folder):
    labels = [s for _, s in corpus_styles(str(styled_folder), min_tunes=2)]
    assert StyleLabels("irish", "reel") in labels
    assert StyleLabels("unknown", "reel") in labels  # loose.abc: top level, type by title
    assert StyleLabels("scottish", "other") in labels  # one polska: under min_tunes
    counts = style_counts(str(styled_folder), min_tunes=2)
    assert counts["tradition"] == {"irish": 5, "scottish": 3, "unknown": 1}
    assert counts["tune_type"] == {"reel": 4, "jig": 2, "strathspey": 2, "other": 1}
    assert style_counts(str(styled_folder))["tune_type"] == {"other": 9}  # all under 100


def test_a_single_tune_book_has_unknown_tradition(styled_folder):
    counts = style_counts(str(styled_folder / "irish" / "book.abc"), min_tunes=1)
    assert counts["tradition"] == {"unknown": 5}


def test_a_score_corpus_has_no_style_labels():
    with pytest.raises(TunesmithError, match="MusicXML"):
        style_counts("bach-chorales")


# --- the command ---------------------------------------------------------------------------

def tables(out: str) -> dict[str, dict[str, int]]:
    """The label tables ``corpora --styles`` printed, by their title."""
    found, current = {}, None
    for line in out.splitlines():
        if line.startswith(("tradition ", "tune type ")):
            current = found.setdefault(line[:9], {})
        elif current is not None and line.strip():
            label, n = line.rsplit(None, 1)
            current[label.strip()] = int(n)
            if label.strip() == "(all)":
                current = None
    return found


def test_corpora_styles_prints_both_tables_for_a_folder(capsys, styled_folder):
    assert main(["corpora", "--corpus", str(styled_folder)]) == 0
    out = capsys.readouterr().out
    got = tables(out)
    assert got["tradition"] == {"other": 8, "unknown": 1, "(all)": 9}
    assert got["tune type"] == {"other": 9, "(all)": 9}
    assert f"fewer than {MIN_LABEL_TUNES} tunes" in out


def test_corpora_styles_counts_the_tunes_training_uses_and_says_which_it_leaves_out(
        capsys, styled_folder):
    (styled_folder / "irish" / "broken.abc").write_text(
        "X:1\nT:No Key\nM:4/4\nL:1/8\nDEFG ABcd|]\n")
    (styled_folder / "irish" / "noise.abc").write_bytes(b"\0\1\2 not a tune book")
    assert main(["corpora", "--corpus", str(styled_folder)]) == 0
    out = capsys.readouterr().out
    assert tables(out)["tradition"]["(all)"] == 9
    assert "left out, as training leaves them out (2):" in out
    assert "broken.abc, tune 1 (X:1 'No Key'): no K: (key) line ends the header" in out
    assert "noise.abc" in out


def test_a_label_keeps_the_count_training_folds_it_with_when_one_of_its_tunes_is_broken(
        styled_folder):
    # the three Scottish tunes have labels of their own at min_tunes=3; training folds
    # rare labels over every tune, broken ones too, and the count follows it
    from tunesmith.corpora.abc import load_abc_corpus

    (styled_folder / "scottish" / "book.abc").write_text(
        (styled_folder / "scottish" / "book.abc").read_text().replace("K:", "Q:", 1))
    kept = {(str(t.source), t.index) for t in load_abc_corpus(str(styled_folder)).tunes}
    counts = style_counts(str(styled_folder), min_tunes=3, kept=kept)
    assert counts["tradition"]["scottish"] == 2 and "other" not in counts["tradition"]


def test_corpora_styles_counts_folk_abc_quickly(capsys):
    start = time.perf_counter()
    assert main(["corpora", "--styles"]) == 0
    seconds = time.perf_counter() - start
    got = tables(capsys.readouterr().out)
    tradition, tune_type = got["tradition"], got["tune type"]
    assert tradition["(all)"] == tune_type["(all)"] > 12_000
    assert tradition["german"] > 5_000 and 1_100 < tradition["chinese"] < 1_300
    assert tradition["irish"] > 2_000 and tradition["scottish"] > 1_000
    for label in ("reel", "jig", "hornpipe", "ballad", "love song", "xiaodiao", "shange"):
        assert tune_type[label] >= MIN_LABEL_TUNES, label
    assert list(tradition)[-2:] == ["other", "(all)"]
    assert list(tune_type)[-3:] == ["other", "unknown", "(all)"]
    assert seconds < 20  # text only, no music21 parsing (about 2 s)


def test_plain_corpora_output_is_unchanged(capsys):
    assert main(["corpora"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("name ") and "tradition" not in out
