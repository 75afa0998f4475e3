"""The events family as a user runs it: prepare, train (debug preset), compose, evaluate."""

import random

import pytest

from tunesmith.cli import main
from tunesmith.io.audio import fluidsynth_available
from tunesmith.io.midi import read_midi, write_midi
from tunesmith.music import Note, Piece, Tempo, Track

from .test_cli import assert_one_line_error, run_cli


def make_piece(seed: int, bars: int = 8) -> Piece:
    rng = random.Random(seed)
    melody, bass = [], []
    t = 0.0
    for _ in range(bars * 4):
        d = rng.choice([0.5, 1.0, 1.0, 2.0])
        melody.append(Note(t, t + d, rng.choice([60, 62, 64, 65, 67, 69, 71, 72]), 90))
        t += d
    for b in range(int(t // 2)):
        bass.append(Note(2.0 * b, 2.0 * b + 2, rng.choice([36, 41, 43, 48]), 70))
    return Piece(tracks=[Track(notes=melody, program=0), Track(notes=bass, program=32)],
                 tempos=[Tempo(0.0, 100.0)])


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("midi")
    for i in range(6):
        write_midi(make_piece(i), root / ("sub" if i % 2 else ".") / f"piece{i}.mid")
    (root / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # truncated
    (root / "notes.mid").write_text("this is not a MIDI file")
    return root


@pytest.fixture(scope="module")
def events_run(tmp_path_factory, midi_folder):
    run = tmp_path_factory.mktemp("runs") / "events-debug"
    rc = main(["train", "--family", "events", "--preset", "debug", "--corpus", str(midi_folder),
               "--out", str(run), "--no-progress", "--samples", "1", "--steps", "20"])
    assert rc == 0
    return run


def test_prepare_reports_every_file_and_writes_csv(capsys, midi_folder, tmp_path):
    rc, out, _ = run_cli(capsys, "prepare", "--corpus", midi_folder, "--report",
                         tmp_path / "r.csv", "--no-progress")
    assert rc == 0
    lines = out.splitlines()
    assert sum(ln.startswith("kept ") for ln in lines) == 6
    assert sum(ln.startswith("dropped ") for ln in lines) == 2
    assert "8 files, 6 kept, 2 dropped" in out
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].startswith("path,status,reason") and len(rows) == 9


def test_prepare_with_a_program_filter(capsys, midi_folder, tmp_path):
    rc, out, _ = run_cli(capsys, "prepare", "--corpus", midi_folder, "--programs", "32",
                         "--report", tmp_path / "r.csv", "--no-progress")
    assert rc == 0 and sum(ln.startswith("kept ") for ln in out.splitlines()) == 6
    rc, out, _ = run_cli(capsys, "prepare", "--corpus", midi_folder, "--programs", "40",
                         "--report", tmp_path / "r.csv", "--no-progress")
    assert rc == 2  # no piece has that program: nothing usable is a one-line error


def test_train_splits_a_tiny_corpus_by_time_and_writes_the_report(events_run):
    assert (events_run / "ingest_report.csv").is_file()
    assert (events_run / "best" / "model.safetensors").is_file()
    assert list((events_run / "samples").glob("*.mid"))
    import json

    run = json.loads((events_run / "config.json").read_text())
    assert run["family"] == "events" and run["data"]["split"] == "auto"
    meta = json.loads((events_run / "best" / "tunesmith.json").read_text())
    assert meta["summary"]["corpus"]["split"] == "time"
    assert meta["representation"]["time_bins"][0] == 0


def test_compose_writes_midi_wav_png_for_a_length_in_seconds(capsys, events_run, tmp_path):
    out_dir = tmp_path / "out"
    rc, out, _ = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 2,
                         "--seconds", 6, "--seed", 3, "--temperature", "note=0.9,time=1.1",
                         "--out", out_dir)
    assert rc == 0, out
    mids = sorted(out_dir.glob("*.mid"))
    assert len(mids) == 2 and len(list(out_dir.glob("*.png"))) == 2
    if fluidsynth_available():
        assert len(list(out_dir.glob("*.wav"))) == 2
    for m in mids:
        piece = read_midi(m)
        # 6 s, then up to 8 beats to end on a cadence, and the beat its last chord is held
        beat = 60 / piece.tempos[0].qpm
        assert piece.notes and 5.5 <= piece.duration_seconds <= 6 + (8 + 1) * beat


def test_beam_search_for_a_length_ends_its_pieces_too(capsys, events_run, tmp_path):
    rc, out, err = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 2,
                           "--seconds", 3, "--beam", 2, "--length-penalty", 0.5,
                           "--stochastic-beam", "--seed", 1, "--no-wav", "--out", tmp_path)
    assert rc == 0, err
    mids = sorted(tmp_path.glob("*.mid"))
    assert len(mids) == 2
    for m in mids:
        piece = read_midi(m)
        beat = 60 / piece.tempos[0].qpm
        assert 2.5 <= piece.duration_seconds <= 3 + (8 + 1) * beat


def test_compose_continues_a_primer_file(capsys, events_run, midi_folder, tmp_path):
    rc, _, _ = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 1,
                       "--primer", midi_folder / "piece0.mid", "--primer-len", 10,
                       "--max-len", 40, "--no-wav", "--seed", 0, "--out", tmp_path)
    assert rc == 0
    got = read_midi(tmp_path / "piece_01.mid").notes
    first = sorted(make_piece(0).notes)[0]
    assert (got[0].start, got[0].pitch) == (first.start, first.pitch)


def test_a_primer_keeps_its_tempo_and_seconds_count_at_it(capsys, events_run, tmp_path):
    from dataclasses import replace

    from tunesmith.music import TimeSignature

    strings = [replace(t, program=48) for t in make_piece(0).tracks]  # one instrument
    slow = replace(make_piece(0), tracks=strings, tempos=[Tempo(0.0, 60.0)],  # not 100
                   time_signatures=[TimeSignature(0.0, 3, 4)])
    write_midi(slow, tmp_path / "slow.mid")
    rc, out, err = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 1,
                           "--primer", tmp_path / "slow.mid", "--primer-len", 10,
                           "--seconds", 12, "--no-wav", "--seed", 0, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "primer's tempo, 60 BPM" in out + err
    piece = read_midi(tmp_path / "o" / "piece_01.mid")
    assert [t.qpm for t in piece.tempos] == [60.0]
    assert [(s.numerator, s.denominator) for s in piece.time_signatures] == [(3, 4)]
    assert {t.program for t in piece.tracks} == {48}  # the primer's meter and instrument
    assert piece.end_beat <= 12 + 8 + 1  # 12 s at 60 BPM are 12 beats (and the grace's 8)


def test_max_len_and_seconds_together_are_refused_even_at_the_default(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "compose", "--family", "events", "--max-len", 600,
                         "--seconds", 10, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "--max-len and --seconds both given")
    assert not (tmp_path / "o").exists()


def test_a_run_folder_inside_the_corpus_or_holding_other_files_is_refused(capsys, midi_folder,
                                                                         tmp_path):
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--preset", "debug",
                         "--corpus", midi_folder, "--out", midi_folder / "runs" / "mine",
                         "--no-progress")
    assert_one_line_error(rc, err, "lies inside the corpus folder")
    assert not (midi_folder / "runs").exists()
    music = tmp_path / "my-music"
    music.mkdir()
    (music / "song.mid").write_bytes(b"MThd")
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--preset", "debug",
                         "--corpus", midi_folder, "--out", music, "--no-progress")
    assert_one_line_error(rc, err, "holds files but no run (song.mid; no config.json)")
    assert [p.name for p in music.iterdir()] == ["song.mid"]


def test_a_run_resumes_from_its_corpus_where_it_moved(capsys, midi_folder, tmp_path):
    import json
    import shutil

    corpus, run = tmp_path / "mine", tmp_path / "run"
    shutil.copytree(midi_folder, corpus)
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--preset", "debug", "--corpus",
                         corpus, "--out", run, "--no-progress", "--samples", 0, "--steps", 20,
                         "--stop-at", 10)
    assert rc == 0, err
    corpus.rename(tmp_path / "moved")
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--no-progress")
    assert_one_line_error(rc, err, f"the corpus this run was trained on, {corpus}, is not "
                          "here: give --corpus")
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    shutil.copy(tmp_path / "moved" / "piece0.mid", fewer)
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--corpus", fewer, "--no-progress")
    assert rc == 2 and "does not read as the corpus the run was trained on" in err
    assert json.loads((run / "config.json").read_text())["corpus"] == str(corpus)  # as it was
    rc, out, err = run_cli(capsys, "train", "--resume", run, "--corpus", tmp_path / "moved",
                           "--no-progress", "--samples", 0)
    assert rc == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["corpus"] == str(tmp_path / "moved") and "--corpus" in config["resumed_with"][-1]
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--corpus", fewer, "--steps", 30,
                         "--no-progress")
    assert_one_line_error(rc, err, "is still there: drop --corpus")


def test_training_a_midi_folder_without_a_family_says_which_families_read_it(capsys,
                                                                            midi_folder):
    rc, _, err = run_cli(capsys, "train", "--corpus", midi_folder, "--preset", "debug",
                         "--no-progress")
    assert_one_line_error(rc, err, "no .abc files", "it holds 8 MIDI or MusicXML files",
                          "--family events")


def test_a_primer_without_a_tempo_mark_leaves_the_models_tempo(capsys, events_run, tmp_path):
    (tmp_path / "noq.abc").write_text("X:1\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|\n")
    rc, out, err = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 1,
                           "--primer", tmp_path / "noq.abc", "--max-len", 40, "--no-wav",
                           "--seed", 0, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "primer's tempo" not in out + err  # music21 reads no Q: as 120: says nothing
    assert [t.qpm for t in read_midi(tmp_path / "o" / "piece_01.mid").tempos] == [100.0]


def test_prepare_never_writes_its_report_over_a_file_that_is_not_one(capsys, midi_folder,
                                                                     tmp_path):
    before = (midi_folder / "piece0.mid").read_bytes()
    rc, _, err = run_cli(capsys, "prepare", "--corpus", midi_folder, "--report",
                         midi_folder / "piece0.mid", "--no-progress")
    assert rc == 2 and "give --report a name ending in .csv" in err
    other = tmp_path / "notes.csv"
    other.write_text("my,own\n1,2\n")
    rc, _, err = run_cli(capsys, "prepare", "--corpus", midi_folder, "--report", other,
                         "--no-progress")
    assert rc == 2 and "exists and is not an ingest report" in err
    assert (midi_folder / "piece0.mid").read_bytes() == before
    assert other.read_text() == "my,own\n1,2\n"
    report = tmp_path / "r.csv"
    for _ in range(2):  # an earlier report is replaced
        rc, _, _ = run_cli(capsys, "prepare", "--corpus", midi_folder, "--report", report,
                           "--no-progress")
        assert rc == 0


def test_primer_corpus_draws_from_the_corpus_the_model_was_trained_on(capsys, events_run,
                                                                      tmp_path):
    rc, out, err = run_cli(capsys, "compose", "--model", events_run / "best", "--num", 1,
                           "--primer", "corpus", "--primer-len", 10, "--max-len", 40,
                           "--no-wav", "--seed", 0, "--out", tmp_path)
    assert rc == 0, err
    assert "primer: piece" in out + err and "from the model's corpus" in out + err
    got = read_midi(tmp_path / "piece_01.mid").notes
    openings = {(n.start, n.pitch) for i in range(6) for n in sorted(make_piece(i).notes)[:1]}
    assert (got[0].start, got[0].pitch) in openings  # one of the fixture's, not a chorale


def test_primer_corpus_of_a_model_whose_corpus_is_not_here(capsys, events_run, tmp_path):
    import json
    import shutil

    moved = tmp_path / "model"
    shutil.copytree(events_run / "best", moved)  # as a model shared with another machine
    meta = json.loads((moved / "tunesmith.json").read_text())
    meta["summary"]["corpus"]["corpus"] = str(tmp_path / "someone-elses-midi")
    (moved / "tunesmith.json").write_text(json.dumps(meta))
    rc, _, err = run_cli(capsys, "compose", "--model", moved, "--primer", "corpus",
                         "--max-len", 20, "--no-wav", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "someone-elses-midi, which is not on this machine: give "
                          "--primer a file instead")
    rc, _, err = run_cli(capsys, "compose", "--model", moved, "--num", 1, "--max-len", 20,
                         "--no-wav", "--out", tmp_path / "d")
    assert rc == 0, err  # without --primer corpus the corpus is not needed


def test_evaluate_reports_each_head(capsys, events_run, midi_folder):
    rc, out, _ = run_cli(capsys, "evaluate", "--model", events_run / "best")
    assert rc == 0
    assert "bits/msg" in out and "per head: note nll" in out and ", time nll " in out


@pytest.mark.parametrize("argv, fragments", [
    (["--primer", "missing.mid"], ["missing.mid"]),
    (["--temperature", "pitch=0.5"], ["unknown head 'pitch'"]),
    (["--seconds", "0"], ["--seconds must be > 0"]),
])
def test_bad_compose_input_is_one_line(capsys, events_run, tmp_path, argv, fragments):
    rc, _, err = run_cli(capsys, "compose", "--model", events_run / "best", "--out", tmp_path,
                         *argv)
    assert_one_line_error(rc, err, *fragments)


def test_a_lone_bad_midi_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "song.mid"
    bad.write_bytes(b"RIFF....not midi")
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--preset", "debug",
                         "--corpus", bad, "--out", tmp_path / "run")
    assert_one_line_error(rc, err, "song.mid")


def test_family_flags_are_checked(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "train", "--family", "abc", "--programs", "piano",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, "--programs")
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--clean", "--out", tmp_path)
    assert_one_line_error(rc, err, "--clean")


def test_bad_train_flags_fail_before_any_work(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--transpose", "-3",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, "--transpose")
    rc, _, err = run_cli(capsys, "train", "--family", "events", "--cell", "gru",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, "--cell", "event_lstm")
    assert not (tmp_path / "r").exists()


def test_bad_ingest_flags_name_the_flag(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "prepare", "--min-seconds", "5", "--max-seconds", "1",
                         "--report", tmp_path / "r.csv")
    assert_one_line_error(rc, err, "--max-seconds", "--min-seconds")
