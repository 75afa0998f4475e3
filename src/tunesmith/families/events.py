"""The events family: MIDI / MusicXML corpora -> ``events`` -> ``event_lstm`` -> MIDI, WAV
and piano-roll PNG files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.errors import TunesmithError

MODEL = "event_lstm"
REPRESENTATION = "events"
PRETRAINED = "bach-events-small"
DEFAULT_CORPUS = "bach-chorales"
MIN_PIECES_FOR_PIECE_SPLIT = 20  # fewer pieces than this: split each piece by time
TIME_SPLIT = 0.9  # first 90% of each piece's messages train, the last 10% validate


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class Prepared:
    representation: object
    sequences: dict[str, list[np.ndarray]]  # split -> encoded pieces, each (L, 3)
    info: dict
    corpus: object = None  # the PieceCorpus, whose ingest report a run writes out


def data_options(args) -> dict:
    """The data settings ``train`` records in a run (and ``prepare`` uses)."""
    given = {"programs": args.programs, "min_seconds": args.min_seconds,
             "max_seconds": args.max_seconds, "split": args.split, "transpose": args.transpose}
    defaults = {"programs": "all", "min_seconds": 2.0, "max_seconds": 3600.0, "split": "auto",
                "transpose": 0}
    out = {k: defaults[k] if v is None else v for k, v in given.items()}
    if given["transpose"] is not None and not 0 <= given["transpose"] <= 44:
        raise TunesmithError(f"--transpose must be between 0 and 44 semitones, got "
                             f"{given['transpose']}")
    return out


def load_corpus(corpus: str, programs: str = "all", min_seconds: float = 2.0,
                max_seconds: float = 3600.0, progress: bool = True):
    from tunesmith.io.ingest import IngestFilter, load_piece_corpus

    try:
        filt = IngestFilter(programs=programs, min_seconds=min_seconds, max_seconds=max_seconds)
    except ValueError as e:
        import re

        message = re.sub(r"\b(min_seconds|max_seconds|programs)\b(?= must| \()",  # flags
                         lambda m: "--" + m.group(1).replace("_", "-"), str(e))
        raise TunesmithError(message) from None
    return load_piece_corpus(corpus, filt, progress=progress)


def report_dropped(corpus, report=_stderr) -> list:
    """Report the first 20 files the ingest dropped (all are in the ingest report);
    returns every dropped row."""
    dropped = [r for r in corpus.rows if r.status != "kept"]
    if len(dropped) > 20:
        report(f"dropped {len(dropped)} files; the first 20 (all in the ingest report):")
    for r in dropped[:20]:
        report(f"dropped: {r.path}: {r.reason}")
    return dropped


def split_sequences(keys: list[str], seqs: list[np.ndarray], split: str = "auto"):
    """Split by piece (a piece's key decides its split: no window is shared between train
    and validation), or, for ``time`` (and ``auto`` with fewer than
    :data:`MIN_PIECES_FOR_PIECE_SPLIT` pieces), each piece's first 90% of messages to train
    and the rest to validation. Returns ``(sequences per split, mode)``."""
    from tunesmith.data.splits import split_items

    if split not in ("auto", "piece", "time"):
        raise TunesmithError(f"--split must be auto, piece or time, not {split!r}")
    if split == "time" or (split == "auto" and len(seqs) < MIN_PIECES_FOR_PIECE_SPLIT):
        out = {"train": [], "valid": [], "test": []}
        for s in seqs:
            cut = max(2, int(len(s) * TIME_SPLIT))
            out["train"].append(s[:cut])
            if len(s) - cut >= 2:
                out["valid"].append(s[cut:])
        return out, "time"
    idx = split_items(keys)
    return {name: [seqs[i] for i in ix] for name, ix in idx.items()}, "piece"


def prepare_data(corpus: str, representation=None, report=_stderr, programs: str = "all",
                 min_seconds: float = 2.0, max_seconds: float = 3600.0, split: str = "auto",
                 transpose: int = 0, progress: bool = True) -> Prepared:
    """Ingest the corpus (every file kept or dropped, with the reason), encode each piece
    as messages, split by piece (or by time for a tiny corpus)."""
    from tunesmith.representations.events import Events

    c = load_corpus(corpus, programs, min_seconds, max_seconds, progress)
    dropped = report_dropped(c, report)
    if representation is None:
        qpms = [p.tempos[0].qpm for p in c.pieces if p.tempos]
        representation = Events(qpm=float(round(np.median(qpms)))) if qpms else Events()
    seqs = [np.asarray(representation.encode(p), dtype=np.int64) for p in c.pieces]
    splits, mode = split_sequences(c.keys, seqs, split)
    info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
            "tokens": {s: int(sum(len(x) for x in v)) for s, v in splits.items()},
            "skipped": len(dropped), "split": mode, "unit": "messages"}
    if mode == "time":
        report(f"{len(seqs)} piece(s): split by time (first {TIME_SPLIT:.0%} of each piece "
               "trains, the rest validates; no test split)")
    return Prepared(representation, splits, info, corpus=c)


def model_sizes(representation) -> dict:
    h = representation.heads
    return {"note_classes": h["note"], "velocity_classes": h["velocity"],
            "time_classes": h["time"]}


def batches(prepared: Prepared, cfg, transpose: int = 0, **_):
    """Training windows (with transposition when ``transpose`` > 0) and validation
    batches over whole pieces."""
    from tunesmith.data.augment import Transpose
    from tunesmith.data.tokens import SequenceBatches, TokenWindows
    from tunesmith.models.event_lstm import IGNORE
    from tunesmith.representations.events import N_KEYS

    augment = Transpose(transpose, N_KEYS) if transpose else None
    train = TokenWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                         seed=cfg.seed, augment=augment)
    # whole pieces, up to 20,000 messages each (a long score is scored on its start)
    valid = SequenceBatches(prepared.sequences["valid"], batch_size=8,
                            max_items=cfg.eval_max_items, max_len=20_000, pad_target=IGNORE)
    return train, valid


# --- composing -------------------------------------------------------------------------

@dataclass
class ComposeOptions:
    num: int = 4
    max_len: int = 600  # messages per piece (a message is a note-on, a note-off or a wait)
    seconds: float | None = None  # stop each piece after this much music instead
    primer: str = ""  # a MIDI / MusicXML file, or "corpus" (a random piece of DEFAULT_CORPUS)
    primer_len: int = 30  # messages taken from the primer
    temperature: float | str = 1.0  # one value, or per head: "note=0.9,time=0.8"
    top_k: int | str = 0
    top_p: float | str = 1.0
    seed: int | None = None
    constrain: bool = True  # note-offs only for sounding keys (see OnOffConstraint)
    wav: bool = True
    png: bool = True
    soundfont: str | None = None


def primer_piece(primer: str, seed: int | None):
    """The piece named by ``--primer``: a MIDI / MusicXML file, or ``corpus`` for a random
    piece of :data:`DEFAULT_CORPUS` (chosen by ``seed``)."""
    if primer == "corpus":
        import random

        corpus = load_corpus(DEFAULT_CORPUS, progress=False)
        return corpus.pieces[random.Random(seed).randrange(len(corpus.pieces))]
    from tunesmith.io.ingest import read_piece

    return read_piece(primer)


def primer_messages(rep, opts: ComposeOptions, seed: int | None) -> list[list[int]]:
    """``[BOS] + the first primer_len messages`` of the primer."""
    if not opts.primer:
        return [rep.bos]
    ids = rep.encode(primer_piece(opts.primer, seed))[:-1]  # without EOS
    if len(ids) < 2:
        raise TunesmithError("primer has no notes on the piano range", opts.primer)
    return ids[: opts.primer_len + 1]


class _Clock:
    """``until`` for the sampler: done once a sequence's decoded time reaches ``beats``."""

    def __init__(self, rep, beats: float, start: float = 0.0):
        import torch

        self.bins = torch.tensor(rep.time_bins)
        self.beats, self.now = beats, None
        self.start = start

    def __call__(self, ids):
        import torch

        dt = self.bins[ids[:, 2].cpu()]
        self.now = (torch.full_like(dt, self.start) if self.now is None else self.now) + dt
        return self.now >= self.beats


class OnOffConstraint:
    """Draw velocity first, then a note that agrees with it: an *off* (velocity 0) may
    only name a key that is sounding, an *on* only a key that is not (``WAIT`` and
    ``EOS`` are always allowed). The heads of the seed's design are sampled
    independently, so without this most sampled note-offs name silent keys, and the notes
    they were meant to end hang on (benchmarks/RESULTS.md has the figures)."""

    order = ("velocity", "note", "time")

    def __init__(self, num: int, rep=None):
        import torch

        from tunesmith.representations.events import N_KEYS, Events

        rep = rep or Events()
        self.n_keys = N_KEYS
        self.sounding = torch.zeros(num, N_KEYS, dtype=torch.bool)
        self.started = torch.zeros(num, N_KEYS)  # beats, when each sounding key began
        self.now = torch.zeros(num)
        self.bins = torch.tensor(rep.time_bins)
        self.longest = rep.max_note_beats  # the decoder ends a note held longer

    def mask(self, head, logits, picks):
        if head != "note":
            return logits
        import torch

        off = (picks["velocity"] == 0)[:, None]  # (B, 1)
        keys_ok = torch.where(off, self.sounding, ~self.sounding)  # (B, 88)
        allowed = torch.ones_like(logits, dtype=torch.bool)
        allowed[:, : self.n_keys] = keys_ok
        return logits.masked_fill(~allowed, float("-inf"))

    def update(self, ids) -> None:
        import torch

        note, velocity = ids[:, 0], ids[:, 1]
        self.now += self.bins[ids[:, 2].clamp(0, len(self.bins) - 1)]
        self.sounding &= (self.now[:, None] - self.started) <= self.longest
        rows = torch.nonzero(note < self.n_keys)[:, 0]
        self.sounding[rows, note[rows]] = velocity[rows] > 0
        self.started[rows, note[rows]] = self.now[rows]


def sample_messages(model, rep, opts: ComposeOptions, device="cpu"):
    """Sample ``opts.num`` pieces as message lists (primer included, EOS dropped)."""
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.filters import per_head

    settings = per_head(list(rep.heads), opts.temperature, opts.top_k, opts.top_p)
    primer = primer_messages(rep, opts, opts.seed)
    until, max_steps, stop, banned = None, opts.max_len, ("note", rep.eos), rep.never_sample()
    if opts.seconds is not None:  # the clock ends each piece, not the model's end marker
        primer_beats = sum(rep.time_bins[m[2]] for m in primer)
        until = _Clock(rep, rep.beats_for_seconds(opts.seconds), primer_beats)
        max_steps, stop = 1_000_000, None
        banned = {"note": banned["note"] + [rep.eos]}
    constraint = OnOffConstraint(opts.num, rep) if opts.constrain else None
    steps = sample(model, primer, num=opts.num, max_steps=max_steps, heads=list(rep.heads),
                   settings=settings, stop=stop, banned=banned, seed=opts.seed, device=device,
                   until=until, constraint=constraint)
    return [primer + s for s in steps]


def compose(checkpoint, opts: ComposeOptions, out_dir: Path, log=_stderr):
    """Sample pieces; write each as .mid (and .wav / .png)."""
    from tunesmith.families.output import write_pieces

    rep = checkpoint.representation
    messages = sample_messages(checkpoint.model, rep, opts,
                               device=next(checkpoint.model.parameters()).device)
    return write_pieces([rep.decode(msgs) for msgs in messages], out_dir, opts, log)
