"""Validity of sampled tunes.

Samples N tunes (default 200) at temperature 1.0 from a model (default: the shipped one)
twice: the model's own samples, and what ``tunesmith compose`` writes (a tune abc2midi
rejects is resampled from the point of its error, else drawn afresh;
``sampling/repair.py``). For each it
prints two shares:
  - music21: the tune parses into at least one bar of notes (tunesmith's own check);
  - abc2midi (Debian package abcmidi): converts with no "Error" line in its output.
The most common failure reasons are listed below the figures.

    python benchmarks/validity.py [--model DIR] [--num 200] [--seed 0] [--temperature 1.0]
                                  [--cuts 2] [--raw-only]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from tunesmith import families
from tunesmith.families.abc import CUTS, sample_texts
from tunesmith.families.base import ComposeOptions
from tunesmith.io import abc2midi
from tunesmith.io.abc import as_tune_book_entry, check_tunes
from tunesmith.training.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(families.pretrained_dir("abc")))
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--repeat-bias", type=float, default=None,
                    help="a model trained with --lookback: compose's --repeat-bias")
    ap.add_argument("--cuts", type=int, default=CUTS,
                    help="resampling attempts from a cut before a tune is drawn afresh "
                         f"(compose uses {CUTS}; each cuts at the current error)")
    ap.add_argument("--raw-only", action="store_true",
                    help="only the model's own samples (compose's resampling takes minutes)")
    args = ap.parse_args()

    ckpt = load_checkpoint(args.model)
    fam = families.for_representation(ckpt.representation.name)
    print(f"model: {args.model}")
    for constrain, name in ((False, "the model's own samples"),
                            (True, "compose (resampled: abc2midi's errors, bars off the "
                                   "meter, ends off the tonic)")):
        if constrain and args.raw_only:
            break
        if constrain and not abc2midi.available():
            print("abc2midi: not installed (apt-get install abcmidi); no resampling")
            break
        t0 = time.perf_counter()
        opts = fam.compose_options(ComposeOptions(num=args.num, seed=args.seed,
                                                  temperature=args.temperature,
                                                  constrain=constrain,
                                                  repeat_bias=args.repeat_bias))
        texts = sample_texts(ckpt.model, ckpt.representation, opts, log=say,
                             cuts=args.cuts)
        report(name, texts, args.temperature, time.perf_counter() - t0)


def say(message: str, level: str = "info") -> None:
    print(message)


def report(name: str, texts: list[str], temperature: float, seconds: float) -> None:
    tunes = [as_tune_book_entry(t, i + 1, f"sample {i + 1}") for i, t in enumerate(texts)]
    m21_fail = Counter()
    m21_ok = 0
    for reason in check_tunes(tunes):
        if reason is None:
            m21_ok += 1
        else:
            m21_fail[reason[:80]] += 1
    a2m_ok, a2m_fail = None, Counter()
    if abc2midi.available():
        errors = abc2midi.abc2midi_errors(tunes)
        a2m_ok = len(tunes) - len(errors)
        a2m_fail.update(message[:80] for message in errors.values())
    n = len(tunes)
    ended = sum(1 for t in texts if len(t) < 1500)
    print(f"\n{name}: {n} tunes at temperature {temperature} in {seconds:.1f} s; "
          f"{ended} ended with the end marker before the 1,500-character limit")
    print(f"music21 (>= one bar of notes): {m21_ok}/{n} = {100 * m21_ok / n:.1f}%")
    if a2m_ok is None:
        print("abc2midi: not installed (apt-get install abcmidi)")
    else:
        print(f"abc2midi (no error line):     {a2m_ok}/{n} = {100 * a2m_ok / n:.1f}%")
    for checker, fails in (("music21", m21_fail), ("abc2midi", a2m_fail)):
        for reason, count in fails.most_common(5):
            print(f"  {checker} failure x{count}: {reason}")

if __name__ == "__main__":
    main()
