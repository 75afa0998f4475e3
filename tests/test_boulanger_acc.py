"""The Boulanger benchmark's two frame-level accuracies: the expected-count ACC and the
predicted-frame ACC (``accuracy_bl2012``), on examples worked out by hand."""

import csv
import math

import numpy as np
import pytest
import torch

from tunesmith import models
from tunesmith.models.layers import frame_accuracy_counts, predicted_frame_counts

# 3 frames x 4 keys: the model's P(key on | past) and the true frames
PROBS = torch.tensor([[0.9, 0.6, 0.2, 0.0],
                      [0.4, 0.8, 0.5, 0.1],
                      [0.7, 0.3, 0.0, 0.55]])
FRAMES = torch.tensor([[1.0, 0, 0, 0],
                       [1, 1, 0, 0],
                       [0, 0, 1, 1]])


def test_predicted_frame_counts_by_hand():
    # predicted frames, the keys with p > 0.5 (0.5 itself is off): {0, 1}, {1}, {0, 3}
    # frame 1: TP key 0, FP key 1; frame 2: TP key 1, FN key 0; frame 3: TP key 3,
    # FP key 0, FN key 2
    c = predicted_frame_counts(PROBS > 0.5, FRAMES)
    assert {k: v.item() for k, v in c.items()} == {"tp_pred": 3, "fp_pred": 2, "fn_pred": 2}
    acc = c["tp_pred"] / (c["tp_pred"] + c["fp_pred"] + c["fn_pred"])
    assert acc.item() == pytest.approx(3 / 7)
    # the mask drops frame 3: TP 2, FP 1, FN 1
    masked = predicted_frame_counts(PROBS[None] > 0.5, FRAMES[None],
                                    torch.tensor([[True, True, False]]))
    assert [masked[k].item() for k in ("tp_pred", "fp_pred", "fn_pred")] == [2, 1, 1]


def test_expected_counts_by_hand_differ_from_the_predicted_frame():
    # E[TP] = sum p v = 0.9 + (0.4 + 0.8) + 0.55 = 2.65
    # E[FP] = sum p (1 - v) = (0.6 + 0.2) + (0.5 + 0.1) + (0.7 + 0.3) = 2.4
    # E[FN] = sum (1 - p) v = 0.1 + (0.6 + 0.2) + (1.0 + 0.45) = 2.35
    c = frame_accuracy_counts(PROBS, FRAMES)
    assert [c[k].item() for k in ("tp", "fp", "fn")] == pytest.approx([2.65, 2.4, 2.35])
    expected = (c["tp"] / (c["tp"] + c["fp"] + c["fn"])).item()
    assert expected == pytest.approx(2.65 / 7.4)  # 35.8%, against 3/7 = 42.9% predicted


def test_the_nade_greedy_frame_turns_on_exactly_the_keys_it_finds_likely():
    from tunesmith.models.rnn_nade import RnnNade, RnnNadeConfig

    torch.manual_seed(1)
    model = RnnNade(RnnNadeConfig(n_visible=8, rnn_hidden=3, nade_hidden=6))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 2.0)
    bv, bh = torch.randn(50, 8), torch.randn(50, 6)
    with torch.no_grad():
        g = model.greedy_frame(bv, bh)
        # the logits of p(v_i | v_<i) along the greedy frame itself: positive iff chosen
        logits = model.logits(g, bv, bh)
    assert set(g.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(g, (logits > 0).float())
    # with no interaction between keys (W = 0) it is each key's own p > 0.5
    with torch.no_grad():
        model.W.zero_()
        assert torch.equal(model.greedy_frame(bv, bh),
                           (torch.sigmoid(model.logits(g, bv, bh)) > 0.5).float())


def test_the_rbm_mode_frame_finds_the_most_probable_frame_of_a_small_rbm():
    import itertools

    from tunesmith.models.rnn_rbm import RnnRbm, RnnRbmConfig

    torch.manual_seed(0)
    n = 6
    model = RnnRbm(RnnRbmConfig(n_visible=n, rnn_hidden=3, rbm_hidden=4))
    with torch.no_grad():
        model.W.normal_(0, 1.5)
    bv, bh = torch.randn(5, n), torch.randn(5, 4)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))  # (64, n)
    with torch.no_grad():
        f = model.free_energy(every[:, None], bv, bh)  # (64, 5)
        exact = every[f.argmin(0)]  # (5, n): the most probable frame of each row
        gen = torch.Generator().manual_seed(0)
        v, p = model.chains(bv, bh, samples=200, steps=10, generator=gen)
        found = model.mode_frame(v, p, bv, bh)
    assert torch.equal(found, exact)


def _fixed_bernoulli_rnn(logits: torch.Tensor):
    """A bernoulli_rnn whose prediction ignores the past: P(key on) = sigmoid(logits)."""
    from tunesmith.models.bernoulli_rnn import BernoulliRnn, BernoulliRnnConfig

    model = BernoulliRnn(BernoulliRnnConfig(n_visible=88, rnn_hidden=4)).eval()
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.copy_(logits)
    return model


def test_the_protocol_sums_predicted_frame_counts_over_all_frames():
    from tunesmith.evaluation.boulanger import frame_protocol

    logits = torch.full((88,), -3.0)
    logits[[0, 1]] = 2.0  # the predicted frame is always keys {0, 1}
    model = _fixed_bernoulli_rnn(logits)
    a = np.zeros((2, 88), np.uint8)
    a[0, [0, 2]] = 1  # TP key 0, FP key 1, FN key 2
    a[1, 1] = 1  # TP key 1, FP key 0
    b = np.zeros((1, 88), np.uint8)  # an empty frame: FP keys 0 and 1
    m = frame_protocol(model, [a, b])
    assert m["frames"] == 3
    assert m["accuracy_bl2012"] == pytest.approx(2 / 7, rel=1e-6)  # TP 2, FP 4, FN 1
    # not the mean over sequences: (2 / 5 + 0 / 2) / 2 = 0.2
    assert abs(m["accuracy_bl2012"] - 0.2) > 0.05
    # the expected ACC from the same marginals, by hand
    p = torch.sigmoid(logits).double()
    v = torch.from_numpy(np.concatenate([a, b])).double()
    tp, fp, fn = (p * v).sum(), (p * (1 - v)).sum(), ((1 - p) * v).sum()
    assert m["accuracy"] == pytest.approx((tp / (tp + fp + fn)).item(), rel=1e-5)


@pytest.mark.parametrize("family", ["rnn_nade", "transformer_nade", "bernoulli_rnn", "rnn_rbm"])
def test_every_frame_model_reports_predicted_frame_counts(family):
    torch.manual_seed(0)
    small = {"rnn_nade": {"rnn_hidden": 6, "nade_hidden": 5},
             "transformer_nade": {"d_model": 8, "num_layers": 1, "attention_heads": 2,
                                  "ff_size": 16, "nade_hidden": 5},
             "bernoulli_rnn": {"rnn_hidden": 6},
             "rnn_rbm": {"rnn_hidden": 6, "rbm_hidden": 5, "ais_chains": 2, "ais_betas": 5,
                         "gibbs_steps": 2}}[family]
    model = models.build(family, {"n_visible": 10, **small}).eval()
    frames = (torch.rand(3, 7, 10) < 0.3).float()
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[2, 4:] = False
    with torch.no_grad():
        out = model.loss({"frames": frames, "mask": mask})
    n = mask.sum().item()
    counts = {k: out[k].item() * n for k in ("tp_pred", "fp_pred", "fn_pred")}
    for v in counts.values():  # whole keys, summed over the scored frames
        assert v == pytest.approx(round(v), abs=1e-4) and v >= 0
    # every sounding key of a scored frame is either a TP or an FN
    assert counts["tp_pred"] + counts["fn_pred"] == pytest.approx(frames[mask].sum().item())


def _row(**kw):
    from tunesmith.evaluation.boulanger import PUBLISHED, Row

    base = dict(dataset="jsb", arch="rnn_nade", preset="tuned", nll=5.5, nll_spread=0.0,
                accuracy=0.2012, accuracy_bl2012=0.3456, frames=4725, train_seconds=10.0,
                eval_seconds=2.0, steps=1500, stopped_early=False, run="runs/jsb",
                ais=None, published=PUBLISHED["rnn_nade"]["jsb"])
    return Row(**(base | kw))


def test_the_tables_report_both_accuracies(tmp_path):
    from tunesmith.evaluation.boulanger import format_row, read_rows, write_tables

    csv_path, md_path = write_tables([_row()], tmp_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["test_acc"] == "0.2012" and rows[0]["test_acc_bl2012"] == "0.3456"
    assert list(rows[0])[3] == "test_nll"  # the columns before the new one stay put
    md = md_path.read_text()
    assert "(20.12% / 34.56%)" in md and "predicted-frame ACC" in md
    assert "20.12% expected, 34.56% predicted frame" in format_row(_row())
    back = read_rows(csv_path)[0]
    assert back.accuracy == pytest.approx(0.2012) and back.accuracy_bl2012 == pytest.approx(0.3456)


def test_one_ais_run_shows_no_spread_and_one_run_is_one_row_however_written(tmp_path,
                                                                              monkeypatch):
    from tunesmith.evaluation.boulanger import format_row, read_rows, write_tables

    one = _row(arch="rnn_rbm", nll_spread=math.nan, ais=[16, 1000, 1],
               published=(None, None, ""))
    two = _row(arch="rnn_rbm", nll_spread=0.0123, ais=[16, 1000, 2], run="runs/two",
               published=(None, None, ""))
    assert "(one AIS run)" in format_row(one) and "+/-" not in format_row(one)
    assert "+/- 0.012" in format_row(two) and "+/-" not in format_row(_row())
    monkeypatch.chdir(tmp_path)
    write_tables([one], tmp_path)
    write_tables([_row(arch="rnn_rbm", nll_spread=math.nan, ais=[16, 1000, 1],
                       run=str(tmp_path / "runs" / "jsb"))], tmp_path)  # the same run
    (back,) = read_rows(tmp_path / "results.csv")
    assert math.isnan(back.nll_spread)
    md = (tmp_path / "results.md").read_text()
    assert "-5.50 (one AIS run) (20.12%" in md and md.count("jsb 10 / 2") == 1


def test_a_results_csv_from_before_the_new_column_still_reads(tmp_path):
    from tunesmith.evaluation.boulanger import read_rows, write_tables

    old = ("dataset,model,preset,test_nll,nll_spread,test_acc,test_frames,published_nll,"
           "published_acc,published_status,train_seconds,eval_seconds,steps,stopped_early,"
           "ais,run\n"
           "jsb,rnn_nade,tuned,5.2790,0.0000,0.2010,4725,5.56,,Q,740.0,2.0,4000,False,null,"
           "old/run\n")
    (tmp_path / "results.csv").write_text(old)
    (row,) = read_rows(tmp_path / "results.csv")
    assert row.accuracy == pytest.approx(0.201) and math.isnan(row.accuracy_bl2012)
    write_tables([_row(run="new/run")], tmp_path)  # the old row stays, its new cell NaN
    with open(tmp_path / "results.csv", newline="") as f:
        got = {r["run"]: r["test_acc_bl2012"] for r in csv.DictReader(f)}
    assert got == {"old/run": "nan", "new/run": "0.3456"}


@pytest.mark.parametrize("text, says", [
    ("x\n", "not a results table of `tunesmith benchmark`"),
    ("dataset,model,preset,test_nll,run\njsb,rnn_nade,tuned,5.27\n", "a row is damaged"),
])
def test_a_results_csv_not_ours_or_damaged_is_refused_not_written_over(tmp_path, text, says):
    from tunesmith.errors import TunesmithError
    from tunesmith.evaluation.boulanger import read_rows, write_tables

    (tmp_path / "results.csv").write_text(text)
    for call in (lambda: read_rows(tmp_path / "results.csv"),
                 lambda: write_tables([_row(run="new/run")], tmp_path)):
        with pytest.raises(TunesmithError, match=says):
            call()
    assert (tmp_path / "results.csv").read_text() == text


def test_an_empty_results_csv_is_no_rows(tmp_path):
    from tunesmith.evaluation.boulanger import read_rows

    (tmp_path / "results.csv").write_text("")  # a crash while it was being written
    assert read_rows(tmp_path / "results.csv") == []
