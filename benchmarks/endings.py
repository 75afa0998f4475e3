"""Where a character model thinks a folk tune ends: read at the last note of held-out tunes.

    python benchmarks/endings.py --model runs/abc/best [--tunes 400] [--seed 0]

For up to ``--tunes`` tunes of the run's validation split (its corpus and ``--clean``, as
the checkpoint records them) that end on a note in a key with a tonic, teacher-forced:

- **P(tonic) at the last note**: the probability the model gives the tonic's letter
  (either octave's case, as ``abc_meter.ending_error`` judges an ending) in place of the
  letter of the tune's last note, given the text before that letter (an accidental or a
  chord's ``[`` already written); the mean over all tunes and over those
  that do end on the tonic. A model that knows where home is and that the tune is ending
  puts most of its weight there: 76% of folk-abc's tunes end on the tonic.
- **P(end) after the tune**: the probability of the end marker after the tune's last
  character; then the same for the tune with its last note moved a step, one letter up
  (``B`` and ``b`` one down, so the note keeps its octave): a tonic ending becomes the
  second degree. A model that ends tunes at home wants to end much less after it. A model
  trained with ``--ends`` is told each tune's training length (``AbcChars.training_length``)
  for both.

Why: the raw tunes of the shipped model end on the tonic 42% of the time (the musical
report, four seeds of 100), real ones 76%. These
figures say whether the model does not know where home is (low P(tonic)) or does not
mind ending elsewhere (P(end) that hardly drops for a moved note).
"""

from __future__ import annotations

import argparse
import random

import torch

from tunesmith import app
from tunesmith.abc_meter import _LETTERS, _read, tonic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tunes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    checkpoint = app.load_model(a.model, device="cpu")
    rep, model = checkpoint.representation, checkpoint.model.eval()
    if rep.name != "abc_chars":
        raise SystemExit(f"{a.model}: not an ABC character model")
    corpus, data, prepared = app.held_out(checkpoint)
    tunes = list(prepared.sequences["valid"])
    random.Random(a.seed).shuffle(tunes)

    def log_probs(ids: list[int], length: int | None) -> torch.Tensor:
        """(len(ids) - 1, V): row k is the model's distribution for ids[k + 1], the
        character text[k] of ids = [BOS] + text + [EOS] (the last row: for the end)."""
        reader = rep.input_reader(length)
        rows = torch.tensor([[(int(i), *reader(int(i))) for i in ids]])
        with torch.no_grad():
            out = model(rows[:, :-1])
        logits = out[0] if isinstance(out, tuple) else out["token"]  # LSTM or Transformer
        return torch.log_softmax(logits[0], -1)

    n = on_tonic = 0
    p_tonic = p_tonic_on = p_end = p_end_moved = 0.0
    for ids in tunes:
        if n == a.tunes:
            break
        text = rep.decode_text(ids)
        r = _read(text)
        home = tonic(r.final[1]) if r.final else None
        if home is None or r.final_at is None or len(text) != len(ids) - 2:
            continue  # no tonic to end on (or a character the vocabulary lacks)
        k, letter = r.final_at, text[r.final_at]
        length = rep.training_length(text) if rep.end_inputs else None
        lp = log_probs(ids, length)
        share = sum(lp[k, rep.vocab.id(c)].exp().item() for c in (home, home.lower())
                    if c in rep.vocab.symbols)
        step = -1 if letter in "Bb" else 1
        moved = _LETTERS[(_LETTERS.index(letter.upper()) + step) % 7]
        moved_ids = list(ids)
        moved_ids[k + 1] = rep.vocab.id(moved if letter.isupper() else moved.lower())
        n += 1
        p_tonic += share
        p_end += lp[-1, rep.eos].exp().item()
        p_end_moved += log_probs(moved_ids, length)[-1, rep.eos].exp().item()
        if letter.upper() == home:
            on_tonic += 1
            p_tonic_on += share
    if not n:
        raise SystemExit(f"{a.model}: no validation tune ends on a note in a key")
    print(f"{a.model}: {n} validation tunes of {corpus} (clean {data.clean}), "
          f"{on_tonic / n:.1%} ending on the tonic")
    print("| P(tonic) at the last note | ... of tunes ending on it | P(end) after the tune "
          "| ... with its last note moved a step |")
    print("|---:|---:|---:|---:|")
    print(f"| {p_tonic / n:.3f} | {p_tonic_on / max(on_tonic, 1):.3f} | {p_end / n:.3f} "
          f"| {p_end_moved / n:.3f} |")


if __name__ == "__main__":
    main()
