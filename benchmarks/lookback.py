"""How often music repeats what an earlier bar offers: real held-out pieces against a
model's raw samples (ABC characters, REMI tokens or piano-roll frames).

    python benchmarks/lookback.py --model runs/abc-lookback/best [--num 100] [--seed 0]
    python benchmarks/lookback.py --model src/tunesmith/pretrained/bach-remi-small
    python benchmarks/lookback.py --model runs/pianoroll-lookback/best --num 30

For every step, the lookback (``tunesmith.lookback``: the best matching of the last 16
bars, the one a model trained with ``--lookback`` reads) may offer the next symbol. This
prints how often one is offered, how often the next symbol is the one offered, and the
share of all steps that follow an offer; for the model's samples (``--unconstrained``,
temperature 1; REMI pieces of 30 s; piano rolls as ``compose`` writes them, 30 s, in
4/4 bars: a piano roll has no constraint to take off) and for the held-out pieces of
its corpus (valid and test splits). A model without the lookback inputs is measured the
same way (the lookback is computed for the figures, the model does not read it).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from tunesmith import app, families
from tunesmith.families.base import ComposeOptions
from tunesmith.music import Piece


def rates(rep, sequences) -> tuple[float, float, float, int]:
    """(offered share, followed share of the offers, followed share of all steps, steps)."""
    v, offered, followed, steps = len(rep.vocab), 0, 0, 0
    col = list(rep.inputs).index("copy") + 1
    for ids in sequences:
        ids = [int(i) for i in ids]
        rows = rep.with_inputs(ids)
        for row, nxt in zip(rows[:-1], ids[1:], strict=True):
            steps += 1
            if int(row[col]) < v:
                offered += 1
                followed += int(row[col]) == nxt
    return (offered / max(steps, 1), followed / max(offered, 1), followed / max(steps, 1),
            steps)


def frame_rates(rep, rolls) -> tuple[float, float, float, int]:
    """:func:`rates` over piano-roll frames that carry their inputs: an offer is a frame
    proposed whole, taken when the next frame is exactly that frame."""
    from tunesmith.representations.pianoroll import N_KEYS, NO_MATCH

    col = N_KEYS + list(rep.inputs).index("lookback")
    offered = followed = steps = 0
    for roll in rolls:
        offer = roll[:, col] < NO_MATCH
        offered += int(offer.sum())
        followed += int((offer & (roll[:, col + 1:] == roll[:, :N_KEYS]).all(1)).sum())
        steps += len(roll)
    return (offered / max(steps, 1), followed / max(offered, 1), followed / max(steps, 1),
            steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat-bias", type=float, default=None,
                    help="piano roll: compose's (default: compose's)")
    ap.add_argument("--corpus", default=None, help="default: the family's default corpus")
    a = ap.parse_args()

    checkpoint = app.load_model(a.model, device="cpu")
    rep = checkpoint.representation
    family = families.for_representation(rep.name)
    reads = bool(getattr(rep, "lookback_inputs", False))
    frames = rep.name == "pianoroll"
    probe = rep if reads else dataclasses.replace(
        rep, lookback_inputs=True, **({"beat_inputs": True} if frames else {}))
    start = time.perf_counter()
    opts = ComposeOptions(num=a.num, seed=a.seed, seconds=30.0 if rep.name in (
        "remi", "pianoroll") else None, **({"repeat_bias": a.repeat_bias} if frames
                                           else {"constrain": False}))
    pieces = app.compose(checkpoint, opts)
    if rep.name == "abc_chars":
        samples = [probe.encode(Piece(tracks=[], source_text=c.text)) for c in pieces]
    elif frames:  # composed to the plan's 4/4 bars, which with_inputs gives a bare piece
        samples = [probe.with_inputs(probe.encode(c.piece)) for c in pieces
                   if c.piece is not None]
    else:
        samples = [probe.encode(c.piece) for c in pieces if c.piece is not None]
    prepared = family.prepare_data(a.corpus or family.default_corpus,
                                   family.data_options(), representation=probe if frames
                                   else dataclasses.replace(probe, lookback_inputs=False))
    real = [s if frames or getattr(s, "ndim", 1) == 1 else s[:, 0]
            for split in ("valid", "test") for s in prepared.sequences[split]]
    print(f"{a.model} ({'reads' if reads else 'does not read'} the lookback), "
          f"{len(samples)} samples, seed {a.seed}; {len(real)} held-out real pieces "
          f"({time.perf_counter() - start:.0f} s)\n")
    print("| | steps | an earlier bar offers the next | the offer is taken | steps that "
          "copy |")
    print("|---|---:|---:|---:|---:|")
    for name, seqs in (("samples", samples), ("real", real)):
        o, f, c, n = (frame_rates if frames else rates)(probe, seqs)
        print(f"| {name} | {n:,} | {o:.3f} | {f:.3f} | {c:.3f} |")


if __name__ == "__main__":
    main()
