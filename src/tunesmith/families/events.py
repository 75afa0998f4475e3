"""The events family: MIDI / MusicXML / ABC corpora -> ``events`` (note, velocity, time
messages) -> ``event_lstm`` -> MIDI, WAV and piano-roll PNG files."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from tunesmith.corpora import IngestFilter
from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.base import (
    ComposeOptions,
    Composition,
    CorpusItem,
    Family,
    Prepared,
    Sink,
    _quiet,
)
from tunesmith.options import opt
from tunesmith.progress import StepCounter

MIN_PIECES_FOR_PIECE_SPLIT = 20  # fewer pieces than this: split each piece by time
TIME_SPLIT = 0.9  # first 90% of each piece's messages train, the last 10% validate
_INGEST = IngestFilter()  # the ingest defaults, declared there once


@dataclass(frozen=True)
class PieceData:
    """Which files and tracks of a MIDI / score corpus a run uses, and how it is split."""

    programs: str = opt(_INGEST.programs, "tracks to keep: all (every non-drum track), "
                        "piano (GM programs 0-7), or a list of GM programs, e.g. 0,1,40")
    min_seconds: float = opt(_INGEST.min_seconds, "drop pieces shorter than this")
    max_seconds: float = opt(_INGEST.max_seconds, "drop pieces longer than this")
    split: str = opt("auto", "split by piece, or each piece by time (first 90%% / last "
                     "10%%); auto splits by time below 20 pieces",
                     choices=("auto", "piece", "time"))
    transpose: int = opt(0, "transpose each training window by up to N semitones (within "
                         "the piano range)")

    def __post_init__(self):
        self.ingest_filter()  # programs, min_seconds, max_seconds
        if self.split not in ("auto", "piece", "time"):
            raise OptionError("split", f"must be auto, piece or time, not {self.split!r}")
        if not 0 <= self.transpose <= 44:
            raise OptionError("transpose", f"must be between 0 and 44 semitones, got "
                              f"{self.transpose}")

    def ingest_filter(self) -> IngestFilter:
        return IngestFilter(programs=self.programs, min_seconds=self.min_seconds,
                            max_seconds=self.max_seconds)


@dataclass(frozen=True)
class EventsData(PieceData):
    """:class:`PieceData`, and whether the model reads each message's place in the beat
    and bar (the representation's inputs)."""

    positions: bool = opt(False, "the model also reads where each step stands (its place in "
                          "the beat and bar)")


def load_corpus(corpus: str, data: PieceData = PieceData(), progress=None):
    from tunesmith.corpora import load_piece_corpus

    return load_piece_corpus(corpus, data.ingest_filter(), progress=progress)


def report_dropped(corpus, log=_quiet) -> list:
    """Report the first 20 files the ingest dropped (all are in the ingest report);
    returns every dropped row."""
    dropped = [r for r in corpus.rows if r.status != "kept"]
    if len(dropped) > 20:
        log(f"dropped {len(dropped)} files; the first 20 (all in the ingest report):",
            "warning")
    for r in dropped[:20]:
        log(f"dropped: {r.path}: {r.reason}", "warning")
    return dropped


def split_sequences(keys: list[str], seqs: list, split: str = "auto"):
    """Split by piece (a piece's key decides its split: no window is shared between train
    and validation), or, for ``time`` (and ``auto`` with fewer than
    :data:`MIN_PIECES_FOR_PIECE_SPLIT` pieces), each piece's first 90% of messages to train
    and the rest to validation. Returns ``(sequences per split, mode)``."""
    from tunesmith.data.splits import split_items

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


def split_keys(keys: list[str], split: str = "auto") -> dict[str, list[int]]:
    """Which pieces (by index) each split holds, for the musical report: by piece as in
    training; a corpus that training splits by time has no held-out pieces, so all of
    them are in ``train``."""
    from tunesmith.data.splits import split_items

    if split == "time" or (split == "auto" and len(keys) < MIN_PIECES_FOR_PIECE_SPLIT):
        return {"train": list(range(len(keys))), "valid": [], "test": []}
    return split_items(keys)


def items_of(family, labels: list[str], pieces: list, idx: dict[str, list[int]]):
    """:class:`CorpusItem` per split from pieces already made."""
    return {s: [CorpusItem(labels[i], lambda p=pieces[i]: p, family.memory(pieces[i]))
                for i in ix] for s, ix in idx.items()}


def prepare_pieces(family, corpus: str, data, make, representation=None, progress=None,
                   log=_quiet, dtype=np.int64) -> Prepared:
    """What the families of MIDI / score corpora share (events, remi, gan): ingest the
    corpus (every file kept or dropped, with the reason), encode each piece as an array of
    ``dtype`` (a new representation ``make(qpm=...)`` decodes at the corpus's median
    tempo), split by piece (or by time for a tiny corpus)."""
    c = load_corpus(corpus, data, progress)
    dropped = report_dropped(c, log)
    if representation is None:
        qpms = [p.tempos[0].qpm for p in c.pieces if p.tempos]
        representation = make(qpm=float(round(np.median(qpms)))) if qpms else make()
    seqs = [np.asarray(representation.encode(p), dtype=dtype) for p in c.pieces]
    if getattr(representation, "inputs", None):  # rows (ids..., inputs...) of whole pieces:
        # a piece split by time keeps its places in its validation tail
        seqs = [representation.with_inputs(s) for s in seqs]
    splits, mode = split_sequences(c.keys, seqs, data.split)
    info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
            "tokens": {s: int(sum(len(x) for x in v)) for s, v in splits.items()},
            "skipped": len(dropped), "split": mode, "unit": family.unit}
    if mode == "time":
        log(f"{len(seqs)} piece(s): split by time (first {TIME_SPLIT:.0%} of each piece "
            "trains, the rest validates; no test split)", "warning")
    return Prepared(representation, splits, info, corpus=c)


# the primer pieces read during one composition (primers_read_once), by what names them
_PRIMERS: ContextVar[dict | None] = ContextVar("primers", default=None)


@contextmanager
def primers_read_once():
    """Within it, :func:`primer_piece` reads each primer once: the application layer
    reads a primer piece for its tempo and meter, and the family's composer again for its
    notes (a user's folder behind ``--primer corpus`` is parsed, not cached)."""
    token = _PRIMERS.set({})
    try:
        yield
    finally:
        _PRIMERS.reset(token)


def primer_piece(primer: str, seed: int | None, corpus: str, labelled: bool = False):
    """The piece named by a primer: a music file, or ``corpus`` for a random piece of
    ``corpus`` (chosen by ``seed``; ``labelled``: a continue family's corpus spec,
    :func:`~tunesmith.corpora.labelled.load_labelled`). Read once within
    :func:`primers_read_once`; the piece is shared, so it is read, never changed."""
    read = _PRIMERS.get()
    key = (primer, seed if primer == "corpus" else None, corpus, labelled)
    if read is not None and key in read:
        return read[key]
    if primer == "corpus":
        import random

        if labelled:
            from tunesmith.corpora.labelled import load_labelled

            pieces = load_labelled(corpus)[0].pieces
        else:
            pieces = load_corpus(corpus).pieces
        piece = pieces[random.Random(seed).randrange(len(pieces))]
    else:
        from tunesmith.io.read import read_piece

        piece = read_piece(primer)
    if read is not None:
        read[key] = piece
    return piece


def primer_piece_to_keep(family, checkpoint, opts, read=None):
    """For :meth:`Family.primer_piece_of` of a family whose representation decodes at
    one tempo (events, REMI, piano roll): the piece ``opts.primer`` names (a music file,
    or ``corpus``: a piece of the model's own corpus, chosen by ``opts.seed``), or None
    without one. A score without a metronome mark reads as the default 120, which says
    nothing: such a tempo is left out (a MIDI file without a tempo is at 120 by the
    standard, and keeps it). ``read``: how the family reads a primer (default
    :func:`primer_piece`; the continue families' corpora are labelled)."""
    from dataclasses import replace

    from tunesmith.io.read import file_format
    from tunesmith.music import DEFAULT_QPM

    if not opts.primer:
        return None
    piece = (read or primer_piece)(opts.primer, opts.seed,
                                   family.own_corpus(checkpoint, opts.primer))
    if (opts.primer == "corpus" or file_format(opts.primer) != "midi") and \
            [(t.beat, t.qpm) for t in piece.tempos] == [(0.0, DEFAULT_QPM)]:
        piece = replace(piece, tempos=[])
    return piece


# Tries at a cadence for a piece whose own grace window has none: this model writes a
# V-I / IV-I at ~2% of beats (the piano-roll model at ~6%, which the default 8 tries
# serve); 8 tries found one for 2 of 8 pieces, 24 for 5 of 8 (compose --num 8
# --seconds 30: 9 s and 13 s against 5.6 s without).
ENDING_DRAFTS = 16
# A piece composed for a length is planned (piece_steps: batch sizes, the token budget) at
# 16 messages a beat, far above the chorales (8.7 at the median, 19.9 at most), and stops
# at 4x that whatever happens: only a model that lets no time pass gets there (beam search
# on a barely trained one chose time 0 for ever).
MESSAGES_PER_BEAT = 16
MAX_MESSAGES_PER_BEAT = 4 * MESSAGES_PER_BEAT


class EventsFamily(Family):
    name = "events"
    representation = "events"
    default_model = "event_lstm"
    pretrained = "bach-events-small"
    default_corpus = "bach-chorales"
    data_options = EventsData
    controls = frozenset({"max_len", "seconds", "grace", "primer", "primer_len",
                          "temperature", "top_k", "top_p", "constrain", "beam",
                          "length_penalty", "stochastic_beam"})
    defaults = {"max_len": 600, "primer_len": 30}
    unit = "messages"

    def primer_piece_of(self, checkpoint, opts: ComposeOptions):
        return primer_piece_to_keep(self, checkpoint, opts)

    def prepare_data(self, corpus, data: EventsData, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Ingest the corpus (every file kept or dropped, with the reason), encode each
        piece as messages, split by piece (or by time for a tiny corpus)."""
        from functools import partial

        from tunesmith.representations.events import Events

        make = partial(Events, beat_inputs=data.positions)
        return prepare_pieces(self, corpus, data, make, representation, progress, log)

    def model_sizes(self, representation) -> dict:
        h = representation.heads
        return {"note_classes": h["note"], "velocity_classes": h["velocity"],
                "time_classes": h["time"], "inputs": representation.inputs}

    def batches(self, prepared: Prepared, cfg, data: PieceData = PieceData()):
        """Training windows (with transposition when ``data.transpose`` > 0) and validation
        batches over whole pieces."""
        from tunesmith.data.augment import Transpose
        from tunesmith.data.tokens import SequenceBatches, TokenWindows
        from tunesmith.models.event_lstm import IGNORE
        from tunesmith.representations.events import N_KEYS

        augment = Transpose(data.transpose, N_KEYS) if data.transpose else None
        train = TokenWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                             seed=cfg.seed, augment=augment)
        # whole pieces, up to 20,000 messages each (a long score is scored on its start)
        valid = SequenceBatches(prepared.sequences["valid"], batch_size=8,
                                max_items=cfg.eval_max_items, max_len=20_000,
                                pad_target=IGNORE)
        return train, valid

    def corpus_items(self, corpus, data: EventsData, representation, progress=None,
                     log=_quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's pieces per split, each as the messages keep it (decoded again)."""
        c = load_corpus(corpus, data, progress)
        pieces = [representation.quantise(p) for p in c.pieces]
        return items_of(self, c.keys, pieces, split_keys(c.keys, data.split))

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """Messages per piece, at most: ``max_len``, or for ``seconds`` the beats at the
        decoding tempo (and the grace beats a piece may take to end on a cadence) times the
        densest texture the clock allows (a message per key on and off each eighth note is
        far above any real piece: 16 a beat)."""
        if opts.seconds is None:
            return opts.max_len
        beats = representation.beats_for_seconds(opts.seconds) + opts.grace
        return int(beats * MESSAGES_PER_BEAT) + opts.primer_len

    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Sample pieces message by message; each decoded to a Piece. With ``seconds``,
        each is sampled ``grace`` beats longer and ends at a cadence in them
        (:func:`tunesmith.sampling.endings.finish`)."""
        from tunesmith.sampling.endings import finish_all, redraw_options

        rep, model = checkpoint.representation, checkpoint.model
        opts = self.compose_options(opts)
        device = next(model.parameters()).device
        counter = StepCounter(progress, "sampling", self.unit)
        messages = sample_messages(model, rep, opts, self.own_corpus(checkpoint, opts.primer),
                                   device=device, on_step=counter)
        counter.close()
        pieces = [rep.decode(m) for m in messages]
        if opts.seconds is None:
            return publish(pieces, sink, start)
        length = rep.beats_for_seconds(opts.seconds)

        def redraw(i: int, n: int):
            """``n`` new endings of piece ``i``: what follows its first ``length`` beats
            sampled again."""
            prefix = messages_before(rep, messages[i], length)
            return [rep.decode(m) for m in sample_messages(
                model, rep, redraw_options(opts, i, n), device=device, primer=prefix)]

        return publish(finish_all(pieces, length, opts.grace, redraw if opts.grace else None,
                                  drafts=ENDING_DRAFTS), sink, start)


def messages_before(rep, messages: list[list[int]], beats: float) -> list[list[int]]:
    """The messages up to the one whose time step reaches ``beats`` (where a clock set to
    ``beats`` would have stopped the piece)."""
    now = 0.0
    for k, m in enumerate(messages):
        now += rep.time_bins[m[2]]
        if now >= beats - 1e-9:
            return messages[: k + 1]
    return list(messages)


def publish(pieces, sink: Sink | None, start: int = 1) -> list[Composition]:
    """Compositions of decoded pieces (numbered from ``start``), each handed to ``sink``;
    a piece without notes is kept (its MIDI is written) and said to be empty."""
    out = []
    for i, piece in enumerate(pieces, start):
        piece.title = f"tunesmith {i}"
        c = Composition(i, piece.title, piece,
                        error="" if piece.notes else "no notes were sampled")
        out.append(c)
        if sink is not None:
            sink(c)
    return out


def primer_messages(rep, opts: ComposeOptions, corpus: str) -> list[list[int]]:
    """``[BOS] + the first primer_len messages`` of the primer."""
    if not opts.primer:
        return [rep.bos]
    ids = rep.encode(primer_piece(opts.primer, opts.seed, corpus))[:-1]  # without EOS
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

    def select(self, rows) -> None:
        """Keep the clocks of ``rows``, in that order (beam search)."""
        if self.now is not None:
            self.now = self.now[rows]


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

    def mask(self, head, logits, picks, rows=None):
        """``logits`` of ``head`` with what the picks so far forbid at -inf; ``rows``:
        which sequence each row of ``logits`` continues (beam search's candidates),
        default one row per sequence."""
        if head != "note":
            return logits
        import torch

        sounding = self.sounding if rows is None else self.sounding[rows]
        off = (picks["velocity"] == 0)[:, None]  # (B, 1)
        keys_ok = torch.where(off, sounding, ~sounding)  # (B, 88)
        allowed = torch.ones_like(logits, dtype=torch.bool)
        allowed[:, : self.n_keys] = keys_ok
        return logits.masked_fill(~allowed, float("-inf"))

    def select(self, rows) -> None:
        """Keep the state of ``rows``, in that order (beam search)."""
        self.sounding, self.started, self.now = (self.sounding[rows], self.started[rows],
                                                 self.now[rows])

    def update(self, ids) -> None:
        import torch

        note, velocity = ids[:, 0], ids[:, 1]
        self.now += self.bins[ids[:, 2].clamp(0, len(self.bins) - 1)]
        self.sounding &= (self.now[:, None] - self.started) <= self.longest
        rows = torch.nonzero(note < self.n_keys)[:, 0]
        self.sounding[rows, note[rows]] = velocity[rows] > 0
        self.started[rows, note[rows]] = self.now[rows]


def sample_messages(model, rep, opts: ComposeOptions, corpus: str = "bach-chorales",
                    device="cpu", primer: list[list[int]] | None = None, on_step=None):
    """Sample ``opts.num`` pieces as message lists (primer included, EOS dropped);
    ``corpus`` is where a ``corpus`` primer comes from; ``primer``, messages from
    ``BOS`` on, replaces the one ``opts`` names; ``on_step``: the sampler's (progress)."""
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.inputs import with_inputs
    from tunesmith.sampling.settings import per_head

    opts = EventsFamily().compose_options(opts)  # the family's defaults for what is unset
    model = with_inputs(model, rep)  # a model trained with --positions reads them too
    settings = per_head(list(rep.heads), opts.temperature, opts.top_k, opts.top_p)
    given, primer = primer is None, (primer_messages(rep, opts, corpus) if primer is None
                                     else primer)
    until, max_steps, stop, banned = None, opts.max_len, ("note", rep.eos), rep.never_sample()
    if opts.seconds is not None:  # the clock ends each piece, not the model's end marker
        primer_beats = sum(rep.time_bins[m[2]] for m in primer)
        if given:  # (a redrawn ending's prefix reaches the length by design)
            from tunesmith.sampling.endings import check_primer_fits

            check_primer_fits(opts.seconds, primer_beats, rep)
        beats = rep.beats_for_seconds(opts.seconds) + opts.grace
        until = _Clock(rep, beats, primer_beats)
        # and a model that lets no time pass still stops (MAX_MESSAGES_PER_BEAT)
        max_steps, stop = MAX_MESSAGES_PER_BEAT * int(beats + 1), None
        banned = {"note": banned["note"] + [rep.eos]}
    rows = opts.num * (opts.beam or 1)
    constraint = OnOffConstraint(rows, rep) if opts.constrain else None
    if opts.beam:
        from tunesmith.sampling.beam import beam_search

        steps = beam_search(model, primer, num=opts.num, beam=opts.beam, max_steps=max_steps,
                            heads=list(rep.heads), stop=stop, banned=banned,
                            length_penalty=opts.length_penalty,
                            stochastic=opts.stochastic_beam, seed=opts.seed, device=device,
                            until=until, constraint=constraint, on_step=on_step)
    else:
        steps = sample(model, primer, num=opts.num, max_steps=max_steps,
                       heads=list(rep.heads), settings=settings, stop=stop, banned=banned,
                       seed=opts.seed, device=device, until=until, constraint=constraint,
                       on_step=on_step)
    return [primer + s for s in steps]
