"""The continue-events family measured (issue 20): does the encoder help, does the style
label matter, does the style control work?

    python benchmarks/continue_events.py --model RUN/best [--pairs 400] [--per-style 60]

On the model's own corpus and split (``bach=bach-chorales,classical=classical`` for the
run in RESULTS.md: its Bach pieces are held out as the events family's are, so the
shipped events LSTM never trained on the Bach test pairs):

1. **Continuation NLL per target message** (nats; the sum of the three heads' NLLs, as
   the events family reports), teacher-forced, on held-out **test** pairs (source =
   ``source_bars`` bars, target = the next ``target_bars``): seq2seq with each piece's
   own style, with none, with the other style; and the shipped events LSTM
   (``--primed``, default ``bach-events-small``, trained on Bach only) reading the same
   source bars as its primer and scoring the same target messages (its position inputs
   counted from the source's first bar line). Per style, since the LSTM knows only Bach.
2. **Free-running vs teacher-forced** accuracy (every head right) of the same pairs.
3. **Style control.** A style classifier (:class:`~tunesmith.evaluation.style_classifier.
   StyleClassifier`, logistic regression over n-grams of 1-4 messages, each message read
   as its key, on/off and time class: velocity left out, so loudness alone cannot tell
   the styles apart) is trained on the target bars of real **training** pieces; its
   recall per style on real **held-out** (valid + test) targets is the real-data
   accuracy. Up to ``--per-style`` held-out sources of each style are continued by
   ``target_bars`` bars (raw: temperature 1, the note-off rule on) with their own style
   and with the other one; the classifier reads only the bars written.
Tables are printed in Markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch

from tunesmith import app


def message_text(messages) -> str:
    """Messages as one character each: key (or WAIT / EOS), on or off, time class."""
    return "".join(chr(0x4E00 + (int(n) * 2 + int(v > 0)) * 16 + int(t))
                   for n, v, t in messages)


def seq2seq_scores(model, pairs, batch_size: int = 32) -> tuple[float, float, float]:
    """(NLL per target message, accuracy teacher-forced, accuracy free-running)."""
    from tunesmith.data.pairs import collate

    total = count = right = free = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            out = model.loss(collate(pairs[i:i + batch_size]))
            n = float(out["count"])
            total += float(out["nll"]) * n
            right += float(out["accuracy"]) * n
            free += float(out["free_accuracy"]) * n
            count += n
    return total / count, right / count, free / count


def primed_nll(ckpt, rows) -> float:
    """NLL per target message of an events model given the source as its primer; the
    source's first message is put on its bar line (its gap from what came before the
    source is not the LSTM's to see), so the model's beat inputs count from the bar."""
    from tunesmith.families.continue_events import MAX_SOURCE, MAX_TARGET
    from tunesmith.models.event_lstm import HEADS
    from tunesmith.representations.events import EOS

    rep, model = ckpt.representation, ckpt.model
    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for src, tgt, ends, _ in rows:
            src = [[m[0], m[1], 0] if k == 0 else list(m)
                   for k, m in enumerate(src[-MAX_SOURCE:])]
            whole = ends and len(tgt) <= MAX_TARGET  # the end marker is scored, as seq2seq's
            tgt = list(map(list, tgt[:MAX_TARGET])) + ([[EOS, 0, 0]] if whole else [])
            ids = np.asarray([rep.bos, *src, *tgt], dtype=np.int64)
            x = torch.as_tensor(rep.with_inputs(ids))[None]
            logits, _ = model(x[:, :-1])
            k = len(tgt)
            nll = sum(torch.nn.functional.cross_entropy(logits[h][0, -k:], x[0, -k:, j],
                                                        reduction="sum")
                      for j, h in enumerate(HEADS))
            total += float(nll)
            count += k
    return total / count


def continuations(ckpt, rows, styles, seed: int, batch: int = 64) -> list[list]:
    """The ``target_bars`` bars each row's source is continued by, under ``styles``."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continue_events import continue_messages

    rep, out = ckpt.representation, []
    for k in range(0, len(rows), batch):
        part = rows[k:k + batch]
        primers = [(src, grid) for src, _, _, grid in part]
        written = continue_messages(ckpt.model, rep, primers, styles[k:k + batch],
                                    rep.target_bars, ComposeOptions(num=len(part)),
                                    seed=seed + k)
        out += [w[len(src):] for (src, _, _, _), w in zip(part, written, strict=True)]
    return out


def piece_rows(rep, piece, label: str):
    """(source, target, ends, grid, label) of every pair of ``piece``, the grid in the
    source's own time (as ``continue_messages`` counts it)."""
    messages, cuts = rep.split_piece(piece)
    starts = rep.bar_starts(piece)
    times = rep.times(messages)
    bar = float(np.median(np.diff(starts))) if len(starts) > 1 else 4.0
    n, m = rep.source_bars, rep.target_bars
    ends_at = cuts + [len(messages)]
    out = []
    for s in range(0, len(cuts) - n, m):
        stop = min(s + n + m, len(cuts))
        lo, hi = ends_at[s], ends_at[s + n]
        src, tgt = messages[lo:hi], messages[hi:ends_at[stop]]
        if not src or not tgt:
            continue
        offset = times[lo] - rep.time_bins[src[0][2]]  # where the source's clock starts
        out.append((src, tgt, stop == len(cuts), (float(starts[s + n] - offset), bar), label))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a continue-events checkpoint folder")
    ap.add_argument("--primed", default="", help="an events model reading the source as its "
                    "primer (default: the shipped bach-events-small)")
    ap.add_argument("--pairs", type=int, default=400, help="test pairs scored per style")
    ap.add_argument("--per-style", type=int, default=60, help="sources continued per style")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from tunesmith import families
    from tunesmith.corpora.labelled import load_labelled
    from tunesmith.data.splits import split_items
    from tunesmith.evaluation.style_classifier import StyleClassifier, recall
    from tunesmith.families.continue_events import encode_pair

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    summary = ckpt.meta["summary"]
    corpus = summary["corpus"]["corpus"]
    c, labels = load_labelled(corpus)
    splits = split_items(c.keys)
    styles = list(rep.styles.get("style", ("any",))[1:])
    rng = random.Random(args.seed)
    rows = {s: [r for i in splits[s] for r in piece_rows(rep, c.pieces[i], labels[i])]
            for s in ("train", "valid", "test")}
    print(f"{corpus}: pieces {', '.join(f'{s} {len(v)}' for s, v in splits.items())}; "
          f"model at step {summary['step']}; styles {styles}")

    # 1-2. likelihoods
    primed = app.load_model(args.primed or families.pretrained_dir("events"))
    print("\n| style of the test pairs | pairs | seq2seq, own style | no style | other style "
          "| events LSTM, source as primer | accuracy teacher-forced | free-running |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for style in styles:
        test = [r for r in rows["test"] if r[4] == style]
        rng.shuffle(test)
        test = test[:args.pairs]
        if not test:
            continue
        other = [s for s in styles if s != style][0]
        t0 = time.time()
        scores = {name: seq2seq_scores(ckpt.model, [
            encode_pair(rep, src, tgt, ends, rep.style_ids(style=lab))
            for src, tgt, ends, _, _ in test]) for name, lab in
            (("own", style), ("none", ""), ("other", other))}
        lstm = primed_nll(primed, [(src, tgt, ends, None) for src, tgt, ends, _, _ in test])
        print(f"| {style} | {len(test)} | {scores['own'][0]:.3f} | {scores['none'][0]:.3f} | "
              f"{scores['other'][0]:.3f} | {lstm:.3f} | {scores['own'][1]:.3f} | "
              f"{scores['own'][2]:.3f} |   ({time.time() - t0:.0f} s)")

    # 3. style control
    clf = StyleClassifier(styles).fit([message_text(r[1]) for r in rows["train"]],
                                      [r[4] for r in rows["train"]], seed=args.seed)
    held = rows["valid"] + rows["test"]
    real_pred = clf.predict([message_text(r[1]) for r in held])
    wanted = [r[4] for r in held]
    print("\n| style | real held-out targets: recall | continuations, own style | "
          "other style asked: classified as asked | sources |")
    print("|---|---:|---:|---:|---:|")
    for style in styles:
        hits, n = recall(real_pred, wanted, style)
        src = [r for r in held if r[4] == style]
        rng.shuffle(src)
        src = [(a, b, e, g) for a, b, e, g, _ in src[:args.per_style]]
        other = [s for s in styles if s != style][0]
        t0 = time.time()
        own = clf.predict([message_text(w) for w in continuations(
            ckpt, src, [rep.style_ids(style=style)] * len(src), args.seed)])
        asked = clf.predict([message_text(w) for w in continuations(
            ckpt, src, [rep.style_ids(style=other)] * len(src), args.seed + 1)])
        print(f"| {style} | {hits / max(n, 1):.3f} ({hits}/{n}) | "
              f"{sum(p == style for p in own) / len(src):.3f} | "
              f"{sum(p == other for p in asked) / len(src):.3f} ({other}) | {len(src)} |"
              f"   ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
