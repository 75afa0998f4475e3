"""The continue-remi family measured (issue 20), as benchmarks/continue_events.py measures
continue-events: does the encoder help, does the style label matter, does the style
control work?

    python benchmarks/continue_remi.py --model RUN/best [--pairs 400] [--per-style 200]
                                       [--guidance W] [--control-only]

On the model's own corpus and split (``bach=bach-chorales,classical=classical`` by
default: its Bach pieces are held out as the REMI family's are, so the shipped REMI model
never trained on the Bach test pairs):

1. **Continuation NLL per target token** (nats), teacher-forced, on held-out **test**
   pairs (source = ``source_bars`` bars, target = the next ``target_bars``): seq2seq
   with each piece's own style, with none, with the other style; and the shipped REMI
   Transformer (``--primed``, default ``bach-remi-small``, trained on Bach only) reading
   the same source tokens as its primer and scoring the same target tokens (the two
   read one tokenizer's ids). Per style, since the Transformer knows only Bach.
2. **Free-running vs teacher-forced** accuracy of the same pairs.
3. **Style control**, by the two judges of continue_events.py: logistic regression over
   n-grams of 1-4 event messages (key, on/off, time class), and over the musical
   features of :mod:`tunesmith.evaluation.passage_features`. Both read a passage as
   event messages: its REMI tokens decoded to notes and encoded by the ``events``
   representation (the real targets too), so the judges are the ones the events table
   used, on the same corpus and split. Each judge is trained on the target bars of
   real **training** pieces; its recall per style on real **held-out** (valid + test)
   targets is the real-data accuracy. Up to ``--per-style`` held-out sources of each
   style are continued by ``target_bars`` bars (raw: temperature 1, the REMI grammar
   on, as compose does) with their own style and with the other one. The control: the
   shipped REMI Transformer continuing the same sources by as many bars, no style.
Tables are printed in Markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# benchmarks/continue_events.py: the command line, tables and judges both share
from continue_events import arguments, control_table, likelihood_table, model_rows
from tunesmith import app


@dataclass
class Row:
    source: list  # tokens of the source bars
    target: list  # tokens of the target bars
    ends: bool
    label: str


def piece_rows(rep, piece, label: str) -> list[Row]:
    """Every pair of ``piece`` as compose would continue its source."""
    return [Row(list(s), list(t), e, label) for s, t, e in rep.pairs(piece)]


def passage_messages(rep, events, tokens) -> list:
    """The bars ``tokens`` (REMI, starting at a ``Bar``) as event messages: decoded to
    notes, encoded by ``events``. A bar's leading silence is cut to the whole beat
    before its first note, so onset places within the beat stay as they were."""
    return events.encode(rep.decode([rep.bos, *tokens, rep.eos]))[1:-1]


def continuations(ckpt, rows, styles, seed: int, guidance: float = 0.0,
                  batch: int = 64) -> list[list]:
    """The ``target_bars`` bars (tokens) each row's source is continued by, under
    ``styles`` (guided towards them by ``guidance``)."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.continue_remi import continue_tokens

    rep, out = ckpt.representation, []
    for k in range(0, len(rows), batch):
        part = rows[k:k + batch]
        written = continue_tokens(ckpt.model, rep, [r.source for r in part],
                                  styles[k:k + batch], rep.target_bars,
                                  ComposeOptions(num=len(part), style_guidance=guidance),
                                  seed=seed + k)
        out += [w[len(r.source):] for r, w in zip(part, written, strict=True)]
    return out


def lm_continuations(ckpt, rows, seed: int, phrases) -> list[list]:
    """The control: the REMI Transformer (no style) continuing each row's source by
    ``target_bars`` bars, as compose continues a primer (its sampler, grammar and
    lookback tilt). Its primer is the source and the ``Bar`` token after it, so that it
    writes new bars (the seq2seq's targets start at that bar line too) rather than more
    notes in the source's last bar, and its end token is never drawn (the seq2seq's is
    not either); the tokens from that ``Bar`` to the bar line after the target's bars."""
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.remi import sample_tokens

    rep, out = ckpt.representation, []
    bar = rep.vocab.index("Bar_None")
    for k, r in enumerate(rows):
        primer = [rep.bos, *r.source, bar]
        opts = ComposeOptions(num=1, seed=seed + k, bars=len(phrases.bar_cuts(r.source))
                              + phrases.target_bars, grace=0)
        written = [bar, *sample_tokens(ckpt.model, rep, opts, primer=primer,
                                       end=False)[0][len(primer):]]
        cuts = phrases.bar_cuts(written)  # fewer only where the step limit came first
        out.append(written[:cuts[phrases.target_bars]] if len(cuts) > phrases.target_bars
                   else written)
    return out


def primed_nll(ckpt, rows) -> float:
    """NLL per target token of the REMI Transformer given the source as its primer, what
    closes the target scored as the seq2seq's target has it (the end marker where the
    piece ends, else the next bar's ``Bar``)."""
    from tunesmith.families.continue_remi import MAX_SOURCE, MAX_TARGET

    rep, model = ckpt.representation, ckpt.model
    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for r in rows:
            src, tgt = r.source[-MAX_SOURCE:], r.target[:MAX_TARGET]
            if len(r.target) <= MAX_TARGET:
                tgt = [*tgt, rep.eos if r.ends else rep.vocab.index("Bar_None")]
            ids = [rep.bos, *src, *tgt]
            x = torch.as_tensor(rep.with_inputs(ids))[None]
            targets = x[:, 1:, 0].clone()
            targets[:, :len(src)] = 0  # the source is read, not scored (0 pads)
            out = model.loss({"inputs": x[:, :-1], "targets": targets})
            n = float(out["count"])
            total, count = total + float(out["nll"]) * n, count + n
    return total / max(count, 1.0)


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "continue-remi", "bach-remi-small")
    from tunesmith import families
    from tunesmith.families.continue_remi import encode_pair
    from tunesmith.representations.event_phrases import EventPhrases

    ckpt = app.load_model(args.model)
    rep = ckpt.representation
    if rep.name != "remi_phrases":
        raise SystemExit(f"{args.model}: not a continue-remi model ({rep.name})")
    primed = app.load_model(args.primed or families.pretrained_dir("remi"))
    if list(primed.representation.vocab) != list(rep.vocab):
        raise SystemExit("the primed model's REMI vocabulary differs from the continue model's")
    rows, styles = model_rows(ckpt, piece_rows)
    if not args.control_only:
        likelihood_table(ckpt, encode_pair, lambda test: primed_nll(primed, test),
                         rows["test"], styles, args, "token", "REMI Transformer")
    events = EventPhrases()  # the messages the judges read, and their times
    control_table(ckpt, events, lambda _, tokens: (passage_messages(rep, events, tokens), 0.0),
                  rows, styles, args,
                  lambda src, ids, seed: continuations(ckpt, src, ids, seed, args.guidance),
                  lambda src: lm_continuations(primed, src, args.seed, rep), "REMI Transformer")


if __name__ == "__main__":
    main()
