"""Where each frame stands, and where the phrases end (issue 19, "structure the model can
see", for piano rolls): ``pianoroll`` with ``beat_inputs`` gives every frame its place in
its bar, with ``phrase_inputs`` how far it is to the next fermata (the chorales' phrase
ends, which DeepBach conditions on); ``train --family pianoroll --positions --phrases`` trains
a model that reads them, and ``compose`` hands them to it from the primer, then from a
plan with a phrase every two bars."""

import json
import random

import numpy as np
import pytest
import torch

from tunesmith.data.frames import FrameBatches, FrameWindows
from tunesmith.io.musicxml import read_musicxml
from tunesmith.music import Note, Piece, TimeSignature, Track
from tunesmith.representations.pianoroll import MAX_BAR_FRAMES, PianoRoll
from tunesmith.sampling.frames import sample_frames

from .test_cli import assert_one_line_error, run_cli
from .test_pianoroll_cli import bench_dir  # noqa: F401  (a fixture)

BOTH = PianoRoll(beat_inputs=True, phrase_inputs=True)


def chorale_xml(seed: int, bars: int = 8) -> str:
    """A four-part-ish MusicXML in 4/4 with a one-beat pickup: chords of three notes, a
    fermata on the third beat of every second bar (as a chorale's phrase ends)."""
    rng = random.Random(seed)
    measures = []
    for m in range(bars + 1):
        beats = 1 if m == 0 else 4
        attrs = ("<attributes><divisions>1</divisions><time><beats>4</beats>"
                 "<beat-type>4</beat-type></time></attributes>") if m == 0 else ""
        notes = []
        for b in range(beats):
            fermata = m > 0 and m % 2 == 0 and b == 2
            root = rng.choice([0, 2, 4, 5, 7, 9])
            for k, step in enumerate((root, root + 4, root + 7)):
                name, alter = "C D EF G A B"[step % 12], 0
                if name == " ":
                    name, alter = "C D EF G A B"[step % 12 - 1], 1
                chord = "<chord/>" if k else ""
                mark = "<notations><fermata/></notations>" if fermata and not k else ""
                notes.append(f"<note>{chord}<pitch><step>{name}</step><alter>{alter}</alter>"
                             f"<octave>{4 + step // 12}</octave></pitch><duration>1</duration>"
                             f"{mark}</note>")
        measures.append(f'<measure number="{m}">{attrs}{"".join(notes)}</measure>')
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1">'
            '<part-list><score-part id="P1"><part-name>Choir</part-name></score-part>'
            f'</part-list><part id="P1">{"".join(measures)}</part></score-partwise>')


def test_a_score_s_fermatas_are_read_and_kept_in_the_piece_s_json(tmp_path):
    path = tmp_path / "c.musicxml"
    path.write_text(chorale_xml(0))
    piece = read_musicxml(path)
    # the pickup is beat 0; bar 2's third beat starts at 1 + 4 + 2 = 7, bar 4's at 15 ...
    assert piece.fermatas == [(7.0, 8.0), (15.0, 16.0), (23.0, 24.0), (31.0, 32.0)]
    again = Piece.from_dict(json.loads(json.dumps(piece.to_dict())))
    assert again.fermatas == piece.fermatas
    old = piece.to_dict()
    del old["fermatas"]  # a dict written before fermatas existed
    assert Piece.from_dict(old).fermatas == []


def test_each_frame_s_place_in_its_bar_and_the_way_to_the_next_fermata():
    # a one-beat pickup, then bars of 4 beats: the pickup is the bar's last beat
    piece = Piece(tracks=[Track([Note(0, 1, 60), Note(1, 9, 64)])],
                  time_signatures=[TimeSignature(0, 4, 4)], bar_lines=[0, 1, 5, 9],
                  fermatas=[(3.0, 4.0)])
    rows = BOTH.with_inputs(BOTH.encode(piece), piece)
    assert rows.shape == (18, 90) and np.array_equal(rows[:, :88], BOTH.encode(piece))
    assert rows[:, 88].tolist() == [6, 7] + list(range(8)) * 2
    # frames before the fermata count down to it, 0 under it, then "none ahead" (4 beats
    # of eighth-note frames see up to 8 frames ahead: class 9)
    assert rows[:, 89].tolist() == [6, 5, 4, 3, 2, 1, 0, 0] + [9] * 10
    far = Piece(tracks=[Track([Note(0, 10, 60)])], fermatas=[(9.0, 10.0)])
    assert BOTH.with_inputs(BOTH.encode(far), far)[8:12, 89].tolist() == [9, 9, 8, 7]
    # without written bars: the time signature's (3/4 from beat 0)
    waltz = Piece(tracks=[Track([Note(0, 6, 60)])], time_signatures=[TimeSignature(0, 3, 4)])
    assert BOTH.with_inputs(BOTH.encode(waltz), waltz)[:, 88].tolist() == list(range(6)) * 2
    # a long bar saturates at the last class
    long = PianoRoll(steps_per_beat=8, beat_inputs=True)
    wide = Piece(tracks=[Track([Note(0, 12, 60)])], time_signatures=[TimeSignature(0, 12, 4)])
    assert long.with_inputs(long.encode(wide), wide)[:, 88].max() == MAX_BAR_FRAMES - 1


def test_the_plan_puts_a_fermata_on_the_third_beat_of_every_second_bar():
    plan = BOTH.plan(40)  # 20 beats of eighth-note frames
    assert plan[:, 0].tolist() == list(range(8)) * 5
    assert np.flatnonzero(plan[:, 1] == 0).tolist() == [12, 13, 28, 29]  # beats 6 and 14
    assert plan[4:12, 1].tolist() == [8, 7, 6, 5, 4, 3, 2, 1]  # the way to the first
    assert plan[30:, 1].tolist() == [9] * 6 + [8, 7, 6, 5]  # a fermata past the window
    assert np.array_equal(BOTH.plan(20, start=20), plan[20:])
    assert PianoRoll(phrase_inputs=True).plan(16).shape == (16, 1)
    assert PianoRoll().plan(5).shape == (5, 0)


def test_after_a_primer_the_plan_goes_on_from_where_the_primer_stands():
    plan = BOTH.plan(40)
    # a primer that ends counting down to a fermata: it comes when it said, then the plan's
    assert np.array_equal(BOTH.follow(plan[:10], 30), plan[10:])
    assert np.array_equal(BOTH.follow(plan[:13], 27), plan[13:])  # ends under it
    # a primer in 3/4 (bars of 6 frames): its bars go on in 3/4
    waltz = BOTH.plan(30, beats_per_bar=3)
    assert np.array_equal(BOTH.follow(waltz[:10], 20, beats_per_bar=3), waltz[10:])
    assert set(BOTH.follow(waltz[:10], 20, beats_per_bar=3)[:, 0].tolist()) == set(range(6))
    # no fermata in sight: the first comes just past what the input sees
    quiet = np.array([[3, 9]] * 5, dtype=np.uint8)
    after = BOTH.follow(quiet, 12)
    assert after[:, 0].tolist()[:5] == [4, 5, 6, 7, 0]
    assert after[:, 1].tolist()[:9] == [8, 7, 6, 5, 4, 3, 2, 1, 0]  # 9 frames after the last


def test_a_composed_piece_is_read_with_the_plan_it_was_composed_to():
    frames = BOTH.encode(Piece(tracks=[Track([Note(0, 10, 60)])]))  # no meter, no fermata
    assert np.array_equal(BOTH.with_inputs(frames, BOTH.decode(frames))[:, 88:],
                          BOTH.plan(len(frames)))


def test_the_representation_carries_the_flags_and_older_checkpoints_keep_their_shape():
    assert PianoRoll.from_dict(json.loads(json.dumps(BOTH.to_dict()))) == BOTH
    assert BOTH.inputs == {"beat": MAX_BAR_FRAMES, "phrase": 10} and PianoRoll().inputs == {}
    assert "beat_inputs" not in PianoRoll().to_dict()
    with pytest.raises(ValueError, match="phrase_inputs"):
        PianoRoll.from_dict(PianoRoll().to_dict() | {"phrase_inputs": "yes"})


def test_batches_split_the_keys_from_the_inputs_and_transpose_the_keys_only():
    rng = np.random.default_rng(0)
    seqs = []
    for n in (30, 50):
        keys = (rng.random((n, 88)) < 0.05).astype(np.uint8)
        keys[:, 40] = 1
        seqs.append(np.concatenate([keys, BOTH.plan(n)], 1))
    batch = FrameWindows(seqs, 20, 6, seed=1, transpose=3, n_visible=88).batch(0)
    assert batch["frames"].shape == (6, 20, 88) and batch["inputs"].shape == (6, 20, 2)
    plans = {tuple(map(tuple, BOTH.plan(n)[s:s + 20].tolist())) for n in (30, 50)
             for s in range(n - 19)}
    assert all(tuple(map(tuple, row.tolist())) in plans for row in batch["inputs"])
    whole = next(iter(FrameBatches(seqs, n_visible=88)))
    assert whole["frames"].shape == (2, 50, 88)
    assert np.array_equal(whole["inputs"][1].numpy(), BOTH.plan(50))
    assert "inputs" not in FrameWindows([s[:, :88] for s in seqs], 20, 2).batch(0)


def small(arch: str, inputs: dict):
    from tunesmith import models

    cls = models.registry()[arch]
    sizes = {"rnn_nade": dict(rnn_hidden=12, nade_hidden=8),
             "rnn_rbm": dict(rnn_hidden=12, rbm_hidden=8, cd_steps=1),
             "bernoulli_rnn": dict(rnn_hidden=12),
             "transformer_nade": dict(d_model=16, num_layers=2, attention_heads=2,
                                      ff_size=32, context=64, nade_hidden=8)}[arch]
    return cls(cls.config_class(inputs=inputs, **sizes)).eval()


ARCHS = ["rnn_nade", "rnn_rbm", "bernoulli_rnn", "transformer_nade"]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_frame_s_context_reads_its_own_inputs_and_the_frames_before_it(arch):
    torch.manual_seed(0)
    model = small(arch, BOTH.inputs)
    frames = torch.bernoulli(torch.full((2, 12, 88), 0.1))
    inputs = torch.as_tensor(BOTH.plan(12), dtype=torch.long)[None].repeat(2, 1, 1)
    with torch.no_grad():
        ctx = model.frame_contexts(frames, inputs)
        moved = inputs.clone()
        moved[:, 7, 1] = (moved[:, 7, 1] + 3) % 10  # frame 7 is told another distance
        ctx2 = model.frame_contexts(frames, moved)
    assert torch.allclose(ctx[:, :7], ctx2[:, :7], atol=1e-6)
    assert not torch.allclose(ctx[:, 7], ctx2[:, 7], atol=1e-4)  # frame 7 knows it
    # and stepping one frame at a time gives the teacher-forced contexts
    with torch.no_grad():
        c, state = model.context_start(2, "cpu", inputs[:, 0])
        assert torch.allclose(c, ctx[:, 0], atol=1e-5)
        c, state = model.context_read(frames[:, :4], state, inputs[:, 1:5])
        assert torch.allclose(c, ctx[:, 4], atol=1e-5)
        for t in range(4, 11):
            c, state = model.context_step(frames[:, t], state, inputs[:, t + 1])
            assert torch.allclose(c, ctx[:, t + 1], atol=1e-5)
    loss = model.train().loss({"frames": frames, "mask": torch.ones(2, 12, dtype=torch.bool),
                               "inputs": inputs})
    assert torch.isfinite(loss["loss"])
    with pytest.raises(ValueError, match="inputs"):
        model.frame_contexts(frames)
    with pytest.raises(ValueError, match="inputs"):
        model.context_start(2, "cpu")


def test_the_sampler_hands_the_model_each_frame_s_inputs_before_drawing_it():
    torch.manual_seed(0)
    model = small("rnn_nade", BOTH.inputs)
    plan = BOTH.plan(20)
    a = sample_frames(model, None, num=2, steps=20, seed=3, inputs=plan)
    b = sample_frames(model, None, num=2, steps=20, seed=3, inputs=plan)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    primer = a[0][:6]
    c = sample_frames(model, primer, num=1, steps=14, seed=3, inputs=plan)
    assert np.array_equal(c[0][:6], primer) and c[0].shape == (20, 88)
    with pytest.raises(ValueError, match="inputs for 10 frames"):
        sample_frames(model, None, num=1, steps=20, inputs=plan[:10])


@pytest.fixture(scope="module")
def chorale_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("chorales")
    for i in range(14):
        (root / f"c{i:02d}.musicxml").write_text(chorale_xml(i))
    return root


def test_train_and_compose_with_positions_and_phrases(capsys, chorale_folder, tmp_path):
    run = tmp_path / "run"
    rc, out, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                           "--corpus", chorale_folder, "--positions", "--phrases",
                           "--steps", "4", "--eval-every", "2", "--samples", "0",
                           "--out", run, "--no-progress")
    assert rc == 0, err
    rep = json.loads((run / "best" / "tunesmith.json").read_text())["representation"]
    assert rep["beat_inputs"] is True and rep["phrase_inputs"] is True
    rc, out, err = run_cli(capsys, "compose", "--model", run / "best", "--num", "2",
                           "--seconds", "8", "--seed", "1", "--no-wav", "--out",
                           tmp_path / "c")
    assert rc == 0, err
    written = sorted(p.name for p in (tmp_path / "c").glob("*.mid"))
    assert written == ["piece_01.mid", "piece_02.mid"]
    primer = chorale_folder / "c00.musicxml"
    rc, out, err = run_cli(capsys, "compose", "--model", run / "best", "--num", "1",
                           "--seconds", "8", "--primer", primer, "--no-wav", "--out",
                           tmp_path / "p")
    assert rc == 0, err


def test_phrases_need_a_corpus_that_marks_fermatas(capsys, tmp_path):
    from .music_files import write_midi_folder

    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", write_midi_folder(tmp_path), "--phrases",
                         "--steps", "2", "--out", tmp_path / "run", "--no-progress")
    assert rc == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]  # after the lines on the folder's broken files
    assert last.startswith("tunesmith: error: --phrases needs fermatas") and "midis" in last


def test_a_benchmark_file_has_no_bars_or_fermatas_to_read(capsys, bench_dir, tmp_path,  # noqa: F811
                                                          chorale_folder):
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", bench_dir / "jsb_chorales.json", "--positions",
                         "--steps", "2", "--out", tmp_path / "run", "--no-progress")
    assert_one_line_error(rc, err, "positions", "benchmark file")
    run = tmp_path / "placed"
    rc, _, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                         "--corpus", chorale_folder, "--positions", "--steps", "2",
                         "--samples", "0", "--out", run, "--no-progress")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "evaluate", "--model", run / "best", "--corpus",
                         bench_dir / "jsb_chorales.json")
    assert_one_line_error(rc, err, "benchmark file", "neither bars nor fermatas")
