"""What knowing a tune's length is worth in a likelihood: the cost of the length a model
trained with ``train --ends`` is given, in bits per character of its corpus's held-out
tunes, to add to its ``tunesmith evaluate`` figures before comparing them with a model
that is told no length.

    python benchmarks/tune_length.py --model runs/abc-ends/best [--score]

Such a model scores p(text | length) for a tune whose length (its written bars) it is
given. The length is a function of the text, so p(text) >= p(length) p(text | length):
adding -log2 p(length) per tune gives an upper bound on the bits the model needs for
the text alone, a comparison that cannot flatter it. p(length) is the training tunes'
share of that length (the one the composer draws from), add-one smoothed over 0 to
256 bars (or the longest tune of the training and held-out splits, when longer), a
distribution that sums to one and gives every length met a finite cost. The tunes that
training gives no length (one in ten, by a hash of the text) cost nothing more. The
characters counted are those the trainer's validation scores (the characters and the
end of each tune, at most ``MAX_LEN`` tokens a tune). The splits are the run's (its
``--clean`` recorded in the checkpoint).

``--score`` also scores the held-out tunes with the model, told their own lengths (what
``tunesmith evaluate`` reports) and told none (the class one training tune in ten has):
the second is the model's own likelihood of the text, no bound needed.
"""

from __future__ import annotations

import argparse
import math

from tunesmith import app
from tunesmith.abc_meter import tune_bars

MAX_BARS = 256  # the range of the add-one smoothing (at least)
MAX_LEN = 4096  # tokens of a tune validation scores (data.tokens.SequenceBatches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--score", action="store_true", help="also score the held-out tunes")
    a = ap.parse_args()

    checkpoint = app.load_model(a.model, device="cpu")
    rep = checkpoint.representation
    if not getattr(rep, "end_inputs", False):
        raise SystemExit(f"{a.model}: not a model trained with --ends (it is told no length)")
    corpus, data, prepared = app.held_out(checkpoint)
    counts = dict(rep.tune_lengths)
    total = sum(counts.values())
    held = {s: [rep.decode_text(ids) for ids in prepared.sequences[s]] for s in ("valid", "test")}
    top = max([MAX_BARS, *counts, *(tune_bars(t) for texts in held.values() for t in texts)])
    print(f"{a.model}: {total:,} training tunes, lengths {min(counts)}-{max(counts)} bars; "
          f"corpus {corpus}, clean {data.clean}\n")
    print("| split | tunes | given a length | characters (+ end) | length cost, bits/char |"
          + (" told its length, bits/char | + the cost | told none |" if a.score else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if a.score else ""))
    for split in ("valid", "test"):
        bits = chars = given = 0
        seqs = prepared.sequences[split]
        for ids, text in zip(seqs, held[split], strict=True):
            chars += min(len(ids), MAX_LEN) - 1  # what validation predicts
            length = rep.training_length(text)
            if length is None:
                continue  # trained and scored without a length
            given += 1
            n = counts.get(length, 0)
            bits -= math.log2((n + 1) / (total + top + 1))
        row = f"| {split} | {len(seqs):,} | {given:,} | {chars:,} | {bits / chars:.4f} |"
        if a.score:
            told, none = (_bits(checkpoint, rep, seqs, length) for length in (True, False))
            row += f" {told:.4f} | {told + bits / chars:.4f} | {none:.4f} |"
        print(row, flush=True)


def _bits(checkpoint, rep, seqs, told: bool) -> float:
    """Bits per character of ``seqs`` under the model, each tune told its own length as
    training told it (``told``), or no tune told one."""
    from tunesmith.data.tokens import SequenceBatches
    from tunesmith.evaluation.likelihood import evaluate

    rows = []
    for ids in seqs:
        reader = None if told else rep.input_reader(None)
        rows.append(rep.with_inputs(ids) if told else [(int(i), *reader(int(i))) for i in ids])
    return evaluate(checkpoint.model, SequenceBatches(rows), "cpu")["bits"]


if __name__ == "__main__":
    main()
