"""folk-abc: the Transformer ``small`` against the LSTM (``char_rnn``) ``small`` at equal
wall-clock time on this CPU, side by side in one run.

    python benchmarks/transformer_vs_lstm.py [--minutes 20] [--corpus folk-abc]
                                             [--out bench/tvl] [--num 100] [--validity 200]

Protocol: each architecture first trains 12 steps of its preset (one thread) to measure
its seconds per step; then both train *at the same time*, each on one thread (so the two
share whatever else the machine is doing), for as many steps as fit in ``--minutes``
(the preset's cosine schedule sized to that many steps; validation on 200 tunes every
sixth of the run, early stopping off). Then, for each best checkpoint: bits per character
on the whole validation split, the raw abc2midi validity of ``--validity`` samples
(temperature 1, no resampling), and the musical-evaluation report of ``--num`` tunes as
``compose`` writes them against as many held-out real tunes (the rows the form issue
tracks). Same clean corpus and split for both (the family's hash split by tune).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from music_quality import TRACKED, row
from tunesmith import app, families

ARCHS = ("char_rnn", "transformer")
PROBE = 12


def train_cmd(arch: str, corpus: str, out: Path, steps: int, extra=()) -> list[str]:
    return [sys.executable, "-m", "tunesmith", "train", "--family", "abc", "--arch", arch,
            "--preset", "small", "--corpus", corpus, "--out", str(out), "--no-progress",
            "--samples", "0", "--steps", str(steps), "--patience", "0", *extra]


def one_thread() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def seconds_per_step(arch: str, corpus: str, out: Path) -> float:
    """Train PROBE steps alone on one thread; the time per step after the first two."""
    run = out / f"probe-{arch}"
    shutil.rmtree(run, ignore_errors=True)  # this script's own earlier probe
    subprocess.run(train_cmd(arch, corpus, run, PROBE, ("--log-every", "2", "--eval-every",
                                                        "1000")),
                   check=True, env=one_thread(), stdout=subprocess.DEVNULL)
    rows = [r for r in csv.DictReader((run / "metrics.csv").open()) if r["split"] == "train"]
    first, last = rows[0], rows[-1]
    return (float(last["elapsed_s"]) - float(first["elapsed_s"])) / (
        int(last["step"]) - int(first["step"]))


def race(corpus: str, out: Path, minutes: float) -> dict[str, dict]:
    budget = minutes * 60 * 0.9  # a tenth for validations and checkpoints
    plan = {}
    for arch in ARCHS:
        sps = seconds_per_step(arch, corpus, out)
        steps = max(20, int(budget / sps))
        plan[arch] = {"s_per_step": sps, "steps": steps}
        print(f"{arch}: {sps:.2f} s/step alone on one thread -> {steps} steps", flush=True)
    procs = {}
    t0 = time.perf_counter()
    for arch in ARCHS:
        steps = plan[arch]["steps"]
        extra = ("--eval-every", str(max(10, steps // 6)), "--checkpoint-every",
                 str(max(10, steps // 6)), "--eval-max-items", "200", "--warmup",
                 str(min(100, steps // 10)))
        shutil.rmtree(out / arch, ignore_errors=True)  # this script's own earlier run
        procs[arch] = (subprocess.Popen(train_cmd(arch, corpus, out / arch, steps, extra),
                                        env=one_thread(), stdout=subprocess.DEVNULL), t0)
    for arch, (p, start) in procs.items():
        if p.wait() != 0:
            raise SystemExit(f"{arch} training failed")
        plan[arch]["wall_s"] = time.perf_counter() - start
    return plan


def judge(arch: str, out: Path, num: int, validity: int) -> dict:
    best = out / arch / "best"
    e = app.evaluate(app.EvaluateRequest(model=str(best), splits=("valid",), samples=0))
    ckpt = app.load_model(best)
    fam = families.get("abc")
    valid = fam.sample_validity(ckpt, validity, 1.0, 0)
    report = app.music_report(app.MusicRequest(model=str(best), num=num, seed=0,
                                               out=str(out / f"music-{arch}"),
                                               overwrite=True))
    meta = json.loads((best / "tunesmith.json").read_text())
    return {"bits": e.results["valid"]["bits"], "validity": valid, "report": report,
            "step": meta["summary"].get("step"),
            "params": sum(p.numel() for p in ckpt.model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--corpus", default="folk-abc")
    ap.add_argument("--out", default="bench/tvl")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--validity", type=int, default=200)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    plan = race(args.corpus, out, args.minutes)
    results = {arch: judge(arch, out, args.num, args.validity) for arch in ARCHS}
    print(f"\n{args.minutes:g} minutes each, both at once, one thread each; corpus "
          f"{args.corpus}\n")
    print("| model | parameters | steps | s/step alone | wall s | best at step "
          "| valid bits/char | abc2midi validity (raw) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arch in ARCHS:
        p, r = plan[arch], results[arch]
        print(f"| {arch} small | {r['params']:,} | {p['steps']} | {p['s_per_step']:.2f} | "
              f"{p['wall_s']:.0f} | {r['step']} | {r['bits']:.3f} | {r['validity']:.3f} |")
    for arch in ARCHS:
        report = results[arch]["report"]
        print(f"\n{arch}: {len(report.generated.pieces)} tunes against "
              f"{len(report.real.pieces)} real\n")
        print("| feature | generated | real | OA | real-vs-real OA | status |")
        print("|---|---:|---:|---:|---:|---|")
        for feature in TRACKED:
            try:
                print(row(report, feature))
            except StopIteration:  # a feature this family's report does not have
                pass


if __name__ == "__main__":
    main()
