"""Quality of char-level ABC models.

1. The shipped model: validation and test NLL / bits per character / accuracy on folk-abc.
2. The seed lab's data (irish.abc, split by tune): the `lab` preset after the lab's 3,000
   steps, versus `small` trained for the same wall-clock time on this machine (its step
   count is set from a short timing probe so that its cosine schedule completes; it
   validates often and keeps its best checkpoint, since 804 tunes are tiny for it).

Everything runs through the `tunesmith` CLI, as a user would.

    python benchmarks/quality.py [--irish ../shared/data/abc/irish.abc] [--out runs/bench]
                                 [--skip-shipped] [--skip-irish]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

SHARED_IRISH = Path(__file__).resolve().parents[2] / "shared" / "data" / "abc" / "irish.abc"


def tunesmith(*args) -> float:
    cmd = [sys.executable, "-m", "tunesmith", *map(str, args)]
    print("$", " ".join(cmd[2:]), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def valid_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["split"] == "valid"]


def train_seconds(run: Path) -> float:
    with open(run / "metrics.csv") as f:
        return max(float(r["elapsed_s"]) for r in csv.DictReader(f) if r["elapsed_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--irish", default=str(SHARED_IRISH))
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--skip-shipped", action="store_true")
    ap.add_argument("--skip-irish", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if not args.skip_shipped:
        print("== shipped model on folk-abc")
        tunesmith("evaluate", "--samples", 0, "--json", out / "shipped.json")

    if args.skip_irish:
        return
    irish = Path(args.irish)
    if not irish.exists():
        print(f"skipping the irish.abc comparison: {irish} not found")
        return
    print("\n== lab preset, 3,000 steps, on irish.abc")
    lab = out / "irish-lab"
    tunesmith("train", "--preset", "lab", "--corpus", irish, "--out", lab, "--force",
              "--no-progress", "--samples", 0, "--eval-every", 250)
    lab_s = train_seconds(lab)
    probe = out / "irish-small-probe"
    tunesmith("train", "--preset", "small", "--corpus", irish, "--out", probe, "--force",
              "--no-progress", "--samples", 0, "--steps", 1000, "--stop-at", 20,
              "--eval-every", 1000)
    per_step = train_seconds(probe) / 20
    steps = int(lab_s / per_step)
    print(f"\n== small preset for the same wall-clock ({lab_s:.0f} s ~ {steps} steps)")
    small = out / "irish-small"
    tunesmith("train", "--preset", "small", "--corpus", irish, "--out", small, "--force",
              "--no-progress", "--samples", 0, "--steps", steps, "--eval-every", 25,
              "--patience", 0, "--warmup", 20)
    small_s = train_seconds(small)

    lab_rows, small_rows = valid_rows(lab), valid_rows(small)
    lab_final = float(lab_rows[-1]["loss"])
    lab_best = min(lab_rows, key=lambda r: float(r["loss"]))
    small_best = min(small_rows, key=lambda r: float(r["loss"]))
    result = {
        "lab": {"seconds": lab_s, "valid_loss_after_3000": lab_final,
                "best_valid_loss": float(lab_best["loss"]), "best_step": int(lab_best["step"])},
        "small": {"seconds": small_s, "steps": steps,
                  "best_valid_loss": float(small_best["loss"]),
                  "best_step": int(small_best["step"]),
                  "final_valid_loss": float(small_rows[-1]["loss"])},
    }
    (out / "irish.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\nirish.abc, validation NLL per character (nats; bits = nats / ln 2)")
    print(f"  lab   (3,000 steps, {lab_s:.0f} s): after 3,000 steps {lab_final:.4f}; best "
          f"{float(lab_best['loss']):.4f} at step {lab_best['step']}")
    print(f"  small ({steps} steps, {small_s:.0f} s): best {float(small_best['loss']):.4f} "
          f"at step {small_best['step']}; final {float(small_rows[-1]['loss']):.4f}")


if __name__ == "__main__":
    main()
