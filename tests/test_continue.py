"""The continue family: a BiLSTM encoder-decoder continues the first bars of a tune, in a
style (issue 20). Small fixtures and debug models only."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tunesmith.cli import main
from tunesmith.errors import OptionError
from tunesmith.representations import from_dict
from tunesmith.representations.abc_phrases import AbcPhrases

from .conftest import make_tune, write_book

TUNE = ("M:4/4\nL:1/8\nK:D\n"
        "A|d2fd A2FA|d2fd e2ce|d2fd A2FA|G2E2 E3A|\n"
        "d2fd A2FA|d2fd e2ce|fgaf gfed|c2A2 A2:|\n")


@pytest.fixture(scope="module")
def styled_corpus(tmp_path_factory) -> Path:
    """Two traditions of 100 tunes each (a folder per tradition, as a user's corpus)."""
    root = tmp_path_factory.mktemp("styled")
    for k, name in enumerate(("irish", "scottish")):
        (root / name).mkdir()
        write_book(root / name / "book.abc", 100, seed=10 + k, start=1 + 100 * k)
    return root


@pytest.fixture(scope="module")
def continue_run(tmp_path_factory, styled_corpus) -> Path:
    run = tmp_path_factory.mktemp("runs") / "continue"
    rc = main(["train", "--family", "continue", "--preset", "debug", "--corpus",
               str(styled_corpus), "--source-bars", "2", "--target-bars", "2",
               "--out", str(run), "--no-progress", "--samples", "0"])
    assert rc == 0
    return run


def phrases(**kw) -> AbcPhrases:
    return AbcPhrases.fit_phrases([TUNE], {"tradition": ["irish", "scottish"],
                                           "tune_type": ["reel", "jig"]}, **kw)


def test_pairs_cut_a_tune_at_its_bar_lines():
    rep = phrases(source_bars=2, target_bars=3)
    pairs = rep.pairs(TUNE)
    src, tgt, ends = pairs[0]
    assert src == "M:4/4\nL:1/8\nK:D\nA|d2fd A2FA|"  # the pickup is a bar
    assert tgt == "d2fd e2ce|d2fd A2FA|G2E2 E3A|"
    assert TUNE.startswith(src + tgt) and not ends
    # later sources start from the header again; the last target ends the tune
    assert all(s.startswith("M:4/4\nL:1/8\nK:D\n") for s, _, _ in pairs)
    assert pairs[-1][2] and TUNE.endswith(pairs[-1][1])
    assert len(pairs) == 4  # sources from bars 0, 2, 4, 6 of 9


def test_balance_styles_weighs_both_label_sets_half_way():
    from tunesmith.data.pairs import style_weights

    # (tradition, tune type): 60 German ballads, 30 German children's songs, 10
    # Luxembourgish children's songs
    pairs = ([([1], [0, 1], [1, 5])] * 60 + [([1], [0, 1], [1, 6])] * 30
             + [([1], [0, 1], [2, 6])] * 10)
    w = style_weights(pairs)
    children_de, lux = w[60:90].sum(), w[90:].sum()
    # the rare tradition and the rare type both rise far above their shares of the
    # pairs (10% and 40%)
    assert lux > 0.2 and children_de + lux > 0.5 and abs(w.sum() - 1) < 1e-9
    assert w[0] < w[60] < w[90]  # the rarer a pair's labels, the likelier it is drawn


def test_style_labels_from_either_set_and_clear_errors():
    rep = phrases()
    assert rep.parse_style("reel") == {"tune_type": "reel"}
    assert rep.parse_style("Irish, reel") == {"tradition": "irish", "tune_type": "reel"}
    assert rep.style_ids(**rep.parse_style("scottish")) == [2, 0]  # 0 = any
    with pytest.raises(OptionError, match="'polka' is not a style this model knows "
                                          r"\(tradition: irish, scottish; tune type: jig, "
                                          "reel"):
        rep.parse_style("polka")
    with pytest.raises(OptionError, match="two labels of one set"):
        rep.parse_style("reel,jig")


def test_representation_round_trips_and_refuses_damage():
    rep = phrases(source_bars=2)
    back = from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back == rep and back.encode_text(TUNE) == rep.encode_text(TUNE)
    assert back.meters == {"4/4": 1}
    for damage in ({"styles": {"tradition": ["irish"]}}, {"source_bars": 0},
                   {"openings": "M:4/4"}, {"meters": {"4/4": 0}}):
        with pytest.raises(ValueError):
            from_dict(rep.to_dict() | damage)
    old = rep.to_dict()
    del old["meters"]  # a model trained before meters were kept: nothing to warn from
    assert from_dict(old).unseen_meter(TUNE.replace("M:4/4", "M:7/8")) is None


def test_a_primer_in_a_meter_the_model_hardly_saw_is_warned_about():
    rep = AbcPhrases.fit_phrases([TUNE] * 12 + [TUNE.replace("M:4/4", "M:6/8")], {})
    assert rep.meters == {"4/4": 12, "6/8": 1}
    assert rep.unseen_meter(TUNE) is None
    assert "saw 1 training tune in M:6/8 (its meters: 4/4, 6/8" in rep.unseen_meter(
        TUNE.replace("M:4/4", "M:6/8"))
    assert "saw 0 training tunes in M:7/8" in rep.unseen_meter(
        TUNE.replace("M:4/4", "M:7/8"))


def small_model(rep, **kw):
    from tunesmith.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(vocab_size=len(rep.vocab), styles=rep.style_sizes,
                                 embedding_dim=8, style_dim=4, encoder_size=12,
                                 decoder_size=16, dropout=0.0, style_dropout=0.0, **kw))


@pytest.mark.parametrize("style_steps", [False, True])
def test_sampling_steps_equal_the_teacher_forced_pass(style_steps):
    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import encode_pair
    from tunesmith.models.seq2seq import Conditioned

    rep = phrases(source_bars=2)
    model = small_model(rep, style_steps=style_steps).eval()
    pairs = [encode_pair(rep, s, t, e, rep.style_ids(tradition="irish"))
             for s, t, e in rep.pairs(TUNE)]
    batch = collate(pairs[:2])
    with torch.no_grad():
        forced = model._run(batch, 1.0)  # (B, T, V)
        state = model.encode(batch["source"], batch["source_len"], batch["style"])
        wrapped = Conditioned(model, state)
        state = wrapped.init_state(2)
        for t in range(batch["target"].shape[1] - 1):
            logits, state = wrapped.step(batch["target"][:, t:t + 1], state)
            assert torch.allclose(logits["token"], forced[:, t], atol=1e-5)
    # attention weights over the source: one row per step, summing to 1 over real tokens
    w = state["weights"]
    assert torch.allclose(w.sum(-1), torch.ones(2))
    assert (w[0, int(batch["source_len"][0]):] == 0).all()


def test_with_style_steps_every_decoder_step_reads_the_style():
    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import encode_pair
    from tunesmith.models.seq2seq import Guided

    rep = phrases(source_bars=2)
    pairs = [encode_pair(rep, s, t, e, rep.style_ids(tradition="irish"))
             for s, t, e in rep.pairs(TUNE)][:1]
    batch = collate(pairs)
    other = rep.style_ids(tradition="scottish")
    assert "style" not in small_model(rep).encode(batch["source"], batch["source_len"],
                                                 batch["style"])
    model = small_model(rep, style_steps=True).eval()
    assert model.cell.input_size == 8 + 16 + 2 * 4  # token, attentional vector, two sets
    with torch.no_grad():
        state = model.encode(batch["source"], batch["source_len"], batch["style"])
        swapped = state | {"style": model._style(torch.tensor([other]))}
        token = batch["target"][:, :1]
        same, _ = model.step(token, state)
        changed, _ = model.step(token, swapped)  # the same first state, another style
        assert not torch.allclose(same["token"], changed["token"])
        # guidance carries the style of each half through beam search's row selection
        plain = model.encode(batch["source"], batch["source_len"], torch.zeros_like(
            batch["style"]))
        guided = Guided(model, state, plain, 1.0)
        rows = guided.select_state(guided.init_state(1), torch.tensor([0, 0]))
        assert rows["style"].shape == (4, 8)
        assert torch.equal(rows["style"][0], state["style"][0])  # the styled half
        assert torch.equal(rows["style"][2], plain["style"][0])  # the plain half, no label
        assert not torch.equal(rows["style"][0], rows["style"][2])


def test_validation_reports_free_running_next_to_teacher_forcing():
    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import encode_pair

    rep = phrases(source_bars=2)
    model = small_model(rep).eval()
    batch = collate([encode_pair(rep, s, t, e, [1, 1]) for s, t, e in rep.pairs(TUNE)])
    with torch.no_grad():
        out = model.loss(batch)
    assert {"loss", "nll", "accuracy", "free_nll", "free_accuracy"} <= set(out)
    assert float(out["free_nll"]) != pytest.approx(float(out["nll"]))
    model.train()
    assert "free_nll" not in model.loss(batch)  # training pays for one pass


def test_a_scheduled_teacher_forcing_ratio_goes_from_forced_to_free_running():
    """With --teacher-forcing 1 --teacher-forcing-end 0, the first step trains on the
    true previous tokens and the last on the model's own: the losses validation reports
    as ``nll`` and ``free_nll``."""
    import dataclasses

    from tunesmith.data.pairs import PairBatches
    from tunesmith.families.continuation import encode_pair

    rep = phrases(source_bars=2)
    model = small_model(rep)
    model.config = dataclasses.replace(model.config, teacher_forcing=1.0,
                                       teacher_forcing_end=0.0)
    pairs = [encode_pair(rep, s, t, e, [1, 1]) for s, t, e in rep.pairs(TUNE)]
    source = PairBatches(pairs, 3, seed=0, steps=11)  # steps 0 .. 10
    first, half, last = source.batch(0), source.batch(5), source.batch(10)
    assert [model.forcing_ratio(b) for b in (first, half, last)] == [1.0, 0.5, 0.0]
    assert "progress" not in PairBatches(pairs, 3, seed=0).batch(5)  # no run length given
    with torch.no_grad():
        evaluated = [model.eval().loss(b) for b in (first, last)]
        trained = [model.train().loss(b) for b in (first, last)]
    assert float(trained[0]["loss"]) == pytest.approx(float(evaluated[0]["nll"]), abs=1e-5)
    assert float(trained[1]["loss"]) == pytest.approx(float(evaluated[1]["free_nll"]),
                                                      abs=1e-5)
    with pytest.raises(ValueError, match="teacher_forcing_end"):
        dataclasses.replace(model.config, teacher_forcing_end=1.5)


def test_train_and_continue_a_primer_in_a_style(tmp_path, continue_run):
    cfg = json.loads((continue_run / "config.json").read_text())
    assert (cfg["family"], cfg["arch"]) == ("continue", "seq2seq")
    assert cfg["data"] == {"clean": False, "source_bars": 2, "target_bars": 2, "styles": True,
                           "transpose": 0, "parts": False, "balance_styles": False}
    assert cfg["model"]["styles"] == {"tradition": 3, "tune_type": 2}  # any + the labels
    rows = (continue_run / "metrics.csv").read_text().splitlines()
    assert "free_nll" in rows[0] and "free_accuracy" in rows[0]
    primer = tmp_path / "primer.abc"
    primer.write_text("X:1\nT:Mine\n" + make_tune(1, random.Random(5)).split("\n", 2)[2])
    out = tmp_path / "out"
    rc = main(["compose", "--model", str(continue_run / "best"),
               "--primer", str(primer), "--style", "irish", "--bars", "3", "--num", "2",
               "--seed", "1", "--out", str(out), "--no-wav"])
    assert rc == 0
    tunes = sorted(out.glob("*.abc"))
    assert len(tunes) == 2
    head = AbcPhrases.header_end(tunes[0].read_text())
    body = primer.read_text().split("K:", 1)[1].split("\n", 1)[1]
    first_bars = "|".join(body.split("|")[:2]) + "|"
    for t in tunes:  # the primer's first two bars, then the continuation
        text = t.read_text()
        assert text[head:].startswith(first_bars), text
        assert len(text[head:]) > len(first_bars)
    about = json.loads((out / "composition.json").read_text())
    assert about["options"]["style"] == "irish"


def test_compose_without_primer_continues_held_out_openings(tmp_path, continue_run):
    rep = json.loads((continue_run / "best" / "tunesmith.json").read_text())
    assert rep["representation"]["openings"]
    rc = main(["compose", "--model", str(continue_run / "best"),
               "--num", "2", "--seed", "0", "--out", str(tmp_path / "o"), "--no-wav"])
    assert rc == 0 and len(list((tmp_path / "o").glob("*.abc"))) == 2


@pytest.mark.parametrize("args, message", [
    (["--style", "polka"],
     "'polka' is not a style this model knows (tradition: irish, scottish"),
    (["--primer", "SHORT"], "the first tune has 1 bars; the model reads the first 2"),
    (["--temperature", "0"], "temperature"),
])
def test_bad_requests_are_one_line_errors(tmp_path, capsys, continue_run, args, message):
    short = tmp_path / "short.abc"
    short.write_text("X:1\nT:Short\nM:4/4\nL:1/8\nK:D\nd2fd A2FA|]\n")
    args = [str(short) if a == "SHORT" else a for a in args]
    rc = main(["compose", "--model", str(continue_run / "best"),
               "--out", str(tmp_path / "o"), "--no-wav", *args])
    err = capsys.readouterr().err
    assert rc != 0 and message in err and "Traceback" not in err


def test_a_corpus_with_one_style_refuses_style_conditioning(tmp_path, capsys, abc_corpus):
    rc = main(["train", "--family", "continue", "--preset", "debug", "--corpus",
               str(abc_corpus), "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0 and "two style labels to tell apart" in err and "--no-styles" in err
    rc = main(["train", "--family", "continue", "--preset", "debug", "--corpus",
               str(abc_corpus), "--no-styles", "--steps", "4", "--out", str(tmp_path / "r2"),
               "--no-progress", "--samples", "1"])
    assert rc == 0
    cfg = json.loads((tmp_path / "r2" / "best" / "tunesmith.json").read_text())
    assert cfg["representation"]["styles"] == {}


def test_attention_shows_the_bars_written_over_the_bars_read(tmp_path, continue_run):
    """`tunesmith attention` of a continue model: a row per character written after the
    first bars, each over the window it read (the header and the last source bars)."""
    from tunesmith import app
    from tunesmith.families.continuation import source_attention
    from tunesmith.io.plots import source_attention_figure

    ckpt = app.load_model(str(continue_run / "best"))
    rep = ckpt.representation
    text = make_tune(1, random.Random(5)).split("\n", 2)[2]
    w, row_bars, col_bars = source_attention(ckpt.model, rep, text, rep.style_ids())
    assert w.shape == (len(row_bars), len(text) + 2) and len(col_bars) == len(text) + 2
    assert abs(w.sum(1) - 1).max() < 1e-5  # each row sums to 1 over what it read
    assert row_bars.min() == rep.source_bars  # bars are counted from 0: the third bar
    n, m = rep.source_bars, rep.target_bars
    for bar in set(row_bars.tolist()):  # a step reads the header and the n bars before it
        start = n + (bar - n) // m * m  # the first bar that step writes
        rows = w[row_bars == bar]
        assert rows[:, col_bars >= start].sum() < 1e-5
        assert rows[:, (col_bars >= 0) & (col_bars < start - n)].sum() < 1e-5
        assert rows[:, (col_bars >= start - n) & (col_bars < start)].sum(1).min() > 0.5
    fig = source_attention_figure(w, row_bars, col_bars, "t")
    ax, bx = fig.axes
    assert (ax.get_ylabel(), bx.get_xlabel()) == ("bar written", "bar read")
    book = tmp_path / "tune.abc"
    book.write_text("X:1\nT:Mine\n" + text)
    assert main(["attention", "--model", str(continue_run / "best"), str(book), "--style",
                 "irish"]) == 0
    assert (tmp_path / "tune_attention.png").stat().st_size > 10_000
    out = tmp_path / "o"
    rc = main(["compose", "--model", str(continue_run / "best"), "--primer", str(book),
               "--bars", "4", "--num", "2", "--seed", "0", "--attention", "--out", str(out),
               "--no-wav"])
    assert rc == 0 and len(list(out.glob("*_attention.png"))) == 2


def test_attention_of_a_tune_too_short_to_continue(tmp_path, capsys, continue_run):
    short = tmp_path / "short.abc"
    short.write_text("X:1\nT:Short\nM:4/4\nL:1/8\nK:D\nd2fd A2FA|]\n")
    rc = main(["attention", "--model", str(continue_run / "best"), str(short)])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    assert "short.abc: the tune has 1 bar: the model reads the first 2, and no bar" in err


def test_a_primer_in_an_unseen_meter_warns_and_continues(tmp_path, capsys, continue_run):
    odd = tmp_path / "odd.abc"
    body = make_tune(1, random.Random(5)).split("K:", 1)[1]  # characters the model knows
    odd.write_text("X:1\nT:Odd\nM:2/4\nL:1/8\nK:" + body)
    rc = main(["compose", "--model", str(continue_run / "best"), "--primer", str(odd),
               "--num", "1", "--seed", "0", "--out", str(tmp_path / "o"), "--no-wav"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "odd.abc: the model saw 0 training tunes in M:2/4" in err
    assert len(list((tmp_path / "o").glob("*.abc"))) == 1


def test_beam_search_continues_each_primer_through_its_encoded_phrase(continue_run):
    """Beam search from the encoded phrases: one hypothesis is greedy decoding (what
    sampling with top-k 1 writes), a wider beam gives the same result for any seed, and
    no continuation writes more bars than asked."""
    from tunesmith import app
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continuation import continue_texts

    ckpt = app.load_model(str(continue_run / "best"))
    rep, model = ckpt.representation, ckpt.model
    sources = list(rep.openings[:3])
    greedy = continue_texts(model, rep, sources, rep.style_ids(), 4,
                            ComposeOptions(top_k=1, num=3), seed=0)
    assert continue_texts(model, rep, sources, rep.style_ids(), 4,
                          ComposeOptions(beam=1, num=3), seed=0) == greedy
    beam = [continue_texts(model, rep, sources, [rep.style_ids(tradition="irish")] * 3, 4,
                           ComposeOptions(beam=4, num=3), seed=s) for s in (0, 1)]
    assert beam[0] == beam[1]
    for src, text in zip(sources, beam[0], strict=True):
        assert len(rep.cuts(text)) - len(rep.cuts(src)) <= 4
        # each source's hypotheses stay its own: alone it gives the same continuation
        alone = continue_texts(model, rep, [src], [rep.style_ids(tradition="irish")], 4,
                               ComposeOptions(beam=4, num=1), seed=0)
        assert alone == [text]


def test_a_continuation_the_character_limit_stops_ends_at_a_bar_line(continue_run,
                                                                      monkeypatch):
    from tunesmith import app
    from tunesmith.abc_meter import bars
    from tunesmith.families import continuation
    from tunesmith.families.base import ComposeOptions

    src = "X:1\nM:4/4\nL:1/8\nK:D\nABcd efga|bagf edcB|"
    more = src + "ABcd efga|"
    assert continuation._to_bar_line(more + "AB", len(src)) == more  # a half bar goes
    assert continuation._to_bar_line(more + "AB|]", len(src)) == more + "AB|]"
    # never the source's bars, nor the continuation's only bar
    assert continuation._to_bar_line(more + "AB", len(more) + 1) == more + "AB"
    assert continuation._to_bar_line(src + "AB", len(src)) == src + "AB"
    ckpt = app.load_model(str(continue_run / "best"))
    rep = ckpt.representation
    sources = list(rep.openings[:4])
    monkeypatch.setattr(continuation, "MAX_CHARS_PER_BAR", 6)  # bars of the debug model
    # are longer: the limit stops each step inside a bar
    texts = continuation.continue_texts(ckpt.model, rep, sources, rep.style_ids(), 4,
                                        ComposeOptions(num=4, temperature=1.0), seed=0)
    for source, text in zip(sources, texts, strict=True):
        assert text.startswith(source.rstrip("\n"))
        assert bars(text)[-1].closes, text  # the debug model does not end them sooner


def test_each_step_keeps_the_first_draft_that_keeps_the_meter():
    from tunesmith.families.continuation import _keeps_meter

    rep = phrases(source_bars=2, target_bars=2)
    text = "M:4/4\nL:1/8\nK:D\nA|d2fd A2FA|"
    long = "d2fd A2FAB|d2fd A2FA|"  # a bar too long
    short_last = "d2fd A2FA|d2fd|"  # its last bar is short, and more bars follow
    ended_soon = "d2fd A2FA|"  # keeps the meter, but the model ended the tune at once
    good = "d2fd e2ce|d2fd A2FA|"
    assert _keeps_meter(rep, text, [long, short_last, ended_soon, good],
                        [False, False, True, False], 2) == 3
    assert _keeps_meter(rep, text, [long, short_last, ended_soon],
                        [False, False, True], 2) == 2  # none full: the one that ended
    # none keeps it: the draft whose first bad bar comes latest
    assert _keeps_meter(rep, text, [long, short_last], [False, False], 2) == 1
    # a tune's last bar may be short where the model ends it
    assert _keeps_meter(rep, text, [long, "d2fd A2FA|d2|"], [False, True], 2) == 1


def test_continuation_nll_reads_each_step_as_compose_writes_it(continue_run):
    """Scoring a continuation step by step: one step is exactly the pair's loss; a
    second step adds the NLL of its bars given the window it reads."""
    from tunesmith import app
    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import continuation_nll, encode_pair

    ckpt = app.load_model(str(continue_run / "best"))
    rep, model = ckpt.representation, ckpt.model
    text = make_tune(1, random.Random(5)).split("\n", 2)[2]
    style = rep.style_ids()
    src, tgt, _ = rep.pairs(text)[0]  # the header and bars 1-2, then bars 3-4
    model.eval()
    with torch.no_grad():
        out = model.loss(collate([encode_pair(rep, src, tgt, False, style)]))
    total, count = continuation_nll(model, rep, src + tgt, style)
    assert count == int(out["count"]) == len(tgt)
    assert total == pytest.approx(float(out["nll"]) * count, rel=1e-5)
    more, more_count = continuation_nll(model, rep, text, style)
    assert more_count > count and more > total
