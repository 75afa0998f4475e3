"""The ABC family: ABC corpora -> ``abc_chars`` -> ``char_rnn`` -> ABC, MIDI, WAV files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError

MODEL = "char_rnn"
REPRESENTATION = "abc_chars"
PRETRAINED = "folk-abc-small"
DEFAULT_CORPUS = "folk-abc"
MIN_CHAR_COUNT = 3  # characters rarer than this in training become <unk>


@dataclass
class Prepared:
    representation: object
    sequences: dict[str, list[list[int]]]  # split -> encoded tunes
    info: dict


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def prepare_data(corpus: str, representation=None, report=_stderr,
                 clean: bool = False, **_) -> Prepared:
    """Load the corpus, split by tune, fit (or reuse) the vocabulary, encode every tune.
    ``clean`` skips tunes abc2midi rejects (see :func:`tunesmith.corpora.load_abc_corpus`)."""
    from tunesmith.corpora import BUILTIN, load_abc_corpus
    from tunesmith.data.splits import split_items
    from tunesmith.representations.abc_chars import AbcChars

    if corpus in BUILTIN and BUILTIN[corpus].kind != "abc":
        raise TunesmithError(f"{corpus} is a {BUILTIN[corpus].kind} corpus, not ABC text: "
                             "train on it with --family events")

    c = load_abc_corpus(corpus, clean=clean)
    if len(c.problems) > 20:
        report(f"skipped {len(c.problems)} tunes or files; the first 20:")
    for problem in c.problems[:20]:
        report(f"skipped: {problem}")
    splits = split_items(c.texts)
    if representation is None:
        if not splits["train"]:
            raise TunesmithError("corpus too small: no tune landed in the training split",
                                 corpus)
        representation = AbcChars.fit((c.texts[i] for i in splits["train"]),
                                      min_count=MIN_CHAR_COUNT)
    seqs = {s: [representation.encode_text(c.texts[i]) for i in idx]
            for s, idx in splits.items()}
    info = {"corpus": corpus, "tunes": {s: len(v) for s, v in seqs.items()},
            "tokens": {s: sum(len(x) for x in v) for s, v in seqs.items()},
            "skipped": len(c.problems), "clean": clean, "unit": "characters"}
    return Prepared(representation, seqs, info)


def data_options(args) -> dict:
    """The data settings ``train`` records in a run."""
    return {"clean": bool(args.clean)}


def model_sizes(representation) -> dict:
    return {"vocab_size": len(representation.vocab)}


def batches(prepared: Prepared, cfg, **_):
    """Random training windows; validation over whole tunes from their start."""
    from tunesmith.data.tokens import SequenceBatches, TokenWindows

    train = TokenWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                         seed=cfg.seed)
    return train, SequenceBatches(prepared.sequences["valid"], max_items=cfg.eval_max_items)


@dataclass
class ComposeOptions:
    num: int = 8
    max_len: int = 1500  # characters per tune
    primer: str = ""
    temperature: float | str = 1.0
    top_k: int | str = 0
    top_p: float | str = 1.0
    seed: int | None = None
    wav: bool = True
    png: bool = False
    soundfont: str | None = None


def sample_texts(model, rep, opts: ComposeOptions, device="cpu") -> list[str]:
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.filters import per_head

    settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
    primer = opts.primer.replace("\\n", "\n")
    primer_ids = rep.primer_ids(primer)
    steps = sample(model, [[i] for i in primer_ids], num=opts.num, max_steps=opts.max_len,
                   heads=["token"], settings=settings, stop=("token", rep.eos),
                   banned={"token": rep.never_sample()}, seed=opts.seed, device=device)
    return [primer + rep.decode_text([s[0] for s in seq]) for seq in steps]


def compose(checkpoint, opts: ComposeOptions, out_dir: Path, log=_stderr):
    """Sample tunes; write each as .abc, and each valid one as .mid (and .wav / .png).

    WAV rendering runs on a thread pool: FluidSynth's synthesis call releases the GIL, so
    it overlaps with music21 parsing the next tune."""
    from concurrent.futures import ThreadPoolExecutor

    from tunesmith.families.output import ComposeResult, render_extras
    from tunesmith.io.abc import as_tune_book_entry, tune_to_piece
    from tunesmith.io.midi import write_midi

    texts = sample_texts(checkpoint.model, checkpoint.representation, opts,
                         device=next(checkpoint.model.parameters()).device)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ComposeResult(total=len(texts), label="tunes", count_valid=True)
    width = max(2, len(str(len(texts))))
    with ThreadPoolExecutor(max_workers=2) as pool:
        renders = []
        for i, text in enumerate(texts, 1):
            stem = out_dir / f"tune_{i:0{width}d}"
            abc = as_tune_book_entry(text, number=i, title=f"tunesmith {i}")
            stem.with_suffix(".abc").write_text(abc)
            result.files.append(stem.with_suffix(".abc"))
            try:
                piece = tune_to_piece(abc)
            except ValueError as e:
                result.errors.append(f"{stem.with_suffix('.abc')}: invalid ABC ({e})")
                log(result.errors[-1])
                continue
            result.valid += 1
            result.files.append(write_midi(piece, stem.with_suffix(".mid")))
            pending, written = render_extras(piece, stem, opts, pool, f"tunesmith {i}")
            renders += pending
            result.files += written
        result.files.extend(r.result() for r in renders)
    return result
