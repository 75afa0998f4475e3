"""Phrase ends: does a piano-roll model that reads the chorales' fermatas close its phrases
where they fall? (issue 19, "structure the model can see")

    python benchmarks/phrases.py --model RUN/best \\
        [--baseline OTHER_RUN/best] [--repeat-bias W] [--num 30] [--beats 64]

Each model writes ``--num`` pieces of ``--beats`` beats from nothing (raw frames: no
primer, no endings search), seed ``--seed``. A model trained with ``--phrases`` is handed
the compose plan (:meth:`~tunesmith.representations.pianoroll.PianoRoll.plan`: a fermata
on the third beat of every second 4/4 bar, so phrases end at beats 7, 15, 23, ...); a
model without inputs gets nothing, and is judged at the same beats. The real pieces are
the held-out (valid + test) chorales of ``bach-chorales``, judged at the ends of their own
fermatas.

At each judged beat the piece is cut there (:func:`tunesmith.sampling.endings.cut`) and
its last two chords (:func:`tunesmith.evaluation.harmony.chords`, a chord per beat) are
read:
- **cadence**: an authentic (root falling a fifth into a major or minor triad, from a
  major triad or a seventh chord) or plagal (root falling a fourth) close in *any* key:
  a chorale's inner phrases close in the keys they pass through;
- **tonic cadence**: such a close onto the tonic of the whole piece's key (Krumhansl
  estimate, :func:`~tunesmith.evaluation.harmony.estimate_key`).
Both are counted at the phrase ends and, as the control, at every other whole beat from
beat 4: a model that places its closes where the phrases end shows a higher rate at the
fermatas than elsewhere, as Bach does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tunesmith.evaluation.harmony import chords, estimate_key
from tunesmith.sampling.endings import cut


def close_kind(piece, at: float, tonic: int | None) -> tuple[bool, bool]:
    """(a cadence in any key, a cadence onto ``tonic``) when ``piece`` is cut at ``at``."""
    cs = chords(cut(piece, at))
    if len(cs) < 2:
        return False, False
    last, before = cs[-1], cs[-2]
    if last.quality not in ("maj", "min"):
        return False, False
    authentic = before.root == (last.root + 7) % 12 and before.quality in ("maj", "7")
    plagal = before.root == (last.root + 5) % 12 and before.quality in ("maj", "min")
    cadence = authentic or plagal
    return cadence, cadence and last.root == tonic


def judge(pieces, ends_of) -> dict:
    """Rates of both kinds of close at each piece's phrase ends (``ends_of(piece)``, in
    beats) and at its other whole beats from beat 4 (away from a phrase end by more than
    half a beat)."""
    at, off = [], []
    for piece in pieces:
        key = estimate_key(piece)
        tonic = None if key is None else key.tonic
        ends = sorted(e for e in ends_of(piece) if 4 <= e <= piece.end_beat + 1e-6)
        at += [close_kind(piece, e, tonic) for e in ends]
        others = [b for b in range(4, int(piece.end_beat) + 1)
                  if all(abs(b - e) > 0.5 for e in ends)]
        off += [close_kind(piece, b, tonic) for b in others]
    a, o = np.array(at, dtype=float).reshape(-1, 2), np.array(off, dtype=float).reshape(-1, 2)
    return {"ends": len(a), "others": len(o),
            "cadence_at": a[:, 0].mean(), "cadence_off": o[:, 0].mean(),
            "tonic_at": a[:, 1].mean(), "tonic_off": o[:, 1].mean()}


def composed(folder: str, num: int, beats: int, seed: int, repeat_bias: float = 0.0):
    """``num`` raw pieces of ``beats`` beats from the model in ``folder``, and the phrase
    ends it was told of (the plan's, for a model with phrase inputs; else the same beats,
    untold)."""
    from tunesmith.sampling.frames import sample_frames
    from tunesmith.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(folder)
    rep = ckpt.representation
    frames = beats * rep.steps_per_beat
    plan = rep.plan(frames) if rep.inputs else None
    told = rep.phrase_inputs
    rolls = sample_frames(ckpt.model, None, num=num, steps=frames, seed=seed, inputs=plan,
                          reader=rep.frame_reader(),
                          repeat_bias=repeat_bias if getattr(rep, "lookback_inputs", False)
                          else 0.0)
    pieces = [rep.decode(r) for r in rolls]
    ends = [float(e) for e in range(7, beats + 1, 8)]  # PianoRoll.plan's fermatas end there
    return pieces, (lambda _p: ends), told


def real_chorales():
    """The held-out (valid + test) chorales of bach-chorales with fermatas, and the end of
    each fermata (its last beat)."""
    from tunesmith.families.events import load_corpus, split_keys

    c = load_corpus("bach-chorales")
    split = split_keys(c.keys, "auto")
    pieces = [c.pieces[i] for s in ("valid", "test") for i in split[s] if c.pieces[i].fermatas]
    return pieces, lambda p: sorted({e for _s, e in p.fermatas})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a piano-roll model trained with --phrases")
    ap.add_argument("--baseline", help="another piano-roll model, e.g. one without inputs")
    ap.add_argument("--num", type=int, default=30)
    ap.add_argument("--beats", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat-bias", type=float, default=0.0, help="for a model that reads "
                    "a lookback (compose's --repeat-bias; raw samples: 0)")
    args = ap.parse_args()

    rows = []
    t = time.perf_counter()
    pieces, ends = real_chorales()
    rows.append((f"real held-out chorales ({len(pieces)})", judge(pieces, ends)))
    models = [("baseline", args.baseline)] if args.baseline else []
    for name, folder in models + [("model", args.model)]:
        pieces, ends, told = composed(folder, args.num, args.beats, args.seed,
                                      args.repeat_bias)
        label = f"{name}: {folder} ({'told' if told else 'not told'} the phrase ends)"
        rows.append((label, judge(pieces, ends)))
    print(f"{args.num} pieces of {args.beats} beats per model, seed {args.seed}; "
          f"{time.perf_counter() - t:.0f} s\n")
    print("| pieces | phrase ends judged | cadence at a phrase end | elsewhere "
          "| tonic cadence at a phrase end | elsewhere |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rows:
        print(f"| {label} | {r['ends']} | {r['cadence_at']:.3f} | {r['cadence_off']:.3f} "
              f"| {r['tonic_at']:.3f} | {r['tonic_off']:.3f} |")


if __name__ == "__main__":
    main()
