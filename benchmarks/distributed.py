"""Data-parallel training on one small CPU machine: torchrun's processes against threads.

Trains the same char-level ABC model on the same corpus (the seed lab's irish.abc: 804
tunes, split by tune) with the same global batch and seed, launched three ways:

- ``2x1``: ``torchrun --standalone --nproc-per-node 2 -m tunesmith train ...``, one
  thread per process (OMP_NUM_THREADS=1, torchrun's default): DDP over gloo;
- ``1x2``: ``tunesmith train ...`` on one process with two threads;
- ``1x1``: one process, one thread (the reference each of the others is divided by).

It reports training tokens per second (the median of the logged windows after the first,
which holds start-up), the time from the first step to the first validation at or below
``--target`` (nats per character), and the wall-clock time of the whole command (imports,
data, training, checkpoints). Because every launch computes the same global batch, the
curves agree to float rounding (the largest difference of the validation losses is
printed), so the time to the target is set by speed alone. DDP on one small machine is not
expected to win: this measures its overhead. The machine's one-minute load average after
each launch is printed beside it: on a shared machine other work changes the figures (two
threads suffer most, each op waiting for a descheduled thread).

    python benchmarks/distributed.py [--corpus ../shared/data/abc/irish.abc] \\
        [--steps 400] [--target 2.0] [--repeats 2] [--launches 2x1,1x2,1x1] [--out runs/bench-ddp]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED_IRISH = Path(__file__).resolve().parents[2] / "shared" / "data" / "abc" / "irish.abc"
MODEL = ["--preset", "small", "--hidden-size", "256", "--embedding-dim", "32",
         "--dropout", "0", "--batch-size", "32", "--seq-len", "128", "--lr", "3e-3",
         "--warmup", "20", "--patience", "0", "--log-every", "10", "--checkpoint-every", "0"]


def launch(name: str, corpus: Path, run: Path, steps: int, eval_every: int) -> float:
    """Run one launch to the end; the command's wall-clock seconds."""
    procs, threads = (int(x) for x in name.split("x"))
    train = ["train", *MODEL, "--corpus", str(corpus), "--out", str(run), "--force",
             "--no-progress", "--samples", "0", "--steps", str(steps),
             "--eval-every", str(eval_every)]
    if procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(procs), "-m", "tunesmith", *train]
    else:
        cmd = [sys.executable, "-m", "tunesmith", *train]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    print(f"$ OMP_NUM_THREADS={threads} {' '.join(cmd[1:])}", flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def read(run: Path) -> tuple[list[dict], list[dict]]:
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return ([r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "valid"])


def figures(run: Path, target: float, wall: float) -> dict:
    train, valid = read(run)
    speeds = [float(r["tokens_per_s"]) for r in train[1:]]
    reached = next((r for r in valid if float(r["loss"]) <= target), None)
    # a validation row has no clock of its own: the training row of its step (validation
    # steps are multiples of log_every) says when that step ended
    clock = {r["step"]: float(r["elapsed_s"]) for r in train}
    return {"tokens_per_s": statistics.median(speeds),
            "train_s": max(clock.values()),
            "to_target_s": clock.get(reached["step"]) if reached else None,
            "target_step": int(reached["step"]) if reached else None,
            "load": os.getloadavg()[0],
            "final_valid": float(valid[-1]["loss"]), "wall_s": wall,
            "valid": [float(r["loss"]) for r in valid]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(SHARED_IRISH))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=20, help="a multiple of 10 (the "
                    "logging interval, whose rows hold the clock)")
    ap.add_argument("--target", type=float, default=2.0, help="validation loss, nats/char")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of all launches")
    ap.add_argument("--launches", default="2x1,1x2,1x1")
    ap.add_argument("--out", default="runs/bench-ddp")
    ap.add_argument("--report-only", action="store_true", help="the table again from the "
                    "runs in --out (e.g. for another --target)")
    args = ap.parse_args()
    if args.eval_every % 10:
        ap.error("--eval-every must be a multiple of 10")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.launches.split(",")
    results: dict[str, list[dict]] = {n: [] for n in names}
    if args.report_only:
        old = json.loads((out / "results.json").read_text())
        for name in names:
            for round_, r in enumerate(old[name]):
                fresh = figures(out / f"{name}-{round_}", args.target, r["wall_s"])
                results[name].append(fresh | {"load": r["load"]})
        report(results, args.target)
        return
    for round_ in range(args.repeats):  # interleaved, so drifting load hits all alike
        for name in names:
            run = out / f"{name}-{round_}"
            wall = launch(name, Path(args.corpus), run, args.steps, args.eval_every)
            results[name].append(figures(run, args.target, wall))
            r = results[name][-1]
            print(f"  {name}: {r['tokens_per_s']:,.0f} tokens/s, target at step "
                  f"{r['target_step']} after {r['to_target_s']} s, wall {wall:.0f} s, "
                  f"load average {r['load']:.1f}", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    report(results, args.target)


def report(results: dict[str, list[dict]], target: float) -> None:
    curves = [r["valid"] for rs in results.values() for r in rs]
    spread = max(abs(a - b) for c in curves for a, b in zip(curves[0], c, strict=True))
    base = results.get("1x1")
    print(f"\nlargest difference between the validation curves: {spread:.2g} nats")
    print(f"\n| launch | tokens/s (median of runs) | vs 1x1 | time to valid <= {target} | "
          "train s | command wall s |")
    print("|---|---|---|---|---|---|")
    for name, rs in results.items():
        tok = statistics.median(r["tokens_per_s"] for r in rs)
        rel = ""
        if base:
            rel = f"{tok / statistics.median(r['tokens_per_s'] for r in base):.2f}x"
        hit = [r["to_target_s"] for r in rs if r["to_target_s"] is not None]
        to = "not reached" if not hit else " / ".join(f"{x:.0f} s" for x in hit)
        each = " / ".join(f"{r['tokens_per_s']:,.0f}" for r in rs)
        train = " / ".join(f"{r['train_s']:.0f}" for r in rs)
        wall = " / ".join(f"{r['wall_s']:.0f}" for r in rs)
        print(f"| {name} | {tok:,.0f} ({each}) | {rel} | {to} (step {rs[0]['target_step']})"
              f" | {train} | {wall} |")

if __name__ == "__main__":
    main()
