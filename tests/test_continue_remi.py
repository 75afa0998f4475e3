"""The continue-remi family as a user runs it: the continue-events corpus (a sub-folder per
style), pairs of REMI bars cut at their ``Bar`` tokens, seq2seq over tokens, continuations
of whole bars that decode to whole notes."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from tunesmith.data.pairs import collate
from tunesmith.models.seq2seq import Seq2Seq, Seq2SeqConfig
from tunesmith.representations import from_dict
from tunesmith.representations.remi import BAR, DURATION, EOS, PITCH, VELOCITY
from tunesmith.representations.remi_phrases import RemiPhrases

from .test_continue_events import three_four


def kinds_of(rep, tokens):
    return [int(rep.kinds()[i]) for i in tokens]


# --- the representation ----------------------------------------------------------------

def test_pairs_are_whole_remi_bars_that_join_to_the_piece():
    rep = RemiPhrases(source_bars=2, target_bars=1)
    piece = three_four(1)
    tokens, cuts = rep.split_piece(piece)
    assert tokens == rep.encode(piece)[1:-1] and kinds_of(rep, [tokens[c] for c in cuts]) == [
        BAR] * len(cuts)
    assert len(cuts) == 10  # the pickup stays a bar of its own, and nine bars of 3/4
    pairs = rep.pairs(piece)
    assert len(pairs) == len(cuts) - 2  # a window every target bar
    src, tgt, ends = pairs[0]
    assert src + tgt == tokens[:cuts[3]] and not ends
    assert kinds_of(rep, [src[0], tgt[0]]) == [BAR, BAR]  # each starts at its bar line
    assert rep.bar_cuts(tgt) == [0]  # one target bar
    assert pairs[-1][2] and pairs[-1][0] + pairs[-1][1] == tokens[cuts[-3]:]
    assert rep.last_bars(tokens, 2) == tokens[cuts[-2]:]
    assert rep.last_bars(tokens[:cuts[1]], 2) == tokens[:cuts[1]]


def test_the_representation_round_trips_and_refuses_damage():
    rep = RemiPhrases(styles={"style": ("any", "a", "b")}, source_bars=3, target_bars=2,
                      qpm=90.0)
    opening = rep.encode(three_four(0, bars=3))[1:-1]
    rep = dataclasses.replace(rep, openings=(tuple(opening),))
    again = from_dict(json.loads(json.dumps(rep.to_dict())))
    assert again == rep and again.vocab == rep.vocab
    assert rep.parse_style("B") == {"style": "b"} and rep.style_ids(style="b") == [2]
    for damage in ({"openings": [[EOS]]}, {"openings": [[len(rep.vocab)]]},
                   {"styles": {"style": ["a"]}}, {"source_bars": 0}, {"lookback_inputs": True},
                   {"vocab": rep.to_dict()["vocab"][:-1]}):
        with pytest.raises(ValueError):
            from_dict(rep.to_dict() | damage)


def test_a_pair_is_transposed_source_and_target_alike():
    from tunesmith.data.augment import TransposeIds, TransposePair

    rep = RemiPhrases(source_bars=2, target_bars=1)
    src, tgt, _ = rep.pairs(three_four(3))[0]
    lo, hi = rep.pitch_ids
    pair = (np.asarray(rep.encode_source(src)), np.asarray([rep.bos, *tgt]), [0])
    moved = TransposePair(3, window=TransposeIds(3, rep.pitch_ids))
    shifts = set()
    for seed in range(12):
        s, t, style = moved(pair, np.random.default_rng(seed))
        for before, after in ((pair[0], s), (pair[1], t)):
            pitch = (before >= lo) & (before <= hi)
            assert (after[~pitch] == before[~pitch]).all()  # only pitches move
            shifts |= set((after[pitch] - before[pitch]).tolist())
        assert len(set((s - pair[0])[(pair[0] >= lo) & (pair[0] <= hi)].tolist())
                   | set((t - pair[1])[(pair[1] >= lo) & (pair[1] <= hi)].tolist())) == 1
    assert shifts == {-3, -2, -1, 0, 1, 2, 3}


def test_seq2seq_reads_and_writes_remi_tokens():
    rep = RemiPhrases(styles={"style": ("any", "a")})
    cfg = Seq2SeqConfig(vocab_size=len(rep.vocab), styles=rep.style_sizes, embedding_dim=8,
                        style_dim=2, encoder_size=6, decoder_size=10, dropout=0.0,
                        teacher_forcing=0.5)
    torch.manual_seed(0)
    model = Seq2Seq(cfg)
    tokens = rep.encode(three_four(2))[1:-1]
    pairs = [(rep.encode_source(tokens[:30]), [rep.bos, *tokens[30:45]], [1]),
             (rep.encode_source(tokens[:5]), [rep.bos, *tokens[5:9]], [0])]
    batch = collate(pairs)
    assert batch["target"].shape == (2, 16) and int(batch["target"][1, 5]) == 0  # PAD
    model.eval()
    out = model.loss(batch)
    assert int(out["count"]) == 15 + 4
    model.train()
    model.loss(batch)["loss"].backward()
    assert model.embed.weight.grad.abs().sum() > 0


# --- as a user runs it ------------------------------------------------------------------

def test_a_continuation_is_whole_bars_of_whole_notes(remi_run, styled_folder):
    from tunesmith import app
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continue_remi import continue_tokens, read_primer

    ckpt = app.load_model(remi_run / "best")
    rep = ckpt.representation
    primer = read_primer(str(styled_folder / "march" / "m2.mid"), rep)
    assert len(rep.bar_cuts(primer.tokens)) == 2
    for opts in (ComposeOptions(num=3), ComposeOptions(num=2, beam=2),
                 ComposeOptions(num=2, style="waltz", style_guidance=1.0),
                 ComposeOptions(num=3, constrain=False)):
        style = rep.style_ids(**rep.parse_style(opts.style))
        out = continue_tokens(ckpt.model, rep, [primer.tokens] * opts.num, style, 3, opts,
                              seed=0)
        for tokens in out:
            assert tokens[:len(primer.tokens)] == primer.tokens
            kinds = kinds_of(rep, tokens)
            assert kinds.count(BAR) == 2 + 3 and EOS not in tokens  # bars asked, no end
            assert kinds[len(primer.tokens)] == BAR  # nothing added to the primer's bars
            for k, kind in enumerate(kinds):  # the grammar: pitch, velocity, duration
                if kind == PITCH and opts.constrain:
                    assert kinds[k + 1:k + 3] == [VELOCITY, DURATION]


def test_the_benchmark_reads_continuations_of_whole_bars_as_the_judges_read_real_ones(
        remi_run, styled_folder):
    """benchmarks/continue_remi.py: the shipped REMI model continuing a source writes the
    target's bars and no more; a passage reaches the judges as event messages, its
    onsets where the tokens put them."""
    import sys
    from pathlib import Path

    from tunesmith import app
    from tunesmith.representations.event_phrases import EventPhrases

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from continue_remi import continuations, lm_continuations, passage_messages, piece_rows

    ckpt = app.load_model(remi_run / "best")
    rep = ckpt.representation
    rows = piece_rows(rep, three_four(2), "waltz")[:3]
    for written in (lm_continuations(app.load_model(family="remi"), rows, 0, rep),
                    continuations(ckpt, rows, [rep.style_ids()] * 3, seed=0)):
        for tokens in written:
            assert rep.bar_cuts(tokens) == [0], tokens[:5]  # one bar, from its bar line
    events = EventPhrases()
    real = passage_messages(rep, events, rows[0].target)
    times = events.times(real)
    onsets = [t for (k, v, _), t in zip(real, times, strict=True) if v > 0 and k < 88]
    # the waltz's bar: a note on each of its three beats, the bass on the first
    assert sorted(set(np.round(onsets, 6))) == [0.0, 1.0, 2.0]


def test_a_midi_pickup_meter_is_a_pickup_and_a_meter_without_tokens_is_refused(
        capsys, remi_run, tmp_path):
    from tunesmith.io.midi import read_midi, write_midi
    from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

    from .test_cli import assert_one_line_error, run_cli

    notes = [Note(float(t), t + 1.0, 60 + (3 * t) % 12, 80) for t in range(13)]
    pickup = tmp_path / "pickup.mid"  # a MIDI file's pickup: one bar of 1/4, then 4/4
    write_midi(Piece(tracks=[Track(notes=notes)], tempos=[Tempo(0.0, 100.0)],
                     time_signatures=[TimeSignature(0.0, 1, 4), TimeSignature(1.0, 4, 4)]),
               pickup)
    rc, _, err = run_cli(capsys, "compose", "--model", remi_run / "best", "--primer", pickup,
                         "--bars", "1", "--num", "1", "--seed", "0", "--out", tmp_path / "a",
                         "--no-wav")
    assert rc == 0, err
    written = read_midi(tmp_path / "a" / "piece_01.mid")
    assert [(t.beat, t.numerator, t.denominator) for t in written.time_signatures] == [
        (0.0, 1, 4), (1.0, 4, 4)]
    first = [(n.start, n.pitch) for n in notes if n.start < 5.0 - 1e-6]  # pickup, one bar
    assert [(n.start, n.pitch) for n in written.notes if n.start < 5.0 - 1e-6] == first
    seven = tmp_path / "seven.mid"
    write_midi(Piece(tracks=[Track(notes=notes)],
                     time_signatures=[TimeSignature(0.0, 7, 8)]), seven)
    rc, _, err = run_cli(capsys, "compose", "--model", remi_run / "best", "--primer", seven,
                         "--out", tmp_path / "b")
    assert_one_line_error(rc, err, "seven.mid", "7/8", "REMI tokens do not have")
    # after a pickup too: the model reads the pickup and a bar of 7/8
    write_midi(Piece(tracks=[Track(notes=notes)],
                     time_signatures=[TimeSignature(0.0, 1, 4), TimeSignature(1.0, 7, 8)]),
               seven)
    rc, _, err = run_cli(capsys, "compose", "--model", remi_run / "best", "--primer", seven,
                         "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "seven.mid", "7/8", "REMI tokens do not have")
