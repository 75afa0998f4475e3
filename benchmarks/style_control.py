"""Does the style control work? (issue 20)

    python benchmarks/style_control.py --model RUN/best [--per-style 100] [--asked 200]

For each label set of the model (tradition, tune type), on its own corpus and split:

1. A style classifier (:class:`~tunesmith.evaluation.style_classifier.StyleClassifier`,
   n-gram logistic regression) is trained on the **target bars of real training tunes**
   only, over the styles with at least ``--min-tunes`` (300) training tunes (``other`` and
   ``unknown`` are not styles); its recall per style on the target bars of held-out
   **test** tunes is the real-data accuracy.
2. **Own style vs shuffled.** Up to ``--per-style`` held-out phrases (source bars) of each
   style are continued by ``target_bars`` bars, raw (temperature 1, no drafts), once with
   the tune's own labels and once with the labels of a held-out tune of another style
   (shuffled); the classifier reads only the generated bars. Share classified as the
   phrase's own style: with its own labels it should reach >= 80% of the real recall
   (the issue's target); shuffled, it must drop, or the label is ignored. ``--draws K``
   continues each phrase K times (K seeds), for styles with few held-out phrases.
3. **Asked for, against the primer.** ``--asked`` held-out phrases of any style are
   continued once with no label and once asking for each style (that set only; the other
   set "any"): share classified as the asked style, against no label asked.
``--guidance W`` composes every labelled continuation with classifier-free guidance of
that weight (``compose --style-guidance W``); the continuations with no label are the
same either way.
Tables are printed in Markdown, for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import torch

from tunesmith import app

NOT_STYLES = ("other", "unknown")


def continuations(ckpt, sources: list[str], styles: list[list[int]], seed: int,
                  guidance: float = 0.0, batch: int = 200) -> list[str]:
    """The bars each source is continued by (``target_bars`` of them, raw; guided
    towards the style by ``guidance``)."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continuation import continue_texts

    rep, out = ckpt.representation, []
    for k in range(0, len(sources), batch):
        src = sources[k:k + batch]
        texts = continue_texts(ckpt.model, rep, src, styles[k:k + batch], rep.target_bars,
                               ComposeOptions(num=len(src), seed=seed,
                                              style_guidance=guidance), seed=seed + k)
        out += [t[len(s):] for s, t in zip(src, texts, strict=True)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a continue-family checkpoint folder")
    ap.add_argument("--per-style", type=int, default=100, help="phrases per style (part 2)")
    ap.add_argument("--asked", type=int, default=200, help="phrases of part 3")
    ap.add_argument("--min-tunes", type=int, default=300, help="training tunes a style needs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=0.0,
                    help="classifier-free guidance weight of the labelled continuations")
    ap.add_argument("--draws", type=int, default=1,
                    help="continuations of each phrase of part 2 (each with its own seed)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from tunesmith.evaluation.style_classifier import StyleClassifier, recall
    from tunesmith.families.continuation import model_corpus

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    corpus, c, labels, splits = model_corpus(ckpt)

    def rows(split):  # (source, target, labels) of every pair of the split's tunes
        return [(s, t, labels[i]) for i in splits[split] for s, t, _ in rep.pairs(c.texts[i])]

    train, test = rows("train"), rows("test")
    print(f"{corpus}: {len(train)} training pairs, {len(test)} test pairs; model at step "
          f"{ckpt.meta['summary']['step']}; continuations of {rep.target_bars} bars, raw, "
          f"style guidance {args.guidance:g}, {args.draws} of each phrase (part 2)")
    rng = random.Random(args.seed)
    asked = rng.sample(test, min(args.asked, len(test)))
    t0 = time.time()
    free = continuations(ckpt, [s for s, _, _ in asked], [rep.style_ids()] * len(asked),
                         args.seed)
    for key in rep.styles:
        tunes = Counter(labels[i].get(key) for i in splits["train"])
        styles = sorted(k for k, n in tunes.items()
                        if n >= args.min_tunes and k and k not in NOT_STYLES
                        and k in rep.styles[key])
        if len(styles) < 2:
            print(f"\n{key}: fewer than two styles with {args.min_tunes} training tunes")
            continue
        t1 = time.time()
        clf = StyleClassifier(styles).fit([t for _, t, lab in train if lab.get(key) in styles],
                                          [lab[key] for _, _, lab in train
                                           if lab.get(key) in styles], seed=args.seed)
        held = [(s, t, lab) for s, t, lab in test if lab.get(key) in styles]
        real = clf.predict([t for _, t, _ in held])
        wanted = [lab[key] for _, _, lab in held]
        right = sum(p == w for p, w in zip(real, wanted, strict=True))
        print(f"\n### {key}: classifier trained in {time.time() - t1:.0f} s, held-out "
              f"accuracy {right / len(held):.3f} over {len(held)} real passages "
              f"(chance, most common: {max(Counter(wanted).values()) / len(held):.3f})")
        # part 2: own labels vs shuffled, per style
        picked = []
        for st in styles:
            mine = [r for r in held if r[2][key] == st]
            picked += rng.sample(mine, min(args.per_style, len(mine)))
        others = {st: [r[2] for r in held if r[2][key] != st] for st in styles}
        shuffled = [rng.choice(others[lab[key]]) for _, _, lab in picked]
        sources = [s for s, _, _ in picked]
        own, wrong = [], []
        for d in range(args.draws):  # draw d: seed + 1000 d (draw 0: the seed itself)
            seed = args.seed + 1000 * d
            own += clf.predict(continuations(ckpt, sources, [rep.style_ids(**lab)
                                                             for _, _, lab in picked], seed,
                                             args.guidance))
            wrong += clf.predict(continuations(ckpt, sources, [rep.style_ids(**lab)
                                                               for lab in shuffled], seed,
                                               args.guidance))
        want = [lab[key] for _, _, lab in picked] * args.draws
        # part 3: asked for each style, phrases of any style
        no_label = Counter(clf.predict(free))
        print("\n| style | training tunes | real recall | own label | ratio | shuffled | "
              "asked for, any primer | no label asked |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for st in styles:
            hr, nr = recall(real, wanted, st)
            ho, no = recall(own, want, st)
            hw, _ = recall(wrong, want, st)
            got = clf.predict(continuations(ckpt, [s for s, _, _ in asked],
                                            [rep.style_ids(**{key: st})] * len(asked),
                                            args.seed, args.guidance))
            ha = sum(p == st for p in got)
            ratio = (ho / no) / (hr / nr) if hr else float("nan")
            print(f"| {st} | {tunes[st]} | {hr / nr:.2f} ({nr}) | {ho / no:.2f} ({no}) | "
                  f"{ratio:.2f} | {hw / no:.2f} | {ha / len(asked):.2f} | "
                  f"{no_label[st] / len(asked):.2f} |")
    print(f"\nall in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
