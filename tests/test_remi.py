"""The ``remi`` representation (MidiTok's REMI tokens) and the ``remi`` family: round trip,
pickups, positions, serialisation, decoding anything, the sampler's grammar and endings,
and the CLI from training to the musical report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.cli import main
from tunesmith.errors import OptionError
from tunesmith.families.base import ComposeOptions
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track
from tunesmith.representations import from_dict
from tunesmith.representations.remi import BAR, DURATION, EOS, PITCH, Remi

from .test_cli import assert_one_line_error, run_cli

REP = Remi()


def names(ids) -> list[str]:
    return [REP.vocab[i] for i in ids]


def untidy_piece() -> Piece:
    """Two voices off the grid, a unison that doubles a note, a drum track and a key
    outside the piano: what encoding must tidy."""
    melody = [Note(0.01, 0.98, 67, 90), Note(1.0, 2.02, 69, 64), Note(2.0, 2.5, 71, 90),
              Note(2.49, 4.0, 72, 100), Note(4.0, 8.0, 60, 80)]
    bass = [Note(0.0, 2.0, 48, 70), Note(0.0, 1.0, 67, 70), Note(2.0, 4.0, 43, 70),
            Note(4.0, 5.0, 110, 70)]
    drums = Track(notes=[Note(0.0, 0.5, 36, 100)], is_drum=True)
    return Piece(tracks=[Track(notes=melody), Track(notes=bass, program=32), drums],
                 tempos=[Tempo(0.0, 90.0)], time_signatures=[TimeSignature(0.0, 4, 4)])


def test_quantise_is_idempotent_and_keeps_what_the_tokens_say():
    piece = untidy_piece()
    q = REP.quantise(piece)
    assert REP.quantise(q).notes == q.notes and REP.quantise(q).bar_lines == q.bar_lines
    assert REP.encode(q) == REP.encode(piece)
    assert [(n.start, n.end, n.pitch) for n in q.notes] == [
        (0.0, 1.0, 67), (0.0, 2.0, 48), (1.0, 2.0, 69), (2.0, 2.5, 71), (2.0, 4.0, 43),
        (2.5, 4.0, 72), (4.0, 8.0, 60)]  # on the grid; no drum, no key 110, 67 once
    assert q.notes[0].velocity == 87  # the unison's louder note (90), in its bin
    assert q.tempos == [Tempo(0.0, REP.qpm)] and q.bar_lines == [0.0, 4.0, 8.0]
    assert [(s.numerator, s.denominator) for s in q.time_signatures] == [(4, 4)]


def test_the_tokens_are_bars_positions_and_whole_notes():
    ids = REP.encode(untidy_piece())
    tokens = names(ids)
    assert tokens[:6] == ["BOS_None", "Bar_None", "TimeSig_4/4", "Position_0", "Pitch_48",
                          "Velocity_71"]
    assert tokens[-1] == "EOS_None" and tokens.count("Bar_None") == 2
    for k, t in enumerate(tokens):  # every pitch is followed by its velocity and duration
        if t.startswith("Pitch_"):
            assert tokens[k + 1].startswith("Velocity_")
            assert tokens[k + 2].startswith("Duration_")


def test_a_pickup_stays_a_pickup():
    notes = [Note(0.0, 1.0, 67), Note(1.0, 3.0, 72), Note(3.0, 5.0, 71), Note(5.0, 9.0, 72)]
    piece = Piece(tracks=[Track(notes=notes)], time_signatures=[TimeSignature(0.0, 4, 4)],
                  bar_lines=[0.0, 1.0, 5.0, 9.0])
    ids = REP.encode(piece)
    assert names(ids)[1:5] == ["Bar_None", "TimeSig_4/4", "Position_24", "Pitch_67"]
    assert names(ids)[7] == "Bar_None"  # the written bar line after the pickup
    back = REP.decode(ids)
    assert [(n.start, n.end) for n in back.notes] == [(n.start, n.end) for n in notes]
    assert back.bar_lines == [0.0, 1.0, 5.0, 9.0]
    assert REP.encode(back) == ids


def test_positions_are_where_the_bar_and_position_tokens_put_each_token():
    notes = [Note(0.0, 1.0, 60), Note(1.0, 2.0, 62), Note(3.0, 4.0, 64), Note(4.5, 6.0, 65)]
    piece = Piece(tracks=[Track(notes=notes)], time_signatures=[TimeSignature(0.0, 3, 4)])
    ids = REP.encode(piece)
    pos = REP.positions(ids, beats_per_bar=99.0)  # the tokens carry their meter
    at_pitch = [(t, b) for i, t, b in zip(ids, pos.time, pos.bars, strict=True)
                if REP.kinds()[i] == PITCH]
    assert at_pitch == [(0.0, 0), (1.0, 0), (3.0, 1), (4.5, 1)]
    assert pos.unit == "beat" and pos.bars[-1] == 1
    six_eight = Piece(tracks=[Track(notes=[Note(0.5, 1.0, 60), Note(3.25, 4.0, 62)])],
                      time_signatures=[TimeSignature(0.0, 6, 8)])
    ids = REP.encode(six_eight)
    assert "Position_4" in names(ids)  # a sixteenth into bar 2: positions of 1/16 quarter
    pos = REP.positions(ids)
    assert [(t, b) for i, t, b in zip(ids, pos.time, pos.bars, strict=True)
            if REP.kinds()[i] == PITCH] == [(0.5, 0), (3.25, 1)]


def test_to_dict_rebuilds_the_same_tokenizer_from_json():
    rep = Remi(positions_per_beat=4, velocity_bins=8, meters=("3/4", "4/4"), qpm=96.0)
    saved = json.loads(json.dumps(rep.to_dict()))
    rebuilt = from_dict(saved)
    assert rebuilt == rep and rebuilt.vocab == rep.vocab
    assert rebuilt.encode(untidy_piece()) == rep.encode(untidy_piece())
    assert rebuilt.decode(rep.encode(untidy_piece())).tempos == [Tempo(0.0, 96.0)]
    swapped = dict(saved, vocab=saved["vocab"][:3] + saved["vocab"][4:] + saved["vocab"][3:4])
    with pytest.raises(ValueError, match="vocabulary"):
        from_dict(swapped)
    for bad in ({"meters": ["7/7"]}, {"positions_per_beat": 6}, {"qpm": "fast"},
                {"name": "events"}):
        with pytest.raises(ValueError):
            from_dict(dict(saved, **bad))


def assert_valid(piece: Piece) -> None:
    notes = piece.notes
    assert all(0 <= n.start < n.end and 21 <= n.pitch <= 108 and 1 <= n.velocity <= 127
               for n in notes)
    by_key: dict[int, float] = {}
    for n in notes:  # one key sounds once at a time
        assert n.start >= by_key.get(n.pitch, -1.0) - 1e-9
        by_key[n.pitch] = n.end
    lines = piece.bar_lines
    assert lines == sorted(set(lines)) and (not notes or lines[-1] >= piece.end_beat - 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=len(REP.vocab) + 3), max_size=300))
def test_decoding_any_ids_gives_a_valid_piece(ids):
    assert_valid(REP.decode(ids))
    pos = REP.positions(ids)
    assert len(pos.time) == len(ids) and list(pos.bars) == sorted(pos.bars)


def test_transposition_moves_pitches_only_and_stays_on_the_piano():
    from tunesmith.data.augment import TransposeIds

    ids = np.asarray(REP.encode(untidy_piece()))
    up = REP.transpose(ids, 3)
    assert [n.pitch - 3 for n in REP.decode(up).notes] == [n.pitch for n in REP.decode(ids).notes]
    assert np.array_equal(up[REP.kinds()[ids] != PITCH], ids[REP.kinds()[ids] != PITCH])
    lo, hi = REP.pitch_ids
    top = np.array([[BAR, hi, lo + 50], [BAR, hi - 1, lo]])  # highest and lowest keys
    out = TransposeIds(6, REP.pitch_ids)(top, np.random.default_rng(0))
    assert out[0, 1] <= hi and out[1, 2] >= lo and out[:, 0].tolist() == [BAR, BAR]
    assert out[0, 1] - hi == out[0, 2] - (lo + 50)  # one shift per window


def tiny_model():
    from tunesmith.models.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    return Transformer(TransformerConfig(d_model=16, num_layers=1, attention_heads=2,
                                         ff_size=32, context=64,
                                         heads={"token": len(REP.vocab)})).eval()


def test_the_grammar_allows_every_encoded_piece_and_samples_only_whole_notes():
    from tunesmith.families.remi import RemiGrammar, sample_tokens

    ids = REP.encode(untidy_piece())
    grammar = RemiGrammar(1, REP)
    grammar.update(torch.tensor([[ids[0]]]))
    for i in ids[1:]:
        assert torch.isfinite(grammar.mask("token", torch.zeros(1, len(REP.vocab)), {})[0, i])
        grammar.update(torch.tensor([[i]]))
    seqs = sample_tokens(tiny_model(), REP, ComposeOptions(num=4, seed=3, max_len=300))
    raw = sample_tokens(tiny_model(), REP, ComposeOptions(num=4, seed=3, max_len=300,
                                                          constrain=False))
    for seq in seqs:  # every sampled pitch became a note, positions rise in each bar
        pitches = sum(REP.kinds()[i] == PITCH for i in seq)
        assert pitches > 0 and len(REP.decode(seq).notes) == pitches
        assert REP.kinds()[seq[-1]] in (DURATION, EOS) or len(seq) == 301
    broken = sum(sum(REP.kinds()[i] == PITCH for i in s) - len(REP.decode(s).notes)
                 for s in raw)
    assert broken > 0  # the untrained model alone breaks notes: the grammar is what helps


def test_bars_and_seconds_end_at_a_bar_line():
    from tunesmith.families.remi import sample_tokens

    endless = tiny_model()
    with torch.no_grad():
        endless.bias[EOS] = -50.0  # a model that never ends a piece by itself
    for seq in sample_tokens(endless, REP, ComposeOptions(num=3, seed=1, bars=3, grace=0)):
        assert REP.kinds()[seq[-1]] == BAR  # stopped on a bar line, never inside a bar
        assert sum(REP.kinds()[i] == BAR for i in seq) == 4  # three bars, then their end
    beats = REP.beats_for_seconds(6.0)
    for seq in sample_tokens(endless, REP, ComposeOptions(num=3, seed=1, seconds=6.0,
                                                          grace=0)):
        assert REP.kinds()[seq[-1]] == BAR
        time = REP.positions(seq).time
        bar_starts = [t for i, t in zip(seq, time, strict=True) if REP.kinds()[i] == BAR]
        assert bar_starts[-1] >= beats > bar_starts[-2]  # the bar running then is finished
        assert REP.decode(seq).notes


def test_without_its_end_token_a_model_that_ends_at_once_writes_the_bars_asked():
    from tunesmith.families.remi import sample_tokens

    eager = tiny_model()
    with torch.no_grad():
        eager.bias[EOS] = 50.0  # a model that ends a piece as soon as the grammar lets it
    opts = ComposeOptions(num=3, seed=1, bars=3, grace=0)
    assert all(seq[-1] == EOS for seq in sample_tokens(eager, REP, opts))
    for seq in sample_tokens(eager, REP, opts, end=False):  # the benchmark's control
        assert EOS not in seq and sum(REP.kinds()[i] == BAR for i in seq) == 4


def test_with_grace_a_piece_is_sampled_on_and_ends_between_its_bar_line_and_the_grace():
    from types import SimpleNamespace

    from tunesmith.evaluation.form import signature_bars
    from tunesmith.families.remi import RemiFamily, sample_tokens
    from tunesmith.sampling.endings import HOLD

    endless = tiny_model()
    with torch.no_grad():
        endless.bias[EOS] = -50.0
    opts = ComposeOptions(num=3, seed=1, bars=3, grace=8)
    for seq in sample_tokens(endless, REP, opts):
        starts = [t for i, t in zip(seq, REP.positions(seq).time, strict=True)
                  if REP.kinds()[i] == BAR]
        assert starts[-1] >= starts[3] + 8 > starts[-2]  # bar 3's line, then 8 beats more
    for c in RemiFamily().compose(SimpleNamespace(model=endless, representation=REP), opts):
        line = signature_bars(c.piece)[3]  # where three bars end
        assert line <= c.piece.end_beat <= line + 8 + HOLD


def test_options_are_checked():
    from tunesmith import families

    with pytest.raises(OptionError, match="bars"):
        ComposeOptions(bars=4, seconds=10.0)
    with pytest.raises(OptionError, match="bars"):
        families.get("events").compose_options(ComposeOptions(bars=4))
    assert families.get("remi").compose_options(ComposeOptions(bars=4)).max_len == 2000
    assert families.for_representation("remi").name == "remi"
    assert set(families.get("remi").models()) >= {"transformer", "char_rnn"}


# --- the CLI, end to end -------------------------------------------------------------


@pytest.fixture(scope="module")
def midi_corpus(tmp_path_factory):
    from tunesmith.io.midi import write_midi

    from .test_events_cli import make_piece

    root = tmp_path_factory.mktemp("remi-midi")
    for i in range(6):
        piece = make_piece(i)
        piece.time_signatures = [TimeSignature(0.0, 3 if i % 3 == 0 else 4, 4)]
        write_midi(piece, root / f"piece{i}.mid")
    return root


@pytest.mark.parametrize("arch", ["transformer", "char_rnn"])
def test_train_compose_and_evaluate(tmp_path, capsys, midi_corpus, arch):
    run = tmp_path / "run"
    rc, out, err = run_cli(capsys, "train", "--family", "remi", "--arch", arch, "--preset",
                           "debug", "--corpus", midi_corpus, "--out", run, "--no-progress",
                           "--samples", "0", "--steps", "12", "--transpose", "3")
    assert rc == 0, err
    meta = json.loads((run / "best" / "tunesmith.json").read_text())
    assert meta["family"] == arch and meta["representation"]["name"] == "remi"
    assert meta["representation"]["vocab"][:3] == ["PAD_None", "BOS_None", "EOS_None"]
    for length in (["--bars", "2"], ["--seconds", "4"], ["--max-len", "60"]):
        out_dir = tmp_path / f"pieces{length[0]}"
        rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--num", "2",
                             "--seed", "1", "--no-wav", "--out", out_dir, *length)
        assert rc == 0, err
        assert len(list(out_dir.glob("*.mid"))) == 2
    from dataclasses import replace

    from tunesmith.io.midi import read_midi, write_midi

    fast = tmp_path / "fast.mid"  # the corpus is at 100 BPM; a primer at 150 goes on at 150
    write_midi(replace(read_midi(midi_corpus / "piece1.mid"), tempos=[Tempo(0.0, 150.0)]),
               fast)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--num", "1", "--seed",
                         "1", "--no-wav", "--primer", fast, "--primer-len", "20", "--seconds",
                         "8", "--out", tmp_path / "primed")
    assert rc == 0, err
    assert [t.qpm for t in read_midi(tmp_path / "primed" / "piece_01.mid").tempos] == [150.0]
    rc, out, err = run_cli(capsys, "evaluate", "--model", run / "best")
    assert rc == 0 and "valid" in out, err


def test_the_musical_report_runs(tmp_path, capsys, midi_corpus):
    run = tmp_path / "run"
    assert main(["train", "--family", "remi", "--preset", "debug", "--corpus",
                 str(midi_corpus), "--out", str(run), "--no-progress", "--samples", "0",
                 "--steps", "6"]) == 0
    rc, out, err = run_cli(capsys, "evaluate", "--music", "--model", run / "best", "--num",
                           "3", "--seconds", "4", "--out", tmp_path / "report")
    assert rc == 0, err
    assert "grid_onset_rate" in out and "bar_length_match_rate" in out
    assert (tmp_path / "report" / "report.html").is_file()
    assert "cadence and tonic endings count compose's ending search too" in err
    rc, out, err = run_cli(capsys, "evaluate", "--music", "--model", run / "best", "--num",
                           "3", "--seconds", "4", "--grace", "0", "--out", tmp_path / "r0")
    assert rc == 0 and "ending search" not in err


def test_composing_without_a_model_says_how_to_get_one(capsys, tmp_path, monkeypatch):
    from tunesmith.families.remi import RemiFamily

    monkeypatch.setattr(RemiFamily, "pretrained", "")  # a family that ships none
    rc, _, err = run_cli(capsys, "compose", "--family", "remi", "--out", tmp_path / "x")
    assert_one_line_error(rc, err, "ships no trained model", "train --family remi")


def test_a_meter_without_a_token_is_said(tmp_path, capsys):
    """REMI has tokens for eleven meters; MidiTok reads the bars of any other as 4/4.
    compose says so of a primer, train of the corpus's pieces."""
    from tunesmith.io.midi import read_midi, write_midi
    from tunesmith.music import Note, Piece, TimeSignature, Track

    from .test_cli import run_cli

    notes = [Note(t * 0.5, t * 0.5 + 0.5, 60 + t % 7, 80) for t in range(28)]
    seven = tmp_path / "seven.mid"
    write_midi(Piece(tracks=[Track(notes=notes)],
                     time_signatures=[TimeSignature(0.0, 7, 8)]), seven)
    assert REP.unknown_meters(read_midi(seven)) == ["7/8"]
    assert REP.unknown_meters(read_midi(seven), bars=1) == ["7/8"]
    rc, _, err = run_cli(capsys, "compose", "--family", "remi", "--primer", seven, "--num", "1",
                         "--bars", "2", "--out", tmp_path / "c", "--no-wav")
    assert rc == 0 and "seven.mid: the primer is in 7/8" in err and "read as 4/4" in err
    folder = tmp_path / "corpus"
    for i in range(3):
        write_midi(Piece(tracks=[Track(notes=notes)], time_signatures=[
            TimeSignature(0.0, 7 if i else 4, 8 if i else 4)]), folder / f"p{i}.mid")
    rc, out, err = run_cli(capsys, "train", "--family", "remi", "--preset", "debug",
                           "--corpus", folder, "--steps", "2", "--samples", "0",
                           "--out", tmp_path / "r")
    assert rc == 0, err
    assert "meters without a REMI token, their bars read as 4/4: 7/8 (2 pieces)" in out + err


def test_a_midi_file_s_pickup_meter_is_read_as_a_pickup():
    from tunesmith.music import Note, Piece, TimeSignature, Track

    notes = [Note(float(t), t + 1.0, 60 + t % 5, 80) for t in range(9)]
    as_meters = Piece(tracks=[Track(notes=notes)],  # a MIDI file: 1/4, then 4/4
                      time_signatures=[TimeSignature(0.0, 1, 4), TimeSignature(1.0, 4, 4)])
    written = Piece(tracks=[Track(notes=notes)], bar_lines=[0.0, 1.0],  # a score's pickup
                    time_signatures=[TimeSignature(0.0, 4, 4)])
    assert REP.encode(as_meters) == REP.encode(written)
    assert REP.pickup_shift(as_meters) == 3.0 and REP.unknown_meters(as_meters) == []
