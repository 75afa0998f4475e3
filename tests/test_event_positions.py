"""Where each message stands (issue 19, "structure the model can see", for events):
``events`` with ``beat_inputs`` gives every message its place in the beat (24ths) and the
beat of its bar; ``train --family events --positions`` trains an
event_lstm that reads them, and the sampler computes them as the messages arrive,
exactly as training saw them."""

import json

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.models.event_lstm import EventLSTM, EventLSTMConfig
from tunesmith.representations.events import Events
from tunesmith.sampling.decode import sample
from tunesmith.sampling.inputs import with_inputs
from tunesmith.sampling.settings import per_head

from .test_events_cli import midi_folder  # noqa: F401  (a fixture)

HEADS = ["note", "velocity", "time"]


def test_what_the_places_say():
    rep = Events(beat_inputs=True)
    assert rep.inputs == {"phase": 24, "beat": 4} and Events().inputs == {}
    # time classes: 0 -> 0, 5 -> 1/2, 8 -> 1, 3 -> 1/4, 2 -> 1/6, 11 -> 4 beats
    messages = [rep.bos, [40, 5, 8], [40, 0, 5], [41, 3, 3], [42, 3, 2], [43, 3, 11],
                [44, 3, 11], [44, 0, 11], [44, 0, 11], [44, 0, 11], [44, 0, 11]]
    rows = rep.with_inputs(messages)
    assert rows[:, :3].tolist() == messages
    # beats: 0, 1, 1.5, 1.75, 1 + 11/12, 5 + 11/12, then 4 beats each (the same beat)
    assert rows[:, 3].tolist() == [0, 0, 12, 18, 22, 22, 22, 22, 22, 22, 22]
    assert rows[:, 4].tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    three = rep.with_inputs([[44, 0, 8]] * 9)  # a beat each: the beats of 4-beat bars
    assert three[:, 4].tolist() == [1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert set(three[:, 3].tolist()) == {0}


def test_one_message_at_a_time_equals_the_whole_piece():
    rep = Events(beat_inputs=True)
    rng = np.random.default_rng(0)
    messages = np.stack([rng.integers(0, 91, 200), rng.integers(0, 17, 200),
                         rng.integers(0, 12, 200)], axis=1)
    reader = rep.input_reader()
    one = [reader(m) for m in messages.tolist()[:120]]
    copy = reader.copy()
    one += [copy(m) for m in messages.tolist()[120:]]
    assert np.array_equal(np.array(one), rep.with_inputs(messages)[:, 3:])
    assert reader(messages[120].tolist()) == one[120]  # the copy left the reader where it was


def test_the_representation_carries_the_flag_and_older_checkpoints_keep_their_shape():
    rep = Events(beat_inputs=True)
    assert Events.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    assert "beat_inputs" not in Events().to_dict()
    assert Events.from_dict(Events().to_dict()) == Events()


def small_model(arch: str, rep):
    h = rep.heads
    if arch == "transformer":
        from tunesmith.models.transformer import Transformer, TransformerConfig

        return Transformer(TransformerConfig(d_model=16, num_layers=2, attention_heads=2,
                                             ff_size=32, context=16, heads=dict(h),
                                             inputs=rep.inputs)).eval()
    return EventLSTM(EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                                     time_classes=h["time"], hidden_size=24,
                                     inputs=rep.inputs)).eval()


@pytest.mark.parametrize("arch", ["event_lstm", "transformer"])
def test_sampling_reads_the_places_training_would_have_given(arch):
    """The sampler's logits for a sampled piece equal the teacher-forced pass over that
    piece's rows: the places it computed on the way are the training inputs of what it
    wrote."""
    torch.manual_seed(0)
    rep = Events(beat_inputs=True)
    model = small_model(arch, rep)
    primer = [rep.bos, [39, 5, 0], [43, 5, 0], [39, 0, 8]]
    wrapped = with_inputs(model, rep)
    steps = sample(wrapped, primer, num=3, max_steps=40, heads=HEADS, seed=3,
                   settings=per_head(HEADS))
    for row in steps:
        messages = primer + row
        x = torch.from_numpy(rep.with_inputs(messages))[None]  # (1, T, 5)
        with torch.no_grad():
            full = model(x)
            full = full[0] if isinstance(full, tuple) else full  # event_lstm: (logits, state)
            state, logits = wrapped.init_state(1), None
            for m in messages:
                logits, state = wrapped.step(torch.tensor([m]), state)
        for head in HEADS:
            torch.testing.assert_close(logits[head][0], full[head][0, -1], atol=1e-5,
                                       rtol=1e-4)


def test_train_with_positions_then_compose_and_evaluate(tmp_path, midi_folder, capsys):  # noqa: F811
    run = tmp_path / "run"
    assert main(["train", "--family", "events", "--preset", "debug", "--positions",
                 "--corpus", str(midi_folder), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "20"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["positions"]
    assert config["model"]["inputs"] == {"phase": 24, "beat": 4}
    out = tmp_path / "out"
    assert main(["compose", "--model", str(run / "best"), "--num", "2", "--seed", "1",
                 "--seconds", "6", "--no-wav", "--out", str(out)]) == 0
    assert len(list(out.glob("*.mid"))) == 2
    assert main(["compose", "--model", str(run / "best"), "--num", "1", "--beam", "2",
                 "--seconds", "4", "--no-wav", "--out", str(tmp_path / "beam")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run / "best")]) == 0
    assert "nll" in capsys.readouterr().out.lower()


def test_the_events_transformer_reads_them_too(tmp_path, midi_folder, capsys):  # noqa: F811
    run = tmp_path / "run"
    assert main(["train", "--family", "events", "--arch", "transformer", "--preset", "debug",
                 "--positions", "--corpus", str(midi_folder), "--out", str(run),
                 "--no-progress", "--samples", "0", "--steps", "4"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["inputs"] == {
        "phase": 24, "beat": 4}
    out = tmp_path / "out"
    assert main(["compose", "--model", str(run / "best"), "--num", "1", "--seed", "1",
                 "--seconds", "4", "--no-wav", "--attention", "--out", str(out)]) == 0
    assert list(out.glob("*.mid")) and list(out.glob("*attention*.png"))


def test_remi_has_no_positions_flag(tmp_path, midi_folder, capsys):  # noqa: F811
    rc = main(["train", "--family", "remi", "--preset", "debug", "--positions",
               "--corpus", str(midi_folder), "--out", str(tmp_path / "run"),
               "--no-progress", "--steps", "2"])
    err = capsys.readouterr().err
    assert rc != 0 and "positions" in err and "Traceback" not in err


def test_a_piece_split_by_time_keeps_its_places_in_validation(midi_folder):  # noqa: F811
    """A tiny corpus is split by time: each piece's last 10% validates. Its rows carry the
    places the whole piece gives them, not places counted again from the cut."""
    from tunesmith.families.events import EventsData, EventsFamily

    fam = EventsFamily()
    prepared = fam.prepare_data(str(midi_folder), EventsData(positions=True))
    rep = prepared.representation
    assert prepared.info["split"] == "time"
    for head, tail in zip(prepared.sequences["train"], prepared.sequences["valid"],
                          strict=False):
        whole = rep.with_inputs(np.concatenate([head[:, :3], tail[:, :3]]))
        assert np.array_equal(np.concatenate([head, tail]), whole)
