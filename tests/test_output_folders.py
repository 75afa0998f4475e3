"""The folders a user names, as the README uses them: `compose --out jigs` then
`analyze jigs`, `evaluate --music --out DIR`, `analyze ... --out DIR`, `export RUN --out
DIR`, and a file where a folder is expected (or a folder where a file is): one line on
stderr naming the path, exit status 2, nothing overwritten."""

from __future__ import annotations

import json
import shutil

import pytest

from tunesmith.cli import main
from tunesmith.io.midi import write_midi
from tunesmith.io.read import read_piece

from .test_cli import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory, abc_corpus):
    """A debug run of 10 steps on the fixture corpus (a second or two)."""
    folder = tmp_path_factory.mktemp("runs") / "debug"
    rc = main(["train", "--preset", "debug", "--corpus", str(abc_corpus), "--out",
               str(folder), "--no-progress", "--samples", "0", "--steps", "10"])
    assert rc == 0
    return folder


def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder")
    return path


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- 1. analyze counts a piece written as .abc and .mid once ------------------------------

def test_analyze_counts_each_composed_tune_once(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "compose", "--num", 2, "--no-wav", "--seed", 0,
                         "--no-progress", "--out", tmp_path / "jigs")
    assert rc == 0, err
    tunes = sorted(p.name for p in (tmp_path / "jigs").glob("*.abc"))
    midis = sorted(p.name for p in (tmp_path / "jigs").glob("*.mid"))
    assert len(tunes) == 2 and midis  # the folder holds each playable tune twice
    rc, out, err = run_cli(capsys, "analyze", tmp_path / "jigs", "--out", tmp_path / "r",
                           "--no-progress")
    assert rc == 0, err
    assert f"{len(midis)} duplicate rendering" in out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["generated"]["pieces"] == 2 and summary["generated"]["skipped"] == []
    assert any(f"{len(midis)} duplicate rendering" in n for n in summary["notes"])
    pieces = [line.split(",")[1].partition("#")[0] for line in
              (tmp_path / "r" / "features.csv").read_text().splitlines()[1:]]
    assert pieces == [f"jigs/{t}" for t in tunes]  # the ABC text: it has meter and key


def test_analyze_prefers_the_abc_and_falls_back_to_a_midi_that_reads(
        capsys, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.abc").write_text("X:1\nT:a\nM:3/4\nL:1/8\nK:G\nGABc d2|e2d2B2|G6|]\n")
    write_midi(read_piece(folder / "a.abc"), folder / "a.mid")  # a rendering of a.abc
    write_midi(read_piece(folder / "a.abc"), folder / "b.mid")  # another piece
    (folder / "c.abc").write_text("this tune was lost\n")  # unreadable: its MIDI counts
    write_midi(read_piece(folder / "a.abc"), folder / "c.mid")
    rc, out, err = run_cli(capsys, "analyze", folder, "--out", tmp_path / "r",
                           "--no-progress")
    assert rc == 0, err
    assert "2 duplicate renderings skipped" in out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["generated"]["pieces"] == 3 and summary["generated"]["skipped"] == []
    pieces = [line.split(",")[1] for line in
              (tmp_path / "r" / "features.csv").read_text().splitlines()[1:]]
    assert pieces == ["mixed/a.abc#0", "mixed/b.mid", "mixed/c.mid"]


def test_analyze_counts_a_tune_book_and_files_named_one_by_one_as_they_are(capsys, tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    tune = "X:{}\nT:t\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n"
    (folder / "book.abc").write_text(tune.format(1) + "\n" + tune.format(2))
    write_midi(read_piece(folder / "book.abc"), folder / "book.mid")  # not "the" piece
    rc, out, err = run_cli(capsys, "analyze", folder, "--out", tmp_path / "r",
                           "--no-progress")
    assert rc == 0, err
    assert "duplicate" not in out
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["generated"][
        "pieces"] == 3
    (folder / "one.abc").write_text(tune.format(1))
    write_midi(read_piece(folder / "one.abc"), folder / "one.mid")
    rc, out, err = run_cli(capsys, "analyze", folder / "one.abc", folder / "one.mid",
                           "--out", tmp_path / "r2", "--no-progress")
    assert rc == 0, err  # named one by one: the user asked for both
    assert "duplicate" not in out
    assert json.loads((tmp_path / "r2" / "summary.json").read_text())["generated"][
        "pieces"] == 2


# --- 2. a report already in --out is kept unless --overwrite ------------------------------

def test_evaluate_music_refuses_a_folder_with_a_report_and_overwrite_replaces_it(
        capsys, run, tmp_path):
    argv = ["evaluate", "--music", "--model", run / "best", "--num", 3, "--draws", 2,
            "--out", tmp_path / "m", "--no-progress"]
    rc, _, err = run_cli(capsys, *argv)
    assert rc == 0, err
    first = tree(tmp_path / "m")
    assert sorted(first) == ["features.csv", "report.html", "summary.json"]
    rc, out, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, f"{tmp_path / 'm'}: already holds a report",
                          "--overwrite", "another --out")
    assert not out and tree(tmp_path / "m") == first
    rc, _, err = run_cli(capsys, *argv, "--overwrite")
    assert rc == 0, err
    assert sorted(tree(tmp_path / "m")) == sorted(first)


def test_evaluate_music_checks_its_folder_before_loading_the_model(capsys, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "summary.json").write_text("{}")
    argv = ["evaluate", "--music", "--model", tmp_path / "nosuch", "--out", tmp_path / "m"]
    rc, _, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, f"{tmp_path / 'm'}: already holds a report (summary.json)")
    rc, _, err = run_cli(capsys, *argv, "--overwrite")
    assert_one_line_error(rc, err, "nosuch")  # now it is the model that is missing


def test_analyze_refuses_a_folder_with_a_report_and_overwrite_replaces_it(capsys, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.abc").write_text("X:1\nT:a\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n")
    argv = ["analyze", tmp_path / "t", "--out", tmp_path / "r", "--no-progress"]
    assert run_cli(capsys, *argv)[0] == 0
    (tmp_path / "r" / "features.csv").write_text("mine")
    rc, out, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, f"{tmp_path / 'r'}: already holds a report",
                          "--overwrite")
    assert (tmp_path / "r" / "features.csv").read_text() == "mine"
    rc, _, err = run_cli(capsys, *argv, "--overwrite")
    assert rc == 0, err
    assert (tmp_path / "r" / "features.csv").read_text().startswith("set,piece,")


def test_a_folder_without_a_report_takes_one(capsys, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.abc").write_text("X:1\nT:a\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n")
    (tmp_path / "t" / "notes.txt").write_text("mine")
    rc, _, err = run_cli(capsys, "analyze", tmp_path / "t" / "a.abc", "--out", tmp_path / "t",
                         "--no-progress")
    assert rc == 0, err
    assert (tmp_path / "t" / "report.html").is_file()
    assert (tmp_path / "t" / "notes.txt").read_text() == "mine"


# --- 3. export: a new folder, or an earlier export ---------------------------------------

def test_export_refuses_a_folder_with_other_things_in_it(capsys, run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "RECIPE.md").write_text("my own notes")
    rc, out, err = run_cli(capsys, "export", run, "--out", tmp_path / "mine")
    assert_one_line_error(rc, err, f"{tmp_path / 'mine'}: is not empty (RECIPE.md)",
                          "another --out")
    assert not out and tree(tmp_path / "mine") == {"RECIPE.md": b"my own notes"}


@pytest.mark.parametrize("where", ["", "best", "last", "shipped"])
def test_export_never_writes_into_the_run(capsys, run, where):
    before = tree(run)
    rc, _, err = run_cli(capsys, "export", run, "--out", run / where)
    assert_one_line_error(rc, err, "the run being exported")
    assert tree(run) == before and not (run / "shipped").exists()


def test_export_refuses_another_run_and_its_checkpoints(capsys, run, tmp_path):
    shutil.copytree(run, tmp_path / "other")  # another user's run
    before = tree(tmp_path / "other")
    rc, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "other")
    assert_one_line_error(rc, err, f"{tmp_path / 'other'}: is a run folder")
    rc, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "other" / "best")
    assert_one_line_error(rc, err, "is a checkpoint of the run")
    assert tree(tmp_path / "other") == before


def test_export_of_a_checkpoint_folder_asks_for_the_run(capsys, run, tmp_path):
    rc, _, err = run_cli(capsys, "export", run / "best", "--out", tmp_path / "x")
    assert_one_line_error(rc, err, f"{run / 'best'}: is a checkpoint of the run {run}",
                          "give the run folder")
    assert not (tmp_path / "x").exists()


def test_export_again_over_an_earlier_export_updates_it(capsys, run, tmp_path):
    shipped = tmp_path / "shipped"
    rc, out, err = run_cli(capsys, "export", run, "--out", shipped, "--note", "note one")
    assert rc == 0, err
    assert sorted(tree(shipped)) == ["RECIPE.md", "model.safetensors", "tunesmith.json"]
    (shipped / "LICENSE").write_text("CC-BY")  # the shipper's own file stays
    rc, out, err = run_cli(capsys, "export", run, "--out", shipped, "--note", "note two")
    assert_one_line_error(rc, err, shipped, "holds an earlier export: give --overwrite")
    rc, out, err = run_cli(capsys, "export", run, "--out", shipped, "--note", "note two",
                           "--overwrite")
    assert rc == 0, err
    recipe = (shipped / "RECIPE.md").read_text()  # export always writes one: the new one
    assert recipe.rstrip().endswith("note two") and "note one" not in recipe
    assert (shipped / "LICENSE").read_text() == "CC-BY"
    assert (shipped / "model.safetensors").read_bytes() == \
        (run / "best" / "model.safetensors").read_bytes()


# --- 4. a file where a folder is expected -------------------------------------------------

def test_export_to_a_file(capsys, run, tmp_path):
    path = a_file(tmp_path)
    for out in (path, path / "sub"):
        rc, _, err = run_cli(capsys, "export", run, "--out", out)
        assert_one_line_error(rc, err, f"{path}: is a file, not a folder")
    assert path.read_text() == "not a folder"


def test_analyze_and_evaluate_music_to_a_file_before_any_work(capsys, tmp_path):
    path = a_file(tmp_path)
    # the input and the model do not exist: the folder is checked before either is read
    for argv in (["analyze", tmp_path / "nosuch"],
                 ["evaluate", "--music", "--model", tmp_path / "nosuch"]):
        rc, _, err = run_cli(capsys, *argv, "--out", path)
        assert_one_line_error(rc, err, f"{path}: is a file, not a folder")
    assert path.read_text() == "not a folder"


def test_render_out_under_a_file(capsys, tmp_path):
    (tmp_path / "a.abc").write_text("X:1\nT:a\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n")
    path = a_file(tmp_path)
    rc, _, err = run_cli(capsys, "render", tmp_path / "a.abc", "--to", "png", "--out",
                         path / "a")
    assert_one_line_error(rc, err, f"{path}: is a file, not a folder")


def test_train_to_a_file(capsys, abc_corpus, tmp_path):
    path = a_file(tmp_path)
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", abc_corpus,
                         "--out", path, "--no-progress", "--samples", "0", "--steps", "2")
    assert_one_line_error(rc, err, f"{path}: is a file, not a folder")
    rc, _, err = run_cli(capsys, "compose", "--family", "pianoroll", "--num", "1", "--no-wav",
                         "--out", path)
    assert_one_line_error(rc, err, f"{path}: is a file, not a folder")


# --- 5. a folder where a file is expected -------------------------------------------------

def test_render_a_folder(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "render", tmp_path)
    assert_one_line_error(rc, err, f"{tmp_path}: is a folder, not a file")
    assert not out


def test_an_events_primer_that_is_a_folder(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "compose", "--family", "events", "--primer", tmp_path,
                         "--num", 1, "--no-wav", "--out", tmp_path / "refused")
    assert_one_line_error(rc, err, f"{tmp_path}: is a folder, not a file")
    assert not (tmp_path / "refused").exists()


def test_only_the_folders_a_command_made_are_taken_away_again(tmp_path):
    from tunesmith.io.paths import first_missing, remove_made

    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "a" / "b"
    top = first_missing(out)
    assert top == tmp_path / "kept" / "a" and first_missing(tmp_path) is None
    out.mkdir(parents=True)
    (out.parent / "theirs.txt").write_text("x")  # something else landed in a meanwhile
    remove_made(out, top)
    assert not out.exists() and (tmp_path / "kept" / "a" / "theirs.txt").exists()
    (out).mkdir()
    (out.parent / "theirs.txt").unlink()
    remove_made(out, top)
    assert not (tmp_path / "kept" / "a").exists() and (tmp_path / "kept").is_dir()
