"""The adversarial composer judged against the likelihood models on one corpus
(bach-chorales): the RNN-GAN (``gan``), the event LSTM (``events``), the piano-roll model
(``pianoroll``) and a shuffled-real baseline (training chorales with their pitches
permuted among their notes), each against the same held-out real chorales.

    python benchmarks/gan.py [--gan MODEL] [--events MODEL] [--pianoroll MODEL]
                             [--num 100] [--seconds 30] [--seed 0] [--out bench/gan]

Models default to the shipped ones (all trained on bach-chorales with the same split).
Each composes ``--num`` pieces of ``--seconds`` with its family's default settings.
Prints, per set (markdown tables for RESULTS.md):

1. the musical-evaluation report's overlap (OA) and KL against the held-out real pieces,
   feature by feature (counts within / near / far from the real-vs-real band, the mean OA
   and KL over the features, and the rows the form issue tracks); the full per-feature
   table goes to ``--out``/report_<set>.md;
2. Mogren's measures (polyphony, scale consistency, tone span, 3-tone repetitions, on the
   first 100 tones of each piece so that the raw repetition count compares);
3. mode collapse: the mean pairwise distance of the pieces' feature vectors (standardised
   by the held-out real pieces; the same for as many real training pieces) and the
   number of distinct opening bars;
4. three discriminators trained afresh on real vs generated notes (pitch, step and
   length; training pieces vs 70% of the set), their AUC and balanced accuracy on
   held-out real pieces vs the other 30%: 0.5 means indistinguishable.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from tunesmith import app, families
from tunesmith.app.evaluating import _corpus_and_data
from tunesmith.app.models import load_model
from tunesmith.evaluation.distinguish import distinguishability
from tunesmith.evaluation.diversity import (
    distinct_openings,
    feature_matrix,
    mean_pairwise_distance,
    shuffled,
)
from tunesmith.evaluation.mogren import mogren_measures
from tunesmith.evaluation.report import PieceSet, compare_sets
from tunesmith.families.base import ComposeOptions

TRACKED = ("pitch_class_entropy", "scale_consistency", "polyphony", "pile_up_rate",
           "grid_onset_rate", "register_drift", "cadence_ending", "longest_repeated_span")
MOGREN_TONES = 100


def composed(model: str, num: int, seconds: float, seed: int) -> tuple[list, float]:
    ckpt = load_model(model, device="cpu")
    fam = families.for_representation(ckpt.representation.name)
    t = time.perf_counter()
    comps = app.compose(ckpt, fam.compose_options(ComposeOptions(num=num, seed=seed,
                                                                 seconds=seconds)))
    return [c.piece for c in comps if c.valid and c.piece.notes], time.perf_counter() - t


def report_table(name: str, rows, out: Path) -> None:
    lines = ["| feature | generated | real | OA | KL | real-vs-real OA | status |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        band = f"{r.band[0]:.2f}-{r.band[2]:.2f}" if r.band else "n/a"
        lines.append(f"| {r.name} | {r.generated:.3f} | {r.real:.3f} | {r.oa:.3f} | "
                     f"{r.kl:.3f} | {band} | {r.status} |")
    (out / f"report_{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gan", default=str(families.pretrained_dir("gan")))
    ap.add_argument("--events", default=str(families.pretrained_dir("events")))
    ap.add_argument("--pianoroll", default=str(families.pretrained_dir("pianoroll")))
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/gan")
    ap.add_argument("--sets", default="gan,events,pianoroll,shuffled",
                    help="which sets to judge (comma list; gan alone compares GAN settings)")
    args = ap.parse_args()
    chosen = set(args.sets.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    gan = load_model(args.gan, device="cpu")
    rep, fam = gan.representation, families.get("gan")
    corpus, data, _ = _corpus_and_data(gan, fam, None)
    items = fam.corpus_items(corpus, data, rep)
    held_out = [p for p in (i.load() for i in items["test"] + items["valid"]) if p.notes]
    train = [p for p in (i.load() for i in items["train"]) if p.notes]
    order = rng.permutation(len(train))
    pool = [train[i] for i in order[: 3 * args.num]]  # the real-vs-real band
    rest = [train[i] for i in order[3 * args.num:]] or pool
    real_train = [train[i] for i in order[: args.num]]  # diversity and the fresh D
    print(f"corpus {corpus}: {len(held_out)} held-out real pieces, {len(train)} training "
          f"pieces; {args.num} pieces of {args.seconds:.0f} s per model")

    sets: dict[str, list] = {}
    for name, model in (("gan", args.gan), ("events", args.events),
                        ("pianoroll", args.pianoroll)):
        if name not in chosen:
            continue
        sets[name], seconds = composed(model, args.num, args.seconds, args.seed)
        print(f"{name}: {model}: {len(sets[name])} pieces in {seconds:.1f} s")
    if "shuffled" in chosen:
        sets["shuffled real"] = [shuffled(p, rng) for p in (rest * 2)[: args.num]]

    real = PieceSet("real", list(held_out)).measure()
    band_pool = PieceSet("pool", pool).measure()
    print("\n#### OA / KL against held-out real pieces\n")
    print("| set | within | near | far | mean OA | mean KL | "
          + " | ".join(TRACKED) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(TRACKED))
    for name, pieces in sets.items():
        gen = PieceSet(name, pieces).measure()
        rows = compare_sets(gen, real, band_pool, seed=args.seed)
        report_table(name.replace(" ", "_"), rows, out)
        counts = {s: sum(r.status == s for r in rows) for s in ("within", "near", "far")}
        oa = [r.oa for r in rows if math.isfinite(r.oa)]
        kl = [r.kl for r in rows if math.isfinite(r.kl)]
        tracked = {r.name: r for r in rows}
        print(f"| {name} | {counts['within']} | {counts['near']} | {counts['far']} | "
              f"{np.mean(oa):.3f} | {np.mean(kl):.3f} | "
              + " | ".join(f"{tracked[t].generated:.3f} (OA {tracked[t].oa:.2f})"
                           for t in TRACKED) + " |")
    print("| real (held-out) | | | | | | "
          + " | ".join(f"{tracked[t].real:.3f}" for t in TRACKED) + " |")

    print(f"\n#### Mogren's measures (first {MOGREN_TONES} tones of each piece)\n")
    print("| set | polyphony | scale consistency | tone span | repetitions of 3 tones |")
    print("|---|---:|---:|---:|---:|")
    for name, pieces in list(sets.items()) + [("real (held-out)", held_out)]:
        m = mogren_measures(pieces, max_tones=MOGREN_TONES)
        print(f"| {name} | {m['polyphony']:.3f} | {m['scale_consistency']:.3f} | "
              f"{m['tone_span']:.1f} | {m['repetitions_3']:.1f} |")

    print("\n#### Mode collapse and distinguishability\n")
    reference = feature_matrix(held_out)
    print("| set | mean pairwise distance | distinct openings (first 4 beats) | fresh "
          "discriminators' AUC (range of 3) | their balanced accuracy (real / generated) |")
    print("|---|---:|---:|---:|---:|")
    real_rows_train = [rep.encode(p) for p in real_train]
    real_rows_test = [rep.encode(p) for p in held_out]
    for name, pieces in list(sets.items()) + [("real (training)", real_train)]:
        dist = mean_pairwise_distance(feature_matrix(pieces), reference)
        opens = distinct_openings(pieces)
        if name.startswith("real"):
            print(f"| {name} | {dist:.2f} | {opens} / {len(pieces)} | - | - |")
            continue
        rows = [rep.encode(p) for p in pieces]
        cut = int(0.7 * len(rows))
        d = distinguishability(real_rows_train, rows[:cut], real_rows_test, rows[cut:],
                               seed=args.seed)
        print(f"| {name} | {dist:.2f} | {opens} / {len(pieces)} | {d['auc']:.3f} "
              f"({d['auc_range'][0]:.2f}-{d['auc_range'][1]:.2f}) | {d['accuracy']:.3f} "
              f"({d['real_accuracy']:.2f} / {d['fake_accuracy']:.2f}; {d['windows']['test']} "
              "test windows) |")
    print(f"\nper-feature tables: {out}/report_*.md")


if __name__ == "__main__":
    main()
