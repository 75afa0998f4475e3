"""What the shipped models' music is like: the musical-evaluation report
(``tunesmith evaluate --music``) of each, at its default settings, against held-out real
pieces of its own corpus, with the real-vs-real band beside each figure.

    python benchmarks/music_quality.py [--out bench/music] [--seed 0] [--runs abc,events]

ABC: 100 tunes as ``compose`` writes them (resampled where abc2midi rejects them) and the
model's raw samples (``--unconstrained``); events, piano roll and REMI (its raw samples
too): 30 pieces of 30 s. Prints,
per model, the figures the form issue tracks (bar length against ``M:``, tonic and cadence
endings, bar repetition, AABB, notes piling up, the onset grid, register drift, the
longest repeat) and the counts of features within / near / far from the band; the full
reports (report.html, features.csv, summary.json) go to ``--out``. This is the quality
bar of every change to a model or sampler: run it before and after.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from tunesmith import app, families

TRACKED = {  # feature -> how the table names it
    "meter_consistent": "most common bar length = M:",
    "bar_length_match_rate": "bars as long as M: says",
    "tonic_ending": "ends on the tonic",
    "cadence_ending": "ends on a V-I / IV-I cadence",
    "bar_repetition_rate": "bars repeating an earlier bar",
    "aabb": "AABB form, equal sections",
    "pile_up_rate": "time with 5+ notes sounding",
    "grid_onset_rate": "onsets on the eighth-note grid",
    "register_drift": "register drift, first to last third (semitones)",
    "longest_repeated_span": "longest exact repeat (beats)",
}
RUNS = {  # name -> (family, extra request settings)
    "abc": ("abc", {}),
    "abc-raw": ("abc", {"constrain": False}),
    "events": ("events", {}),
    "events-raw": ("events", {"constrain": False}),
    "pianoroll": ("pianoroll", {}),
    "remi": ("remi", {}),
    "remi-raw": ("remi", {"constrain": False}),
}


def row(report, name: str) -> str:
    r = report.row(name)
    band = f"{r.band[0]:.2f}-{r.band[2]:.2f}" if r.band else "n/a"

    def num(v):
        return "n/a" if v != v else f"{v:.3f}"

    return (f"| {TRACKED[name]} | {num(r.generated)} | {num(r.real)} | {num(r.oa)} | {band} "
            f"| {r.status} |")


def sections(report) -> str:
    """How the pieces split into sections (``form.section_structure``), generated against
    real: why AABB is rare or not (too few bars in fours, or fours that do not repeat)."""
    import numpy as np

    from tunesmith.evaluation import form

    parts = []
    for name, pieces in (("generated", report.generated.pieces),
                         ("real", report.real.pieces)):
        bars = [form.counted_bars(p) for p in pieces]
        n = np.array([len(b) for b in bars if b])
        shapes = Counter({None: "no bars", "": "not in fours"}.get(s, s)
                         for s in map(form.section_structure, pieces))
        common = ", ".join(f"{k} {v}" for k, v in shapes.most_common(4))
        parts.append(f"{name}: median {np.median(n):.0f} bars, {np.mean(n % 4 == 0):.0%} "
                     f"in fours ({common})" if len(n) else f"{name}: no bars")
    return "sections: " + "; ".join(parts) + repeats(report)


def repeats(report) -> str:
    """For ABC: how many tunes are written with repeat signs, and of those how many have
    every bar of its length (:func:`form.misfit_bars`: a part's last bar completes the
    pickup after it) and play as AABB, generated against real. Empty for other
    families (no text)."""
    from tunesmith.abc_meter import bars
    from tunesmith.evaluation import form

    parts = []
    for name, pieces in (("generated", report.generated.pieces),
                         ("real", report.real.pieces)):
        if not any(p.source_text for p in pieces):
            return ""
        marked = [p for p in pieces
                  if any(":" in b.opens + b.closes for b in bars(p.source_text))]
        fit = sum(form.misfit_bars(p) == 0 for p in marked)
        aabb = sum(form.section_structure(p) == "AABB" for p in marked)
        parts.append(f"{name} {len(marked)} of {len(pieces)} (all bars fit {fit}, AABB "
                     f"{aabb})")
    return "\nwritten with repeat signs: " + "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/music")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    ap.add_argument("--grace", type=float, help="beats in which an events / piano-roll "
                    "piece may end on a cadence (default: compose's)")
    ap.add_argument("--repeat-bias", type=float, default=None, help="piano-roll models "
                    "trained with --lookback: compose's --repeat-bias (default: compose's)")
    ap.add_argument("--model", help="a checkpoint instead of a family's shipped model (with "
                    "one run of its family)")
    args = ap.parse_args()
    for name in args.runs.split(","):
        family, extra = RUNS[name]
        model = args.model or str(families.pretrained_dir(family))
        t = time.perf_counter()
        report = app.music_report(app.MusicRequest(model=model, seed=args.seed,
                                                   out=str(Path(args.out) / name),
                                                   grace=None if family == "abc" else args.grace,
                                                   repeat_bias=args.repeat_bias,
                                                   overwrite=True, **extra))
        counts = report.counts()
        print(f"\n### {name}: {model} ({time.perf_counter() - t:.0f} s)\n")
        print(f"{len(report.generated.pieces)} generated ({len(report.generated.skipped)} "
              f"unreadable), {len(report.real.pieces)} real; {report.settings['compose']}")
        print(f"features within the real-vs-real band: {counts['within']}, near: "
              f"{counts['near']}, far: {counts['far']}, n/a: {counts['n/a']}\n")
        print("| feature | generated | real | OA | real-vs-real OA | status |")
        print("|---|---:|---:|---:|---:|---|")
        for feature in TRACKED:
            print(row(report, feature))
        far = [r.name for r in report.rows if r.status == "far"]
        print(f"\nfar from the band: {', '.join(far) or 'none'}")
        print(sections(report))
        if report.memorisation is not None:
            m = report.memorisation.summary()
            print(f"memorisation: median longest copy {m['generated']['median']:.0f} "
                  f"{m['unit']} (held-out real: {m['real']['median']:.0f}); long copies "
                  f"(>= {m['long_copy']}) {100 * m['generated']['long_copy_rate']:.0f}% "
                  f"(real {100 * m['real']['long_copy_rate']:.0f}%)")


if __name__ == "__main__":
    main()
