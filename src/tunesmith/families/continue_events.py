"""The ``continue-events`` family: read the first bars of a MIDI / MusicXML piece, write what
follows in a chosen style. MIDI corpora labelled by sub-folder or ``label=`` part
(:mod:`tunesmith.corpora.labelled`) -> ``event_phrases`` (pairs of source and target bars
of messages, each three ids) -> ``seq2seq`` with three heads -> the primer's bars joined
to their continuation, as MIDI / WAV / PNG.

Composing writes ``--bars`` bars in steps of the model's ``target_bars``: each step reads
the last ``source_bars`` bars written so far (:func:`continue_messages`); the bars after
the primer's keep the length of the primer's bars. The note-off constraint of the
events family holds across the join: a continuation's first note-off may end a note the
primer left sounding, and nothing else that is silent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import numpy as np

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.base import ComposeOptions, Composition, Family, Prepared, Sink, _quiet
from tunesmith.families.events import MESSAGES_PER_BEAT, PieceData, publish, report_dropped
from tunesmith.options import opt
from tunesmith.progress import StepCounter
from tunesmith.representations.events import N_KEYS

MAX_SOURCE = 256  # messages of a source phrase a pair keeps (its last ones)
MAX_TARGET = 192  # messages of a target a pair keeps (its first ones)
OPENINGS = 8  # held-out openings a model keeps, to continue when no primer is given
MIN_PIECES = 20  # a new run needs this many pieces (fewer: nothing left to validate on)
ATTENTION_MESSAGES = 2048  # an attention picture shows the bars of a piece's first ones


@dataclass(frozen=True)
class ContinueEventsData(PieceData):
    source_bars: int = opt(4, "bars the model reads (the primer's first bars)")
    target_bars: int = opt(2, "bars of each training target (compose writes longer "
                           "continuations in steps of this many bars)")
    styles: bool = opt(True, "train without the pieces' style labels (by default the model "
                       "conditions on each piece's: its sub-folder, or LABEL= of --corpus "
                       "LABEL=DIR)", flag="no-styles", negate=True)
    balance_styles: bool = opt(False, "draw training pairs so that every style is seen "
                               "alike, however many pairs it has")

    def __post_init__(self):
        super().__post_init__()
        for name in ("source_bars", "target_bars"):
            if not 1 <= getattr(self, name) <= 64:
                raise OptionError(name, f"must be between 1 and 64, got {getattr(self, name)}")
        if self.split == "time":
            raise OptionError("split", "time is not a split of the MIDI continue families: "
                              "their pairs are cut from whole pieces, split by piece")


class ContinueEventsFamily(Family):
    name = "continue-events"
    representation = "event_phrases"
    default_model = "seq2seq"
    pretrained = ""
    default_corpus = "bach=bach-chorales,classical=classical"  # two styles, built in
    data_options = ContinueEventsData
    controls = frozenset({"primer", "bars", "style", "style_guidance", "temperature",
                          "top_k", "top_p",
                          "constrain", "beam", "length_penalty", "stochastic_beam"})
    unit = "messages"

    # --- training ------------------------------------------------------------------------
    def ingest(self, corpus, filt, progress=None):
        """The ingest report with each file's style label (and the count per label)."""
        from tunesmith.corpora.labelled import load_labelled

        return load_labelled(corpus, filt, progress)[0]

    def prepare_data(self, corpus, data: ContinueEventsData, representation=None,
                     progress=None, log=_quiet) -> Prepared:
        """Load the corpus with each piece's style label, split by piece, cut every piece
        into (source bars, target bars) pairs."""
        from collections import Counter

        from tunesmith.corpora.labelled import load_labelled
        from tunesmith.corpora.styles import OTHER, UNKNOWN
        from tunesmith.data.splits import split_items
        from tunesmith.representations.style_labels import ANY

        c, labels = load_labelled(corpus, data.ingest_filter(), progress)
        dropped = report_dropped(c, log)
        log("style labels: " + ", ".join(
            f"{k} {n} piece{'s' * (n != 1)}"
            + (" (in no style's folder: no style to ask for)" if k == UNKNOWN else "")
            for k, n in Counter(labels).most_common()))
        if representation is None and data.styles and ANY in labels:
            raise TunesmithError(f"a style is named {ANY!r}, the label that means no style "
                                 "given: rename its folder (or its LABEL=)", corpus)
        splits = split_items(c.keys)
        rep = representation
        if rep is None:
            train = splits["train"]
            if len(c.pieces) < MIN_PIECES:
                raise TunesmithError(f"corpus too small: {len(c.pieces)} usable pieces; a "
                                     f"continue model needs at least {MIN_PIECES} (its "
                                     "pairs are cut from whole pieces, some held out)",
                                     corpus)
            styles = {}
            if data.styles:
                named = sorted({labels[i] for i in train} - {UNKNOWN, OTHER, ANY})
                if len(named) < 2:
                    raise TunesmithError(
                        f"the corpus's pieces do not have two style labels to tell apart "
                        f"({', '.join(named) or 'none'}): give a folder with a sub-folder "
                        "per style, or --corpus LABEL=DIR once per style (e.g. "
                        "--corpus bach=bach-chorales --corpus classical=classical), or "
                        "train with --no-styles", corpus)
                styles = {"style": (ANY, *named)}
            qpms = [p.tempos[0].qpm for p in c.pieces if p.tempos]
            rep = self.new_representation(
                qpm=float(round(np.median(qpms))) if qpms else 120.0, styles=styles,
                source_bars=data.source_bars, target_bars=data.target_bars)
            rep = self.with_openings(rep, [c.pieces[i] for i in splits["valid"] or train])
        seqs: dict[str, list] = {}
        for s, idx in splits.items():
            seqs[s] = [self.encode_pair(rep, src, tgt, ends, rep.style_ids(style=labels[i]))
                       for i in idx for src, tgt, ends in rep.pairs(c.pieces[i])]
        if representation is None and not seqs["train"]:
            raise TunesmithError(f"no piece of the corpus has more than {rep.source_bars} "
                                 "bars: nothing to continue (try --source-bars 2)", corpus)
        if representation is None and not seqs["valid"]:
            raise TunesmithError(f"corpus too small: no pair landed in the validation split "
                                 f"({len(splits['valid'])} validation pieces); give more "
                                 "pieces, or pieces with more bars", corpus)
        info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
                "pairs": {s: len(v) for s, v in seqs.items()},
                "tokens": {s: sum(len(p[1]) - 1 for p in v) for s, v in seqs.items()},
                "skipped": len(dropped), "unit": self.unit,
                "labels": dict(Counter(labels)),
                "styles": {k: len(v) - 1 for k, v in rep.styles.items()}}
        return Prepared(rep, seqs, info, corpus=c)

    # --- what the MIDI continue families do differently (continue-remi: tokens)
    def new_representation(self, **settings):
        """The representation a new run fits: ``qpm``, ``styles``, ``source_bars``,
        ``target_bars``."""
        from tunesmith.representations.event_phrases import EventPhrases

        return EventPhrases(**settings)

    def with_openings(self, rep, pieces):
        """``rep`` with the first bars of a few of ``pieces`` (held out) as openings."""
        return _with_openings(rep, pieces)

    max_source = MAX_SOURCE  # steps of a source a pair keeps (its last ones)

    def transposer(self, rep, shift: int):
        """What transposes a training pair by up to ``shift`` semitones."""
        from tunesmith.data.augment import TransposePair

        return TransposePair(shift, N_KEYS)

    def encode_pair(self, rep, source, target, ends: bool, style: list[int]):
        return encode_pair(rep, source, target, ends, style)

    def model_sizes(self, representation) -> dict:
        return {"styles": representation.style_sizes,
                "empty_source": representation.empty_source}

    def batches(self, prepared: Prepared, cfg, data=ContinueEventsData()):
        from tunesmith.data.pairs import PairBatches, PairSet

        shift = data.transpose
        return (PairBatches(prepared.sequences["train"], cfg.batch_size, seed=cfg.seed,
                            steps=cfg.steps,
                            augment=self.transposer(prepared.representation, shift)
                            if shift else None,
                            balance=data.balance_styles),
                PairSet(prepared.sequences["valid"], batch_size=16,
                        max_items=cfg.eval_max_items))

    def corpus_items(self, corpus, data: ContinueEventsData, representation, progress=None,
                     log=_quiet):
        """The corpus's pieces per split (split as in training), each as the messages
        keep it, for the musical report."""
        from tunesmith.corpora.labelled import load_labelled
        from tunesmith.data.splits import split_items
        from tunesmith.families.events import items_of

        c, _ = load_labelled(corpus, data.ingest_filter(), progress)
        pieces = [representation.quantise(p) for p in c.pieces]
        return items_of(self, c.keys, pieces, split_items(c.keys))

    # --- composing -----------------------------------------------------------------------
    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Continue the primer's first ``source_bars`` bars (default: the model's
        held-out openings, in turn) by ``opts.bars`` bars (default: its ``target_bars``),
        ``opts.num`` times; each the primer's bars joined to the continuation."""
        rep, model = checkpoint.representation, checkpoint.model
        if opts.primer:
            primers = [self.read_primer(opts.primer, rep, opts.seed,
                                        self.own_corpus(checkpoint, opts.primer))] * opts.num
        elif rep.openings:
            primers = [self.opening(rep, (start - 1 + k) % len(rep.openings))
                       for k in range(opts.num)]
        else:
            raise OptionError("primer", f"the {self.name} family continues a piece: give "
                              "--primer FILE.mid (its first bars are read)")
        from tunesmith.families.continuation import check_guidance

        style = rep.style_ids(**rep.parse_style(opts.style))
        check_guidance(opts)
        seed = opts.seed if opts.seed is not None else secrets.randbits(31)
        counter = StepCounter(progress, "sampling", self.unit)
        written = self.continue_primers(model, rep, primers, style,
                                        opts.bars or rep.target_bars, opts, seed,
                                        device=next(model.parameters()).device,
                                        counter=counter)
        counter.close()
        return publish([self.joined_piece(rep, p, w)
                        for p, w in zip(primers, written, strict=True)], sink, start)

    def primer_piece_of(self, checkpoint, opts: ComposeOptions):
        """The primer piece, whose tempo the model decodes at and whose instrument its
        continuations keep (``app.composing``); ``--primer corpus`` says which piece."""
        from tunesmith.families.events import primer_piece_to_keep

        return primer_piece_to_keep(self, checkpoint, opts, read=primer_piece)

    # what compose does with the family's own steps (continue-remi: tokens)
    @staticmethod
    def read_primer(path, rep, seed, corpus):
        return read_primer(path, rep, seed, corpus)

    @staticmethod
    def opening(rep, k: int):
        return opening(rep, k)

    @staticmethod
    def continue_primers(model, rep, primers, style, bars, opts, seed, device, counter):
        return continue_messages(model, rep, primers, style, bars, opts, seed, device=device,
                                 counter=counter)

    @staticmethod
    def joined_piece(rep, primer, steps):
        return joined_piece(rep, primer, steps)

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """A source's messages and the continuation's, at bars of up to 8 beats."""
        return MAX_SOURCE + MESSAGES_PER_BEAT * 8 * (opts.bars or representation.target_bars)

    # --- attention pictures of a continuation ----------------------------------------------
    def read_continued(self, path, tune: int = 1):
        from tunesmith.io.read import read_piece

        return read_piece(path)

    def continued(self, composition, representation):
        """What ``compose --attention`` re-reads of a composition: its piece (None when
        it has no bar after the source's)."""
        piece = composition.piece
        if piece is None or len(representation.split_piece(piece)[1]) <= (
                representation.source_bars):
            return None
        return piece

    def source_attention(self, checkpoint, piece, style: dict[str, str]):
        """(weights, the bar of each row, the bar of each column) of the model writing the
        bars of ``piece`` after its first ``source_bars`` under ``style``:
        :func:`source_attention`."""
        rep = checkpoint.representation
        return source_attention(checkpoint.model, rep, piece, rep.style_ids(**style),
                                 self.encode_pair, self.max_source)


def source_attention(model, rep, piece, style: list[int], encode=None,
                     max_source: int = MAX_SOURCE):
    """What the model attends to while it writes the bars of ``piece`` after its first
    ``source_bars`` (teacher-forced, in steps of ``target_bars`` as compose writes them,
    each step reading the ``source_bars`` bars before it).

    Returns (weights (R, C), the bar of each row, the bar of each column): a row per
    message written after the first bars (and one for an end marker where the piece
    ends), a column per step of the whole piece (start marker, messages, end marker; bar
    -1 = the start marker, -2 = the end marker), each row's weights over the window it
    read (summing to 1) and 0 elsewhere. A piece without a bar after the first ones is a
    one-line error. A piece of more than :data:`ATTENTION_MESSAGES` messages is drawn
    up to the bar that holds its last one. ``encode``: the family's ``encode_pair``
    (default: :func:`encode_pair`, of messages), whose source keeps the last
    ``max_source`` steps."""
    from tunesmith.data.pairs import collate

    encode = encode or encode_pair

    messages, cuts = rep.split_piece(piece)
    n = rep.source_bars
    if len(cuts) <= n:
        raise TunesmithError(f"the piece has {len(cuts)} bar{'s' * (len(cuts) != 1)}: the "
                             f"model reads the first {n}, and no bar follows them")
    if len(messages) > ATTENTION_MESSAGES:  # the picture of the bars before that
        cuts = [c for c in cuts if c < ATTENTION_MESSAGES]
        messages = messages[:cuts[-1]] if len(cuts) > n + 1 else messages[:ATTENTION_MESSAGES]
    bars = np.searchsorted(np.asarray(cuts), np.arange(len(messages)), side="right") - 1
    col_bars = np.concatenate([[-1], bars, [-2]])
    device = next(model.parameters()).device
    model.eval()
    chunks, row_bars = [], []
    for s, lo, hi, end, ends in rep.windows(cuts, len(messages)):
        if hi == end and not ends:
            continue  # bars without a message (a long rest): nothing is written there
        lo = max(lo, hi - max_source)  # the window encode_pair keeps
        pair = encode(rep, messages[lo:hi], messages[hi:end], ends, style)
        batch = {key: v.to(device) for key, v in collate([pair]).items()}
        w = model.source_attention(batch)[0].float().cpu().numpy()  # (T, S)
        # a row per step written, and the end marker where the piece ends (a REMI target
        # also closes with the next bar's Bar, which the next window writes)
        w = w[:end - hi + ends]
        out = np.zeros((len(w), len(messages) + 2))
        out[:, [0, *range(lo + 1, hi + 1), len(messages) + 1]] = w
        chunks.append(out)
        written = bars[hi:hi + len(w)]
        last = min(s + n + rep.target_bars, len(cuts)) - 1
        row_bars.append(np.concatenate([written, [last] * (len(w) - len(written))]))
    return np.concatenate(chunks), np.concatenate(row_bars).astype(int), col_bars


def encode_pair(rep, source, target, ends: bool, style: list[int]):
    """A pair as arrays: the source ``[BOS] + its last MAX_SOURCE messages + [EOS]``
    (S, 3), the target ``[BOS] + its first MAX_TARGET messages (+ [EOS] when the piece
    ends there)`` (T, 3), and the style ids."""

    tgt = [rep.bos, *map(list, target[:MAX_TARGET])]
    if ends and len(target) <= MAX_TARGET:
        tgt.append(rep.eos_message)
    return (np.asarray(rep.encode_source(source[-MAX_SOURCE:]), dtype=np.int64),
            np.asarray(tgt, dtype=np.int64), style)


@dataclass
class Primer:
    """What a continuation starts from: ``messages`` (without BOS/EOS), the start of each
    of their bars and of the bar after them (``starts``, in beats as ``rep.times``
    counts the messages), the length of the bars to write (``bar``), and the primer
    piece's meter and tempo when it has them (a composition keeps them)."""

    messages: list
    starts: list
    bar: float
    meter: list = field(default_factory=list)  # TimeSignature
    qpm: float | None = None
    tempos: list = field(default_factory=list)  # Tempo, within the primer's bars


def read_primer(path: str, rep, seed: int | None = None,
                corpus: str = ContinueEventsFamily.default_corpus) -> Primer:
    """The first ``source_bars`` bars of the piece at ``path`` (or ``corpus``: a random
    piece of the model's corpus): a primer with fewer bars, or no note in them, is a
    one-line error."""
    piece, messages = primer_bars(
        path, rep, seed, corpus, lambda first: any(m[0] < N_KEYS and m[1] > 0 for m in first))
    n = rep.source_bars
    starts = rep.bar_starts(piece)
    if len(starts) <= n:  # the last bar ends at the piece's end: the grid goes on
        starts = np.append(starts, starts[-1] + rep.bar_length(starts))
    return Primer(messages, [float(x) for x in starts[:n + 1]], rep.bar_length(starts),
                  list(piece.time_signatures), piece.tempos[0].qpm if piece.tempos else None,
                  primer_tempos(piece, float(starts[n])))


def primer_piece(path: str, seed: int | None, corpus: str):
    """The piece a primer names: a music file, or for ``"corpus"`` a random piece of the
    model's (labelled) ``corpus``, chosen by ``seed``; read once per composition, as the
    other piece families read theirs (:func:`tunesmith.families.events.primer_piece`)."""
    from tunesmith.families.events import primer_piece as read

    return read(path, seed, corpus, labelled=True)


def primer_bars(path: str, rep, seed: int | None, corpus: str, has_notes, piece=None):
    """(the piece at ``path`` (:func:`primer_piece`; or ``piece``), the steps of its first
    ``source_bars`` bars); a piece without a pitched note, fewer bars, or no note in them
    (``has_notes(steps)``), is a one-line error. Both MIDI continue families read their
    primers so."""
    from tunesmith.representations.remi import HIGHEST, LOWEST

    piece = piece if piece is not None else primer_piece(path, seed, corpus)
    if not any(LOWEST <= n.pitch <= HIGHEST for t in piece.tracks if not t.is_drum
               for n in t.notes):
        raise TunesmithError("the primer holds no pitched note on the piano range (only "
                             "drums, or nothing): nothing to continue", path)
    steps, cuts = rep.split_piece(piece)
    n = rep.source_bars
    if len(cuts) < n:
        raise TunesmithError(f"the primer has {len(cuts)} bar{'s' * (len(cuts) != 1)}; the "
                             f"model reads the first {n}", path)
    first = steps if len(cuts) == n else steps[:cuts[n]]
    if not has_notes(first):
        raise TunesmithError(f"the primer's first {n} bar{'s' * (n != 1)} hold no note on "
                             "the piano range: nothing to continue", path)
    return piece, first


def primer_tempos(piece, end: float) -> list:
    """The piece's tempos that start before beat ``end`` (the primer's bars), so that
    a primer that slows down is played so, and its continuation goes on at its last."""
    return [t for t in piece.tempos if t.beat < end - 1e-9]


def with_pickup_meter(piece):
    """``piece`` with a short first meter where its first bar is a pickup (its written
    bars: ``bar_lines``), as a MIDI file writes one (a quarter-note pickup in 4/4: 1/4,
    then 4/4 from the first full bar), so that every bar line falls where the score's
    does in a program that reads only the file's meters. A pickup that no meter of its
    beat unit spans whole is left as it is."""
    from tunesmith.music import TimeSignature

    lines, sigs = piece.bar_lines, sorted(piece.time_signatures, key=lambda s: s.beat)
    if len(lines) < 2 or not sigs or sigs[0].beat > 1e-9 or len(sigs) > 1 and (
            sigs[1].beat <= lines[1] + 1e-9):
        return piece
    first, beat = lines[1] - lines[0], 4.0 / sigs[0].denominator
    units = first / beat
    if first >= sigs[0].numerator * beat - 1e-9 or abs(units - round(units)) > 1e-6 or (
            round(units) < 1):
        return piece
    piece.time_signatures = [TimeSignature(0.0, round(units), sigs[0].denominator),
                             TimeSignature(lines[1], sigs[0].numerator,
                                           sigs[0].denominator), *sigs[1:]]
    return piece


def opening(rep, k: int) -> Primer:
    """The model's ``k``-th held-out opening as a primer."""
    grid = rep.opening_grid[k]
    return Primer([list(m) for m in rep.openings[k]], list(grid[1:]), grid[0])


def joined_piece(rep, primer: Primer, messages):
    """The primer and its continuation (``messages`` from the start) as a piece with the
    primer's meter (else one from its bar length), tempo, and every bar written."""
    from tunesmith.music import Tempo, TimeSignature

    piece = rep.decode([rep.bos, *messages, rep.eos_message])
    if primer.meter:
        piece.time_signatures = list(primer.meter)
    else:  # 3 beats -> 3/4, 1.5 -> 3/8
        eighths = round(primer.bar * 2)
        num, den = (eighths // 2, 4) if eighths % 2 == 0 else (eighths, 8)
        piece.time_signatures = [TimeSignature(0.0, max(num, 1), den)]
    if primer.tempos or primer.qpm:
        piece.tempos = list(primer.tempos) or [Tempo(0.0, primer.qpm)]
    bars = list(primer.starts)
    while bars[-1] < piece.end_beat - rep.bar_tolerance:
        bars.append(bars[-1] + primer.bar)
    piece.bar_lines = bars
    return with_pickup_meter(piece)


def _with_openings(rep, pieces):
    """``rep`` with the first bars of the first :data:`OPENINGS` of ``pieces`` that have
    more bars than that, and each one's bars (the bar length first)."""
    import dataclasses

    openings, grids = [], []
    for p in pieces:
        messages, cuts = rep.split_piece(p)
        n = rep.source_bars
        if len(cuts) > n and any(m[0] < N_KEYS and m[1] > 0 for m in messages[:cuts[n]]):
            starts = rep.bar_starts(p)
            openings.append(tuple(tuple(m) for m in messages[:cuts[n]]))
            grids.append((rep.bar_length(starts), *map(float, starts[:n + 1])))
        if len(openings) == OPENINGS:
            break
    return dataclasses.replace(rep, openings=tuple(openings), opening_grid=tuple(grids))


def continue_messages(model, rep, primers: list[Primer], style: list, bars: int,
                      opts: ComposeOptions, seed: int,
                      device="cpu", counter=None) -> list[list[list[int]]]:
    """Each primer continued by ``bars`` bars (the model's end marker is never drawn:
    the bars asked for end the piece), in steps of the model's ``target_bars``. Each step
    reads the last ``source_bars`` bars written so far (by their starts, as training cuts
    them) and writes until the bar line after its bars (a message the sampler draws at or
    past that line is drawn again by the next step, where training has it); the last
    bars are held to their bar line. Returns the primers' messages followed by their
    continuations. ``style`` is one list of style ids for every primer, or one per
    primer. Sampled, or by beam search with ``opts.beam`` hypotheses per primer; guided
    towards the style with ``opts.style_guidance`` > 0 (as the ABC family does).
    ``counter``: a :class:`~tunesmith.progress.StepCounter` that hears the messages drawn,
    step after step (or None)."""
    import torch

    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import draw, guided
    from tunesmith.representations.events import EOS, WAIT
    from tunesmith.sampling.settings import per_head

    written = [[list(m) for m in p.messages] for p in primers]
    starts = [list(p.starts) for p in primers]  # of every bar so far, and of the next
    styles = style if style and isinstance(style[0], list) else [style] * len(primers)
    heads = list(rep.heads)
    settings = per_head(heads, opts.temperature, opts.top_k, opts.top_p)
    rows = range(len(primers))
    left, k, drawn = bars, 0, 0
    model.eval()
    while left > 0:
        chunk = min(left, rep.target_bars)
        windows = [w[rep.first_at(w, b[max(len(b) - 1 - rep.source_bars, 0)]):]
                   for w, b in zip(written, starts, strict=True)]
        batch = collate([encode_pair(rep, windows[i], [], False, styles[i]) for i in rows])
        reader = guided(model, batch, device, opts.style_guidance, opts.beam)
        now = [_now(rep, w) for w in written]
        deadline = [starts[i][-1] + chunk * primers[i].bar for i in rows]
        until = _BarClock(rep, now, [d - rep.bar_tolerance for d in deadline])
        constraint = _constraint_after(rep, written) if opts.constrain else None
        # the bars asked for end the piece, not the model's end marker (as --seconds
        # does for the events family): this model ends a chorale after a bar or two
        longest = max(d - t for d, t in zip(deadline, now, strict=True))
        common = dict(primer=[rep.bos], num=len(primers), heads=heads, stop=None,
                      banned={"note": rep.never_sample()["note"] + [EOS]}, device=device,
                      until=until, max_steps=int(MESSAGES_PER_BEAT * (longest + 1)),
                      seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
                      constraint=constraint,
                      on_step=None if counter is None else counter.after(drawn))
        if opts.beam:  # each piece's clock and constraint once per hypothesis
            until.repeat(opts.beam)
            if constraint is not None:
                constraint.select(torch.arange(len(primers)).repeat_interleave(opts.beam))
        steps = draw(reader, opts, settings, common)
        drawn += max((len(seq) for seq in steps), default=0)
        for i in rows:
            t = now[i]
            for m in steps[i]:
                t += rep.time_bins[m[2]]
                if t >= deadline[i] - rep.bar_tolerance:
                    break  # the next bar's: the next step writes it
                written[i].append(list(m))
            starts[i] += [starts[i][-1] + primers[i].bar * (j + 1) for j in range(chunk)]
            if left == chunk:  # the last bars: hold what sounds to their bar line
                gap = deadline[i] - _now(rep, written[i])
                if gap > rep.bar_tolerance:
                    written[i] += [[WAIT, 0, c] for c in rep.gap_classes(gap)]
        left, k = left - chunk, k + 1
    return written


def _now(rep, messages) -> float:
    return float(rep.times(messages)[-1]) if len(messages) else 0.0


class _BarClock:
    """``until`` for the sampler: a row is done once its time reaches its deadline (the
    bar line after the step's bars, less the bar tolerance); ``now`` is each row's time
    before the step."""

    def __init__(self, rep, now: list[float], deadline: list[float]):
        import torch

        self.bins = torch.tensor(rep.time_bins)
        self.now = torch.tensor(now, dtype=torch.float64)
        self.deadline = torch.tensor(deadline, dtype=torch.float64)

    def __call__(self, ids):
        self.now = self.now + self.bins[ids[:, 2].cpu().clamp(0, len(self.bins) - 1)]
        return self.now >= self.deadline - 1e-9

    def select(self, rows) -> None:
        self.now, self.deadline = self.now[rows], self.deadline[rows]

    def repeat(self, times: int) -> None:
        """Each row ``times`` times over, in place (a beam's hypotheses)."""
        self.now = self.now.repeat_interleave(times)
        self.deadline = self.deadline.repeat_interleave(times)


def _constraint_after(rep, histories):
    """An :class:`~tunesmith.families.events.OnOffConstraint` whose rows have read
    ``histories`` (message lists): the keys each leaves sounding may be ended, the others
    only struck."""
    import torch

    from tunesmith.families.events import OnOffConstraint

    out = OnOffConstraint(len(histories), rep)
    longest = max((len(h) for h in histories), default=0)
    if longest:
        from tunesmith.representations.events import WAIT

        # rows padded at the front with WAIT messages of time 0, which change nothing
        padded = np.full((len(histories), longest, 3), [WAIT, 0, 0], dtype=np.int64)
        for r, h in enumerate(histories):
            if h:
                padded[r, longest - len(h):] = h
        ids = torch.from_numpy(padded)
        for t in range(longest):
            out.update(ids[:, t])
    return out
