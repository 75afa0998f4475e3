"""Does the encoder help, and does the style label matter? (issue 20)

    python benchmarks/continuation.py --model RUN/best [--pairs 600] [--seed 0]

On the held-out **test** pairs of the model's own corpus and split (source = the header
and ``source_bars`` bars, target = the next ``target_bars`` bars):

1. Continuation NLL per target character (nats and bits), teacher-forced:
   - ``seq2seq`` with each tune's own style labels;
   - the same with no label (``any``), and with labels shuffled across the pairs (if the
     label is read, a wrong one must cost likelihood);
   - the shipped unconditional char LSTM (``folk-abc-small``) reading the source as its
     primer and scoring the same target characters (``--lstm``; its split is the same:
     splits are a hash of each tune's text).
2. The same seq2seq free-running (each step reads its own previous argmax) against
   teacher-forced: token accuracy of each.
3. With ``--primer FILE`` (repeatable) and ``--styles jig,,reel`` ("" = none given):
   ``--num`` raw continuations of 8 bars per primer and style, and how many keep the
   primer's ``M:`` (no resampling).
Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time

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


def lstm_nll(ckpt, texts: list[tuple[str, str, bool]]) -> float:
    """NLL per target character of the char LSTM given the source as its primer (the
    end marker scored where the tune ends, as the seq2seq target has it)."""
    rep, model = ckpt.representation, ckpt.model
    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for src, tgt, ends in texts:
            ids = rep.encode_text(src + tgt)
            if not ends:
                ids = ids[:-1]
            rows = torch.tensor(rep.with_inputs(ids))[None]
            logits, _ = model(rows[:, :-1])
            nll = F.cross_entropy(logits[0], rows[0, 1:, 0], reduction="none")
            k = len(tgt) + int(ends)  # the target's characters (and the end marker)
            total += float(nll[-k:].sum())
            count += k
    return total / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a continue-family checkpoint folder")
    ap.add_argument("--lstm", default="", help="a char LSTM to compare (default: shipped)")
    ap.add_argument("--pairs", type=int, default=600, help="test pairs scored (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--primer", action="append", default=[], help="an ABC file (part 3)")
    ap.add_argument("--styles", default="jig,,reel", help="styles of part 3, comma-separated")
    ap.add_argument("--num", type=int, default=200, help="continuations per row (part 3)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from tunesmith import families
    from tunesmith.corpora import load_abc_corpus
    from tunesmith.corpora.styles import corpus_styles
    from tunesmith.data.splits import split_items
    from tunesmith.families.continuation import encode_pair

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    summary = ckpt.meta["summary"]
    corpus, clean = summary["corpus"]["corpus"], summary["data"]["clean"]
    c = load_abc_corpus(corpus, clean=clean)
    labels = {(str(t.source), t.index): s for t, s in corpus_styles(corpus)}
    test = split_items(c.texts)["test"]
    rows = []  # (source, target, ends, labels)
    for i in test:
        st = labels.get((str(c.tunes[i].source), c.tunes[i].index))
        lab = {} if st is None else {"tradition": st.tradition, "tune_type": st.tune_type}
        rows += [(s, t, e, lab) for s, t, e in rep.pairs(c.texts[i])]
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    rows = rows[:args.pairs] if args.pairs else rows
    shuffled = [r[3] for r in rows]
    rng.shuffle(shuffled)
    print(f"{corpus} (clean={clean}): {len(test)} test tunes, {len(rows)} pairs scored; "
          f"model at step {summary['step']}")

    def pairs(style_of):
        return [encode_pair(rep, s, t, e, rep.style_ids(**style_of(k, lab)))
                for k, (s, t, e, lab) in enumerate(rows)]

    t0 = time.time()
    own = seq2seq_nll(ckpt.model, pairs(lambda k, lab: lab))
    none = seq2seq_nll(ckpt.model, pairs(lambda k, lab: {}))
    wrong = seq2seq_nll(ckpt.model, pairs(lambda k, lab: shuffled[k]))
    print(f"seq2seq scored in {time.time() - t0:.0f} s")
    lstm = families.pretrained_dir("abc") if not args.lstm else args.lstm
    t0 = time.time()
    ref = lstm_nll(app.load_model(lstm), [(s, t, e) for s, t, e, _ in rows])
    print(f"LSTM scored in {time.time() - t0:.0f} s")
    ln2 = 0.6931471805599453
    print("\n| model, target bars given the source bars | nats/char | bits/char | "
          "accuracy (teacher-forced) | accuracy (free-running) |")
    print("|---|---:|---:|---:|---:|")
    for name, (nll, acc, free) in (("seq2seq, the tune's own style", own),
                                   ("seq2seq, no style given", none),
                                   ("seq2seq, style shuffled across tunes", wrong)):
        print(f"| {name} | {nll:.4f} | {nll / ln2:.4f} | {acc:.3f} | {free:.3f} |")
    print(f"| char LSTM `{lstm}` with the source as primer | {ref:.4f} | {ref / ln2:.4f} "
          "| | |")
    if args.primer:
        meter_kept(ckpt, args.primer, args.styles.split(","), args.num, args.seed)


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


if __name__ == "__main__":
    main()
