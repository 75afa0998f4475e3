"""Hostile files (tests/fuzz/hostile.py) through every command that reads a user's file:
each is rendered, refused in one line, or dropped from a corpus with its reason; none
traces back, hangs, blows up the memory or touches a file it was not given (an evil
pickle that ran would leave its marker). The default run takes the readers' cases
two at a time (render, a folder of them all for prepare and train, the primers that hung
or blew up, damaged checkpoints for compose, damaged run folders for export, config
files, piano-roll corpora); ``-m slow`` adds the folder for analyze and for training the
events family, damaged checkpoints for evaluate and export, and takes every case of
:data:`~tests.fuzz.cases.HOSTILE` one by one."""

from __future__ import annotations

import pytest

from tests.fuzz.cases import HOSTILE
from tests.fuzz.hostile import MARKER
from tests.fuzz.runner import BAD

from .conftest import none_bad

PRIMERS = ["long-note.abc", "long-note.musicxml", "far-notes.mid", "notes-at-zero.mid",
           "tiny-hang.abc", "zip-bomb-lying.mxl", "billion-laughs.musicxml", "evil.pt"]


def run(runner, models, prefix: str, names=None) -> dict:
    """The HOSTILE cases whose id starts with ``prefix:`` (those ``names`` only), run two
    at a time: {case name: result}. Fails on any traceback, hang, blowup or touched."""
    keys = [k for k in HOSTILE if k.split(":")[0] == prefix
            and (names is None or k.split(":", 1)[1] in names)]
    assert keys, prefix
    results = runner.run_all([HOSTILE[k](models) for k in keys])
    assert not none_bad(results), none_bad(results)
    return {r.case.name: r for r in results}


def refused(result, *fragments) -> bool:
    return result.outcome == "refused" and all(f in result.said for f in fragments)


def test_render_draws_or_refuses_each_hostile_file(runner, models):
    got = run(runner, models, "render")
    assert len(got) == 43
    assert refused(got["tiny-hang.abc"], "tiny-hang.abc", "(abc_meter;")
    assert refused(got["one-line-100kb.abc"], "(abc_tune_chars;")
    assert refused(got["long-note.abc"], "(note_beats;")
    assert refused(got["tracks-10000.mid"], "(tracks;")
    assert refused(got["zip-bomb.mxl"], "unpacked size", "(file_bytes;")
    assert refused(got["zip-bomb-lying.mxl"], "unpacks to more than the 1,000 bytes")
    assert refused(got["zip-many-members.mxl"], "(file_bytes;")
    assert refused(got["billion-laughs.musicxml"], "amplification")
    assert refused(got["notes-at-zero.mid"], "(render_notes;")


@pytest.mark.parametrize("command", ["prepare", "train-abc",
                                     pytest.param("analyze", marks=pytest.mark.slow),
                                     pytest.param("train-events", marks=pytest.mark.slow)])
def test_a_folder_of_hostile_files_is_read_file_by_file(runner, models, command):
    (result,) = run(runner, models, command, ["all-in-one-folder"]).values()
    assert result.outcome == "ok", result.line()


@pytest.mark.parametrize("family", ["events", "pianoroll"])
def test_compose_primer_refuses_the_files_that_hung_or_blew_up(runner, models, family):
    got = run(runner, models, f"primer-{family}", PRIMERS)
    assert refused(got["long-note.abc"], "(note_beats;")  # a 99,999,999-frame roll
    assert refused(got["tiny-hang.abc"], "(abc_meter;")
    assert refused(got["zip-bomb-lying.mxl"], "unpacks to more than")


@pytest.mark.parametrize("command", ["compose", pytest.param("evaluate", marks=pytest.mark.slow),
                                     pytest.param("export", marks=pytest.mark.slow)])
def test_a_damaged_checkpoint_is_refused_and_its_neighbours_kept(runner, models, command):
    got = run(runner, models, command)
    for name in ("weights-evil-pickle", "weights-evil-torch", "weights-header-2^63",
                 "weights-huge-shape", "meta-deep", "meta-evil-pickle", "meta-sparse-65mb"):
        assert refused(got[name]), got[name].line()
    assert got["evil-pt-beside"].outcome == "ok"  # the pickles beside it are never opened
    assert not any(MARKER in r.touched for r in got.values())


def test_a_damaged_run_folder_is_exported_or_refused(runner, models):
    got = run(runner, models, "export-run")
    assert refused(got["config-deep"], "run/config.json", "nested deeper than")
    assert refused(got["config-evil-pickle"], "run/config.json")
    assert got["decoys-in-run"].outcome == "ok"  # best.tmp-1, best.old, last.swap kept


def test_a_hostile_config_file_is_one_line(runner, models):
    got = run(runner, models, "config-render")
    assert all(r.outcome == "refused" for r in got.values()), got
    assert refused(got["deep-indent.yaml"], "nested too deeply")  # was a RecursionError


def test_a_hostile_piano_roll_corpus_is_one_line(runner, models):
    got = run(runner, models, "boulanger-evaluate")
    assert all(r.outcome == "refused" for r in got.values()), got
    assert refused(got["reference-bomb.pkl"], "piano rolls unpacked", "(file_bytes;")
    assert refused(got["evil.pkl"], "refusing to load")


@pytest.mark.slow
@pytest.mark.parametrize("key", list(HOSTILE))
def test_every_hostile_case(runner, models, key):
    result = runner.run(HOSTILE[key](models))
    assert result.outcome not in BAD, result.line()
