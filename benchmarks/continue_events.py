"""The continue-events family measured (issue 20): does the encoder help, does the style
label matter, does the style control work?

    python benchmarks/continue_events.py --model RUN/best [--pairs 400] [--per-style 200]

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
   and with the other one; the classifier reads only the bars written, encoded as the
   representation encodes a piece (:func:`canonical`: the real targets already are). The
   control: the events LSTM continuing the same sources for as many beats, no style.
   A second judge reads the same passages as musical features (texture, rhythm,
   register, key-free pitch classes, motion: :mod:`tunesmith.evaluation.passage_features`):
   the n-gram judge calls a passage with one odd chord "not Bach", so it hardly tells a
   model's style from its slips (the events LSTM, trained on Bach alone, continues Bach
   as "Bach" in 60% of passages by it).
Tables are printed in Markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from continuation import seq2seq_nll  # benchmarks/continuation.py: the ABC pairs' scores
from tunesmith import app


def message_text(messages) -> str:
    """Messages as one character each: key (or WAIT / EOS), on or off, time class."""
    return "".join(chr(0x4E00 + (int(n) * 2 + int(v > 0)) * 16 + int(t))
                   for n, v, t in messages)


def primed_nll(ckpt, rows) -> float:
    """NLL per target message of an events model given the source as its primer. The
    source's first message keeps its place after its bar line (its gap from what came
    before the source is not the model's to see), so the model's beat inputs count from
    the bar."""
    from tunesmith.families.continue_events import MAX_SOURCE, MAX_TARGET
    from tunesmith.models.event_lstm import HEADS
    from tunesmith.representations.events import EOS, WAIT

    rep, model = ckpt.representation, ckpt.model
    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for row in rows:
            src = [list(m) for m in row.source[-MAX_SOURCE:]]
            lead = rep.gap_classes(row.lead)  # from the bar line to the first message
            src = [[WAIT, 0, c] for c in lead[:-1]] + [[*src[0][:2], lead[-1]]] + src[1:]
            whole = row.ends and len(row.target) <= MAX_TARGET  # scored as seq2seq's
            tgt = [list(m) for m in row.target[:MAX_TARGET]] + ([[EOS, 0, 0]] if whole else [])
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


def canonical(rep, source, written) -> list:
    """``written`` (messages after ``source``) as the representation encodes the music
    they make: the joined piece decoded and encoded again, the messages after the
    source's last. A sampler may write one time's note-offs and note-ons in any order;
    an encoded piece has the offs first, each group by pitch. The classifier reads
    n-grams of messages, so it is given the music, not the order it was written in."""
    messages = rep.encode(rep.decode([rep.bos, *source, *written, rep.eos_message]))[1:-1]
    end = rep.times(source)[-1] if len(source) else 0.0
    times = rep.times(messages)
    return [m for m, t in zip(messages, times, strict=True) if t > end + 1e-9]


def continuations(ckpt, rows, styles, seed: int, guidance: float = 0.0,
                  batch: int = 64) -> list[list]:
    """The ``target_bars`` bars each row's source is continued by, under ``styles``
    (guided towards them by ``guidance``), as :func:`canonical` messages."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continue_events import continue_messages

    rep, out = ckpt.representation, []
    for k in range(0, len(rows), batch):
        part = rows[k:k + batch]
        written = continue_messages(ckpt.model, rep, [r.primer for r in part],
                                    styles[k:k + batch], rep.target_bars,
                                    ComposeOptions(num=len(part), style_guidance=guidance),
                                    seed=seed + k)
        out += [canonical(rep, r.source, w[len(r.source):])
                for r, w in zip(part, written, strict=True)]
    return out


def lstm_continuations(ckpt, rows, seed: int, phrases) -> list[list]:
    """The control: an events model (no style) continuing each row's source for as many
    beats as its target bars, as :func:`canonical` messages (of ``phrases``, the
    continue model's representation: the same messages)."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.events import sample_messages

    rep, out = ckpt.representation, []
    for k, r in enumerate(rows):
        primer = [rep.bos, *[list(m) for m in r.source]]
        # --seconds counts the primer's time too: up to the bar line after the target
        beats = r.primer.starts[-1] + r.span
        opts = ComposeOptions(num=1, seed=seed + k, seconds=beats * 60 / rep.qpm, grace=0)
        written = sample_messages(ckpt.model, rep, opts, primer=primer)[0][len(primer):]
        out.append(canonical(phrases, r.source, written))
    return out


def bar_line(rep, row) -> float:
    """Beats from the end of ``row``'s source (where its target's clock starts) to the
    bar line the target starts at."""
    return float(row.primer.starts[-1]) - float(rep.times(row.source)[-1])


@dataclass
class Row:
    source: list
    target: list
    ends: bool
    primer: object  # continue_events.Primer: the source, its bars in its own time
    lead: float  # beats from the source's first bar line to its first message
    label: str
    span: float  # beats the target's bars span


def piece_rows(rep, piece, label: str) -> list[Row]:
    """Every pair of ``piece`` as compose would continue its source."""
    from tunesmith.families.continue_events import Primer

    messages, cuts = rep.split_piece(piece)
    starts = rep.bar_starts(piece)
    times = rep.times(messages)
    bar = rep.bar_length(starts)
    out = []
    for s, lo, hi, end, ends in rep.windows(cuts, len(messages)):
        if not lo < hi < end:
            continue
        src, tgt = messages[lo:hi], messages[hi:end]
        offset = times[lo] - rep.time_bins[src[0][2]]  # where the source's clock starts
        bars = [float(x) - offset for x in starts[s:s + rep.source_bars + 1]]
        stop = min(s + rep.source_bars + rep.target_bars, len(starts) - 1)
        out.append(Row(src, tgt, ends, Primer(src, bars, bar), float(times[lo] - starts[s]),
                       label, float(starts[stop] - starts[s + rep.source_bars])))
    return out


def arguments(description: str, family: str, primed: str):
    """The command line both MIDI continue benchmarks take."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", required=True, help=f"a {family} checkpoint folder")
    ap.add_argument("--primed", default="", help="a model without styles reading the source "
                    f"as its primer (default: the shipped {primed})")
    ap.add_argument("--pairs", type=int, default=400, help="test pairs scored per style")
    ap.add_argument("--per-style", type=int, default=200,
                    help="sources continued per style (RESULTS.md's tables: 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=0.0,
                    help="style guidance of the continuations (compose --style-guidance)")
    ap.add_argument("--control-only", action="store_true",
                    help="the style control alone (part 3), not the likelihoods")
    return ap.parse_args()


def model_rows(ckpt, piece_rows):
    """The model's corpus, split as it trained, as rows per split (``piece_rows(rep,
    piece, label)`` cuts a piece), and its styles; the header line printed."""
    from tunesmith.corpora.labelled import load_labelled
    from tunesmith.data.splits import split_items

    rep, summary = ckpt.representation, ckpt.meta["summary"]
    corpus = summary["corpus"]["corpus"]
    c, labels = load_labelled(corpus)
    splits = split_items(c.keys)
    styles = list(rep.styles.get("style", ("any",))[1:])
    rows = {s: [r for i in splits[s] for r in piece_rows(rep, c.pieces[i], labels[i])]
            for s in ("train", "valid", "test")}
    print(f"{corpus}: pieces {', '.join(f'{s} {len(v)}' for s, v in splits.items())}; "
          f"model at step {summary['step']}; styles {styles}")
    return rows, styles


def likelihood_table(ckpt, encode_pair, primed_score, rows, styles, args, unit: str,
                     control: str) -> None:
    """Parts 1-2: NLL per target ``unit`` of held-out test pairs, with each style label,
    and of ``primed_score(rows)`` (the control reading the source as its primer)."""
    rep, rng = ckpt.representation, random.Random(args.seed)
    print(f"\nNLL in nats per target {unit}\n\n| style of the test pairs | pairs | seq2seq, "
          f"own style | no style | other style | {control}, source as primer | accuracy "
          "teacher-forced | free-running |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for style in styles:
        test = [r for r in rows if r.label == style]
        rng.shuffle(test)
        test = test[:args.pairs]
        if not test:
            continue
        other = [s for s in styles if s != style][0]
        t0 = time.time()
        scores = {name: seq2seq_nll(ckpt.model, [
            encode_pair(rep, r.source, r.target, r.ends, rep.style_ids(style=lab))
            for r in test]) for name, lab in (("own", style), ("none", ""), ("other", other))}
        primed = primed_score(test)
        print(f"| {style} | {len(test)} | {scores['own'][0]:.3f} | {scores['none'][0]:.3f} | "
              f"{scores['other'][0]:.3f} | {primed:.3f} | {scores['own'][1]:.3f} | "
              f"{scores['own'][2]:.3f} |")
        print(f"   ({time.time() - t0:.0f} s)")


def control_table(ckpt, events, passage, rows, styles, args, write, control_write,
                  control: str) -> None:
    """Part 3: the style control by two judges over event messages (``events``: an
    ``event_phrases`` representation, for their times). ``passage(row, steps)`` -> (the
    steps as messages, beats from their clock to the target's bar line); ``write(rows,
    style ids, seed)`` and ``control_write(rows)`` continue the rows' sources."""
    from tunesmith.evaluation.passage_features import FeatureClassifier, passage_features
    from tunesmith.evaluation.style_classifier import StyleClassifier, recall

    rep = ckpt.representation

    def read(of_rows, passages):  # (messages, bar lines) of each passage
        return [passage(r, p) for r, p in zip(of_rows, passages, strict=True)]

    def feats(read_rows):  # onset places counted from the target's bar line
        return np.array([passage_features(events, m, line) for m, line in read_rows])

    def texts(read_rows):
        return [message_text(m) for m, _ in read_rows]

    train = rows["train"]
    real_train = read(train, [r.target for r in train])
    labels = [r.label for r in train]
    judges = {"n-grams": (StyleClassifier(styles).fit(texts(real_train), labels,
                                                      seed=args.seed), texts),
              "features": (FeatureClassifier(styles).fit(feats(real_train), labels,
                                                         seed=args.seed), feats)}
    held = rows["valid"] + rows["test"]
    wanted = [r.label for r in held]
    real_held = read(held, [r.target for r in held])
    real_pred = {name: clf.predict(judge(real_held)) for name, (clf, judge) in judges.items()}
    rng = random.Random(args.seed)  # the same sources with and without --control-only
    print(f"\nstyle guidance {args.guidance:g}")
    print("\n| style | judge | real held-out targets: recall | continuations, own style | "
          f"ratio | other style asked: classified as asked | {control} continuing the "
          "same sources | sources |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for style in styles:
        src = [r for r in held if r.label == style]
        rng.shuffle(src)
        src = src[:args.per_style]
        other = [s for s in styles if s != style][0]
        t0 = time.time()
        own = read(src, write(src, [rep.style_ids(style=style)] * len(src), args.seed))
        asked = read(src, write(src, [rep.style_ids(style=other)] * len(src), args.seed + 1))
        controlled = read(src, control_write(src))
        for name, (clf, judge) in judges.items():
            hits, n = recall(real_pred[name], wanted, style)
            real = hits / max(n, 1)
            shares = [sum(p == want for p in clf.predict(judge(passages))) / len(src)
                      for passages, want in ((own, style), (asked, other),
                                             (controlled, style))]
            print(f"| {style} | {name} | {real:.3f} ({hits}/{n}) | {shares[0]:.3f} | "
                  f"{shares[0] / max(real, 1e-9):.2f} | {shares[1]:.3f} ({other}) | "
                  f"{shares[2]:.3f} | {len(src)} |")
        print(f"   ({time.time() - t0:.0f} s)")


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "continue-events", "bach-events-small")
    from tunesmith import families
    from tunesmith.families.continue_events import encode_pair

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    rows, styles = model_rows(ckpt, piece_rows)
    primed = app.load_model(args.primed or families.pretrained_dir("events"))
    if not args.control_only:
        likelihood_table(ckpt, encode_pair, lambda test: primed_nll(primed, test),
                         rows["test"], styles, args, "message", "events LSTM")
    control_table(ckpt, rep, lambda r, messages: (messages, bar_line(rep, r)), rows, styles,
                  args, lambda src, ids, seed: continuations(ckpt, src, ids, seed,
                                                             args.guidance),
                  lambda src: lstm_continuations(primed, src, args.seed, rep), "events LSTM")


if __name__ == "__main__":
    main()
