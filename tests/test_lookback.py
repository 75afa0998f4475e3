"""What a character model can see of a tune's form (issue 19): ``train --degrees`` gives
each step the scale degree of the last note above the tonic, ``train --lookback`` the
character that the best matching earlier bar has next and how many bars in a row that
passage has matched (Magenta's Lookback RNN, for characters). The sampler computes both
as the characters arrive, exactly as training saw them."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.abc_meter import DEGREE_CLASSES
from tunesmith.cli import main
from tunesmith.lookback import END, RUN_CLASSES, Lookback
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.sampling.inputs import with_inputs

# bars 1-4, then bar 5 repeats bar 1 and bar 6 repeats bar 2 (4 back), then bar 7 differs
TUNE = "M:2/4\nL:1/8\nK:G\nGABc|dedB|cBAG|FGAF|GABc|dedB|D2G2|]\n"


def feed_all(text):
    """(character, (next, run), degree) after each character of ``text``, read by the
    representation's own reader; ``next`` decoded: a character, END, None, or "header"."""
    rep = AbcChars.fit([text], degree_inputs=True, lookback_inputs=True)
    v, reader, out = len(rep.vocab), rep.input_reader(), []
    for c in text:
        degree, copy, run = reader(rep.vocab.id(c))
        special = {v: None, v + 1: END, v + 2: "header"}
        nxt = special[copy] if copy in special else rep.vocab.symbols[copy]
        out.append((c, (nxt, run), degree))
    return out


def test_the_degree_of_the_last_note_above_the_tonic():
    rows = feed_all(TUNE)
    body = TUNE.index("K:G") + 4
    assert all(d == DEGREE_CLASSES - 1 for _, _, d in rows[:body - 1])  # the header
    assert rows[body - 1][2] == DEGREE_CLASSES - 2  # K: line ended, no note yet
    degree = {i: d for i, (_, _, d) in enumerate(rows)}
    assert degree[body] == 0  # G in G: the tonic
    assert degree[body + 1] == 1 and degree[body + 3] == 3  # A, c
    assert degree[TUNE.index("dedB") + 3] == 2  # B: the third
    assert degree[TUNE.index("D2G2") + 1] == 4  # D: the fifth, its length read after it
    assert degree[len(TUNE) - 1] == 0  # ends on G


def test_the_home_input_is_the_tonic_letter_of_the_key_in_force():
    """``train --home``: every step reads the tonic's letter of the key in force (0 C ...
    6 B), a key change from the ``K:`` line that makes it, none for ``K:none``."""
    from tunesmith.abc_meter import HOME_CLASSES

    text = "M:2/4\nL:1/8\nK:Ador\nABcd|e2A2|\nK:D\nd2fa|d4|\nK:none\nc2|]\n"
    rep = AbcChars.fit([text], home_inputs=True, degree_inputs=True)
    assert rep.inputs == {"degree": 9, "home": HOME_CLASSES}
    rows = rep.with_inputs(rep.encode_text(text))
    home = [r[2] for r in rows[1:]]  # rows[0] is BOS; home[i] after text[i]
    body = text.index("ABcd")
    assert set(home[:body - 1]) == {HOME_CLASSES - 1}  # the header
    assert set(home[body - 1:text.index("K:D") + 3]) == {5}  # A, from the K: line's end
    assert home[text.index("d2fa")] == 1  # D
    assert home[text.index("c2|]")] == HOME_CLASSES - 2  # K:none: no tonic
    assert [r[1] for r in rows][text.index("e2A2") + 1] == 4  # degree beside it: E in A
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "home_inputs" not in AbcChars.fit([text]).to_dict()


def test_a_bar_that_starts_as_the_one_four_back_is_offered_its_next_character():
    rows = feed_all(TUNE)
    fifth = TUNE.index("GABc|dedB|D2")  # bar 5: the first four bars are behind it
    # after the bar line before bar 5, all four earlier bars match the empty bar so far;
    # the one 4 back wins (PREFERENCE) and offers its first character
    assert rows[fifth - 1][1] == ("G", 0)
    assert [r[1][0] for r in rows[fifth:fifth + 4]] == ["A", "B", "c", "|"]
    assert rows[fifth + 4][1] == ("d", 1)  # after bar 5 closed: bar 2 comes next
    # bar 5 repeated bar 1: in bar 6 the passage 4 back has matched one bar in a row
    assert rows[fifth + 5][1] == ("e", 1)
    seventh = TUNE.index("D2G2")
    assert rows[seventh - 1][1] == ("c", 2)  # bar 3 would come next, two bars matched
    assert rows[seventh][1] == (None, RUN_CLASSES - 1)  # D: no earlier bar starts so


def test_a_bar_with_nothing_like_it_before_is_offered_nothing():
    rows = feed_all("M:2/4\nL:1/8\nK:D\nABcd|efga|")
    assert rows[-6][1] == ("A", 0)  # bar 2 may start as bar 1 did ...
    assert rows[-5][1] == (None, RUN_CLASSES - 1)  # ... but it does not


def test_a_field_line_in_the_body_is_not_part_of_a_bar():
    rows = feed_all("M:2/4\nL:1/8\nK:G\nGABc|\nP:B\nGABc|")
    assert rows[-5][1] == ("A", 0)  # bar 2's G, after the P: line, follows bar 1


def bars_read(body):
    """The bars the ABC reader hands its Lookback, for a tune in 4/4 with ``body``."""
    text = "M:4/4\nL:1/8\nK:G\n" + body
    rep = AbcChars.fit([text], lookback_inputs=True)
    reader = rep.input_reader()
    for c in text:
        reader(rep.vocab.id(c))
    return ["".join(bar) for bar in reader.lookback.bars], "".join(reader.lookback.current)


def test_bars_are_matched_as_written():
    """A bar is the characters after the one that closed the bar before, up to the one
    that closes it: spaces and the rest of a bar line begin the next bar; a full bar at a
    line's end closes there without a bar line; an info field line is not music."""
    assert bars_read("ABcd efga | d2d2 d2d2 |")[0] == ["ABcd efga |", " d2d2 d2d2 |"]
    assert bars_read("ABcd efga|d2d2 d2d2\nABcd efga|")[0] == [
        "ABcd efga|", "d2d2 d2d2", "ABcd efga|"]
    assert bars_read("|:ABcd efga:|\nP:B\n|:d2d2 d2d2||")[0] == [
        "|:ABcd efga:|", "|:d2d2 d2d2|"]  # a bar line before any music closes nothing
    # a tune written line by line alike: the line's bars match those 2 back, in a run
    rows = feed_all("M:4/4\nL:1/8\nK:G\nABcd efga|d2d2 d2d2|\nABcd efga|d2d2 d2d2|\n")
    assert rows[-3][1] == ("|", 1)  # bar 4 repeats bar 2, after bar 3 repeated bar 1
    assert rows[-2][1] == ("A", 2)  # then bar 1 again (2 back), two bars alike in a row


ABC_SYMBOLS = 'ABCDEFGabcdefgzx,\'^_=/0123456789|:[]()<>-"!{} \nKLMP'


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=ABC_SYMBOLS, max_size=120))
def test_any_text_a_model_may_write_is_read(body):
    """What a sampler hands the reader is whatever the model wrote (``A/0``, a stray
    ``M:3/0`` line, unclosed chords): reading it never fails, and one id at a time it
    gives what ``with_inputs`` gives."""
    text = "M:4/4\nL:1/8\nK:G\n" + body
    rep = AbcChars.fit([text + ABC_SYMBOLS], bar_inputs=True, degree_inputs=True,
                       lookback_inputs=True)
    ids = rep.encode_text(text)
    reader = rep.input_reader()
    assert [(i, *reader(i)) for i in ids] == rep.with_inputs(ids)


def test_copies_of_a_lookback_go_their_own_ways():
    a = Lookback()
    for symbol in (60, 62, 64):
        a.feed(symbol)
    a.close()
    b = a.copy()
    a.feed(60)
    b.feed(61)
    assert a.proposal() == (62, 0) and b.proposal() == (None, RUN_CLASSES - 1)
    a.unfeed()
    assert a.proposal() == (60, 0)  # taken back: the empty bar matches bar 1 again
    for symbol in (60, 62, 64):
        a.feed(symbol)
    assert a.proposal() == (END, 0)  # bar 1 ends here


def test_the_representation_carries_degrees_and_lookback_and_rebuilds_them():
    rep = AbcChars.fit([TUNE], bar_inputs=True, degree_inputs=True, lookback_inputs=True)
    v = len(rep.vocab)
    assert rep.inputs == {"beat": 26, "bar": 17, "degree": 9, "copy": v + 3, "run": 5}
    assert AbcChars.fit([TUNE], lookback_inputs=True).inputs == {"copy": v + 3, "run": 5}
    rows = rep.with_inputs(rep.encode_text(TUNE))
    reader = rep.input_reader()  # the same reader, one id at a time
    assert rows == [(i, *reader(i)) for i in rep.encode_text(TUNE)]
    header = TUNE.index("K:G") + 3
    assert {r[4:] for r in rows[1:header + 1]} == {(v + 2, RUN_CLASSES - 1)}
    fifth = TUNE.index("GABc|dedB|D2")
    assert rows[fifth][3:] == (6, rep.vocab.id("G"), 0)  # after FGAF|: F, degree 6; G offered
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "lookback_inputs" not in AbcChars.fit([TUNE], bar_inputs=True).to_dict()
    with pytest.raises(ValueError, match="degree_inputs must be true or false"):
        AbcChars.from_dict(rep.to_dict() | {"degree_inputs": "yes"})


@pytest.mark.parametrize("arch", ["char_rnn", "transformer"])
def test_sampling_reads_the_inputs_training_would_have_given(arch):
    """The sampler's logits for a sampled tune equal the teacher-forced pass over that
    tune's rows: the inputs it computed on the way are the training inputs of the text
    it wrote."""
    from tests.test_positions import assert_sampling_reads_training_inputs, small_model

    torch.manual_seed(0)
    rep = AbcChars.fit([TUNE], bar_inputs=True, degree_inputs=True, section_inputs=True,
                       lookback_inputs=True, home_inputs=True)
    assert_sampling_reads_training_inputs(small_model(arch, rep), rep,
                                          rep.primer_ids("M:2/4\nL:1/8\nK:G\nGABc|dedB|"),
                                          steps=30)


def test_beam_search_hands_each_hypothesis_the_inputs_of_its_own_text():
    """Beam search copies a reader per kept hypothesis (``select_state``); every step the
    model reads equals a row of ``with_inputs`` of that hypothesis's ids."""
    from tests.test_positions import small_model
    from tunesmith.sampling.beam import beam_search

    torch.manual_seed(2)
    rep = AbcChars.fit([TUNE], bar_inputs=True, degree_inputs=True, lookback_inputs=True)
    model = small_model("char_rnn", rep)
    seen = []
    step = model.step

    def spy(rows, state):
        seen.extend(tuple(r) for r in rows.tolist())
        return step(rows, state)

    model.step = spy
    primer = [[i] for i in rep.primer_ids("M:2/4\nL:1/8\nK:G\nGABc|dedB|cBAG|FGAF|")]
    out = beam_search(with_inputs(model, rep), primer, num=2, beam=4, max_steps=25,
                      heads=["token"], seed=0)
    rows = {tuple(r) for seq in out
            for r in rep.with_inputs([p[0] for p in primer] + [s[0] for s in seq])}
    for seq in out:
        ids = [p[0] for p in primer] + [s[0] for s in seq]
        assert set(map(tuple, rep.with_inputs(ids))) <= rows
    assert len(seen) > 25 * 4 and set(seen) - rows  # ... the pruned ones read others
    kept = {tuple(r) for r in seen}
    assert rows - {tuple(r) for r in rep.with_inputs([p[0] for p in primer])} <= kept


def test_train_with_degrees_and_lookback_then_compose_and_evaluate(tmp_path, abc_corpus):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--degrees", "--home", "--lookback",
                 "--corpus", str(abc_corpus), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "10"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["degrees"] and config["data"]["home"] and config["data"]["lookback"]
    assert set(config["model"]["inputs"]) == {"degree", "home", "copy", "run"}
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--max-len", "200", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.abc"))) == 2
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--max-len", "200", "--repeat-bias", "2", "--out",
                 str(tmp_path / "tilted")]) == 0
    assert main(["evaluate", "--model", str(run / "best"), "--samples", "2"]) == 0


def test_sections_say_how_many_bars_are_left_to_match_the_a_part_and_count_parts():
    from tunesmith.abc_meter import PositionReader

    tune = ("X:1\nM:4/4\nL:1/8\nK:D\nA|:defg abag|fedc BAGF|edcB AGFE|D2F2 A4:|\n"
            "|:a2a2 g2g2|f2f2 e2e2|d2d2 c2c2|d8:|\n")
    reader = PositionReader()
    seen = []  # (left, parts) after each bar line that closes a bar
    for c in tune:
        closed = reader.bars_closed
        reader.feed(c)
        if reader.bars_closed > closed:
            seen.append(reader.sections)
    # the pickup (one bar, closed by |:) is no section; the A part's four bars have no
    # section before them; after it, the B part has 4, 3, 2, 1 bars left (classes 1 + n)
    assert seen == [(0, 0)] * 4 + [(5, 1), (4, 1), (3, 1), (2, 1), (5, 2)]
    rep = AbcChars.fit([tune], section_inputs=True, lookback_inputs=True)
    assert list(rep.inputs) == ["left", "parts", "copy", "run"]
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "section_inputs" not in AbcChars.fit([tune]).to_dict()  # old checkpoints load


def test_the_parts_reading_counts_parts_as_a_musician_does():
    from tunesmith.abc_meter import PositionReader

    # a pickup closed by a plain bar line; an A part of 3 bars and two endings of one bar;
    # a B part of the same shape
    tune = ("X:1\nM:4/4\nL:1/8\nK:G\nD2|GABc dBAG|ABcd efge|dcBA GFED|1 G2G2 G2D2:|2 G8||\n"
            "|:gfed cBAG|ABcd efge|dcBA GFED|1 G2G2 G2D2:|2 G8|]\n")
    reader = PositionReader()
    marks, parts = [], []  # (left, parts) after each bar line that closes a bar
    for c in tune:
        closed = reader.bars_closed
        reader.feed(c)
        if reader.bars_closed > closed:
            marks.append(reader.sections)
            parts.append(reader.parts)
    # the A part is 4 bars (3 + an ending): the B part has 3, 2, 1 bars left after its
    # first bars, 1 after its first ending (the second ending replaces it), none after that
    assert parts == [(0, 0)] * 6 + [(4, 1), (3, 1), (2, 1), (2, 1), (1, 1)]
    # the marks reading counts the pickup as a bar and the A part's body (4 bars so) as a
    # section of its own, closed at its first ending
    assert marks == [(0, 0)] * 4 + [(5, 1), (4, 1), (4, 1), (3, 1), (2, 1), (4, 2), (3, 2)]
    # a first bar of whole rests is a bar, not a pickup
    reader = PositionReader()
    for c in "X:1\nM:4/4\nL:1/8\nK:G\nZ|GABc dBAG||A8|":
        reader.feed(c)
    assert reader.parts == (2, 1)  # a part of 2 bars closed, 1 bar left of the next
    rep = AbcChars.fit([tune], section_inputs=True, section_reading="parts")
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert rep.with_inputs(rep.encode_text(tune)) != AbcChars.fit(
        [tune], section_inputs=True).with_inputs(rep.encode_text(tune))
    with pytest.raises(ValueError, match="section_reading"):
        AbcChars.from_dict(rep.to_dict() | {"section_reading": "bars"})


@pytest.mark.parametrize("reading", ["marks", "parts"])
def test_train_with_sections_reads_them_and_composes(tmp_path, abc_corpus, reading):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--sections", "--positions",
                 "--section-reading", reading,
                 "--corpus", str(abc_corpus), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "10"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["sections"] and config["data"]["section_reading"] == reading
    saved = json.loads((run / "best" / "tunesmith.json").read_text())["representation"]
    assert saved.get("section_reading", "marks") == reading
    assert list(config["model"]["inputs"]) == ["beat", "bar", "left", "parts"]
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--max-len", "200", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.abc"))) == 2



def test_the_end_input_counts_the_bars_left_of_the_length_a_tune_is_given():
    import numpy as np

    from tunesmith.abc_meter import END_CLASSES, tune_bars

    tune = "X:1\nM:4/4\nL:1/8\nK:G\nGABc dBAG|ABcd efge|dcBA GFED|G2G2 G4|]\n"
    rep = AbcChars.fit([tune, tune.replace("|]", "|G8|]")], end_inputs=True)
    assert rep.inputs == {"end": END_CLASSES}
    assert tune_bars(tune) == 4 and rep.tune_lengths == ((4, 1), (5, 1))
    reader = rep.input_reader(4)
    ends = [reader(i)[0] for i in rep.encode_text(tune)]
    # the header's class, then 4, 3, 2, 1 bars left (classes 1 + n), none after the last
    changes = [c for k, c in enumerate(ends) if k == 0 or c != ends[k - 1]]
    assert changes == [END_CLASSES - 1, 5, 4, 3, 2, 1]
    # no length given: its own class; training rows give each tune its own length
    reader = rep.input_reader(None)
    assert {reader(i)[0] for i in rep.encode_text(tune)} == {END_CLASSES - 1, 0}
    assert rep.with_inputs(rep.encode_text(tune)) == [
        (i, c) for i, c in zip(rep.encode_text(tune), ends, strict=True)]
    # lengths are drawn from the training tunes longer than what a start has closed
    rng = np.random.default_rng(0)
    assert {rep.draw_length(rng) for _ in range(50)} == {4, 5}
    assert {rep.draw_length(rng, more_than=4) for _ in range(20)} == {5}
    assert rep.draw_length(rng, more_than=9) == 10
    assert AbcChars.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "tune_lengths" not in AbcChars.fit([tune]).to_dict()



def test_each_row_is_given_a_length_its_start_has_not_used_up():
    from tunesmith.families.abc import _Lengths

    short = "X:1\nM:4/4\nL:1/8\nK:G\nGABc dBAG|ABcd efge|dcBA GFED|G2G2 G4|]\n"
    rep = AbcChars.fit([short] * 4 + [short.replace("|]", "|G8|" * 12 + "]")],
                       end_inputs=True)
    assert rep.tune_lengths == ((4, 4), (16, 1))
    primer = "M:4/4\nL:1/8\nK:G\n" + "G8|" * 8
    lengths = _Lengths(rep)
    lengths.start([primer] * 2, seed=1)
    assert [lengths().bars for _ in range(6)] == [16] * 6  # a beam asks for more readers
    # a tune cut for mending keeps the length it was written to; --bars overrides all
    lengths.start(["M:4/4\nK:G\n"] * 3, seed=0)
    drawn = [lengths().bars for _ in range(3)]
    lengths.remember(["M:4/4\nK:G\nab|c", "M:4/4\nK:G\nde|f", "M:4/4\nK:G\ng"])
    lengths.start(["M:4/4\nK:G\nd"], seed=5)
    assert lengths().bars == drawn[1]
    lengths = _Lengths(rep, bars=7)
    lengths.start([primer], seed=0)
    assert lengths().bars == 7
    with pytest.raises(ValueError, match="tune_lengths"):
        AbcChars.from_dict(rep.to_dict() | {"tune_lengths": []})


def test_train_with_ends_composes_tunes_of_the_bars_asked_for(tmp_path, abc_corpus, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--ends", "--positions",
                 "--corpus", str(abc_corpus), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "10"]) == 0
    assert list(json.loads((run / "config.json").read_text())["model"]["inputs"]) == [
        "beat", "bar", "end"]
    for k, extra in enumerate(([], ["--bars", "6"], ["--beam", "2"])):
        assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                     "--no-wav", "--max-len", "200", "--out", str(tmp_path / f"c{k}"),
                     *extra]) == 0
    assert json.loads((tmp_path / "c1" / "composition.json").read_text())["options"]["bars"] == 6
    plain = tmp_path / "plain"
    assert main(["train", "--preset", "debug", "--corpus", str(abc_corpus), "--out",
                 str(plain), "--no-progress", "--samples", "0", "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["compose", "--model", str(plain / "best"), "--bars", "6", "--no-wav",
                 "--out", str(tmp_path / "refused")]) == 2
    assert "--bars needs a model trained with --ends" in capsys.readouterr().err
    assert main(["compose", "--model", str(run / "best"), "--bars", "2", "--no-wav",
                 "--primer", "M:4/4\\nL:1/8\\nK:G\\nG8|A8|B8|", "--out",
                 str(tmp_path / "short")]) == 2
    assert "the primer already has 3 bars" in capsys.readouterr().err


def test_bars_lift_the_default_character_limit_but_not_one_given():
    from tunesmith import families
    from tunesmith.families.base import ComposeOptions

    abc = families.get("abc")
    assert abc.compose_options(ComposeOptions()).max_len == 1500
    assert abc.compose_options(ComposeOptions(bars=8)).max_len == 1500
    long = abc.compose_options(ComposeOptions(bars=100)).max_len
    assert long >= 100 * abc.CHARS_PER_BAR
    assert abc.compose_options(ComposeOptions(bars=100, max_len=900)).max_len == 900


# --- REMI tokens: a bar is the tokens after its Bar ----------------------------------


def remi_bar(rep, pitch):
    """The ids of one 4/4 bar holding one whole note of ``pitch``."""
    name = {t: i for i, t in enumerate(rep.vocab)}
    return [name["Bar_None"], name["TimeSig_4/4"], name["Position_0"], name[f"Pitch_{pitch}"],
            name[next(t for t in rep.vocab if t.startswith("Velocity"))],
            name[next(t for t in rep.vocab if t.startswith("Duration"))]]


def test_remi_rows_offer_the_bar_four_back_and_move_with_transposition():
    import numpy as np

    from tunesmith.data.augment import TransposeIds
    from tunesmith.representations.remi import Remi

    rep = Remi(lookback_inputs=True)
    v = len(rep.vocab)
    assert rep.inputs == {"copy": v + 3, "run": RUN_CLASSES} and Remi().inputs == {}
    assert Remi.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    bars = [remi_bar(rep, p) for p in (60, 62, 64, 65, 60)]
    ids = [rep.bos] + [i for bar in bars for i in bar] + [rep.eos]
    rows = rep.with_inputs(ids)
    assert rows.shape == (len(ids), 3) and rows[:, 0].tolist() == ids
    assert rows[0, 1:].tolist() == [v + 2, RUN_CLASSES - 1]  # before the first bar
    second = 1 + 6  # bar 2's Bar token: bar 1 is offered until bar 2 plays 62, not 60
    assert rows[second:second + 3, 1].tolist() == bars[0][1:4] and rows[second + 3, 1] == v
    fifth = 1 + 4 * 6  # the fifth Bar token: bar 1 (4 back, of the four alike) is offered
    assert rows[fifth:fifth + 5, 1].tolist() == bars[0][1:6]  # ... token by token
    assert rows[fifth + 5, 1] == v + 1  # the whole of bar 1 repeated: the bar may end
    reader = rep.input_reader()
    assert [tuple(r[1:]) for r in rows.tolist()] == [reader(i) for i in ids]
    lo, hi = rep.pitch_ids
    augment = TransposeIds(2, rep.pitch_ids, id_columns=2)
    moved = next(m for seed in range(20)  # a seed that moves it
                 if (m := augment(rows[None].copy(), np.random.default_rng(seed))[0])[4, 0]
                 != rows[4, 0])
    shift = int(moved[4, 0] - rows[4, 0])
    pitch = (rows >= lo) & (rows <= hi)
    assert shift != 0 and (moved[:, :2][pitch[:, :2]] == rows[:, :2][pitch[:, :2]] + shift).all()
    assert (moved[:, 2] == rows[:, 2]).all()  # the run is a count, not a token
    assert (moved[~pitch] == rows[~pitch]).all()  # specials and other tokens stay


@pytest.mark.parametrize("flags", [{"lookback_inputs": True}, {"register_inputs": True},
                                   {"lookback_inputs": True, "register_inputs": True},
                                   {"register_inputs": True, "home_inputs": True}])
def test_remi_sampling_reads_the_inputs_training_would_have_given(flags):
    from tests.test_positions import assert_sampling_reads_training_inputs
    from tunesmith.models.transformer import Transformer, TransformerConfig
    from tunesmith.representations.remi import Remi

    rep = Remi(**flags)
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(d_model=16, num_layers=1, attention_heads=2,
                                          ff_size=32, context=32, heads=dict(rep.heads),
                                          inputs=rep.inputs)).eval()
    assert_sampling_reads_training_inputs(model, rep, [rep.bos] + remi_bar(rep, 60)
                                          + remi_bar(rep, 62), steps=12)


def test_remi_register_says_how_far_the_last_bar_lies_from_the_first():
    import numpy as np

    from tunesmith.data.augment import TransposeIds
    from tunesmith.representations.remi import REGISTER_CLASSES, REGISTER_SPAN, Remi

    rep = Remi(lookback_inputs=True, register_inputs=True)
    assert list(rep.inputs) == ["copy", "run", "register"]
    assert rep.inputs["register"] == REGISTER_CLASSES == 2 * REGISTER_SPAN + 2
    assert Remi.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    pitches = (60, 62, 64, 79, 40, 61)
    ids = [rep.bos] + [i for p in pitches for i in remi_bar(rep, p)] + [rep.eos]
    rows = rep.with_inputs(ids)
    assert rows.shape == (len(ids), 4)
    at_bars = rows[[1 + 6 * k for k in range(len(pitches))], 3].tolist()
    none = REGISTER_CLASSES - 1  # before two bars have closed
    # bar 1 (60) is the anchor; then 62 (+2), 64 (+4), 79 (+19: clipped), 40 (-20: clipped)
    assert at_bars == [none, none, REGISTER_SPAN + 2, REGISTER_SPAN + 4, 2 * REGISTER_SPAN, 0]
    assert rows[-1, 3] == 0  # the last bar (61) is closed by no Bar token: not counted
    augment = TransposeIds(3, rep.pitch_ids, id_columns=2)
    for seed in range(5):
        moved = augment(rows[None].copy(), np.random.default_rng(seed))[0]
        assert (moved[:, 3] == rows[:, 3]).all()  # a difference of pitches does not move


def test_remi_home_says_where_the_last_bar_lies_from_the_first_bars_lowest_note():
    import numpy as np

    from tunesmith.data.augment import TransposeIds
    from tunesmith.representations.remi import HOME_CLASSES, Remi

    rep = Remi(lookback_inputs=True, register_inputs=True, home_inputs=True)
    assert list(rep.inputs) == ["copy", "run", "register", "home"]
    assert rep.inputs["home"] == HOME_CLASSES == 13
    assert Remi.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert Remi.from_dict(json.loads(json.dumps(Remi().to_dict()))).home_inputs is False
    # C3 (home), G2 a fifth up (a twelfth below: the class is by pitch class), C4, F2, A2
    # each bar sounds a higher note first, then its lowest
    lows, highs = (48, 43, 60, 41, 45), (64, 62, 79, 70, 61)
    ids = [rep.bos] + [i for low, high in zip(lows, highs, strict=True)
                       for i in remi_bar(rep, high) + remi_bar(rep, low)[3:]] + [rep.eos]
    rows = rep.with_inputs(ids)
    assert rows.shape == (len(ids), 5)
    bar = len(remi_bar(rep, 60)) + 3
    at_bars = rows[[1 + bar * k for k in range(len(lows))], 4].tolist()
    # the lowest note of each bar counts, not its first or its mean
    assert at_bars == [HOME_CLASSES - 1, HOME_CLASSES - 1, 7, 0, 5]
    assert rows[-1, 4] == 5  # the last bar (A2) is closed by no Bar token: not counted
    augment = TransposeIds(3, rep.pitch_ids, id_columns=2)
    for seed in range(5):
        moved = augment(rows[None].copy(), np.random.default_rng(seed))[0]
        assert (moved[:, 4] == rows[:, 4]).all()  # an interval does not move
    with pytest.raises(ValueError, match="home_inputs"):
        Remi.from_dict(rep.to_dict() | {"home_inputs": "yes"})


def test_train_remi_with_lookback_compose_and_evaluate(tmp_path, capsys):
    from tunesmith.io.midi import write_midi
    from tunesmith.music import TimeSignature

    from .test_events_cli import make_piece

    for i in range(6):
        piece = make_piece(i)
        piece.time_signatures = [TimeSignature(0.0, 4, 4)]
        write_midi(piece, tmp_path / "corpus" / f"piece{i}.mid")
    run = tmp_path / "run"
    assert main(["train", "--family", "remi", "--preset", "debug", "--lookback", "--register",
                 "--home", "--ends", "--transpose", "3", "--corpus", str(tmp_path / "corpus"),
                 "--out", str(run),
                 "--no-progress", "--samples", "0", "--steps", "8"]) == 0
    meta = json.loads((run / "best" / "tunesmith.json").read_text())
    assert meta["representation"]["lookback_inputs"] is True
    assert meta["representation"]["register_inputs"] is True
    assert meta["representation"]["home_inputs"] is True
    assert meta["representation"]["end_inputs"] is True
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--no-wav", "--bars", "3", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.mid"))) == 2
    assert main(["compose", "--model", str(run / "best"), "--num", "1", "--beam", "2",
                 "--no-wav", "--max-len", "40", "--repeat-bias", "1", "--out",
                 str(tmp_path / "beam")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run / "best")]) == 0
    assert "valid" in capsys.readouterr().out


def test_a_repeat_bias_needs_a_lookback_model(capsys, tmp_path, debug_run):
    from .test_cli import assert_one_line_error, run_cli

    rc, _, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--repeat-bias",
                         "1", "--num", "1", "--no-wav",
                         "--out", tmp_path / "c")  # a debug ABC model: it reads no lookback
    assert_one_line_error(rc, err, "--repeat-bias", "--lookback")
    # the shipped ABC model reads one: it takes the tilt
    rc, _, err = run_cli(capsys, "compose", "--repeat-bias", "1", "--num", "1", "--no-wav",
                         "--seed", "1", "--out", tmp_path / "d")
    assert rc == 0, err


class Flat:
    """A one-head model whose every step gives the same logits (all 0) whatever it read,
    and which records the rows it is handed."""

    primes = True

    def __init__(self, vocab: int):
        self.vocab, self.seen = vocab, []

    def init_state(self, batch):
        return None

    def step(self, rows, state):
        self.seen.append(rows)
        return {"token": torch.zeros(rows.shape[0], self.vocab)}, state

    def prime(self, rows, lengths, state):
        self.seen.append(rows)
        return {"token": torch.zeros(rows.shape[0], self.vocab)}, state


def test_a_repeat_bias_raises_the_offered_character_by_w_and_nothing_else():
    rep = AbcChars.fit([TUNE], lookback_inputs=True)
    ids = [rep.vocab.id(c) for c in TUNE]
    fifth = TUNE.index("GABc|dedB|D2")
    model = with_inputs(Flat(len(rep.vocab)), rep, repeat_bias=2.5)
    state = model.init_state(1)
    offered = {}
    for t, i in enumerate(ids[:fifth + 2]):
        logits, state = model.step(torch.tensor([[i]]), state)
        raised = torch.nonzero(logits["token"][0]).flatten().tolist()
        assert logits["token"][0, raised].tolist() == [2.5] * len(raised)
        offered[t] = [rep.vocab.symbols[k] for k in raised]
    assert offered[fifth - 1] == ["G"] and offered[fifth] == ["A"]  # bar 1 offered again
    assert offered[2] == []  # in the header nothing is offered
    # prime: each row raised at the offer after its own last id
    rows = torch.tensor([ids[:fifth], ids[:fifth - 3] + [0, 0, 0]])
    logits, _ = model.prime(rows[..., None], torch.tensor([fifth, fifth - 3]),
                            model.init_state(2))
    assert logits["token"][0].argmax() == rep.vocab.id("G")
    assert logits["token"][1].max() == 0  # bar 4 began with F, as no earlier bar did
    with pytest.raises(ValueError, match="lookback"):
        with_inputs(Flat(3), AbcChars.fit([TUNE], bar_inputs=True), repeat_bias=1.0)


def test_a_remi_repeat_bias_raises_the_copy_column_with_the_register_after_it():
    from tunesmith.representations.remi import Remi

    rep = Remi(lookback_inputs=True, register_inputs=True)
    ids = [rep.bos] + [i for p in (60, 62, 60) for i in remi_bar(rep, p)]
    rows = rep.with_inputs(ids)
    model = with_inputs(Flat(len(rep.vocab)), rep, repeat_bias=1.5)
    state = model.init_state(1)
    for i, row in zip(ids, rows.tolist(), strict=True):
        logits, state = model.step(torch.tensor([[i]]), state)
        raised = torch.nonzero(logits["token"][0]).flatten().tolist()
        assert raised == ([row[1]] if row[1] < len(rep.vocab) else [])  # the copy column
    assert any(row[1] < len(rep.vocab) for row in rows.tolist())  # something was offered


def test_remi_end_counts_down_the_bars_left_to_the_length_given():
    import numpy as np

    from tunesmith.data.augment import TransposeIds
    from tunesmith.representations.remi import END_BARS, END_CLASSES, Remi

    rep = Remi(home_inputs=True, end_inputs=True)
    assert list(rep.inputs) == ["home", "end"] and rep.inputs["end"] == END_CLASSES == 18
    assert Remi.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert Remi.from_dict(json.loads(json.dumps(Remi().to_dict()))).end_inputs is False
    body = [i for p in (60, 62, 64, 65, 67) for i in remi_bar(rep, p)]
    at_bars = [1 + 6 * k for k in range(5)]  # each Bar token, after BOS

    def read(reader, ids):
        return [reader(i)[-1] for i in ids]

    ids = [rep.bos] + body + [rep.eos]
    # five bars asked for: 5 left in the first (the one running counts), 1 in the last
    assert [read(rep.input_reader(bars=5), ids)[k] for k in at_bars] == [5, 4, 3, 2, 1]
    assert read(rep.input_reader(bars=3), ids)[at_bars[-1]] == 1  # past the length: 1
    assert read(rep.input_reader(bars=40), ids)[at_bars[0]] == END_BARS + 1  # more
    assert set(read(rep.input_reader(), ids)) == {0}  # no length given
    # seconds: the bar line at or after 14 quarter notes ends 4/4 bars at 16: four bars
    assert [read(rep.input_reader(beats=14.0), ids)[k] for k in at_bars] == [4, 3, 2, 1, 1]
    # the same bars in 3/4: 14 quarter notes end at the bar line at 15, five bars (a
    # bar's meter is known from its TimeSig token on, the token after its Bar)
    three = [{rep.vocab.index("TimeSig_4/4"): rep.vocab.index("TimeSig_3/4")}.get(i, i)
             for i in ids]
    assert [read(rep.input_reader(beats=14.0), three)[k + 1]
            for k in at_bars] == [5, 4, 3, 2, 1]
    # training tells a piece its own bars (here five), or, one piece in ten, none
    rows = rep.with_inputs(ids)
    told = rep.training_bars(ids)
    assert told == 5 and rows[at_bars, 2].tolist() == [5, 4, 3, 2, 1]
    lengths = [rep.training_bars([rep.bos] + body[: 6 * k] + [rep.eos]) for k in range(1, 6)]
    many = [rep.training_bars([rep.bos] + remi_bar(rep, 40 + k) + [rep.eos])
            for k in range(60)]
    assert lengths.count(None) <= 1 and 2 <= many.count(None) <= 12
    augment = TransposeIds(3, rep.pitch_ids, id_columns=1)
    for seed in range(3):
        moved = augment(rows[None].copy(), np.random.default_rng(seed))[0]
        assert (moved[:, 2] == rows[:, 2]).all()  # transposing does not move the length
    with pytest.raises(ValueError, match="end_inputs"):
        Remi.from_dict(rep.to_dict() | {"end_inputs": 1})


def test_remi_compose_tells_an_ends_model_the_length_asked():
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.remi import RemiFamily, sample_tokens
    from tunesmith.models.transformer import Transformer, TransformerConfig
    from tunesmith.representations.remi import END_BARS, Remi

    rep = Remi(end_inputs=True)
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(d_model=16, num_layers=1, attention_heads=2,
                                          ff_size=32, context=64, heads=dict(rep.heads),
                                          inputs=rep.inputs)).eval()
    seen, step = [], model.step

    def recording_step(rows, state):
        seen.append(rows)
        return step(rows, state)

    model.step = recording_step
    for asked, first in (({"bars": 6}, 6), ({"seconds": 5.0}, rep.beats_for_seconds(5.0) / 4),
                         ({"max_len": 30}, 0)):
        seen.clear()
        opts = RemiFamily().compose_options(ComposeOptions(num=2, seed=0, **asked))
        sample_tokens(model, rep, opts)
        told = {int(r[0, -1]) for r in seen}  # the end column of each step's rows
        expected = min(END_BARS + 1, -(-first // 1)) if first else 0
        # before the first Bar token the whole length is left; later steps count down
        assert int(seen[0][0, -1]) == expected and max(told) == expected
