"""The continue-events family as a user runs it: a MIDI folder with a sub-folder per style
(or LABEL=DIR parts), pairs cut at bar lines, seq2seq with three heads, continuations
that keep the note-off rule across the join."""

import json

import numpy as np
import pytest
import torch

from tunesmith.corpora.labelled import count_labels, load_labelled, parts
from tunesmith.data.pairs import collate
from tunesmith.errors import TunesmithError
from tunesmith.models.seq2seq import Seq2Seq, Seq2SeqConfig
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track
from tunesmith.representations import from_dict
from tunesmith.representations.event_phrases import EventPhrases

from .test_cli import run_cli
from .test_events_cli import make_piece


def three_four(seed: int, bars: int = 9) -> Piece:
    """A 3/4 piece with a one-beat pickup: a note on every beat, a held bass per bar."""
    rng = np.random.default_rng(seed)
    top = [Note(float(t), t + 1.0, int(rng.choice([67, 69, 71, 72])), 80)
           for t in range(1 + 3 * bars)]
    bass = [Note(1.0 + 3 * b, 4.0 + 3 * b, 43, 60) for b in range(bars)]
    return Piece(tracks=[Track(notes=top), Track(notes=bass, program=32)],
                 tempos=[Tempo(0.0, 90.0)], time_signatures=[TimeSignature(0.0, 3, 4)],
                 bar_lines=[0.0] + [1.0 + 3 * b for b in range(bars + 1)])


# --- labelled corpora ------------------------------------------------------------------

def test_a_corpus_names_its_labels_by_sub_folder_or_label_parts(styled_folder):
    c, labels = load_labelled(str(styled_folder))
    assert sorted(set(labels)) == ["march", "waltz"] and len(labels) == len(c.pieces) == 24
    assert parts("jazz=a/b, Folk = c") == [("jazz", "a/b"), ("folk", "c")]
    assert parts("some/folder") == []
    c2, labels2 = load_labelled(f"x={styled_folder / 'march'},y={styled_folder / 'waltz'}")
    assert labels2 == ["x"] * 12 + ["y"] * 12
    assert c2.keys[0] == "m0.mid" and c2.keys[-1] == "w9.mid"  # split as on their own
    c3, labels3 = load_labelled(f"x={styled_folder / 'march'},x={styled_folder / 'waltz'}")
    assert labels3 == ["x"] * 24 and c3.keys == c2.keys  # one label, two folders
    assert count_labels(f"x={styled_folder / 'march'},x={styled_folder / 'waltz'}") == {"x": 24}
    for bad, why in (("a=x,b", "not LABEL=PATH"), ("a=x,b=./x", "'./x' is given twice"),
                     ("=x", "not LABEL=PATH"), ("a/b=x", "short name")):
        with pytest.raises(TunesmithError, match=why):
            parts(bad)


def test_the_corpus_flag_repeats_into_label_parts(capsys, styled_folder, tmp_path):
    rc, _, err = run_cli(capsys, "train", "--family", "continue-events", "--preset", "debug",
                         "--corpus", f"a={styled_folder / 'march'}", "--corpus",
                         f"b={styled_folder / 'waltz'}", "--source-bars", "2",
                         "--target-bars", "1", "--steps", "2", "--samples", "0",
                         "--out", tmp_path / "r")
    assert rc == 0, err
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["corpus"] == f"a={styled_folder / 'march'},b={styled_folder / 'waltz'}"
    rep = json.loads((tmp_path / "r" / "best" / "tunesmith.json").read_text())["representation"]
    assert rep["styles"] == {"style": ["any", "a", "b"]}


# --- the representation ----------------------------------------------------------------

def test_pairs_are_cut_at_the_written_bars_and_join_to_the_piece():
    rep = EventPhrases(source_bars=2, target_bars=1)
    piece = three_four(1)
    messages, cuts = rep.split_piece(piece)
    times = rep.times(messages)
    starts = rep.bar_starts(piece)
    assert list(starts[:3]) == [0.0, 1.0, 4.0]  # the pickup stays a bar of its own
    for b, c in enumerate(cuts):  # each bar's first message is at or after its start
        assert times[c] >= starts[b] - 1e-9 and (c == 0 or times[c - 1] < starts[b] - 1e-9)
    pairs = rep.pairs(piece)
    assert len(pairs) == len(cuts) - 2  # a window every target bar
    src, tgt, ends = pairs[0]
    assert src + tgt == messages[:cuts[3]] and not ends
    assert pairs[-1][2] and pairs[-1][0] + pairs[-1][1] == messages[cuts[-3]:]


def test_balance_styles_draws_a_rare_style_as_often_as_a_common_one():
    from tunesmith.families.base import Prepared
    from tunesmith.families.continue_events import ContinueEventsData, ContinueEventsFamily
    from tunesmith.training.config import TrainConfig

    # 60 long pieces give most pairs of a corpus, 400 chorales few: 90 pairs to 10, each
    # target its own (its first message names the pair)
    common = [(np.zeros((3, 3)), np.full((9, 3), i), [1]) for i in range(90)]
    rare = [(np.zeros((3, 3)), np.full((4, 3), 90 + i), [2]) for i in range(10)]
    prepared = Prepared(None, {"train": common + rare, "valid": rare}, {})
    cfg = TrainConfig(batch_size=2000, steps=10)
    shares = {}
    for balance in (False, True):
        data = ContinueEventsData(balance_styles=balance)
        first, resumed = (ContinueEventsFamily().batches(prepared, cfg, data)[0]
                          for _ in range(2))
        style = first.batch(3)["style"][:, 0]
        shares[balance] = float((style == 2).float().mean())
        # a batch is a pure function of the step: a resumed run draws the same pairs
        assert torch.equal(first.batch(3)["target"], resumed.batch(3)["target"])
        assert not torch.equal(first.batch(3)["target"], resumed.batch(4)["target"])
    assert 0.07 < shares[False] < 0.13 and 0.45 < shares[True] < 0.55
    assert first.tokens_per_batch == 2000 * 5  # targets of 8 and 3 messages, drawn alike


def test_the_feature_judge_reads_texture_and_rhythm_not_which_keys():
    from tunesmith.evaluation.passage_features import (
        FEATURES,
        FeatureClassifier,
        passage_features,
    )

    rep = EventPhrases(source_bars=2, target_bars=1)

    def passage(piece, shift=0):
        messages = rep.split_piece(piece)[0]
        return [[k + shift, v, t] if k < 88 else [k, v, t] for k, v, t in messages]

    waltz = passage(three_four(1))
    f = passage_features(rep, waltz)
    assert f.shape == (len(FEATURES),) and np.isfinite(f).all()
    named = dict(zip(FEATURES, f, strict=True))
    # a note on every beat, a held bass under each 3/4 bar: every onset on the beat
    assert named["onsets at 0.00 of a beat"] == 1.0 and named["most sounding"] == 2
    # a fourth up: the register moves; the pitch classes, counted from the most common
    # one, and the rhythm do not
    g = dict(zip(FEATURES, passage_features(rep, passage(three_four(1), 5)), strict=True))
    assert g["mean key"] > named["mean key"]
    for name in FEATURES:
        if "key" not in name:
            assert g[name] == pytest.approx(named[name]), name
    # told apart on passages it never saw: a march of eighths and halves, a waltz
    x = [passage_features(rep, passage(p)) for i in range(8)
         for p in (make_piece(i, bars=4), three_four(i, bars=4))]
    labels = ["march", "waltz"] * 8
    clf = FeatureClassifier(["march", "waltz"]).fit(np.array(x), labels)
    held = [passage_features(rep, passage(p)) for p in (make_piece(20, 4), three_four(20, 4))]
    assert clf.predict(np.array(held)) == ["march", "waltz"]
    assert passage_features(rep, []).sum() == 0 and clf.predict(np.zeros((0, 3))) == []


def test_the_benchmark_s_control_continues_a_source_up_to_its_target_s_last_bar_line():
    """benchmarks/continue_events.py: the events LSTM continuing a source is given the
    source's time and the target's bars (--seconds counts the primer too)."""
    import sys
    from pathlib import Path

    from tunesmith import app

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from continue_events import bar_line, lstm_continuations, piece_rows

    rep = EventPhrases(source_bars=2, target_bars=1)
    rows = piece_rows(rep, three_four(2), "waltz")[:3]
    written = lstm_continuations(app.load_model(family="events"), rows, 0, rep)
    for row, passage in zip(rows, written, strict=True):
        # from the bar line after the source to the last message: the target's bar
        # (3 beats), give or take the last message's step
        end = rep.times(passage)[-1] - bar_line(rep, row)
        assert row.span == 3.0 and 2.5 <= end <= 3.5, (len(passage), end)


def test_the_representation_round_trips_and_refuses_damaged_openings():
    rep = EventPhrases(styles={"style": ("any", "a", "b")}, source_bars=3, target_bars=2,
                       openings=(((30, 5, 8), (30, 0, 8)),),
                       opening_grid=((4.0, 0.0, 1.0, 5.0, 9.0),))
    assert from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert rep.parse_style("B") == {"style": "b"} and rep.style_ids(style="b") == [2]
    for damage in ({"openings": [[[30, 5]]]}, {"opening_grid": []},
                   {"styles": {"style": ["a"]}}, {"source_bars": 0}):
        with pytest.raises(ValueError):
            from_dict(rep.to_dict() | damage)


# --- the model over three heads ---------------------------------------------------------

def test_seq2seq_reads_and_writes_three_heads():
    rep = EventPhrases(styles={"style": ("any", "a")})
    cfg = Seq2SeqConfig(heads=dict(rep.heads), styles=rep.style_sizes, embedding_dim=8,
                        style_dim=2, encoder_size=6, decoder_size=10, dropout=0.0,
                        teacher_forcing=0.5, empty_source=rep.empty_source)
    torch.manual_seed(0)
    model = Seq2Seq(cfg)
    messages = rep.encode(make_piece(2, bars=4))[1:-1]
    pairs = [(np.asarray(rep.encode_source(messages[:20])), np.asarray([rep.bos, *messages[20:30]]),
              [1]), (np.asarray(rep.encode_source(messages[:5])),
                     np.asarray([rep.bos, *messages[5:8]]), [0])]
    batch = collate(pairs)
    assert batch["target"].shape == (2, 11, 3) and int(batch["target"][1, 5, 0]) == -100
    model.eval()
    out = model.loss(batch)
    assert int(out["count"]) == 10 + 3
    assert torch.isclose(out["nll"], out["nll_note"] + out["nll_velocity"] + out["nll_time"])
    assert {"free_nll", "free_accuracy"} <= set(out)
    model.train()
    model.loss(batch)["loss"].backward()  # teacher forcing with the model's own argmax
    assert model.embed.weight.grad.abs().sum() > 0
    logits, state = model.step(torch.tensor([rep.bos, rep.bos]), model.init_state(2))
    assert {h: logits[h].shape[-1] for h in logits} == dict(rep.heads)
    assert state["weights"].shape == (2, 2)  # over the empty source's two messages


# --- as a user runs it ------------------------------------------------------------------

def test_a_model_of_labelled_parts_continues_a_piece_of_its_corpus(capsys, events_run,
                                                                   styled_folder, tmp_path):
    import json
    import shutil

    model = tmp_path / "model"  # as trained on --corpus a=march --corpus b=waltz
    shutil.copytree(events_run / "best", model)
    meta = json.loads((model / "tunesmith.json").read_text())
    meta["summary"]["corpus"]["corpus"] = (f"a={styled_folder / 'march'},"
                                           f"b={styled_folder / 'waltz'}")
    (model / "tunesmith.json").write_text(json.dumps(meta))
    rc, _, err = run_cli(capsys, "compose", "--model", model, "--primer", "corpus", "--num",
                         "1", "--seed", "3", "--out", tmp_path / "c", "--no-wav")
    assert rc == 0, err
    assert len(list((tmp_path / "c").glob("*.mid"))) == 1


def test_label_counts_show_in_corpora_and_the_ingest_report(capsys, styled_folder, tmp_path):
    rc, out, _ = run_cli(capsys, "corpora", "--styles", "--corpus", styled_folder)
    assert rc == 0 and "march      12" in out and "waltz      12" in out
    rc, out, _ = run_cli(capsys, "corpora", "--corpus", f"a={styled_folder / 'march'}",
                         "--corpus", f"b={styled_folder / 'waltz'}")
    assert rc == 0 and "a          12" in out
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(capsys, "corpora", "--styles", "--corpus", tmp_path / "empty")
    assert rc == 2 and "empty: no MIDI, MusicXML or ABC files to count" in err
    report = tmp_path / "report.csv"
    rc, out, _ = run_cli(capsys, "prepare", "--family", "continue-events", "--corpus",
                         styled_folder, "--report", report)
    assert rc == 0 and "kept per style: march 12, waltz 12" in out
    lines = report.read_text().splitlines()
    assert lines[0].endswith(",label") and lines[1].endswith(",march")
