"""README: `tunesmith train --resume RUN` continues a run with its own settings, from any
folder: the run records its corpus as an absolute path, refuses --steps below the step it
is at (leaving the run as it was), and composes as many samples as it was started with."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith import app
from tunesmith.cli import main

from .conftest import write_book


def train_debug(corpus, run, *extra) -> None:
    assert main(["train", "--preset", "debug", "--corpus", str(corpus), "--out", str(run),
                 "--no-progress", "--samples", "0", "--steps", "4", *extra]) == 0


def folder_state(run: Path) -> dict:
    """Every file of a run folder with its bytes and modification time."""
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_run_on_a_relative_corpus_resumes_and_evaluates_from_any_folder(
        tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_book(data / "small.abc", 40, seed=3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tmp_path / "run"
    monkeypatch.chdir(data)
    train_debug("small.abc", run)
    recorded = json.loads((run / "config.json").read_text())["corpus"]
    assert recorded == str(data / "small.abc")
    meta = json.loads((run / "best" / "tunesmith.json").read_text())
    assert meta["summary"]["corpus"]["corpus"] == str(data / "small.abc")

    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "8", "--no-progress",
                 "--samples", "0"]) == 0
    assert "resuming at step 4 of 8" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(run / "best"), "--samples", "0"]) == 0
    assert "valid" in capsys.readouterr().out
    # the corpus moved: evaluate says so and how to go on, not "no such file"
    (data / "small.abc").rename(data / "moved.abc")
    assert main(["evaluate", "--model", str(run / "best"), "--samples", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{data / 'small.abc'}: the corpus this model was trained on is not here" in err
    assert "give --corpus" in err
    assert main(["evaluate", "--model", str(run / "best"), "--samples", "0", "--corpus",
                 str(data / "moved.abc")]) == 0


def test_only_the_paths_of_a_corpus_become_absolute(tmp_path, monkeypatch):
    """Built-in names, paths that are not there (their error names them as given) and
    continue-events' LABEL=PATH parts each keep their form; only the paths change."""
    (tmp_path / "jazz").mkdir()
    write_book(tmp_path / "a=b.abc", 3)  # a path with '=' is one path outside continue-events
    monkeypatch.chdir(tmp_path)

    def corpus(family, given):
        return app.plan(app.TrainRequest(family=family, corpus=given)).corpus

    assert corpus("continue-events", "Jazz=jazz,bach=bach-chorales") == (
        f"jazz={tmp_path / 'jazz'},bach=bach-chorales")
    assert corpus("continue-events", "jazz") == str(tmp_path / "jazz")
    assert corpus("abc", "a=b.abc") == str(tmp_path / "a=b.abc")
    assert corpus("abc", "folk-abc") == "folk-abc"
    assert corpus("abc", "missing.abc") == "missing.abc"
    assert corpus("continue-events", None) == "bach=bach-chorales,classical=classical"


def test_resuming_with_fewer_steps_than_done_is_refused_and_leaves_the_run_alone(
        tmp_path, abc_corpus, capsys):
    run = tmp_path / "run"
    train_debug(abc_corpus, run)
    before = folder_state(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "2", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == ("tunesmith: error: --steps is 2, but the run is already at "
                           "step 4: ask for more")
    assert "resuming" not in out
    assert folder_state(run) == before
    assert not (run / "samples").exists()


def test_a_run_started_without_samples_composes_none_when_resumed(tmp_path, abc_corpus):
    run = tmp_path / "run"
    train_debug(abc_corpus, run)
    assert json.loads((run / "config.json").read_text())["samples"] == 0
    result = app.resume(app.ResumeRequest(run=str(run), steps=6))  # the run's own: none
    assert result.summary["step"] == 6 and result.samples is None
    assert not (run / "samples").exists()
    result = app.resume(app.ResumeRequest(run=str(run), steps=8, samples=1))  # asked for
    assert len(list((run / "samples").glob("*.abc"))) == 1


def test_resuming_on_a_corpus_that_changed_says_so(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_book(data / "a.abc", 40, seed=3)
    write_book(data / "b.abc", 40, seed=4, start=41)
    run = tmp_path / "run"
    train_debug(data, run)
    assert main(["train", "--resume", str(run), "--steps", "6", "--no-progress"]) == 0
    assert "corpus has changed" not in capsys.readouterr().err
    (data / "b.abc").unlink()
    assert main(["train", "--resume", str(run), "--steps", "8", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "the corpus has changed since the run's last checkpoint (train " in err
    assert "it no longer continues exactly" in err
