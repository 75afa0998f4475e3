"""A lookback over piano-roll frames (issue 19: chorales that repeat a passage):
``train --family pianoroll --positions --lookback`` trains a model that reads, before
each frame, the frame that the best matching of the last 16 bars has at its place, as 88
more 0/1 inputs, and how many bars in a row that passage has matched. The sampler
computes them as frames arrive, with the same reader that made the training inputs."""

import json

import numpy as np
import pytest
import torch

from tunesmith import models
from tunesmith.data.frames import FrameWindows
from tunesmith.representations.pianoroll import BAR_ENDED, N_KEYS, NO_MATCH, PianoRoll
from tunesmith.sampling.frames import sample_frames

from .test_cli import assert_one_line_error, run_cli
from .test_pianoroll_inputs import chorale_folder  # noqa: F401  (a fixture)

REP = PianoRoll(beat_inputs=True, phrase_inputs=True, lookback_inputs=True)
CLASS = list(REP.inputs).index("lookback")  # the lookback's column after the keys
PROPOSAL = slice(N_KEYS + len(REP.inputs), None)  # the proposed frame's columns


def bars(*names: str, seed: int = 0) -> np.ndarray:
    """Frames of 4/4 bars at two frames a beat (8 a bar), one random bar per letter: the
    same letter, the same bar."""
    rng = np.random.default_rng(seed)
    made = {n: (rng.random((8, N_KEYS)) < 0.06).astype(np.uint8) for n in set(names)}
    return np.concatenate([made[n] for n in names])


def small(arch: str = "rnn_nade"):
    cls = models.registry()[arch]
    sizes = {"rnn_nade": dict(rnn_hidden=12, nade_hidden=8),
             "rnn_rbm": dict(rnn_hidden=12, rbm_hidden=8, cd_steps=1),
             "bernoulli_rnn": dict(rnn_hidden=12)}[arch]
    return cls(cls.config_class(inputs=REP.inputs, proposal_keys=REP.proposal_keys,
                                **sizes)).eval()


def test_a_repeated_bar_is_offered_frame_by_frame_with_its_run():
    frames = bars("A", "B", "A", "B", "C")
    x = REP.with_inputs(frames)
    assert x.shape == (40, N_KEYS + REP.input_width)
    cls, proposed = x[:, N_KEYS + CLASS], x[:, PROPOSAL]
    assert (cls[:8] == NO_MATCH).all() and not proposed[:8].any()  # nothing to look back on
    # bar 3 (frames 16-23) repeats bar 1, two bars back: offered from its first frame
    assert np.array_equal(proposed[16:24], frames[:8]) and (cls[16:24] == 0).all()
    # bar 4 goes on with the passage that bar 3 repeated: B offered, one bar matched before
    assert np.array_equal(proposed[24:32], frames[8:16]) and (cls[24:32] == 1).all()
    # bar 5 (C) begins like nothing earlier: offered the next of the run, then nothing
    assert (cls[32] == 2) and np.array_equal(proposed[32], frames[16])
    assert (cls[33:] == NO_MATCH).all() and not proposed[33:].any()


def test_an_earlier_shorter_bar_ends_where_this_one_stands():
    frames = bars("A")
    reader, got = REP.frame_reader(), []
    for place in [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6]:  # a bar of 6 frames, then of 8
        row = np.zeros(REP.input_width, np.int64)
        row[0] = place
        reader.fill(row)
        got.append((int(row[CLASS]), row[CLASS + 1:].copy()))
        reader.feed(frames[place])
    assert [c for c, _ in got] == [NO_MATCH] * 6 + [0] * 6 + [BAR_ENDED]
    assert all(np.array_equal(p, frames[i]) for i, (_, p) in enumerate(got[6:12]))
    assert not got[12][1].any()


def test_bars_of_one_frame_close_at_every_frame():
    frames = bars("A")
    reader, classes = REP.frame_reader(), []
    for _ in range(4):  # 1/4 at one frame a beat: every frame is a bar
        row = np.zeros(REP.input_width, np.int64)
        reader.fill(row)
        classes.append(int(row[CLASS]))
        reader.feed(frames[0])
    assert classes == [NO_MATCH, 0, 1, 2]  # the bar before is offered, its run growing


def test_the_sampler_hands_the_model_what_training_computes_from_the_same_frames():
    torch.manual_seed(0)
    model = small()
    seen = []

    def spy(method):
        def call(*args):
            seen.append(args[-1].clone())
            return method(*args)
        return call

    model.context_start = spy(model.context_start)
    model.context_read = spy(model.context_read)
    model.context_step = spy(model.context_step)
    primer = bars("A", "B", "A")[:20]
    plan = REP.plan(60)
    rolls = sample_frames(model, primer, num=3, steps=40, seed=2, inputs=plan,
                          reader=REP.frame_reader())
    handed = torch.cat([seen[0][:, None], seen[1], *(s[:, None] for s in seen[2:])], 1)
    assert handed.shape == (3, 61, REP.input_width)
    for i, roll in enumerate(rolls):
        trained = REP.with_inputs(roll)[:, N_KEYS:]
        assert np.array_equal(handed[i, :60].numpy(), trained)
    offered = handed[:, 20:60, CLASS] != NO_MATCH
    assert offered.any()  # bars start alike often enough for something to be offered
    with pytest.raises(ValueError, match="frame_reader"):
        sample_frames(model, None, num=1, steps=4, inputs=plan)


@pytest.mark.parametrize("arch", ["rnn_nade", "rnn_rbm", "bernoulli_rnn"])
def test_a_frame_s_context_reads_the_frame_proposed_for_it(arch):
    torch.manual_seed(0)
    model = small(arch)
    frames = torch.as_tensor(bars("A", "B", "A", "B"), dtype=torch.float32)[None]
    inputs = torch.as_tensor(REP.with_inputs(frames[0].numpy())[:, N_KEYS:],
                             dtype=torch.long)[None]
    with torch.no_grad():
        ctx = model.frame_contexts(frames, inputs)
        moved = inputs.clone()
        moved[0, 20, PROPOSAL.start - N_KEYS + 5] ^= 1  # frame 20 is offered another key
        ctx2 = model.frame_contexts(frames, moved)
    assert torch.allclose(ctx[:, :20], ctx2[:, :20], atol=1e-6)
    assert not torch.allclose(ctx[:, 20], ctx2[:, 20], atol=1e-5)
    with pytest.raises(ValueError, match="input columns"):
        model.frame_contexts(frames, inputs[..., :3])


def test_transposed_windows_move_the_proposal_with_the_frames():
    frames = bars("A", "B", "A", "B", "A", "B")
    seq = REP.with_inputs(frames)
    windows = FrameWindows([seq], seq_len=48, batch_size=8, seed=1, aligned=1.0,
                           transpose=5, n_visible=N_KEYS, proposal_keys=N_KEYS)
    batch = windows.batch(0)
    shifted = 0
    for row in range(8):
        got, proposed = batch["frames"][row].numpy(), batch["inputs"][row, :, PROPOSAL.start
                                                                         - N_KEYS:].numpy()
        assert np.array_equal(proposed[16:], got[:-16])  # still the bar two back
        shifted += not np.array_equal(got, frames)
        assert np.array_equal(batch["inputs"][row, :, :3].numpy(), seq[:, N_KEYS:N_KEYS + 3])
    assert shifted  # some windows were transposed


def test_representation_round_trip_and_its_checks():
    assert PianoRoll.from_dict(json.loads(json.dumps(REP.to_dict()))) == REP
    assert "lookback_inputs" not in PianoRoll(beat_inputs=True).to_dict()
    with pytest.raises(ValueError, match="beat input"):
        PianoRoll(lookback_inputs=True)
    with pytest.raises(ValueError, match="beat_inputs"):
        PianoRoll.from_dict(PianoRoll().to_dict() | {"lookback_inputs": True})


def test_train_and_compose_with_a_lookback(capsys, chorale_folder, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", chorale_folder, "--positions", "--phrases", "--lookback",
                         "--transpose", "2", "--steps", "4", "--eval-every", "2",
                         "--samples", "0", "--out", run, "--no-progress")
    assert rc == 0, err
    saved = json.loads((run / "best" / "tunesmith.json").read_text())
    assert saved["representation"]["lookback_inputs"] is True
    primer = chorale_folder / "c00.musicxml"
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--num", "2",
                         "--seconds", "8", "--primer", primer, "--seed", "1", "--no-wav",
                         "--out", tmp_path / "c")
    assert rc == 0, err
    assert len(list((tmp_path / "c").glob("*.mid"))) == 2


def test_lookback_needs_positions_and_a_model_that_reads_frames(capsys, chorale_folder,  # noqa: F811
                                                                tmp_path):
    common = ("train", "--family", "pianoroll", "--preset", "debug", "--corpus",
              chorale_folder, "--steps", "2", "--no-progress", "--lookback")
    rc, _, err = run_cli(capsys, *common, "--out", tmp_path / "a")
    assert_one_line_error(rc, err, "--lookback", "--positions")
    rc, _, err = run_cli(capsys, *common, "--positions", "--arch", "transformer_nade",
                         "--out", tmp_path / "b")
    assert_one_line_error(rc, err, "--lookback", "rnn_nade")


def silent_keys_model(p_key: float):
    """A Bernoulli-RNN whose every key sounds with probability ``p_key`` whatever came
    before: a silent frame has probability (1 - p_key) ** 88."""
    model = small("bernoulli_rnn")
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(float(np.log(p_key / (1 - p_key))))
    return model


@pytest.mark.parametrize("bias", [0.0, 1.0, 3.0])
def test_a_repeat_bias_tilts_the_draw_towards_the_offered_frame_by_e_to_the_w(bias):
    model = silent_keys_model(0.01)
    p = 0.99 ** N_KEYS  # the model's probability of the frame offered: silence
    expected = p * np.exp(bias) / (1 + p * np.expm1(bias))
    primer = np.zeros((8, N_KEYS), np.uint8)  # a silent bar: the next bar is offered silence
    rolls = sample_frames(model, primer, num=4000, steps=1, seed=5, inputs=REP.plan(9),
                          reader=REP.frame_reader(), repeat_bias=bias)
    silent = np.mean([not r[8].any() for r in rolls])
    assert abs(silent - expected) < 0.03, (silent, expected)


def test_tilted_frames_are_what_the_reader_reads_next_and_an_rbm_cannot_be_tilted():
    model = silent_keys_model(0.005)  # silence 64% of the time: often what is offered
    seen = []
    step = model.context_step
    model.context_step = lambda frame, state, inputs: (seen.append(inputs.clone()),
                                                       step(frame, state, inputs))[1]
    kw = dict(num=8, steps=64, seed=3, inputs=REP.plan(64), reader=REP.frame_reader())
    rolls = sample_frames(model, None, repeat_bias=4.0, **kw)
    handed = torch.stack(seen, 1)  # the inputs of frames 1..64, read after each draw
    for i, roll in enumerate(rolls):
        assert np.array_equal(handed[i, :-1].numpy(), REP.with_inputs(roll)[1:, N_KEYS:])
    plain = sample_frames(model, None, **kw)

    def bar_back(rs):  # the share of frames equal to the frame a bar (8 frames) before
        return np.mean([(r[8:] == r[:-8]).all(1).mean() for r in rs])

    assert bar_back(rolls) > bar_back(plain) + 0.2, (bar_back(rolls), bar_back(plain))
    with pytest.raises(ValueError, match="repeat_bias"):
        sample_frames(small("rnn_rbm"), None, num=1, steps=4, inputs=REP.plan(4),
                      reader=REP.frame_reader(), repeat_bias=2.0)


def test_a_primer_that_starts_with_a_rest_reads_what_training_read(tmp_path):
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.pianoroll import PianorollFamily
    from tunesmith.io.midi import write_midi
    from tunesmith.music import Note, Piece, TimeSignature, Track
    from tunesmith.sampling.frames import sample_drawn

    bar = [Note(b + 1.0, b + 2.0, p, 80) for b, p in ((0, 60), (1, 64), (2, 67))]
    notes = [Note(n.start + 4 * k, n.end + 4 * k, n.pitch, 80) for k in range(6) for n in bar]
    piece = Piece(tracks=[Track(notes=notes)], time_signatures=[TimeSignature(0.0, 4, 4)])
    write_midi(piece, tmp_path / "rest.mid")  # every bar: a rest, then C, E, G
    family, rep = PianorollFamily(), PianoRoll(beat_inputs=True, lookback_inputs=True)
    opts = ComposeOptions(primer=str(tmp_path / "rest.mid"), primer_len=30)
    primer, _, lead = family.primer_frames(rep, opts)
    assert len(lead) == 2 and primer[0, :N_KEYS].any()  # the rest is left out
    model = small_for(rep)
    seen = []
    read = model.context_read
    model.context_read = lambda frames, state, inputs: (seen.append(inputs.clone()),
                                                        read(frames, state, inputs))[1]
    plan = family.inputs_plan(rep, primer, 4)
    sample_drawn(model, primer[:, :N_KEYS], num=1, steps=4, inputs=plan,
                 reader=family.warm_reader(rep, lead))
    trained = primer[1:, N_KEYS:]  # the inputs of frames 1..29 of the primer
    assert np.array_equal(seen[0][0, :-1].numpy(), trained)
    assert (trained[:, 1] != NO_MATCH).any()  # bar 2 was offered bar 1


def small_for(rep):
    cls = models.registry()["rnn_nade"]
    return cls(cls.config_class(inputs=rep.inputs, proposal_keys=rep.proposal_keys,
                                rnn_hidden=12, nade_hidden=8)).eval()


def test_in_argmax_mode_the_model_goes_on_from_the_frames_it_drew():
    from tunesmith.sampling.frames import sample_drawn

    rolls, drawn = sample_drawn(small(), None, num=2, steps=24, seed=1, mode="argmax",
                                inputs=REP.plan(24), reader=REP.frame_reader())
    for out, full in zip(rolls, drawn, strict=True):
        assert (out.sum(1) <= 1).all() and (full.sum(1) >= out.sum(1)).all()
        assert ((out <= full).all()) and full.sum() > out.sum()


def test_compose_s_repeat_bias_needs_a_lookback_model(capsys, chorale_folder, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", chorale_folder, "--positions", "--steps", "2",
                         "--samples", "0", "--out", run, "--no-progress")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--repeat-bias", "2",
                         "--seconds", "4", "--no-wav", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "--repeat-bias", "--lookback")
    rc, _, err = run_cli(capsys, "compose", "--family", "pianoroll", "--repeat-bias", "11",
                         "--no-wav", "--out", tmp_path / "d")
    assert_one_line_error(rc, err, "--repeat-bias", "between 0 and 10")
