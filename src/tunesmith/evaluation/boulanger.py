"""The Boulanger-Lewandowski (2012) benchmark: protocol, published figures and result tables
(the runner behind ``tunesmith benchmark boulanger`` is :mod:`tunesmith.app.benchmarking`).

Protocol (as in the paper): for each test sequence, from its first frame, the model's
log-probability of every frame given the frames before it; the **negative log-likelihood
per frame** is the sum over all test frames divided by the number of test frames (a flat
average over frames, not over sequences), in nats. The paper reports LL = -NLL.

Two frame-level accuracies, both TP / (TP + FP + FN) (Bay, Ehmann & Downie 2009) with the
counts summed over all test frames (the MIREX "micro" sum, not a mean over frames or
sequences), both from each frame's prediction given the true frames before it:

* ``accuracy`` (``test_acc``): *expected* counts under the model's prediction, E[TP] =
  sum p v, E[FP] = sum p (1 - v), E[FN] = sum (1 - p) v with p = P(key on | past): the
  accuracy of a frame *sampled* from the model, in expectation.
* ``accuracy_bl2012`` (``test_acc_bl2012``): the counts of one *predicted* frame per step,
  the model's most probable frame given the past: exact for ``bernoulli_rnn`` (its keys
  are independent: the keys with p > 0.5); for NADE models the greedy decoding (key by
  key, on iff its conditional given the keys decided below it > 0.5); for ``rnn_rbm`` the
  lowest free energy among its Gibbs chains' last frames and the thresholded marginals.
  This is our reading of BL2012's ACC: the paper's text could not be read here, so how
  its predicted frame was chosen is not confirmed (the ACC section of
  benchmarks/RESULTS.md has the sources and the reasoning).

Exact for ``rnn_nade`` and ``bernoulli_rnn``. For ``rnn_rbm`` each frame's log-partition
function is estimated by annealed importance sampling (``ais_chains`` chains and
``ais_betas`` inverse temperatures per frame); the estimate is repeated ``ais_runs`` times
with independent random numbers and the spread (standard deviation across runs) is
reported beside the mean. For RBM and NADE models p itself is a Monte-Carlo estimate
(Gibbs chains / NADE samples; see each model's ``acc_samples``), for both accuracies.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import TunesmithError

# BL2012 Table 1, NLL per frame (= -LL) and ACC %, as quoted by later papers; the status
# of each figure is in ../shared/data/boulanger2012/PUBLISHED_RESULTS.md: Q = quoted by a
# later paper, S = secondary source only, M = from memory, unconfirmed.
PUBLISHED: dict[str, dict[str, tuple[float | None, float | None, str]]] = {
    "rnn_rbm": {"jsb": (6.27, 33.12, "Q; ACC M"), "nottingham": (2.39, 75.40, "S"),
                "musedata": (6.01, 34.02, "M"), "piano": (7.09, 28.92, "M")},
    "rnn_nade": {"jsb": (5.56, None, "Q (5.19 in later quotes)"),
                 "nottingham": (2.31, 71.50, "Q; ACC S"), "musedata": (5.60, None, "Q"),
                 "piano": (7.05, None, "Q")},
    "bernoulli_rnn": {"jsb": (8.71, None, "Q (BL2012 'RNN')"),
                      "nottingham": (4.46, 62.93, "Q; ACC S"), "musedata": (8.13, None, "Q"),
                      "piano": (8.37, None, "Q")},
}
PUBLISHED_LABEL = {"rnn_rbm": "RNN-RBM", "rnn_nade": "RNN-NADE", "bernoulli_rnn": "RNN"}


def frame_protocol(model, sequences, device="cpu", ais_chains: int = 16,
                   ais_betas: int = 1000, ais_runs: int = 2, seed: int = 0) -> dict:
    """Test figures of ``model`` on ``sequences`` ((T, 88) arrays) by the protocol above:
    ``nll`` (mean over AIS runs for RBM models), ``nll_spread`` (std across runs; 0 when
    exact, NaN for a single AIS run: no spread was measured), ``nll_runs``, ``accuracy``
    (expected counts), ``accuracy_bl2012`` (a predicted frame per step; NaN for a model
    that does not report its counts), ``frames``, ``seconds``."""
    from tunesmith.data.frames import FrameBatches
    from tunesmith.evaluation.likelihood import evaluate

    batches = FrameBatches(sequences)
    exact = model.likelihood != "ais"
    runs = 1 if exact else max(1, ais_runs)
    if not exact:
        model.eval_ais = (ais_chains, ais_betas)
    t0 = time.perf_counter()
    results = []
    for r in range(runs):
        model.eval_seed = seed + r
        results.append(evaluate(model, batches, device))
    nlls = [m["nll"] for m in results]
    return {"nll": statistics.fmean(nlls),
            "nll_spread": (statistics.stdev(nlls) if len(nlls) > 1
                           else 0.0 if exact else math.nan),
            "nll_runs": nlls, "accuracy": results[0]["accuracy"],
            "accuracy_bl2012": results[0].get("accuracy_predicted", math.nan),
            "frames": int(results[0]["count"]), "seconds": time.perf_counter() - t0,
            "exact": exact, "ais": None if exact else [ais_chains, ais_betas, runs]}


@dataclass
class Row:
    dataset: str
    arch: str
    preset: str
    nll: float
    nll_spread: float
    accuracy: float
    accuracy_bl2012: float
    frames: int
    train_seconds: float
    eval_seconds: float
    steps: int
    stopped_early: bool
    run: str
    ais: list | None = None
    published: tuple = field(default=(None, None, ""))


def write_slice(src: Path, dst: Path, n: int, replace: bool = False) -> Path:
    """The first ``n`` sequences of each split of a benchmark file, as JSON (a quick
    debug benchmark: ``--slice``). A slice of other sequences already at ``dst`` (the runs
    beside it were trained on it) is refused unless ``replace``."""
    from tunesmith.io.boulanger import read_boulanger
    from tunesmith.representations.pianoroll import PianoRoll

    splits = read_boulanger(src)
    text = json.dumps({s: [PianoRoll.to_lists(x) for x in seqs[:n]]
                       for s, seqs in splits.items()})
    if not replace and dst.is_file() and dst.read_text(errors="replace") != text:
        raise TunesmithError(f"holds the first {n} sequences of another file than {src}, "
                             "which the runs beside it were trained on: give --retrain to "
                             "train them again on this one, or another --out", dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text)
    return dst


def train_seconds(run_dir: Path) -> float:
    """Training wall time of a run, from its metrics log: ``elapsed_s`` goes on across
    resumes; in a log written before it did, it restarts at each resumed segment, so the
    last value of each segment is summed."""
    total, last = 0.0, 0.0
    try:
        with open(run_dir / "metrics.csv") as f:
            for r in csv.DictReader(f):
                if r.get("elapsed_s"):
                    e = float(r["elapsed_s"])
                    if e < last:
                        total += last
                    last = e
    except OSError:
        return math.nan
    return total + last


def _spread(r: Row, digits: int, sign: str) -> str:
    """`` +/- 0.012`` after an AIS estimate made more than once; '' for an exact NLL, and
    ``(one AIS run)`` for an estimate with no spread measured."""
    if not r.ais:
        return ""
    if not math.isfinite(r.nll_spread):
        return " (one AIS run)"
    return f" {sign} {r.nll_spread:.{digits}f}"


def format_row(r: Row) -> str:
    spread = _spread(r, 3, "+/-")
    pub = f"; published {r.published[0]:.2f}" if r.published[0] else ""
    if r.published[0] and r.published[1]:
        pub += f" (ACC {r.published[1]:.2f}%)"
    return (f"   {r.dataset} {r.arch}: test NLL {r.nll:.3f}{spread} nats/frame, ACC "
            f"{100 * r.accuracy:.2f}% expected, {100 * r.accuracy_bl2012:.2f}% predicted "
            f"frame{pub}; train {r.train_seconds:.0f} s, eval {r.eval_seconds:.0f} s")


def read_rows(csv_path: Path) -> list[Row]:
    """The rows of a ``results.csv`` written by :func:`write_tables` (none if absent)."""
    if not csv_path.is_file() or not csv_path.read_text(errors="replace").strip():
        return []  # none yet, or emptied by a crash while it was being written
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
        f.seek(0)
        header = next(csv.reader(f), [])
    if header[:3] != ["dataset", "model", "preset"] or "run" not in header:
        raise TunesmithError("not a results table of `tunesmith benchmark` (it would be "
                             "written over): give another --out", csv_path)
    try:
        return [_row(r) for r in rows]
    except (TypeError, ValueError, KeyError):
        raise TunesmithError("a row is damaged (cut short?): mend or remove it, then run "
                             "again (the runs' folders are kept)", csv_path) from None


def _row(r: dict) -> Row:
    if None in r.values() or None in r:
        raise ValueError("a row of another length than the header")
    return Row(r["dataset"], r["model"], r["preset"], float(r["test_nll"]),
               float(r["nll_spread"]), float(r["test_acc"]),
               float(r.get("test_acc_bl2012") or "nan"), int(r["test_frames"]),
               float(r["train_seconds"]), float(r["eval_seconds"]), int(r["steps"]),
               r["stopped_early"] == "True", r["run"], json.loads(r["ais"]),
               PUBLISHED.get(r["model"], {}).get(r["dataset"], (None, None, "")))


def _sliced(row: Row) -> int:
    """N of a run on the first N sequences of each split (``--slice N``: its folder's name
    ends ``-sliceN``), else 0."""
    m = re.search(r"-slice(\d+)$", Path(row.run).name)
    return int(m.group(1)) if m else 0


def write_tables(rows: list[Row], out: Path) -> tuple[Path, Path]:
    """``results.csv`` (one row per dataset x model) and ``results.md`` (the paper's
    layout: models as rows, datasets as columns, LL = -NLL with both ACCs in %, expected
    and predicted frame, ours beside the published figure)."""
    from tunesmith.io.boulanger import DATASETS
    from tunesmith.io.paths import output_folder

    output_folder(out)
    csv_path = out / "results.csv"
    def run_of(r: Row) -> str:  # one run however its path was written
        return str(Path(r.run).resolve())

    merged = {run_of(r): r for r in read_rows(csv_path)}  # earlier invocations' results stay
    merged.update({run_of(r): r for r in rows})
    rows = list(merged.values())
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "model", "preset", "test_nll", "nll_spread", "test_acc",
                    "test_acc_bl2012", "test_frames", "published_nll", "published_acc",
                    "published_status", "train_seconds", "eval_seconds", "steps",
                    "stopped_early", "ais", "run"])
        for r in rows:
            w.writerow([r.dataset, r.arch, r.preset, f"{r.nll:.4f}", f"{r.nll_spread:.4f}",
                        f"{r.accuracy:.4f}", f"{r.accuracy_bl2012:.4f}", r.frames,
                        r.published[0], r.published[1], r.published[2],
                        f"{r.train_seconds:.1f}", f"{r.eval_seconds:.1f}", r.steps,
                        r.stopped_early, json.dumps(r.ais), r.run])
    keys = [k for k in ("piano", "nottingham", "musedata", "jsb") if any(r.dataset == k
                                                                          for r in rows)]
    head = "| model | " + " | ".join(DATASETS[k].name for k in keys) + " |"
    lines = ["Log-likelihood per frame (LL = -NLL, nats; higher is better) and frame-level "
             "accuracy on the test splits: ours as (expected ACC / predicted-frame ACC), "
             "the published as (ACC).", "", head,
             "|---|" + "---|" * len(keys)]
    order = sorted(dict.fromkeys((r.arch, r.preset, _sliced(r)) for r in rows))
    last_of_arch = {arch: (arch, preset, n) for arch, preset, n in order}
    for arch, preset, n in order:
        ours = {r.dataset: r for r in rows if (r.arch, r.preset, _sliced(r)) == (arch, preset, n)}
        cells = []
        for k in keys:
            r = ours.get(k)
            if r is None:
                cells.append("")
                continue
            spread = _spread(r, 2, "±")
            cells.append(f"{-r.nll:.2f}{spread} ({100 * r.accuracy:.2f}% / "
                         f"{100 * r.accuracy_bl2012:.2f}%)")
        what = f", first {n} sequences of each split (--slice {n})" if n else ""
        lines.append(f"| {arch} `{preset}`{what} (tunesmith) | " + " | ".join(cells) + " |")
        if (arch, preset, n) != last_of_arch[arch]:
            continue  # the published row once per architecture, after its last preset
        pub = PUBLISHED.get(arch, {})
        if not pub:
            continue  # no published figures for this architecture
        cells = []
        for k in keys:
            nll, acc, status = pub.get(k, (None, None, ""))
            cells.append("" if nll is None else f"{-nll:.2f}"
                         + (f" ({acc:.2f}%)" if acc else "") + f" [{status}]")
        lines.append(f"| {PUBLISHED_LABEL.get(arch, arch)} (BL2012, published) | "
                     + " | ".join(cells) + " |")
    lines += ["", "Wall time (train / test evaluation, seconds): " + "; ".join(
        f"{Path(r.run).name} {r.train_seconds:.0f} / {r.eval_seconds:.0f}" for r in rows),
        "", "Expected ACC: TP, FP, FN the expected counts under the model's marginals "
        "(a sampled frame's accuracy, in expectation). Predicted-frame ACC: the counts of "
        "one predicted frame per step, the model's most probable frame (approximately, "
        "for NADE and RBM models; our reading of BL2012's ACC). Both sum the counts over "
        "all test frames (Bay et al. 2009).",
        "", ("RBM figures are AIS estimates: mean ± std over independent runs "
             "(chains x inverse temperatures x runs: "
             + ", ".join(f"{r.dataset} {r.ais}" for r in rows if r.ais) + "). "
             if any(r.ais for r in rows) else "")
        + "Published-figure status: Q quoted by a later paper, S secondary source, M "
        "unconfirmed (see PUBLISHED_RESULTS.md of the data)."]
    md_path = out / "results.md"
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path
