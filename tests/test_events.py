"""The ``events`` representation and the ``event_lstm`` model."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.data.augment import Transpose
from tunesmith.data.tokens import SequenceBatches, TokenWindows
from tunesmith.models.event_lstm import IGNORE, EventLSTM, EventLSTMConfig
from tunesmith.music import Note, Piece, Track
from tunesmith.representations.events import BOS, EOS, N_KEYS, WAIT, Events

REP = Events()


def piece(*notes, drums=()):
    tracks = [Track(notes=[Note(*n) for n in notes])]
    if drums:
        tracks.append(Track(notes=[Note(*n) for n in drums], is_drum=True))
    return Piece(tracks=tracks)


def test_encoding_follows_the_documented_messages():
    # C4 and E4 for a beat, then G4 for half a beat after a quarter rest
    p = piece((0, 1, 60, 100), (0, 1, 64, 100), (2, 2.5, 67, 100))
    vel = REP.velocity_class(100)
    assert REP.encode(p) == [
        [BOS, 0, 0],
        [60 - 21, vel, 0], [64 - 21, vel, 0],  # two note-ons at time 0
        [60 - 21, 0, 8], [64 - 21, 0, 0],  # offs after 1 beat (class 8), then at once
        [67 - 21, vel, 8],  # a beat later
        [67 - 21, 0, 5],  # half a beat (class 5)
        [EOS, 0, 0],
    ]


def test_notes_on_the_grid_round_trip_exactly():
    v = REP.velocity_of(REP.velocity_class(90))
    p = piece((0, 0.5, 48, v), (0.5, 1.25, 50, v), (1.25, 9.25, 52, v), (3, 3 + 1 / 3, 84, v))
    assert REP.decode(REP.encode(p)).notes == p.notes


def test_encoding_drops_what_it_says_it_drops():
    p = piece((0, 1, 60, 80), (0, 1, 10, 80), (0, 1, 120, 80), (1, 1.01, 62, 80),
              drums=[(0, 1, 36, 80)])
    back = REP.quantise(p)
    assert [n.pitch for n in back.notes] == [60]  # off-piano, drums, too short: gone


def test_same_key_overlaps_are_merged_or_cut():
    p = piece((0, 2, 60, 80), (0, 1, 60, 90), (1.5, 3, 60, 80))
    notes = REP.quantise(p).notes
    assert [(n.start, n.end) for n in notes] == [(0, 1.5), (1.5, 3)]


def test_long_gaps_become_wait_messages_within_a_sixteenth():
    p = piece((0, 1, 60, 80), (7.8, 8.8, 62, 80))
    ids = REP.encode(p)
    assert [m[0] for m in ids].count(WAIT) >= 1
    assert abs(REP.decode(ids).notes[1].start - 7.8) <= 1 / 16


notes_strategy = st.lists(
    st.tuples(st.floats(0, 40), st.floats(0.01, 6), st.integers(0, 127), st.integers(1, 127)),
    max_size=40)


@given(notes_strategy)
@settings(max_examples=150, deadline=None)
def test_quantised_pieces_are_a_fixed_point(raw):
    p = piece(*[(s, s + d, pitch, v) for s, d, pitch, v in raw])
    ids = REP.encode(p)
    q = REP.decode(ids)
    assert REP.encode(q) == ids
    assert REP.decode(REP.encode(q)).notes == q.notes
    assert all(0 <= n.start < n.end for n in q.notes)
    kept = [n for n in p.notes if 21 <= n.pitch <= 108]
    assert len(q.notes) <= len(kept)


@given(st.lists(st.tuples(st.integers(-5, 100), st.integers(-3, 20), st.integers(-2, 14)),
                max_size=300))
@settings(max_examples=200, deadline=None)
def test_decoding_any_ids_gives_a_valid_piece(ids):
    p = REP.decode([list(m) for m in ids])
    for n in p.notes:
        assert 0 <= n.start < n.end
        assert 21 <= n.pitch <= 108 and 1 <= n.velocity <= 127
    # one key sounds once at a time: every start has its end, no overlaps per key
    by_key = {}
    for n in p.notes:
        by_key.setdefault(n.pitch, []).append(n)
    for group in by_key.values():
        for a, b in zip(group, group[1:], strict=False):
            assert a.end <= b.start


def test_decoded_midi_file_is_readable(tmp_path):
    from tunesmith.io.midi import read_midi, write_midi

    rng = np.random.default_rng(0)
    ids = np.stack([rng.integers(0, 91, 400), rng.integers(0, 17, 400),
                    rng.integers(0, 12, 400)], axis=1)
    p = REP.decode(ids.tolist())
    back = read_midi(write_midi(p, tmp_path / "x.mid"))
    assert len(back.notes) == len(p.notes) > 0


def test_settings_round_trip_through_dict():
    rep = Events(velocity_bins=8, qpm=90.0)
    d = rep.to_dict()
    assert d["time_bins"][0] == 0 and len(d["time_bins"]) == 12
    assert Events.from_dict(d) == rep
    with pytest.raises(ValueError):
        Events(time_bins=(0.5, 1.0))


def test_transposition_keeps_keys_on_the_piano_and_specials_unchanged():
    w = np.array([[[0, 1, 0], [87, 1, 0], [WAIT, 0, 3]],  # spans the piano: no shift fits
                  [[40, 1, 0], [45, 0, 2], [EOS, 0, 0]]])
    t = Transpose(5)
    for seed in range(20):
        out = t(w, np.random.default_rng(seed))
        assert (out[0] == w[0]).all()
        assert out[1, 2, 0] == EOS and -5 <= out[1, 0, 0] - 40 <= 5
        assert out[1, 1, 0] - out[1, 0, 0] == 5  # intervals kept
        assert (out[..., 1:] == w[..., 1:]).all()


def test_windows_over_messages_and_padding_for_validation():
    seqs = [np.array(REP.encode(piece((i, i + 1, 60 + i, 80)))) for i in range(5)]
    data = TokenWindows(seqs, seq_len=4, batch_size=3, seed=1)
    b = data.batch(7)
    assert b["inputs"].shape == (3, 4, 3) and b["targets"].shape == (3, 4, 3)
    assert torch.equal(data.batch(7)["inputs"], b["inputs"])  # a pure function of the step
    v = next(iter(SequenceBatches([seqs[0], seqs[1][:3]], pad_target=IGNORE)))
    assert (v["targets"][0, -1] == IGNORE).all() and v["inputs"].min() >= 0


def small_model(**kw):
    h = REP.heads
    cfg = EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                          time_classes=h["time"], note_dim=8, velocity_dim=4, time_dim=4,
                          **({"hidden_size": 16, "num_layers": 2, "dropout": 0.0} | kw))
    torch.manual_seed(0)
    return EventLSTM(cfg)


# hidden 256: W_hh in oneDNN's layout from batch 2; 20 x 256 values: the cell without tanh
@pytest.mark.parametrize(("batch", "hidden"), [(2, 16), (20, 16), (1, 256), (3, 256), (20, 256)])
def test_step_equals_the_full_forward_pass(batch, hidden):
    from tunesmith.models.kernels import TANH_UP_TO, StepWeight

    assert 3 * 256 <= TANH_UP_TO < 20 * 256 and 4 * 256 * 256 >= StepWeight.PACKED_FROM
    model = small_model(hidden_size=hidden).eval()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.stack([rng.integers(0, N_KEYS, (batch, 12)),
                                   rng.integers(0, 17, (batch, 12)),
                                   rng.integers(0, 12, (batch, 12))], axis=-1))
    full, _ = model(x)
    state = model.init_state(batch)
    for t in range(12):
        out, state = model.step(x[:, t], state)
        for h in out:
            torch.testing.assert_close(out[h], full[h][:, t], atol=1e-5, rtol=1e-4)


def test_loss_is_the_sum_of_the_three_heads_and_l1_only_while_training():
    model = small_model(l1=1e-3)
    seqs = [np.array(REP.encode(piece((i, i + 1, 60 + i, 80), (i + 1, i + 2, 64, 80))))
            for i in range(4)]
    batch = next(iter(SequenceBatches(seqs, pad_target=IGNORE)))
    model.eval()
    out = model.loss(batch)
    heads_sum = out["nll_note"] + out["nll_velocity"] + out["nll_time"]
    torch.testing.assert_close(out["nll"], heads_sum)
    torch.testing.assert_close(out["loss"].detach(), out["nll"])
    model.train()
    out = model.loss(batch)
    assert float(out["loss"].detach()) > float(out["nll"]) + 1e-4
    assert int(out["count"]) == sum(len(s) - 1 for s in seqs)


def test_the_model_overfits_a_small_batch():
    model = small_model()
    seqs = [np.array(REP.encode(piece((0, 1, 60, 80), (1, 2, 64, 80), (2, 4, 67, 100))))]
    batch = next(iter(SequenceBatches(seqs, pad_target=IGNORE)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(150):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["accuracy"]) == 1.0


def test_a_note_left_on_ends_after_max_note_beats():
    ids = [[BOS, 0, 0], [39, 5, 0]] + [[WAIT, 0, 11]] * 5 + [[41, 5, 0], [41, 0, 8], [EOS, 0, 0]]
    notes = Events(max_note_beats=6.0).decode(ids).notes
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0, 6), (62, 20, 21)]


def test_constrained_sampling_ends_only_sounding_keys():
    from tunesmith.families.events import OnOffConstraint
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.filters import SamplingSettings

    model = small_model()
    heads = list(REP.heads)
    for constrain, expect_clean in ((True, True), (False, False)):
        seqs = sample(model, [REP.bos], num=8, max_steps=300, heads=heads,
                      settings=SamplingSettings(), banned=REP.never_sample(), seed=0,
                      constraint=OnOffConstraint(8, Events(max_note_beats=1e9)) if constrain
                      else None)
        bad = 0
        for seq in seqs:
            sounding = set()
            for note, velocity, _ in seq:
                if note < N_KEYS and velocity == 0:
                    bad += note not in sounding
                    sounding.discard(note)
                elif note < N_KEYS:
                    bad += constrain and note in sounding
                    sounding.add(note)
        assert (bad == 0) == expect_clean


def test_a_dropped_short_note_does_not_shift_later_notes():
    p = piece((0, 1, 60, 80), (1.5, 1.51, 62, 80), (2, 3, 64, 80))
    assert [(n.pitch, n.start) for n in REP.quantise(p).notes] == [(60, 0), (64, 2)]


def test_a_model_that_has_sampled_can_be_copied():
    """step() keeps oneDNN copies of large weights (no storage of their own): the model
    still deep-copies, and the copy steps the same."""
    import copy

    model = small_model(hidden_size=256).eval()
    ids = torch.tensor([[60, 5, 3], [62, 4, 0]])
    with torch.inference_mode():
        want, _ = model.step(ids, None)
        twin = copy.deepcopy(model)
        got, _ = twin.step(ids, None)
    torch.testing.assert_close(got.joined, want.joined)


@pytest.mark.parametrize("beam", [None, 2])
def test_a_piece_for_a_length_stops_even_if_the_model_lets_no_time_pass(beam):
    """A model that always chooses time 0 never reaches the clock; the piece still ends,
    at 64 messages a beat (beam search on a barely trained model did this for ever)."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.events import MAX_MESSAGES_PER_BEAT, sample_messages

    rep = Events()
    h = rep.heads
    model = EventLSTM(EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                                      time_classes=h["time"], hidden_size=8)).eval()
    with torch.no_grad():
        model.head.bias[-h["time"]:] = -50.0
        model.head.bias[-h["time"]] = 50.0  # time class 0: no time passes
    opts = ComposeOptions(num=2, seconds=2.0, grace=0, beam=beam, seed=0)
    pieces = sample_messages(model, rep, opts)
    most = MAX_MESSAGES_PER_BEAT * (int(rep.beats_for_seconds(2.0)) + 1)
    assert len(pieces) == 2 and all(len(p) == 1 + most for p in pieces)  # BOS + the cap
    assert all(m[2] == 0 for p in pieces for m in p)
