"""``train --ending-weight W``: each training tune's last note counts W times in the loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tunesmith.cli import main
from tunesmith.data.tokens import TokenWindows
from tunesmith.families.abc import _ending_weights
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.representations.abc_chars import AbcChars

TUNES = ["X:1\nM:4/4\nL:1/8\nK:G\nGABc d2B2|A2F2 G4|]\n",
         "X:2\nM:6/8\nL:1/8\nK:D\nFAd fed|cBA d3 z3|]\n",
         "X:3\nM:3/4\nL:1/8\nK:Em\nE2G2B2|e4 E,2|]\n"]


def test_the_last_note_and_its_length_carry_the_weight():
    rep = AbcChars.fit(TUNES)
    seqs = [rep.encode_text(t) for t in TUNES]
    weights = _ending_weights(rep, seqs, 4.0)
    for text, ids, w in zip(TUNES, seqs, weights, strict=True):
        assert len(w) == len(ids)
        marked = "".join(text[i - 1] for i in np.nonzero(w == 4.0)[0])  # ids[i] = text[i-1]
        assert marked == {"1": "G4", "2": "d3", "3": "E,2"}[text[2]]  # rests are not notes
        assert set(w.tolist()) == {1.0, 4.0}
    assert _ending_weights(rep, seqs, 1.0) is None  # weight 1: plain batches


def test_windows_carry_each_targets_weight():
    seqs = [[1] + [5 + (i % 7)] * (3 + i % 11) + [2] for i in range(50)]
    weights = [np.asarray(s, np.float32) / 10 for s in seqs]  # a weight that names its token
    batch = TokenWindows(seqs, 8, 6, seed=3, weights=weights).batch(5)
    assert torch.allclose(batch["weights"], batch["targets"].float() / 10)
    assert "weights" not in TokenWindows(seqs, 8, 6, seed=3).batch(5)


def test_the_loss_is_weighted_and_the_reported_nll_is_not():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(vocab_size=12, embedding_dim=8, hidden_size=16))
    inputs, targets = torch.randint(1, 12, (2, 9)), torch.randint(1, 12, (2, 9))
    plain = model.loss({"inputs": inputs, "targets": targets})
    ones = model.loss({"inputs": inputs, "targets": targets, "weights": torch.ones(2, 9)})
    assert torch.allclose(ones["loss"], plain["loss"])
    w = torch.ones(2, 9)
    w[0, 3] = 10.0
    heavy = model.loss({"inputs": inputs, "targets": targets, "weights": w})
    assert torch.allclose(heavy["nll"], plain["nll"])
    each = torch.nn.functional.cross_entropy(model(inputs)[0].flatten(0, 1), targets.flatten(),
                                             reduction="none")
    assert torch.allclose(heavy["loss"], (each * w.flatten()).sum() / w.sum())
    assert not torch.allclose(heavy["loss"], plain["loss"])


def test_the_transformer_weighs_its_loss_too():
    from tunesmith.models.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    model = Transformer(TransformerConfig(d_model=16, num_layers=1, attention_heads=2,
                                          ff_size=32, context=16, heads={"token": 12})).eval()
    inputs, targets = torch.randint(1, 12, (2, 9)), torch.randint(1, 12, (2, 9))
    plain = model.loss({"inputs": inputs, "targets": targets})
    w = torch.ones(2, 9)
    assert torch.allclose(model.loss({"inputs": inputs, "targets": targets,
                                      "weights": w})["loss"], plain["loss"])
    w[1, 2] = 8.0
    heavy = model.loss({"inputs": inputs, "targets": targets, "weights": w})
    assert torch.allclose(heavy["nll"], plain["nll"])
    assert not torch.allclose(heavy["loss"], plain["loss"])


@pytest.mark.parametrize("arch", ["char_rnn", "transformer"])
def test_train_with_an_ending_weight_records_it(tmp_path, abc_corpus, arch):
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--arch", arch, "--ending-weight", "5",
                 "--corpus", str(abc_corpus), "--out", str(run), "--no-progress",
                 "--samples", "0", "--steps", "6"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["ending_weight"] == 5.0
    assert main(["evaluate", "--model", str(run / "best"), "--samples", "0"]) == 0


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_a_weight_that_is_not_positive_is_refused_in_one_line(tmp_path, abc_corpus, capsys,
                                                              bad):
    rc = main(["train", "--preset", "debug", "--ending-weight", bad, "--corpus",
               str(abc_corpus), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "ending_weight" in err.replace("-", "_") and "> 0" in err
    assert len(err.splitlines()) == 1


def test_a_run_goes_on_with_its_endings_weighted(tmp_path, abc_corpus, capsys):
    """``train --resume RUN --steps N --ending-weight W``: a fine-tune of a trained run's
    endings (how the shipped folk model was made); what the model reads stays the run's."""
    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--corpus", str(abc_corpus), "--out",
                 str(run), "--no-progress", "--samples", "0", "--steps", "6"]) == 0
    assert main(["train", "--resume", str(run), "--steps", "10", "--ending-weight", "4",
                 "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["ending_weight"] == 4.0 and config["train"]["steps"] == 10
    assert "--ending-weight 4" in config["resumed_with"][-1]
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "12", "--home",
                 "--no-progress"]) != 0
    assert "drop --home" in capsys.readouterr().err


def test_the_weighted_run_chooses_its_best_checkpoint_afresh(tmp_path, abc_corpus):
    """Weighted, validation (unweighted) may be a little worse than before the fine-tune:
    the best checkpoint is then the fine-tune's, not the run's from before it."""
    from tunesmith.training.checkpoint import read_meta

    run = tmp_path / "run"
    assert main(["train", "--preset", "debug", "--corpus", str(abc_corpus), "--out",
                 str(run), "--no-progress", "--samples", "0", "--steps", "6",
                 "--eval-every", "3", "--checkpoint-every", "3"]) == 0
    assert main(["train", "--resume", str(run), "--steps", "9", "--ending-weight", "50",
                 "--lr", "1e-9", "--no-progress"]) != 0  # --lr is the run's own: refused
    state = run / "last" / "training_state.json"  # a best from before that nothing beats
    saved = json.loads(state.read_text())
    state.write_text(json.dumps(saved | {"best": {"loss": 0.0, "step": 6}}))
    assert main(["train", "--resume", str(run), "--steps", "9", "--no-progress"]) == 0
    assert read_meta(run / "best")["summary"]["step"] == 6  # plain: the old best stays
    state = run / "last" / "training_state.json"
    state.write_text(json.dumps(json.loads(state.read_text()) | {"best": {"loss": 0.0,
                                                                         "step": 6}}))
    assert main(["train", "--resume", str(run), "--steps", "12", "--ending-weight", "50",
                 "--no-progress"]) == 0
    assert read_meta(run / "best")["summary"]["step"] == 12  # weighted: the fine-tune's
