"""What knowing a tune's length is worth in a likelihood: the cost of the length a model
trained with ``train --ends`` is given, in bits per character of its corpus's held-out
tunes, to add to its ``tunesmith evaluate`` figures before comparing them with a model
that is told no length.

    python benchmarks/tune_length.py --model runs/abc-ends/best

Such a model scores p(text | length) for a tune whose length (its written bars) it is
given. The length is a function of the text, so p(text) >= p(length) p(text | length):
adding -log2 p(length) per tune gives an upper bound on the bits the model needs for
the text alone, a comparison that cannot flatter it. p(length) is the training tunes'
share of that length (the one the composer draws from), add-one smoothed over 1-256
bars so that a length no training tune has costs a finite amount. The tunes that
training gives no length (one in ten, by a hash of the text) cost nothing more. The
splits are the run's (its ``--clean`` recorded in the checkpoint).
"""

from __future__ import annotations

import argparse
import math
import zlib

from tunesmith import app, families
from tunesmith.abc_meter import tune_bars

MAX_BARS = 256  # the range of the add-one smoothing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    a = ap.parse_args()

    checkpoint = app.load_model(a.model, device="cpu")
    rep = checkpoint.representation
    if not getattr(rep, "end_inputs", False):
        raise SystemExit(f"{a.model}: not a model trained with --ends (it is told no length)")
    summary = checkpoint.meta.get("summary", {})
    family = families.for_representation(rep.name)
    data = family.data_options(**{k: v for k, v in summary.get("data", {}).items()
                                  if k in ("clean",)})
    corpus = summary.get("corpus", {}).get("corpus", family.default_corpus)
    prepared = family.prepare_data(corpus, data, representation=rep)
    counts = dict(rep.tune_lengths)
    total = sum(counts.values())
    print(f"{a.model}: {total:,} training tunes, lengths {min(counts)}-{max(counts)} bars; "
          f"corpus {corpus}, clean {data.clean}\n")
    print("| split | tunes | given a length | characters (+ end) | length cost, bits/char |")
    print("|---|---:|---:|---:|---:|")
    for split in ("valid", "test"):
        bits = chars = given = 0
        seqs = prepared.sequences[split]
        for ids in seqs:
            text = rep.decode_text(ids)
            chars += len(ids) - 1  # what the model predicts: the characters and the end
            if zlib.crc32(text.encode()) % 10 == 0:
                continue  # trained and scored without a length (AbcChars.with_inputs)
            given += 1
            n = counts.get(tune_bars(text), 0)
            bits -= math.log2((n + 1) / (total + MAX_BARS))
        print(f"| {split} | {len(seqs):,} | {given:,} | {chars:,} | {bits / chars:.4f} |")


if __name__ == "__main__":
    main()
