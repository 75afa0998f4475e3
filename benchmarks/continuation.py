"""Does the encoder help, and does the style label matter? (issue 20)

    python benchmarks/continuation.py --model RUN/best [--pairs 600] [--seed 0]

On the held-out **test** pairs of the model's own corpus and split (source = the header
and ``source_bars`` bars, target = the next ``target_bars`` bars):

1. Continuation NLL per target character (nats and bits), teacher-forced:
   - ``seq2seq`` with each tune's own style labels;
   - the same with no label (``any``), and with labels shuffled across the pairs (if the
     label is read, a wrong one must cost likelihood);
   - unconditional ABC models reading the source as their primer and scoring the same
     target characters (``--primed``, repeatable: the shipped char LSTM
     ``folk-abc-small`` by default, a Transformer run; their split is the same: splits
     are a hash of each tune's text).
2. The same seq2seq free-running (each step reads its own previous argmax) against
   teacher-forced: token accuracy of each.
3. With ``--primer FILE`` (repeatable) and ``--styles jig,,reel`` ("" = none given):
   ``--num`` raw continuations of 8 bars per primer and style, and how many keep the
   primer's ``M:`` (no resampling).
4. With ``--decode N``: the first source of N held-out tunes (their own style given)
   continued by 8 bars, sampled (temperature 1) against beam search (4 hypotheses, with
   and without a length penalty, and stochastic), against the tunes' real next 8 bars:
   the model's NLL per character of what was written, bars written (the model may end the
   tune), share of written bars that repeat an earlier bar of the tune, share of
   continuations whose first bars copy the source's, share that keep ``M:``. With
   ``--guidance 1,2``: also sampled (raw, and as compose writes them) with that style
   guidance (``compose --style-guidance``); ``--decode-only`` skips parts 1-2.
Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from tunesmith import app


def seq2seq_nll(model, pairs, batch_size: int = 64) -> tuple[float, float, float]:
    """(NLL per target character, accuracy teacher-forced, accuracy free-running)."""
    from tunesmith.data.pairs import collate

    total = count = right = free_right = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            batch = collate(pairs[i:i + batch_size])
            out = model.loss(batch)
            n = float(out["count"])
            total += float(out["nll"]) * n
            right += float(out["accuracy"]) * n
            free_right += float(out["free_accuracy"]) * n
            count += n
    return total / count, right / count, free_right / count


def primed_nll(ckpt, texts: list[tuple[str, str, bool]]) -> float:
    """NLL per target character of an unconditional ABC model (char LSTM or Transformer)
    given the source as its primer (the end marker scored where the tune ends, as the
    seq2seq target has it)."""
    rep, model = ckpt.representation, ckpt.model
    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for src, tgt, ends in texts:
            ids = rep.encode_text(src + tgt)
            if not ends:
                ids = ids[:-1]
            rows = torch.tensor(rep.with_inputs(ids))[None]
            out = model(rows[:, :-1])  # char_rnn: (logits, state); transformer: {head: ...}
            logits = out["token"] if isinstance(out, Mapping) else out[0]
            nll = F.cross_entropy(logits[0], rows[0, 1:, 0], reduction="none")
            k = len(tgt) + int(ends)  # the target's characters (and the end marker)
            total += float(nll[-k:].sum())
            count += k
    return total / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a continue-family checkpoint folder")
    ap.add_argument("--primed", action="append", default=[],
                    help="an unconditional ABC model (char LSTM or Transformer) reading the "
                    "source as its primer; repeatable (default: the shipped char LSTM)")
    ap.add_argument("--pairs", type=int, default=600, help="test pairs scored (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--primer", action="append", default=[], help="an ABC file (part 3)")
    ap.add_argument("--styles", default="jig,,reel", help="styles of part 3, comma-separated")
    ap.add_argument("--num", type=int, default=200, help="continuations per row (part 3)")
    ap.add_argument("--decode", type=int, default=0, help="held-out tunes of part 4")
    ap.add_argument("--guidance", default="", help="comma list of style-guidance weights "
                    "(part 4)")
    ap.add_argument("--decode-only", action="store_true", help="part 4 alone")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from tunesmith import families
    from tunesmith.families.continuation import encode_pair, model_corpus

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    summary = ckpt.meta["summary"]
    corpus, c, labels, splits = model_corpus(ckpt)
    test = splits["test"]
    rows = []  # (source, target, ends, labels)
    for i in test:
        rows += [(s, t, e, labels[i]) for s, t, e in rep.pairs(c.texts[i])]
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    rows = rows[:args.pairs] if args.pairs else rows
    shuffled = [r[3] for r in rows]
    rng.shuffle(shuffled)
    print(f"{corpus} (clean={summary['data']['clean']}): {len(test)} test tunes, "
          f"{len(rows)} pairs scored; model at step {summary['step']}")

    def pairs(style_of):
        return [encode_pair(rep, s, t, e, rep.style_ids(**style_of(k, lab)))
                for k, (s, t, e, lab) in enumerate(rows)]

    weights = [float(w) for w in args.guidance.split(",") if w]
    if args.decode_only:
        decoding(ckpt, c, test, labels, args.decode, args.seed, weights)
        return
    t0 = time.time()
    own = seq2seq_nll(ckpt.model, pairs(lambda k, lab: lab))
    none = seq2seq_nll(ckpt.model, pairs(lambda k, lab: {}))
    wrong = seq2seq_nll(ckpt.model, pairs(lambda k, lab: shuffled[k]))
    print(f"seq2seq scored in {time.time() - t0:.0f} s")
    refs = []
    for path in args.primed or [str(families.pretrained_dir("abc"))]:
        t0 = time.time()
        ck = app.load_model(path)
        refs.append((path, ck.meta["family"], primed_nll(ck, [(s, t, e) for s, t, e, _ in rows])))
        print(f"{path} scored in {time.time() - t0:.0f} s")
    ln2 = 0.6931471805599453
    print("\n| model, target bars given the source bars | nats/char | bits/char | "
          "accuracy (teacher-forced) | accuracy (free-running) |")
    print("|---|---:|---:|---:|---:|")
    for name, (nll, acc, free) in (("seq2seq, the tune's own style", own),
                                   ("seq2seq, no style given", none),
                                   ("seq2seq, style shuffled across tunes", wrong)):
        print(f"| {name} | {nll:.4f} | {nll / ln2:.4f} | {acc:.3f} | {free:.3f} |")
    for path, arch, ref in refs:
        print(f"| {arch} `{path}` with the source as primer | {ref:.4f} | {ref / ln2:.4f} "
              "| | |")
    if args.primer:
        meter_kept(ckpt, args.primer, args.styles.split(","), args.num, args.seed)
    if args.decode:
        decoding(ckpt, c, test, labels, args.decode, args.seed, weights)


def meter_kept(ckpt, primers: list[str], styles: list[str], num: int, seed: int) -> None:
    """Part 3: raw 8-bar continuations that keep their primer's ``M:``, per style."""
    from tunesmith.abc_meter import meter_error
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continuation import continue_texts, read_primer

    rep = ckpt.representation
    print(f"\n| primer | {' | '.join(f'--style {s}' if s else 'no style' for s in styles)} |")
    print("|---|" + "---:|" * len(styles))
    for primer in primers:
        src = read_primer(primer, rep)
        kept = []
        for style in styles:
            texts = continue_texts(ckpt.model, rep, [src] * num,
                                   rep.style_ids(**rep.parse_style(style)), 8,
                                   ComposeOptions(num=num, seed=seed), seed=seed)
            kept.append(sum(meter_error(t, len(src)) is None for t in texts))
        print(f"| {primer} | {' | '.join(f'{k}/{num}' for k in kept)} |")



def decoding(ckpt, corpus, test: list[int], labels: list[dict], n: int, seed: int,
             guidance: list[float] = ()) -> None:
    """Part 4: sampling against beam search, and the real next bars (and style guidance
    of each weight of ``guidance``)."""
    from tunesmith.abc_meter import bars as bars_of
    from tunesmith.abc_meter import meter_error
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continuation import STEP_DRAFTS, continuation_nll, continue_texts

    rep, model = ckpt.representation, ckpt.model
    rng = random.Random(seed)
    picked = []  # (source, its real next 8 bars, style ids)
    for i in rng.sample(test, len(test)):
        text, cuts = corpus.texts[i], rep.cuts(corpus.texts[i])
        if len(cuts) >= rep.source_bars + 8 and rep.pairs(text):
            src = rep.pairs(text)[0][0]
            if text.startswith(src):  # a first source is the tune's start
                picked.append((src, text[:cuts[rep.source_bars + 7]],
                               rep.style_ids(**labels[i])))
        if len(picked) == n:
            break
    sources, styles = [p[0] for p in picked], [p[2] for p in picked]

    def norm(bar: str) -> str:
        return "".join(bar.split()).strip(":|[]")

    def measure(texts):
        nll = chars = written = repeats = copies = kept = 0
        for (src, _, style), t in zip(picked, texts, strict=True):
            t = t.rstrip("\n")
            if len(rep.cuts(t)) > rep.source_bars:  # else the model ended it at once
                total, count = continuation_nll(model, rep, t, style)
                nll, chars = nll + total, chars + count
            all_bars = [norm(t[b.start:b.end]) for b in bars_of(t)]
            first = len(bars_of(src))
            new = all_bars[first:]
            written += len(new)
            repeats += sum(b in all_bars[:first + k] for k, b in enumerate(new) if b)
            copies += len(new) >= first and new[:first] == all_bars[:first]
            kept += meter_error(t + "\n", len(src)) is None
        return (f"{nll / max(chars, 1):.3f} | {written / len(texts):.1f} | "
                f"{repeats / max(written, 1):.3f} | {copies / len(texts):.2f} | "
                f"{kept / len(texts):.2f}")

    print(f"\n{len(picked)} held-out tunes, 8 bars after their first {rep.source_bars}, "
          "their own style given\n")
    print("| decoding | NLL/char of what it wrote | bars written | bars repeating an "
          "earlier bar | copies the source bars | keeps M: |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| the real next 8 bars | {measure([p[1] for p in picked])} |")
    t0 = time.time()
    before = 4  # compose before step drafts: 4 whole continuations, the first that keeps M:
    whole = continue_texts(model, rep, [s for s in sources for _ in range(before)],
                           [s for s in styles for _ in range(before)], 8,
                           ComposeOptions(num=n), seed=seed)
    first = [next((d for d in whole[k * before:(k + 1) * before]
                   if meter_error(d, len(sources[k])) is None), whole[k * before])
             for k in range(len(picked))]
    print(f"| {before} drafts of 8 bars, the first that keeps M: (compose before) "
          f"({time.time() - t0:.0f} s) | {measure(first)} |")
    t0 = time.time()
    texts = continue_texts(model, rep, sources, styles, 8, ComposeOptions(num=n), seed=seed,
                           step_drafts=STEP_DRAFTS)
    print(f"| {STEP_DRAFTS} drafts of each step's {rep.target_bars} bars, the first that "
          f"keeps M: ({time.time() - t0:.0f} s) | {measure(texts)} |")
    for name, opts in (("sampled, temperature 1", ComposeOptions(num=n)),
                       ("beam 4", ComposeOptions(num=n, beam=4)),
                       ("beam 4, length penalty 1", ComposeOptions(num=n, beam=4,
                                                                  length_penalty=1.0)),
                       ("stochastic beam 4", ComposeOptions(num=n, beam=4,
                                                            stochastic_beam=True))):
        t0 = time.time()
        texts = continue_texts(model, rep, sources, styles, 8, opts, seed=seed)
        print(f"| {name} ({time.time() - t0:.0f} s) | {measure(texts)} |")
    for w in guidance:
        opts = ComposeOptions(num=n, style_guidance=w)
        for drafts, name in ((1, "sampled"), (STEP_DRAFTS, f"{STEP_DRAFTS} drafts a step")):
            t0 = time.time()
            texts = continue_texts(model, rep, sources, styles, 8, opts, seed=seed,
                                   step_drafts=drafts)
            print(f"| {name}, style guidance {w:g} ({time.time() - t0:.0f} s) | "
                  f"{measure(texts)} |")


if __name__ == "__main__":
    main()
