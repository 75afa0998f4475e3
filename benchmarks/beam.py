"""What beam search does to music, against sampling, with the shipped models.

    python benchmarks/beam.py [--num 40] [--seed 0]

1. Whole ABC tunes: sampling (temperature 1), beam search (4 hypotheses; deterministic,
   so one tune per primer), a Gumbel-perturbed beam (``--stochastic-beam``), and the same
   with a length penalty: the model's log-probability per character of what each writes,
   how repetitive it is (bars that repeat an earlier bar, the share of distinct 4-grams of
   characters in the tune body, the longest run of one repeated bar), length, and the
   share abc2midi accepts.
2. Events (30 s of Bach): sampling against the Gumbel-perturbed beam: log-probability per
   message, time with 5+ notes sounding, the longest exact repeat.
3. Short continuations: the next bar of held-out folk tunes given their first four bars,
   by greedy search, beam search and sampling: how often it is exactly the real next bar,
   and its character error rate against it.
Figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from tunesmith import app, families
from tunesmith.app.composing import compose


def log_prob_per_token(model, rep, texts: list[str]) -> float:
    """The model's mean log-probability per character of the bodies it wrote."""
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            rows = torch.tensor(rep.with_inputs(rep.encode_text(text)))[None]  # (1, T, 1 + F)
            ids = rows[..., 0]
            logits, _ = model(rows[:, :-1])  # char_rnn reads (id,) rows as ids
            lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])
            total += float(lp.sum())
            count += ids.shape[1] - 1
    return total / max(count, 1)


def body(text: str) -> str:
    lines = text.split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), -1)
    return "\n".join(lines[k + 1:])


def distinct_4grams(text: str) -> float:
    grams = [text[i:i + 4] for i in range(len(text) - 3)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def longest_bar_run(text: str) -> int:
    bars = [b.strip() for b in body(text).replace("\n", "").split("|") if b.strip()]
    best = run = 1 if bars else 0
    for a, b in zip(bars, bars[1:], strict=False):
        run = run + 1 if a == b else 1
        best = max(best, run)
    return best


def abc_tunes(ckpt, num: int, seed: int) -> None:
    from tunesmith.evaluation.form import bar_repetition_rate
    from tunesmith.families.abc import parse_tune
    from tunesmith.io import abc2midi

    settings = {
        "sampling (T = 1)": {},
        "beam 4": {"beam": 4, "num": 1},
        "stochastic beam 4": {"beam": 4, "stochastic_beam": True},
        "stochastic beam 4, length penalty 1": {"beam": 4, "stochastic_beam": True,
                                                "length_penalty": 1.0},
    }
    print(f"\n1. whole tunes, shipped ABC model, {num} tunes (seed {seed}); raw, no "
          "resampling\n")
    print("| setting | log p / char | repeated bars | distinct 4-grams | longest run of one "
          "bar | characters | abc2midi accepts | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    from tunesmith.abc_text import as_tune_book_entry

    real = [as_tune_book_entry(t, i + 1, "real") for i, t in enumerate(held_out(num, seed))]
    for name, extra in {"real tunes (held out)": None, **settings}.items():
        t = time.perf_counter()
        if extra is None:
            texts = real
        else:
            opts = app.ComposeOptions(**({"num": num, "seed": seed, "constrain": False}
                                         | extra))
            texts = [c.text for c in compose(ckpt, opts)]
        took = time.perf_counter() - t
        bodies = [body(x) for x in texts]
        pieces = [parse_tune(x) for x in texts]
        reps = [bar_repetition_rate(p) for p in pieces if p is not None]
        reps = [r for r in reps if r == r]
        ok = len(texts) - len(abc2midi.abc2midi_errors(texts)) if abc2midi.available() else 0
        model_texts = [x.split("\n", 2)[2] for x in texts]  # without X: and T:
        print(f"| {name} | {log_prob_per_token(ckpt.model, ckpt.representation, model_texts):.3f} "
              f"| {statistics.mean(reps) if reps else float('nan'):.3f} "
              f"| {statistics.mean(distinct_4grams(b) for b in bodies):.3f} "
              f"| {statistics.mean(longest_bar_run(x) for x in texts):.1f} "
              f"| {statistics.mean(len(b) for b in bodies):.0f} | {ok}/{len(texts)} "
              f"| {took:.1f} |")


def events_pieces(num: int, seed: int) -> None:
    from tunesmith.evaluation.form import longest_repeated_span, pile_up_rate

    ckpt = app.load_model(family="events")
    print(f"\n2. events, shipped Bach model, {num} pieces of 30 s (seed {seed})\n")
    print("| setting | log p / message | time with 5+ notes | longest exact repeat (beats) "
          "| notes | s |")
    print("|---|---:|---:|---:|---:|---:|")
    from tunesmith.families.events import sample_messages

    items = families.get("events").corpus_items("bach-chorales",
                                                 families.get("events").data_options(),
                                                 ckpt.representation)
    real = [i.load() for i in (items["test"] + items["valid"])[:num]]
    for name, extra in (("real chorales (held out, whole)", None), ("sampling", {}),
                        ("stochastic beam 4", {"beam": 4, "stochastic_beam": True})):
        t = time.perf_counter()
        if extra is None:
            msgs = [ckpt.representation.encode(p)[:-1] for p in real]
        else:
            opts = app.ComposeOptions(**({"num": num, "seed": seed, "seconds": 30.0}
                                         | extra))
            msgs = sample_messages(ckpt.model, ckpt.representation, opts)
        took = time.perf_counter() - t
        pieces = [ckpt.representation.decode(m) for m in msgs]
        lps = []
        with torch.no_grad():
            for m in msgs:
                x = torch.from_numpy(ckpt.representation.with_inputs(m))[None]
                out = ckpt.model.loss({"inputs": x[:, :-1], "targets": x[:, 1:]})
                lps.append(-float(out["nll"]))
        print(f"| {name} | {statistics.mean(lps):.3f} "
              f"| {statistics.mean(pile_up_rate(p) for p in pieces):.3f} "
              f"| {statistics.mean(longest_repeated_span(p) for p in pieces):.1f} "
              f"| {statistics.mean(len(p.notes) for p in pieces):.0f} | {took:.1f} |")


def held_out(num: int | None, seed: int) -> list[str]:
    """Test-split tunes of folk-abc (model text), in a random order, ``num`` of them."""
    from tunesmith.corpora import load_abc_corpus
    from tunesmith.data.splits import split_items

    corpus = load_abc_corpus("folk-abc")
    test = [corpus.texts[i] for i in split_items(corpus.texts)["test"]]
    order = np.random.default_rng(seed).permutation(len(test))
    return [test[i] for i in order[:num]]


def continuations(ckpt, num: int, seed: int) -> None:
    test = held_out(None, seed)
    cases = []
    for text in test:
        k = text.index("K:")
        start = text.index("\n", k) + 1
        bars = text[start:].split("|")
        if len(bars) < 7 or any(not b.strip() for b in bars[:6]):
            continue
        primer = text[:start] + "|".join(bars[:4]) + "|"
        truth = bars[4]
        if "\n" in truth or len(truth) > 40 or set(primer) - set(ckpt.representation.vocab.symbols):
            continue
        cases.append((primer, truth))
        if len(cases) == num:
            break
    print(f"\n3. the next bar of {len(cases)} held-out folk-abc tunes given their first four "
          "bars\n")
    print("| setting | exactly the real bar | character error rate |")
    print("|---|---:|---:|")
    for name, extra in (("greedy (beam 1)", {"beam": 1}), ("beam 4", {"beam": 4}),
                        ("sampling (T = 1)", {})):
        exact, errors = 0, []
        for primer, truth in cases:
            opts = app.ComposeOptions(**({"num": 1, "seed": seed, "primer": primer,
                                          "max_len": 60, "constrain": False} | extra))
            text = compose(ckpt, opts)[0].text
            tail = text[text.index(primer) + len(primer):] if primer in text else ""
            bar = tail.split("|")[0]
            exact += bar.strip() == truth.strip()
            errors.append(edit_distance(bar.strip(), truth.strip()) / max(len(truth.strip()), 1))
        print(f"| {name} | {exact}/{len(cases)} | {statistics.mean(errors):.2f} |")


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ckpt = app.load_model(family="abc")
    print(f"shipped ABC model: {families.pretrained_dir('abc')}")
    abc_tunes(ckpt, args.num, args.seed)
    events_pieces(min(args.num, 20), args.seed)
    continuations(ckpt, 100, args.seed)


if __name__ == "__main__":
    main()
