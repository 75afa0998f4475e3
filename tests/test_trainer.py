"""The trainer: exact resume, checkpoints, early stopping, interruption."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tunesmith.data.tokens import SequenceBatches, TokenWindows
from tunesmith.errors import CheckpointError
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.training.checkpoint import load_checkpoint, read_meta
from tunesmith.training.config import TrainConfig
from tunesmith.training.trainer import Trainer

TEXTS = [f"M:6/8\nL:1/8\nK:D\n{'DFA dAF|GBd gdB|' * (1 + i % 3)}AFD {i}|]\n" for i in range(40)]
REP = AbcChars.fit(TEXTS)
SEQS = [REP.encode_text(t) for t in TEXTS]
CFG = TrainConfig(steps=24, batch_size=4, seq_len=16, lr=5e-3, warmup=3, eval_every=8,
                  checkpoint_every=4, log_every=2, seed=3)


def make_trainer(run, cfg=CFG, resume=False):
    torch.manual_seed(123)  # different init noise must not matter on resume
    model = CharRNN(CharRNNConfig(vocab_size=len(REP.vocab), embedding_dim=8, hidden_size=16,
                                  dropout=0.2))
    return Trainer(model, REP, TokenWindows(SEQS[:30], cfg.seq_len, cfg.batch_size, cfg.seed),
                   SequenceBatches(SEQS[30:]), cfg, run, resume=resume, progress=False,
                   tensorboard=False)


def rows(run):
    with open(run / "metrics.csv") as f:
        return [(r["step"], r["split"], r["loss"], r["accuracy"]) for r in csv.DictReader(f)]


def test_resumed_run_reproduces_the_uninterrupted_run(tmp_path):
    straight = make_trainer(tmp_path / "a")
    straight.fit()
    interrupted = make_trainer(tmp_path / "b")
    # 11 is a multiple of neither log_every nor checkpoint_every: the stop itself saves
    assert interrupted.fit(stop_at=11)["step"] == 11
    resumed = make_trainer(tmp_path / "b", resume=True)
    assert resumed.step == 11
    resumed.fit()
    assert rows(tmp_path / "a") == rows(tmp_path / "b")
    a = load_checkpoint(tmp_path / "a" / "last").model.state_dict()
    b = load_checkpoint(tmp_path / "b" / "last").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_writes_checkpoints_metrics_and_curves(tmp_path):
    summary = make_trainer(tmp_path).fit()
    meta = read_meta(tmp_path / "best")
    assert meta["family"] == "char_rnn" and meta["representation"]["name"] == "abc_chars"
    assert meta["summary"]["best_valid"]["loss"] == summary["best_valid"]["loss"]
    assert (tmp_path / "curves.png").stat().st_size > 1000
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    for col in ("loss", "ppl", "bits", "accuracy", "lr", "tokens_per_s"):
        assert col in header
    ck = load_checkpoint(tmp_path / "best")
    assert ck.representation.to_dict() == REP.to_dict()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_early_stopping_stops_when_validation_stops_improving(tmp_path):
    # a learning rate this large makes validation loss worse after the first evaluation
    cfg = replace(CFG, steps=400, lr=3.0, warmup=0, eval_every=2, patience=2, clip=0)
    summary = make_trainer(tmp_path, cfg).fit()
    assert summary["stopped_early"] and summary["step"] < 400


def test_an_early_stopped_run_resumed_with_more_patience_goes_on(tmp_path):
    cfg = replace(CFG, steps=400, lr=3.0, warmup=0, eval_every=2, patience=2, clip=0)
    stopped = make_trainer(tmp_path, cfg).fit()["step"]
    assert make_trainer(tmp_path, cfg, resume=True).fit()["step"] == stopped  # still stopped
    summary = make_trainer(tmp_path, replace(cfg, patience=4), resume=True).fit()
    assert summary["step"] > stopped and summary["stopped_early"]


def _kill_between_the_renames(monkeypatch, trainer):
    """Save ``last`` and stop it dead after its first rename (last -> its old name)."""
    import tunesmith.training.checkpoint as ck

    real, calls = ck.os.replace, []

    def replace_then_die(a, b):
        calls.append(a)
        if Path(a).name == "last":
            real(a, b)
            raise SystemExit("killed")
        return real(a, b)

    monkeypatch.setattr(ck.os, "replace", replace_then_die)
    with pytest.raises(SystemExit):
        trainer.save("last")
    monkeypatch.setattr(ck.os, "replace", real)


def test_a_kill_between_the_checkpoint_renames_loses_nothing(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4))
    trainer.fit()
    _kill_between_the_renames(monkeypatch, trainer)
    assert not (tmp_path / "last").exists()
    leftovers = sorted(p.name for p in tmp_path.glob(".last*"))
    assert len(leftovers) == 3  # the journal, the old copy, the finished new one
    # a reader leaves everything as it is, and says what happened
    with pytest.raises(CheckpointError, match="interrupted"):
        load_checkpoint(tmp_path / "last")
    assert sorted(p.name for p in tmp_path.glob(".last*")) == leftovers
    # the writer (resume) finishes the swap from its journal
    assert make_trainer(tmp_path, replace(CFG, steps=8, eval_every=4), resume=True).step == 4
    assert not list(tmp_path.glob(".last*"))


def test_recovery_touches_only_the_names_its_journal_records(tmp_path):
    make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4)).fit()
    mine = [tmp_path / "last.tmp-important", tmp_path / "last.old", tmp_path / ".last.tmp-x"]
    for folder in mine:
        folder.mkdir()
        (folder / "keep.txt").write_text("user data")
    # a journal that names something else is not believed
    (tmp_path / ".last.swap.json").write_text('{"tmp": "../elsewhere", "old": "last.old"}')
    make_trainer(tmp_path, replace(CFG, steps=8, eval_every=4), resume=True)
    assert all((folder / "keep.txt").read_text() == "user data" for folder in mine)


def test_incompatible_checkpoint_is_refused(tmp_path):
    make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4)).fit()
    meta_path = tmp_path / "best" / "tunesmith.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="incompatible"):
        load_checkpoint(tmp_path / "best")
    with pytest.raises(CheckpointError, match="not a tunesmith checkpoint"):
        load_checkpoint(tmp_path)


def test_recovery_removes_a_journal_draft_left_by_a_kill(tmp_path):
    make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4)).fit()
    draft = tmp_path / ".last.swap.json.tmp"  # killed while write_json wrote the journal
    draft.write_text('{"folder": "la')
    make_trainer(tmp_path, replace(CFG, steps=8, eval_every=4), resume=True)
    assert not draft.exists() and (tmp_path / "last").is_dir()


def test_resume_refuses_a_checkpoint_of_another_model_size(tmp_path):
    make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4)).fit()
    model = CharRNN(CharRNNConfig(vocab_size=len(REP.vocab), embedding_dim=8,
                                  hidden_size=24))
    with pytest.raises(CheckpointError, match=r"model.safetensors: weights do not fit the "
                       r"model: tensor 'head.weight' has shape \[30, 16\], the model's is "
                       r"\[30, 24\]"):
        Trainer(model, REP, TokenWindows(SEQS[:30], 16, 4, 3), SequenceBatches(SEQS[30:]),
                CFG, tmp_path, resume=True, progress=False, tensorboard=False)


def test_training_state_must_match_the_optimiser(tmp_path):
    """An optimiser of another shape (one parameter group more) is refused before anything
    is restored, in one line naming the file."""
    from tunesmith.training.checkpoint import load_training_state

    make_trainer(tmp_path, replace(CFG, steps=4, eval_every=4)).fit()
    params = list(make_trainer(tmp_path / "other").model.parameters())
    optimizer = torch.optim.Adam([{"params": params[:2]}, {"params": params[2:]}])
    with pytest.raises(CheckpointError, match=r"training_state.json: damaged training "
                       r"state \(optimizer.param_groups has 1 groups"):
        load_training_state(tmp_path / "last", optimizer)


def test_a_step_zero_checkpoint_has_no_optimiser_state_and_resumes(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.save("last")  # interrupted before its first step
    resumed = make_trainer(tmp_path, resume=True)
    assert resumed.step == 0
    resumed.fit()
    straight = make_trainer(tmp_path / "straight")
    straight.fit()
    assert rows(tmp_path) == rows(tmp_path / "straight")


def test_gpu_generators_resume_by_index_on_as_many_gpus_as_are_visible(tmp_path,
                                                                       monkeypatch):
    """A run saved with 12 GPUs visible (``rng.cuda.10`` sorts before ``rng.cuda.2`` as a
    name) resumes where 12, 2 or no GPUs are visible: each visible GPU gets its own
    generator back, the others are left, and nothing fails."""
    cfg = replace(CFG, steps=2, eval_every=2, device="cpu")
    states = [torch.full((16,), i, dtype=torch.uint8) for i in range(12)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: list(states))
    make_trainer(tmp_path, cfg).fit()
    restored: list[tuple[int, int]] = []
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, device="cuda": restored.append((device, int(state[0]))))
    for visible in (12, 2):
        monkeypatch.setattr(torch.cuda, "device_count", lambda n=visible: n)
        restored.clear()
        assert make_trainer(tmp_path, cfg, resume=True).step == 2
        assert sorted(restored) == [(i, i) for i in range(visible)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored.clear()
    make_trainer(tmp_path, cfg, resume=True)
    assert restored == []


def test_elapsed_time_goes_on_across_a_resume(tmp_path):
    make_trainer(tmp_path).fit(stop_at=11)
    with open(tmp_path / "metrics.csv") as f:
        before = [float(r["elapsed_s"]) for r in csv.DictReader(f) if r["elapsed_s"]]
    make_trainer(tmp_path, resume=True).fit()
    with open(tmp_path / "metrics.csv") as f:
        logged = [(int(r["step"]), float(r["elapsed_s"])) for r in csv.DictReader(f)
                  if r["elapsed_s"]]
    after = [e for step, e in logged if step > 11]
    assert before and after and min(after) >= max(before) > 0
    assert [e for _, e in logged] == sorted(e for _, e in logged)
    state = json.loads((tmp_path / "last" / "training_state.json").read_text())
    assert state["elapsed_s"] >= logged[-1][1]


def test_a_checkpoint_without_elapsed_time_goes_on_from_the_log_and_a_bad_one_is_refused(
        tmp_path):
    make_trainer(tmp_path).fit(stop_at=12)
    path = tmp_path / "last" / "training_state.json"
    state = json.loads(path.read_text())
    del state["elapsed_s"]  # a checkpoint written before it was kept
    path.write_text(json.dumps(state))
    with open(tmp_path / "metrics.csv") as f:
        logged = [float(r["elapsed_s"]) for r in csv.DictReader(f) if r["elapsed_s"]]
    resumed = make_trainer(tmp_path, resume=True)
    assert resumed._elapsed_before() == logged[-1]
    state["elapsed_s"] = -1.0
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="elapsed_s is -1.0, not a non-negative"):
        make_trainer(tmp_path, resume=True)
