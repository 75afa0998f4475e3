"""The CLI as a user runs it: train a debug model, compose, evaluate, render, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tunesmith.cli import main
from tunesmith.io.audio import fluidsynth_available

from .conftest import write_book


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tunesmith: error: ")
    for f in fragments:
        assert str(f) in lines[0]
    assert "Traceback" not in err


def test_corpora_lists_folk_abc_with_counts(capsys):
    rc, out, _ = run_cli(capsys, "corpora")
    assert rc == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("folk-abc"))
    assert int(line.split()[2]) > 10_000


def test_train_writes_a_complete_run(debug_run):
    for name in ("config.json", "metrics.csv", "curves.png", "best/model.safetensors",
                 "best/tunesmith.json", "last/training_state.json", "tensorboard"):
        assert (debug_run / name).exists(), name
    run = json.loads((debug_run / "config.json").read_text())
    assert run["preset"] == "debug" and run["train"]["steps"] == 30


def test_compose_with_a_trained_model(capsys, debug_run, tmp_path):
    out_dir = tmp_path / "out"
    rc, out, _ = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 3,
                         "--out", out_dir, "--seed", 1, "--max-len", 200, "--no-wav")
    assert rc == 0, out
    assert len(list(out_dir.glob("*.abc"))) == 3
    n_valid = int(out.split("tunes, ")[1].split(" valid")[0])
    assert out.startswith("3 tunes, ")
    assert len(list(out_dir.glob("*.mid"))) == n_valid
    for abc in out_dir.glob("*.abc"):
        assert abc.read_text().startswith(f"X:{int(abc.stem.split('_')[1])}\n")


def test_compose_continues_an_abc_file_or_a_primer_with_a_full_header(capsys, debug_run,
                                                                      tmp_path):
    tune = ("X:7\nT:A tune with a title\nR:jig\nQ:3/8=60\nM:6/8\nL:1/8\nK:D\n% a comment\n"
            "DEFGAB|\n")
    (tmp_path / "tune.abc").write_text(tune)
    for k, primer in enumerate((tmp_path / "tune.abc", tune.replace("\n", "\\n"))):
        rc, out, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 2,
                               "--seed", 1, "--primer", primer, "--max-len", 60,
                               "--no-wav", "--out", tmp_path / f"c{k}")
        assert rc == 0, err
        assert len(list((tmp_path / f"c{k}").glob("*.abc"))) == 2
        for abc in (tmp_path / f"c{k}").glob("*.abc"):  # the title is compose's own
            assert "M:6/8\nL:1/8\nK:D\nDEFGAB|\n" in abc.read_text()
            assert "R:" not in abc.read_text() and "comment" not in abc.read_text()
            assert "\nQ:3/8=60\n" in abc.read_text()  # the primer's tempo, for the player
    for missing, says in ((tmp_path / "nosuch.abc", "no such file"),
                          (tmp_path, "is a folder, not a file")):
        rc, _, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--primer",
                             missing, "--no-wav", "--out", tmp_path / "refused" / "a" / "b")
        assert rc == 2 and f"{missing}: {says}" in err
        assert not (tmp_path / "refused").exists()  # no empty folder left behind, nor parent


def test_a_primer_that_is_music_is_never_read_as_a_path():
    from tunesmith.families.abc import primer_file

    for music in ("~G3 ABc|", "~", "A/B/c/d/ e2|", "M:6/8", "GAB"):  # ~ is the ABC roll
        assert primer_file(music) == music


def test_a_missing_soundfont_is_refused_before_composing(capsys, debug_run, tmp_path):
    from tunesmith.io.audio import fluidsynth_available

    if not fluidsynth_available():
        pytest.skip("FluidSynth is not installed: compose writes no WAV to refuse")
    rc, out, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 1,
                           "--soundfont", tmp_path / "nosuch.sf2", "--out", tmp_path / "c")
    assert rc == 2 and err.strip().endswith("nosuch.sf2: soundfont not found")
    assert not out and not (tmp_path / "c").exists()
    (tmp_path / "notes.sf2").write_text("my notes, not a soundfont")
    rc, out, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 1,
                           "--soundfont", tmp_path / "notes.sf2", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "notes.sf2: is not a SoundFont (.sf2) file")
    assert not (tmp_path / "c").exists()


def test_compose_is_reproducible_with_a_seed(capsys, debug_run, tmp_path):
    for name in ("a", "b"):
        run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 2, "--seed", 7,
                "--out", tmp_path / name, "--no-wav", "--max-len", 100)
    for f in (tmp_path / "a").glob("*.abc"):
        assert f.read_text() == (tmp_path / "b" / f.name).read_text()


def test_evaluate_prints_likelihood_and_validity(capsys, debug_run, abc_corpus):
    rc, out, _ = run_cli(capsys, "evaluate", "--model", debug_run / "best", "--corpus",
                         abc_corpus, "--samples", 3)
    assert rc == 0
    assert "bits/char" in out and "validity: " in out
    valid_row = next(ln for ln in out.splitlines() if ln.startswith("valid"))
    assert float(valid_row.split()[3]) > 0  # nll


def test_render_abc_to_wav_and_png(capsys, tmp_path):
    book = write_book(tmp_path / "b.abc", 2)
    rc, out, _ = run_cli(capsys, "render", book, "--tune", 2,
                         "--to", "both" if fluidsynth_available() else "png")
    assert rc == 0
    assert (tmp_path / "b.png").stat().st_size > 1000
    if fluidsynth_available():
        assert (tmp_path / "b.wav").stat().st_size > 10_000


# --- bad input: one line naming the file and the problem, exit 2, no traceback ---------

def test_missing_corpus_path(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "train", "--corpus", tmp_path / "nope", "--preset", "debug",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, tmp_path / "nope", "no such file or folder")


def test_empty_corpus_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(capsys, "train", "--corpus", tmp_path / "empty", "--preset", "debug",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, tmp_path / "empty", "empty corpus")


@pytest.mark.parametrize("content", [b"\x00\x01MThd binary", b"just some prose, no tunes\n"])
def test_file_that_is_not_abc(capsys, tmp_path, content):
    f = tmp_path / "notes.abc"
    f.write_bytes(content)
    rc, _, err = run_cli(capsys, "train", "--corpus", f, "--preset", "debug",
                         "--out", tmp_path / "r")
    assert_one_line_error(rc, err, f, "not an ABC file")


def test_malformed_tune_is_reported_and_skipped(capsys, tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_book(corpus / "good.abc", 80)
    (corpus / "bad.abc").write_text("X:1\nT:Broken\nM:4/4\nDEFG|\n")  # no K: line
    (corpus / "bin.abc").write_bytes(b"\x00\x00\x00")
    rc, out, err = run_cli(capsys, "train", "--corpus", corpus, "--preset", "debug", "--steps",
                           4, "--out", tmp_path / "r", "--no-progress", "--samples", 0)
    assert rc == 0
    assert f"skipped: {corpus / 'bad.abc'}, tune 1 (X:1 'Broken'): no K: (key) line" in out + err
    assert f"{corpus / 'bin.abc'}: not an ABC file" in out + err


def test_folder_that_is_not_a_checkpoint(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "compose", "--model", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, tmp_path, "not a tunesmith checkpoint")


def test_checkpoint_from_an_incompatible_version(capsys, debug_run, tmp_path):
    ck = tmp_path / "old"
    shutil.copytree(debug_run / "best", ck)
    meta = json.loads((ck / "tunesmith.json").read_text())
    meta["format_version"] = 0
    (ck / "tunesmith.json").write_text(json.dumps(meta))
    rc, _, err = run_cli(capsys, "compose", "--model", ck, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, ck, "incompatible")


@pytest.mark.parametrize("flags,fragment", [
    (["--temperature", "0"], "--temperature must be > 0"),
    (["--temperature", "-1"], "--temperature must be > 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.2"], "--top-p must be in (0, 1]"),
    (["--primer", "M:6/8\\nK:D\\n\u00e9"], "outside the model's vocabulary"),
])
def test_bad_sampling_flags(capsys, debug_run, tmp_path, flags, fragment):
    rc, _, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--out",
                         tmp_path / "o", *flags)
    assert_one_line_error(rc, err, fragment)


@pytest.mark.parametrize("argv,fragment", [
    (["compose", "--num", "0"], "--num must be >= 1"),
    (["compose", "--max-len", "-1"], "--max-len must be >= 1"),
    (["compose", "--temperature", "inf"], "--temperature must be > 0 and finite"),
    (["compose", "--device", "nonsense"], "unknown device 'nonsense'"),
    (["evaluate", "--samples", "-3"], "--samples must be >= 0"),
    (["train", "--preset", "debug", "--steps", "0"], "steps must be >= 1"),
    (["train", "--preset", "debug", "--seq-len", "1"], "--seq-len must be >= 2"),
    (["train", "--preset", "debug", "--lr", "nan"], "lr must be positive and finite"),
    (["train", "--preset", "huge"], "unknown preset 'huge'"),
    (["train", "--family", "opera"], "unknown family 'opera'"),
])
def test_bad_flag_values(capsys, tmp_path, argv, fragment):
    rc, _, err = run_cli(capsys, *argv, *(["--out", tmp_path / "o"] if argv[0] != "evaluate"
                                           else []))
    assert_one_line_error(rc, err, fragment)


def test_bad_model_settings(capsys, tmp_path, abc_corpus):
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", abc_corpus,
                         "--hidden-size", "0", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "hidden_size must be >= 1")


def test_resume_refuses_flags_it_would_ignore(capsys, debug_run, tmp_path):
    rc, _, err = run_cli(capsys, "train", "--resume", debug_run, "--lr", "0.1")
    assert_one_line_error(rc, err, "drop --lr")
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lr: 0.1\n")
    rc, _, err = run_cli(capsys, "train", "--resume", debug_run, "--config", config)
    assert_one_line_error(rc, err)
    assert err.rstrip().endswith("drop --config")  # the flag given, not the file's settings


def test_resume_print_config_prints_the_runs_settings_and_trains_nothing(capsys, debug_run):
    before = {p: p.stat().st_mtime_ns for p in debug_run.rglob("*") if p.is_file()}
    rc, out, err = run_cli(capsys, "train", "--resume", debug_run, "--steps", 500,
                           "--print-config")
    assert rc == 0, err
    assert "steps: 500" in out and "hidden_size:" in out and "command" not in out
    rc, _, err = run_cli(capsys, "train", "--resume", debug_run, "--steps", 2,
                         "--print-config")  # what resuming would refuse, refused here too
    assert_one_line_error(rc, err, "--steps is 2, but the run is already at step")
    assert before == {p: p.stat().st_mtime_ns for p in debug_run.rglob("*") if p.is_file()}


def test_resume_with_more_steps_trains_on_and_records_it(capsys, abc_corpus, tmp_path):
    run = tmp_path / "r"
    assert run_cli(capsys, "train", "--preset", "debug", "--corpus", abc_corpus, "--out", run,
                   "--no-progress", "--samples", 0, "--steps", 6, "--eval-max-items", 3)[0] == 0
    rc, out, _ = run_cli(capsys, "train", "--resume", run, "--steps", 10, "--no-progress",
                         "--samples", 0)
    assert rc == 0 and "resuming at step 6 of 10" in out
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["steps"] == 10 and "--steps 10" in config["resumed_with"][0]
    assert config["train"]["eval_max_items"] == 3
    assert json.loads((run / "last" / "training_state.json").read_text())["step"] == 10
    # the recipe of an export says how it was resumed, and that validation was a subset
    assert run_cli(capsys, "export", run, "--out", tmp_path / "x")[0] == 0
    recipe = (tmp_path / "x" / "RECIPE.md").read_text()
    block = recipe.split("```bash\n")[1].split("```")[0].splitlines()
    assert block[0].startswith("tunesmith train --preset debug")
    assert block[1].startswith("# then resumed (1x") and "--resume" in block[2]
    assert "--steps 10" in block[2] and block[3].startswith("tunesmith export")
    assert "on the first 3 items of valid" in recipe


def test_force_starts_a_clean_run(capsys, abc_corpus, tmp_path):
    run = tmp_path / "r"
    args = ["train", "--preset", "debug", "--corpus", abc_corpus, "--out", run, "--no-progress",
            "--samples", 0]
    assert run_cli(capsys, *args, "--steps", 10)[0] == 0
    assert run_cli(capsys, *args, "--steps", 6, "--eval-every", 100, "--force")[0] == 0
    steps = [int(ln.split(",")[0]) for ln in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert max(steps) == 6


def test_interrupted_training_resumes(tmp_path, abc_corpus):
    """Ctrl-C (SIGINT) saves `last`; `train --resume` finishes the run."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tunesmith", "train", "--preset", "debug", "--corpus",
           str(abc_corpus), "--out", str(run), "--steps", "100000", "--no-progress",
           "--samples", "0", "--eval-every", "50"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while not (run / "last" / "tunesmith.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"tunesmith train --resume {run}" in out
    step = json.loads((run / "last" / "training_state.json").read_text())["step"]
    assert step > 0
    done = subprocess.run([sys.executable, "-m", "tunesmith", "train", "--resume", str(run),
                           "--no-progress", "--stop-at", str(step + 5), "--samples", "0"],
                          capture_output=True, text=True, timeout=120)
    assert f"resuming at step {step}" in done.stdout, done.stderr
    assert json.loads((run / "last" / "training_state.json").read_text())["step"] == step + 5


def test_starting_over_an_existing_run_needs_force(capsys, debug_run):
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--out", debug_run)
    assert_one_line_error(rc, err, debug_run, "--resume")


def test_render_midi_to_wav_and_png(capsys, tmp_path):
    from tunesmith.io.midi import write_midi
    from tunesmith.music import Note, Piece, Track

    mid = write_midi(Piece(tracks=[Track(notes=[Note(0, 1, 60), Note(1, 2, 64)])]),
                     tmp_path / "m.mid")
    rc, _, _ = run_cli(capsys, "render", mid, "--to",
                       "both" if fluidsynth_available() else "png", "--out", tmp_path / "x")
    assert rc == 0
    assert (tmp_path / "x.png").exists()
    assert (tmp_path / "x.wav").exists() == fluidsynth_available()


def test_render_refuses_a_non_midi_file_named_mid(capsys, tmp_path):
    bad = tmp_path / "fake.mid"
    bad.write_text("this is not MIDI")
    rc, _, err = run_cli(capsys, "render", bad)
    assert_one_line_error(rc, err, bad, "not a readable MIDI file")


def test_run_records_the_command_that_made_it(debug_run):
    command = json.loads((debug_run / "config.json").read_text())["command"]
    assert command.startswith("tunesmith train --preset debug --corpus ")
    assert command.endswith("--steps 30")


@pytest.mark.parametrize("command", ["compose", "evaluate", "export"])
def test_a_reader_never_touches_folders_beside_the_model_path(capsys, debug_run, tmp_path,
                                                               command):
    """compose / evaluate / export read: they never delete or rename what lies beside the
    path they were given, whatever its name (issue: a read-only command deleted
    ``mymodel.tmp-important`` and renamed ``x.old`` to ``x``)."""
    user = tmp_path / "U"
    shutil.copytree(debug_run / "best", user / "x.old")  # a complete checkpoint
    for name in ("mymodel.tmp-important", ".mymodel.tmp-1a2b", "x.old", "y.tmp-zz"):
        (user / name).mkdir(parents=True, exist_ok=True)
        (user / name / "keep.txt").write_text("precious")
    before = sorted(str(p.relative_to(user)) for p in user.rglob("*"))
    for target in ("mymodel", "x", "*"):
        argv = {"compose": ["compose", "--model", user / target, "--num", "1",
                            "--out", tmp_path / "out", "--no-wav"],
                "evaluate": ["evaluate", "--model", user / target, "--samples", "0"],
                "export": ["export", user / target, "--out", tmp_path / "exp"]}[command]
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and "no such" in err
    assert sorted(str(p.relative_to(user)) for p in user.rglob("*")) == before
    assert not (user / "x").exists()


def test_print_config_shows_the_resolved_run_and_config_reads_it_back(capsys, abc_corpus,
                                                                      tmp_path):
    rc, printed, _ = run_cli(capsys, "train", "--preset", "debug", "--corpus", abc_corpus,
                             "--hidden-size", 32, "--lr", "0.02", "--print-config")
    assert rc == 0 and "hidden_size: 32" in printed and "lr: 0.02" in printed
    assert "steps: 40" in printed  # the preset's
    assert "cell: lstm" in printed and "num_layers: 1" in printed  # defaults pinned too
    assert not (tmp_path / "o").exists()
    config = tmp_path / "run.yaml"
    config.write_text(printed.replace("lr: 0.02", "lr: 0.03"))
    rc, again, _ = run_cli(capsys, "train", "--config", config, "--steps", 7,
                           "--print-config")
    assert rc == 0 and "lr: 0.03" in again and "steps: 7" in again  # flags win over files
    assert "hidden_size: 32" in again


def test_a_benchmark_file_given_to_an_abc_family_names_the_family_to_use(capsys, tmp_path):
    corpus = tmp_path / "jsb_chorales.json"
    corpus.write_text('{"train": [], "valid": [], "test": []}')
    for family in ("abc", "continue"):
        rc, _, err = run_cli(capsys, "train", "--family", family, "--corpus", corpus,
                             "--print-config")
        assert_one_line_error(rc, err, "is a piano-roll benchmark file: give --family "
                                       "pianoroll")


@pytest.mark.parametrize("text,fragment", [
    ("train:\n  lr: fast\n", "train.lr expected float"),
    ("model:\n  hidden_sise: 3\n", "model.hidden_sise is not a setting"),
    ("colour: blue\n", "colour is not a setting"),
    ("data: [1]\n", "data must be a map of settings"),
    ('{"train": [[60]], "valid": []}', "train must be a map of settings (train: then"),
    ("[1, 2", "not a YAML or JSON file"),
    ("train:\n  lr: 1e-3e\n", "train.lr expected float, got '1e-3e'"),
    # nested by indentation: a RecursionError in PyYAML before (found by the fuzz suite)
    ("".join("  " * i + "a:\n" for i in range(3000)), "config file nested too deeply"),
])
def test_a_bad_config_file_is_one_line_naming_the_file(capsys, tmp_path, text, fragment):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    rc, _, err = run_cli(capsys, "train", "--config", config, "--print-config")
    assert_one_line_error(rc, err, config, fragment)


@pytest.mark.parametrize("name,text", [
    ("c.yaml", "train:\n  lr: 1e-3\n  weight_decay: 1e-05\n"),  # YAML 1.2 floats
    ("c.json", '{"train": {"lr": 1e-3, "weight_decay": 1E-5}}'),  # any JSON number
])
def test_a_number_with_an_exponent_is_a_float(capsys, tmp_path, name, text):
    config = tmp_path / name
    config.write_text(text)
    rc, out, err = run_cli(capsys, "train", "--config", config, "--print-config")
    assert rc == 0, err
    assert "lr: 0.001" in out and "weight_decay: 1.0e-05" in out


def test_compose_config_file(capsys, debug_run, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": str(debug_run / "best"), "num": 2, "seed": 3,
                                  "temperature": "token=0.8", "wav": False}))
    rc, out, _ = run_cli(capsys, "compose", "--config", config, "--out", tmp_path / "o")
    assert rc == 0 and out.startswith("2 tunes")
    manifest = json.loads((tmp_path / "o" / "composition.json").read_text())
    assert manifest["options"]["temperature"] == {"token": 0.8}


def test_compose_without_a_seed_records_the_seed_it_drew(capsys, debug_run, tmp_path):
    import re

    rc, out, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 2,
                           "--no-wav", "--out", tmp_path / "a")
    assert rc == 0, err
    seed = json.loads((tmp_path / "a" / "composition.json").read_text())["options"]["seed"]
    assert isinstance(seed, int) and f"(seed {seed})" in out
    rc, again, _ = run_cli(capsys, "compose", "--model", debug_run / "best", "--num", 2,
                           "--no-wav", "--out", tmp_path / "b", "--seed", seed)
    assert rc == 0
    for a in sorted((tmp_path / "a").glob("*.abc")):  # the recorded seed composes them again
        assert a.read_text() == (tmp_path / "b" / a.name).read_text()
    assert re.search(r"\(seed \d+\)", again)


def test_a_runs_config_json_is_a_config_file(capsys, debug_run):
    """README: a run's config.json works as --config; the sizes the data decides (the
    vocabulary) are recomputed, not refused."""
    import json

    assert "vocab_size" in json.loads((debug_run / "config.json").read_text())["model"]
    rc, out, err = run_cli(capsys, "train", "--config", debug_run / "config.json",
                           "--print-config")
    assert rc == 0, err
    assert "hidden_size:" in out and "vocab_size" not in out


def test_a_flag_two_families_declare_says_what_it_does_in_each(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ("--balance-styles continue: draw training pairs so that every style is seen alike, "
            "however many tunes it has") in out
    assert "| continue-events, continue-remi: draw training pairs so that every style is seen "\
           "alike, however many pairs it has" in out
    # a text that names its family already is not prefixed twice
    assert "--home abc: the model also reads the letter of the key's tonic" in out
    assert "| remi: the model also reads the pitch class" in out and "abc: abc:" not in out
    # a flag only one family declares keeps its own text, with no family named
    assert "--phrases the model also reads where the phrases end" in out


def test_a_mistyped_flag_is_said_with_the_commands_usage_and_the_flag_meant(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compose", "--nmu", "4"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tunesmith compose")
    assert err.rstrip().endswith("tunesmith compose: error: unrecognized arguments: --nmu 4 "
                                 "(did you mean --num?)")


def test_resuming_a_finished_run_says_so_and_composes_nothing(capsys, debug_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(debug_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config | {"samples": 2}))  # its own: 2
    rc, out, err = run_cli(capsys, "train", "--resume", run, "--no-progress")
    assert rc == 0, err
    assert "the run is finished (step 30 of 30): nothing to train; give --steps N" in out + err
    assert not (run / "samples").exists()  # its own samples are not composed again
    rc, out, err = run_cli(capsys, "train", "--resume", run, "--no-progress", "--samples", 1)
    assert rc == 0, err
    assert len(list((run / "samples").glob("*.abc"))) == 1  # asked for: composed
    assert "done at step 30 in " in out and " s (this session)" in out  # not the run's time
    rc, _, err = run_cli(capsys, "train", "--resume", tmp_path / "nope")
    assert_one_line_error(rc, err, "nope: no such run folder")
    rc, _, err = run_cli(capsys, "compose", "--model", debug_run / "best" / "model.safetensors",
                         "--no-wav", "--out", tmp_path / "c")
    assert_one_line_error(rc, err, "not a tunesmith checkpoint", "give its folder")


def test_a_corpus_that_spells_keys_out_trains_a_model_that_reads_k_d(capsys, tmp_path):
    """irish.abc writes K:D Major: the model learns K:D, and a primer saying K:D (the
    README's) reads as its training tunes did."""
    from tests.conftest import write_book

    book = write_book(tmp_path / "book.abc", 40, seed=4)
    book.write_text(book.read_text().replace("K:D\n", "K:D Major\n"))
    assert "K:D Major" in book.read_text()
    rc, out, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", book, "--out",
                           tmp_path / "run", "--no-progress", "--samples", 0, "--steps", 3)
    assert rc == 0, err
    assert "best valid loss" in out and " nats/character (bits/character " in out
    assert "valid items; `tunesmith evaluate` scores them all)" in out  # debug: a subset
    meta = json.loads((tmp_path / "run" / "best" / "tunesmith.json").read_text())
    assert meta["representation"]["canonical_keys"] is True
    assert "j" not in meta["representation"]["vocab"]  # no "Major" left to learn
    rc, _, err = run_cli(capsys, "compose", "--model", tmp_path / "run" / "best", "--num", 1,
                         "--primer", "M:4/4\\nK:D Major\\n", "--no-wav", "--max-len", 60,
                         "--out", tmp_path / "c")
    assert rc == 0, err  # the primer's key is read as the model's tunes were


def test_a_primer_file_an_abc_model_cannot_read_says_what_it_takes(capsys, debug_run,
                                                                   tmp_path):
    (tmp_path / "take.wav").write_bytes(b"RIFF\0\0\0\0WAVE")
    rc, _, err = run_cli(capsys, "compose", "--model", debug_run / "best", "--primer",
                         tmp_path / "take.wav", "--no-wav", "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "take.wav: an ABC model reads ABC text: give an .abc file")
    assert ".mid" not in err


def test_a_second_train_into_a_run_being_written_is_refused(capsys, debug_run, abc_corpus,
                                                             tmp_path):
    from tunesmith.io.paths import WRITING

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / WRITING).write_text("1 train\n")  # another train, alive (pid 1), writing here
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", abc_corpus,
                         "--out", busy, "--no-progress", "--samples", 0, "--steps", 2)
    assert_one_line_error(rc, err, "another tunesmith train (process 1) is writing into "
                          "this folder")
    assert [p.name for p in busy.iterdir()] == [WRITING]  # nothing of this run written
    run = tmp_path / "run"
    shutil.copytree(debug_run, run)
    (run / WRITING).write_text("1 train\n")
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--steps", 40, "--no-progress")
    assert_one_line_error(rc, err, "another tunesmith train (process 1)")
    (run / WRITING).write_text(f"{2 ** 22 + 7} train\n")  # its writer is gone: taken over
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--steps", 32, "--no-progress",
                         "--samples", 0)
    assert rc == 0, err
    assert not (run / WRITING).exists()
    fresh = tmp_path / "fresh" / "run"  # a train that fails on its data leaves no folder
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", tmp_path / "none",
                         "--out", fresh, "--no-progress")
    assert rc == 2 and not (tmp_path / "fresh").exists()
