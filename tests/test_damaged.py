"""Damaged checkpoints and run metadata, where a user meets them (issue 24, item 5, 9,
10): every damage is one line naming the file, exit 2, never a traceback, a hang or a
model that loads and prints ``nll nan``. A copy of the trained ``debug_run`` is damaged
and handed to ``compose --model``, ``evaluate --model``, ``export`` and ``train
--resume``."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from .conftest import make_tune
from .test_cli import assert_one_line_error, run_cli

DEEP = "[" * 100_000 + "]" * 100_000  # a RecursionError for json.loads


def edit_json(name):
    """A damage that rewrites the JSON file ``name`` with ``change(obj) -> obj``."""
    def wrap(change):
        def damage(folder):
            path = folder / name
            path.write_text(json.dumps(change(json.loads(path.read_text()))))
            return path
        return damage
    return wrap


def set_at(obj, keys, value):
    target = obj
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return obj


def meta(*keys, value):
    return edit_json("tunesmith.json")(lambda m: set_at(m, keys, value))


def vocab(change):
    return edit_json("tunesmith.json")(
        lambda m: set_at(m, ("representation", "vocab"), change(m["representation"]["vocab"])))


def write(name, data: bytes | str):
    def damage(folder):
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path
    return damage


def remove(name):
    def damage(folder):
        (folder / name).unlink()
        return folder / name
    return damage


def truncate(name, keep=0.5):
    def damage(folder):
        path = folder / name
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * keep)])
        return path
    return damage


def tensors(name, change):
    """Rewrite the safetensors file ``name`` with ``change(dict of tensors)``."""
    def damage(folder):
        path = folder / name
        t = load_file(str(path))
        change(t)
        save_file(t, str(path))
        return path
    return damage


def set_tensor(key_part, make):
    def change(t):
        key = sorted(k for k in t if key_part in k)[0]
        t[key] = make(t[key])
    return change


def nan_at(v):
    v = v.clone()
    v.view(-1)[3] = float("nan")
    return v


def inf_at(v):
    v = v.clone()
    v.view(-1)[0] = float("inf")
    return v


# (id, damage, what the one line says); applied to best/ (compose, evaluate, export) and
# to last/ (train --resume)
CHECKPOINT_DAMAGES = [
    ("deep-json", write("tunesmith.json", DEEP), "nested deeper than"),
    ("not-json", write("tunesmith.json", "{'format_version': 1"), "damaged tunesmith.json"),
    ("binary-json", write("tunesmith.json", b"\xff\xfe\x00garbage"), "not UTF-8"),
    ("json-list", write("tunesmith.json", "[1, 2]"), "incompatible"),
    ("version-string", meta("format_version", value="1"), "incompatible"),
    ("unknown-family", meta("family", value="char_cnn"), "family is 'char_cnn'"),
    ("family-list", meta("family", value=["char_rnn"]), "family is ['char_rnn']"),
    ("config-type", meta("model_config", "hidden_size", value="48"), "hidden_size"),
    ("config-unknown", meta("model_config", "width", value=3), "width"),
    ("config-huge", meta("model_config", "hidden_size", value=10**12), "hidden_size"),
    ("config-list", meta("model_config", value=[1]), "model_config is not"),
    ("representation-list", meta("representation", value=[]), "representation is not"),
    ("representation-name", meta("representation", "name", value="events"),
     "representation"),
    ("vocab-no-unk", vocab(lambda v: [s for s in v if s != "<unk>"]), "'<unk>'"),
    ("vocab-duplicate", vocab(lambda v: v[:-1] + [v[4]]), "duplicate"),
    ("vocab-empty", vocab(lambda v: []), "vocabulary symbol 0 must be '<pad>'"),
    ("vocab-only-specials", vocab(lambda v: v[:4]), "no symbol besides the specials"),
    ("vocab-multichar", vocab(lambda v: v[:-1] + ["ab"]), "single characters"),
    ("vocab-not-strings", vocab(lambda v: v[:-1] + [7]), "not a string"),
    ("vocab-not-list", vocab(lambda v: "".join(v[4:])), "not a list"),
    ("vocab-size", vocab(lambda v: v + ["~"]), "vocab_size is"),
    ("summary-loss", meta("summary", "best_valid", "loss", value="low"), "best_valid.loss"),
    ("summary-list", meta("summary", value=[]), "summary is not"),
    ("weights-1-byte", write("model.safetensors", b"x"), "1 byte"),
    ("weights-empty", write("model.safetensors", b""), "0 bytes"),
    ("weights-truncated", truncate("model.safetensors"), "model.safetensors"),
    ("weights-header-only", truncate("model.safetensors", 0.02), "model.safetensors"),
    ("weights-garbage", write("model.safetensors", bytes(range(256)) * 40), "damaged"),
    ("weights-nan", tensors("model.safetensors", set_tensor("weight_hh", nan_at)),
     "NaN or infinite"),
    ("weights-inf", tensors("model.safetensors", set_tensor("embed", inf_at)),
     "NaN or infinite"),
    ("weights-int8", tensors("model.safetensors",
                             set_tensor("embed", lambda v: v.to(torch.int8))),
     "not floating point"),
    ("weights-shape", tensors("model.safetensors", set_tensor("embed", lambda v: v[:-1])),
     "has shape"),
    ("weights-missing", tensors("model.safetensors",
                                lambda t: t.pop(sorted(t)[0])), "is missing"),
    ("weights-extra", tensors("model.safetensors",
                              lambda t: t.update(extra=torch.zeros(2))), "'extra'"),
]

STATE_DAMAGES = [
    ("state-empty-object", write("training_state.json", "{}"), "step is None"),
    ("state-step-string", edit_json("training_state.json")(lambda s: s | {"step": "x"}),
     "step is 'x'"),
    ("state-step-negative", edit_json("training_state.json")(lambda s: s | {"step": -1}),
     "step is -1"),
    ("state-deep", write("training_state.json", DEEP), "nested deeper than"),
    ("state-no-optimizer", edit_json("training_state.json")(
        lambda s: {k: v for k, v in s.items() if k != "optimizer"}), "optimizer"),
    ("state-groups", edit_json("training_state.json")(
        lambda s: set_at(s, ("optimizer", "param_groups"), [])), "param_groups"),
    ("state-betas", edit_json("training_state.json")(
        lambda s: set_at(s, ("optimizer", "param_groups", 0, "betas"), "x")), "betas"),
    ("state-best", edit_json("training_state.json")(lambda s: s | {"best": "x"}), "best"),
    ("state-acc", edit_json("training_state.json")(lambda s: s | {"acc": []}), "acc"),
    ("state-tensors-truncated", truncate("training_state.safetensors"),
     "training_state.safetensors"),
    ("state-tensors-1-byte", write("training_state.safetensors", b"\x00"), "1 byte"),
    ("state-tensors-missing", remove("training_state.safetensors"), "the file is missing"),
    ("state-optim-shape", tensors("training_state.safetensors",
                                  set_tensor("exp_avg_sq", lambda v: v[:1])), "shape"),
    ("state-optim-missing", tensors("training_state.safetensors",
                                    lambda t: t.pop("optim.2.exp_avg")), "parameter 2"),
    ("state-optim-nan", tensors("training_state.safetensors",
                                set_tensor("optim.0.exp_avg", nan_at)), "NaN"),
    ("state-rng-dtype", tensors("training_state.safetensors",
                                set_tensor("rng.torch", lambda v: v.float())), "uint8"),
    ("state-rng-missing", tensors("training_state.safetensors",
                                  lambda t: t.pop("rng.torch")), "rng.torch"),
]


def _where(folder, damage):
    """Apply ``damage``; the file the message must name."""
    return damage(folder)


@pytest.fixture
def run(debug_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(debug_run, copy)
    return copy


IDS = [d[0] for d in CHECKPOINT_DAMAGES]


@pytest.mark.parametrize("name,damage,fragment", CHECKPOINT_DAMAGES, ids=IDS)
def test_compose_refuses_a_damaged_checkpoint(capsys, run, tmp_path, name, damage, fragment):
    where = _where(run / "best", damage)
    rc, _, err = run_cli(capsys, "compose", "--model", run / "best", "--num", 1, "--no-wav",
                         "--max-len", 20, "--out", tmp_path / "out")
    assert_one_line_error(rc, err, where, fragment)


@pytest.mark.parametrize("name,damage,fragment", CHECKPOINT_DAMAGES, ids=IDS)
def test_evaluate_refuses_a_damaged_checkpoint(capsys, run, name, damage, fragment):
    where = _where(run / "best", damage)
    rc, out, err = run_cli(capsys, "evaluate", "--model", run / "best", "--samples", 0)
    assert_one_line_error(rc, err, where, fragment)
    assert "nan" not in out


@pytest.mark.parametrize("name,damage,fragment", CHECKPOINT_DAMAGES, ids=IDS)
def test_export_refuses_a_damaged_checkpoint(capsys, run, tmp_path, name, damage, fragment):
    where = _where(run / "best", damage)
    rc, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "shipped")
    assert_one_line_error(rc, err, where, fragment)


@pytest.mark.parametrize("name,damage,fragment", CHECKPOINT_DAMAGES + STATE_DAMAGES,
                         ids=IDS + [d[0] for d in STATE_DAMAGES])
def test_resume_refuses_a_damaged_last_checkpoint(capsys, run, name, damage, fragment):
    before = sorted(p.name for p in run.iterdir())
    where = _where(run / "last", damage)
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--samples", 0, "--no-progress")
    assert_one_line_error(rc, err, where, fragment)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing made, nothing removed


def test_deep_config_json_is_one_line_for_resume_and_export(capsys, run, tmp_path):
    (run / "config.json").write_text(DEEP)
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--samples", 0, "--no-progress")
    assert_one_line_error(rc, err, run / "config.json", "nested deeper than")
    rc, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "shipped")
    assert_one_line_error(rc, err, run / "config.json", "nested deeper than")


def test_a_damaged_journal_is_ignored_by_the_writer(capsys, run):
    (run / ".last.swap.json").write_text(DEEP)
    rc, _, err = run_cli(capsys, "train", "--resume", run, "--samples", 0, "--no-progress")
    assert rc == 0, err
    assert not (run / ".last.swap.json").exists()


# --- metrics.csv: reported, the bad rows dropped, the file as it was kept --------------

def _resume_noting(capsys, run):
    """Resume (nothing left to train); (rc, everything it said, including warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run_cli(capsys, "train", "--resume", run, "--samples", 0,
                               "--no-progress")
    return rc, out + err + "".join(str(w.message) for w in caught)


def _rows(path):
    return path.read_text().splitlines()


@pytest.mark.parametrize("junk,dropped", [
    ("x,train,1.0\n", 1),  # a step that is not a number
    ("12,train\n", 1),  # missing columns
    ("12,train,1,2,3,4,5,6,7,8,9,10,11\n", 1),  # extra columns
    ("12,train,low,,,,,,,\n", 1),  # a value that is not a number
    ("-3,train,1,,,,,,,\n\n12,,1,,,,,,,\n", 2),  # a negative step, an empty split
])
def test_junk_rows_in_metrics_csv_are_dropped_and_said(capsys, run, junk, dropped):
    path = run / "metrics.csv"
    good = _rows(path)
    lines = good[:3] + [junk.rstrip("\n")] + good[3:]
    path.write_text("\n".join(lines) + "\n")
    rc, said = _resume_noting(capsys, run)
    assert rc == 0, said
    assert f"dropped {dropped} row" in said and "metrics.csv.damaged" in said
    assert _rows(path) == [ln.replace("\r", "") for ln in good]
    assert (run / "metrics.csv.damaged").read_text() == "\n".join(lines) + "\n"


@pytest.mark.parametrize("content", [bytes(range(256)) * 8, b"\x00\x01\x02",
                                     b"a,b,c\n1,2,3\n", b""])
def test_a_metrics_csv_that_is_no_table_is_started_afresh(capsys, run, content):
    (run / "metrics.csv").write_bytes(content)
    rc, said = _resume_noting(capsys, run)
    assert rc == 0, said
    assert "started afresh" in said
    assert (run / "metrics.csv.damaged").read_bytes() == content
    assert _rows(run / "metrics.csv")[0].startswith("step,split,")


def test_an_unterminated_last_metrics_row_is_a_kill_not_damage(capsys, run):
    path = run / "metrics.csv"
    good = path.read_text()
    path.write_text(good + "3")  # a kill while "35,train,..." was being appended
    rc, said = _resume_noting(capsys, run)
    assert rc == 0 and "dropped" not in said and "afresh" not in said
    assert path.read_text().replace("\r", "") == good.replace("\r", "")
    assert not (run / "metrics.csv.damaged").exists()


# --- item 10: what the message blames ---------------------------------------------------

@pytest.mark.parametrize("train", [[[60, 64]], [[]], [list(range(21, 109))] * 3],
                         ids=["one-frame", "silent-frame", "all-keys-on"])
def test_a_tiny_pianoroll_split_starts_with_finite_biases(capsys, tmp_path, train):
    corpus = tmp_path / "tiny.json"
    corpus.write_text(json.dumps({"train": [train], "valid": [[[60, 64], [62]]],
                                  "test": [[[60]]]}))
    rc, out, err = run_cli(capsys, "train", "--family", "pianoroll", "--preset", "debug",
                           "--corpus", corpus, "--out", tmp_path / "r", "--steps", 3,
                           "--samples", 0, "--no-progress")
    assert rc == 0, err
    assert "diverged" not in err
    weights = load_file(str(tmp_path / "r" / "last" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_copies_of_one_tune_are_said_to_be_copies(capsys, tmp_path):
    import random

    tune = make_tune(1, random.Random(0))
    corpus = tmp_path / "copies.abc"
    corpus.write_text("\n".join(tune.replace("X:1", f"X:{i}") for i in range(1, 501)))
    rc, _, err = run_cli(capsys, "train", "--preset", "debug", "--corpus", corpus,
                         "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(rc, err, corpus, "500 tunes are only 1 distinct tune",
                          "copies always land in the same split")


# --- the other representations' fields ----------------------------------------------

@pytest.mark.parametrize("family,key,value,fragment", [
    ("events", "time_bins", [0, 1 / 9973, 1 / 9967, 4], "grid"),
    ("events", "time_bins", [0, "1/8", 1], "time_bins"),
    ("events", "qpm", "fast", "qpm"),
    ("events", "qpm", 1e300, "qpm"),
    ("events", "velocity_bins", 2.5, "velocity_bins"),
    ("events", "velocity_bins", 8, "velocity_classes is 17"),
    ("events", "max_note_beats", -1, "max_note_beats"),
    ("events", "note_classes", {"keys": [0, 127]}, "note_classes"),
    ("pianoroll", "steps_per_beat", 2.5, "steps_per_beat"),
    ("pianoroll", "steps_per_beat", 10**9, "steps_per_beat"),
    ("pianoroll", "qpm", 0, "qpm"),
    ("pianoroll", "velocity", 300, "velocity"),
    ("pianoroll", "low", 0, "keys"),
])
def test_events_and_pianoroll_fields_are_checked(capsys, tmp_path, family, key, value,
                                                   fragment):
    from tunesmith import families

    ck = tmp_path / family
    shutil.copytree(families.pretrained_dir(family), ck)
    path = meta("representation", key, value=value)(ck)
    rc, _, err = run_cli(capsys, "compose", "--model", ck, "--num", 1, "--no-wav",
                         "--max-len", 8, "--out", tmp_path / "out")
    assert_one_line_error(rc, err, path, fragment)
