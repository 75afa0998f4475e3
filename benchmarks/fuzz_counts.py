"""Hostile input, counted: the fuzz suite's cases (tests/fuzz) through every command that
reads a user's file, and the count of each outcome per command and kind of input.

    python benchmarks/fuzz_counts.py                  # the hostile files + 3,000 drawn cases
    python benchmarks/fuzz_counts.py --cases 200      # a quick look
    python benchmarks/fuzz_counts.py --no-hostile --cases 10000 --seed 1

It trains a debug ABC model first (``--run DIR`` takes one already trained), then runs
every hostile case of :data:`tests.fuzz.cases.HOSTILE` and ``--cases`` cases drawn by
Hypothesis from :data:`tests.fuzz.cases.GROUPS` (shared by weight; ``--seed`` picks the
draw), each in a fresh process with the suite's limits (10 s: a hang; 2 GB of growth: a
blow-up; see tests/fuzz/runner.py for the outcomes). It prints a table of counts and the
wall time, then every case that was not ``ok`` or ``refused``, and writes the results as
JSON with ``--out``. Targets: 0 traceback, 0 hang, 0 blowup, 0 touched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fuzz


def train_run(folder: Path) -> Path:
    """A debug ABC run (30 steps on 120 fixture tunes), as tests/conftest.py makes it."""
    from tests.conftest import write_book

    corpus = folder / "corpus"
    corpus.mkdir()
    write_book(corpus / "book.abc", 120, seed=1)
    run = folder / "run"
    subprocess.run([sys.executable, "-m", "tunesmith", "train", "--preset", "debug",
                    "--corpus", str(corpus), "--out", str(run), "--no-progress", "--samples",
                    "0", "--steps", "30"], check=True, capture_output=True)
    return run


def table(results) -> str:
    from tests.fuzz.runner import OUTCOMES

    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in results:
        rows[(r.case.command, r.case.kind)][r.outcome] += 1
    head = ["command", "input", *OUTCOMES, "cases"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(OUTCOMES) + 1)]
    total: Counter = Counter()
    for (command, kind), counts in sorted(rows.items()):
        total += counts
        lines.append(f"| {command} | {kind} | "
                     + " | ".join(str(counts[o]) for o in OUTCOMES)
                     + f" | {sum(counts.values())} |")
    lines.append("| **total** | | " + " | ".join(f"**{total[o]:,}**" for o in OUTCOMES)
                 + f" | **{sum(total.values()):,}** |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3000, help="cases drawn by Hypothesis")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-hostile", action="store_true", help="only the drawn cases")
    ap.add_argument("--run", help="a trained ABC run folder to damage (default: train one)")
    ap.add_argument("--jobs", type=int, default=1, help="cases at once")
    ap.add_argument("--out", help="write every result as JSON here")
    args = ap.parse_args()

    from tests.fuzz.cases import HOSTILE, Models, draw, share
    from tests.fuzz.runner import BAD, Runner

    with tempfile.TemporaryDirectory(prefix="fuzz-counts-") as tmp:
        tmp = Path(tmp)
        start = time.monotonic()
        run = Path(args.run) if args.run else train_run(tmp)
        models = Models.with_run(run)
        cases = [] if args.no_hostile else [make(models) for make in HOSTILE.values()]
        for i, (group, count) in enumerate(share(args.cases).items()):
            cases += draw(group.strategy(models), count, seed=args.seed * 1000 + i)
        print(f"{len(cases):,} cases ({time.monotonic() - start:.0f} s to prepare)",
              flush=True)
        runner = Runner(tmp / "cases")
        done = []

        def one(case):
            result = runner.run(case)
            done.append(result)
            if len(done) % 250 == 0:
                print(f"  {len(done):,} done, {time.monotonic() - start:.0f} s", flush=True)
            return result

        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one, cases))
        wall = time.monotonic() - start
    print()
    print(table(results))
    busiest = max(results, key=lambda r: r.cpu)
    print(f"\n{len(results):,} cases in {wall:.0f} s ({args.jobs} at once); slowest case "
          f"{max(r.seconds for r in results):.1f} s; most CPU time {busiest.cpu:.1f} s "
          f"({busiest.case.command}, {busiest.case.name}); largest memory growth "
          f"{max(r.growth_mb for r in results):,.0f} MB")
    odd = [r for r in results if r.outcome not in ("ok", "refused")]
    for r in odd:
        print(r.line())
    if args.out:
        Path(args.out).write_text(json.dumps(
            [{"command": r.case.command, "kind": r.case.kind, "name": r.case.name,
              "outcome": r.outcome, "seconds": round(r.seconds, 3),
              "cpu": round(r.cpu, 3), "rc": r.rc,
              "said": r.said, "growth_mb": round(r.growth_mb, 1), "touched": r.touched}
             for r in results], indent=1))
    bad = sum(r.outcome in BAD for r in results)
    print(f"\n{bad} cases with an outcome in {', '.join(BAD)} (target 0)")


if __name__ == "__main__":
    main()
