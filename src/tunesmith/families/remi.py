"""The REMI family: MIDI / MusicXML / ABC corpora -> ``remi`` tokens (MidiTok's REMI: bar,
meter, position, pitch, velocity, duration) -> a one-head token model (``transformer``,
or the ``char_rnn`` LSTM) -> MIDI, WAV and piano-roll PNG files.

A family of its own rather than an option of the events family: a family *declares* its
representation (a checkpoint finds its family by it, :func:`families.for_representation`,
and the models a family trains are those that read it), so one family with two
representations would make that declaration depend on a run's data options. What the
two share is reused from :mod:`tunesmith.families.events` as functions: the corpus and
its ingest report, the split, the data options, primer pieces and publishing.

Composing samples token by token through the shared sampler under :class:`RemiGrammar`
(unless ``--unconstrained``), so every note is whole and positions move forward in their
bar. A piece ends at the model's ``EOS``; with ``--seconds`` or ``--bars`` it ends at the
first bar line at or after that length (:class:`BarClock`), so the bar running then is
finished rather than cut; ``max_len`` / :meth:`RemiFamily.piece_steps` is a hard cap in
tokens behind both. Notes carry durations, so nothing is ever left sounding.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.errors import TunesmithError
from tunesmith.families.base import (
    ComposeOptions,
    Composition,
    CorpusItem,
    Family,
    Prepared,
    Sink,
    _quiet,
)
from tunesmith.families.events import (
    PieceData,
    items_of,
    load_corpus,
    prepare_pieces,
    primer_piece,
    primer_piece_to_keep,
    publish,
    split_keys,
)
from tunesmith.lookback import LOOKBACK_HELP
from tunesmith.options import opt
from tunesmith.progress import StepCounter


@dataclass(frozen=True)
class RemiData(PieceData):
    """:class:`PieceData`, and whether the model reads what an earlier bar has next and
    how far its register has moved."""

    lookback: bool = opt(False, LOOKBACK_HELP)
    register: bool = opt(False, "remi: the model also reads how far the mean pitch of the "
                         "last bar lies from the first bar's (semitones, +-8), so it can "
                         "come back to where the piece began")
    home: bool = opt(False, "remi: the model also reads the pitch class of the last bar's "
                     "lowest note above the first bar's (0-11), so it knows where home is")
    ends: bool = opt(False, "remi: the model also reads how many bars are left before the "
                     "length asked (compose's --bars or --seconds; none without them), so "
                     "it knows when its last bars come")


TOKENS_PER_BEAT = 32  # a token budget per quarter note: twice the densest Bach chorale's


class RemiFamily(Family):
    name = "remi"
    representation = "remi"
    default_model = "transformer"
    pretrained = "bach-remi-small"
    default_corpus = "bach-chorales"
    data_options = RemiData
    controls = frozenset({"max_len", "seconds", "bars", "grace", "primer", "primer_len",
                          "temperature", "top_k", "top_p", "constrain", "beam",
                          "length_penalty", "stochastic_beam", "repeat_bias"})
    defaults = {"max_len": 2000, "primer_len": 64}
    # compose's --repeat-bias for a model that reads a lookback: W = 1 brought the most
    # features of the report into the band (of 0-3; benchmarks/RESULTS.md, "The same
    # tilt for characters and tokens" and "The shipped REMI model reads a lookback")
    repeat_bias_default = 1.0
    unit = "tokens"

    def primer_piece_of(self, checkpoint, opts: ComposeOptions):
        return primer_piece_to_keep(self, checkpoint, opts)

    def prepare_data(self, corpus, data: PieceData, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Ingest the corpus (every file kept or dropped, with the reason), encode each
        piece as REMI tokens (decoding at the corpus's median tempo), split by piece (or
        by time for a tiny corpus)."""
        from functools import partial

        from tunesmith.representations.remi import Remi

        make = partial(Remi, lookback_inputs=data.lookback, register_inputs=data.register,
                       home_inputs=data.home, end_inputs=data.ends)
        prepared = prepare_pieces(self, corpus, data, make, representation, progress, log)
        odd = {}  # pieces in meters without a token, which MidiTok reads as 4/4
        for piece in prepared.corpus.pieces:
            for meter in prepared.representation.unknown_meters(piece):
                odd[meter] = odd.get(meter, 0) + 1
        if odd:
            log("meters without a REMI token, their bars read as 4/4: " + ", ".join(
                f"{m} ({n} piece{'s' * (n != 1)})" for m, n in odd.items()), "warning")
        return prepared

    def model_sizes(self, representation) -> dict:
        return {"vocab_size": len(representation.vocab), "inputs": representation.inputs}

    def batches(self, prepared: Prepared, cfg, data: PieceData = PieceData()):
        """Training windows (transposed when ``data.transpose`` > 0) and validation
        batches over whole pieces (targets padded with ``PAD``, id 0, which the one-head
        models do not score)."""
        from tunesmith.data.augment import TransposeIds
        from tunesmith.data.tokens import SequenceBatches, TokenWindows

        rep = prepared.representation
        # the lookback's proposal (column 1) moves with the ids; register and home do not
        augment = (TransposeIds(data.transpose, rep.pitch_ids,
                                id_columns=1 + ("copy" in rep.inputs))
                   if data.transpose else None)
        train = TokenWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                             seed=cfg.seed, augment=augment)
        valid = SequenceBatches(prepared.sequences["valid"], batch_size=8,
                                max_items=cfg.eval_max_items, max_len=20_000)
        return train, valid

    def corpus_items(self, corpus, data: PieceData, representation, progress=None,
                     log=_quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's pieces per split, each as the tokens keep it (decoded again)."""
        c = load_corpus(corpus, data, progress)
        pieces = [representation.quantise(p) for p in c.pieces]
        return items_of(self, c.keys, pieces, split_keys(c.keys, data.split))

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """Tokens per piece, at most: ``max_len``, or for ``seconds`` / ``bars`` the
        quarter notes they ask for plus the longest bar (the one finished after them) at
        :data:`TOKENS_PER_BEAT`, and the primer."""
        if opts.seconds is None and opts.bars is None:
            return opts.max_len
        longest = float(representation.meter_sizes()[0].max())
        beats = (representation.beats_for_seconds(opts.seconds) if opts.seconds is not None
                 else opts.bars * longest)
        return int((beats + longest + opts.grace) * TOKENS_PER_BEAT) + opts.primer_len + 1

    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Sample pieces token by token; each decoded to a Piece. With ``seconds`` or
        ``bars``, each is sampled ``grace`` beats past the bar line that ends its length
        and ends at a cadence in them (:func:`tunesmith.sampling.endings.finish`), else
        at that bar line."""
        from tunesmith.sampling.endings import finish_all, redraw_options

        rep, model = checkpoint.representation, checkpoint.model
        opts = self.compose_options(opts)
        device = next(model.parameters()).device
        counter = StepCounter(progress, "sampling", self.unit)
        seqs = sample_tokens(model, rep, opts, self.own_corpus(checkpoint, opts.primer),
                             device=device, on_step=counter, log=log)
        counter.close()
        pieces = [rep.decode(s) for s in seqs]
        if opts.seconds is None and opts.bars is None:
            return publish(pieces, sink, start)
        out = []
        for i, (seq, piece) in enumerate(zip(seqs, pieces, strict=True)):
            k = length_bar(rep, seq, opts)
            if k is None:  # the model ended the piece sooner
                out.append(piece)
                continue

            def redraw(_, n, prefix=seq[:k], i=i):
                """``n`` new endings: what follows the bar line at the length, again."""
                again = redraw_options(opts, i, n)
                return [rep.decode(s) for s in sample_tokens(model, rep, again, device=device,
                                                             primer=prefix)]

            length = float(rep.positions(seq).time[k])
            out += finish_all([piece], length, opts.grace, redraw if opts.grace else None)
        return publish(out, sink, start)


def length_bar(rep, seq: list[int], opts: ComposeOptions) -> int | None:
    """Where in ``seq`` the bar line that ends the length asked for stands: the ``Bar``
    token that starts bar ``opts.bars`` (0-based), or the first that starts at or after
    ``opts.seconds``. None when the piece ends sooner."""
    from tunesmith.representations.remi import BAR

    kinds, time = rep.kinds(), rep.positions(seq).time
    bars = [k for k, i in enumerate(seq) if kinds[i] == BAR]
    if opts.bars is not None:
        return bars[opts.bars] if len(bars) > opts.bars else None
    beats = rep.beats_for_seconds(opts.seconds)
    return next((k for k in bars if time[k] >= beats - 1e-6), None)


def primer_ids(rep, opts: ComposeOptions, corpus: str) -> list[int]:
    """``[BOS]`` and at most ``primer_len`` tokens of the primer, cut after its last whole
    note (its last ``Duration``) within them."""
    from tunesmith.representations.remi import DURATION, PITCH

    if not opts.primer:
        return [rep.bos]
    ids = rep.encode(primer_piece(opts.primer, opts.seed, corpus))[:-1]  # without EOS
    kinds = rep.kinds()
    if not any(kinds[i] == PITCH for i in ids):
        raise TunesmithError("primer has no notes on the piano range", opts.primer)
    ids = ids[: opts.primer_len + 1]
    whole = [k for k, i in enumerate(ids) if kinds[i] == DURATION]
    return ids[: whole[-1] + 1] if whole else ids


def _primer_beats(rep, ids: list[int]) -> float:
    """How long the primer's notes last, in beats from its first bar line."""
    piece = rep.decode(ids)
    return max((n.end for t in piece.tracks for n in t.notes), default=0.0)


def sample_tokens(model, rep, opts: ComposeOptions, corpus: str = "bach-chorales",
                  device="cpu", primer: list[int] | None = None,
                  on_step=None, end: bool = True, log=_quiet) -> list[list[int]]:
    """Sample ``opts.num`` pieces as token lists (primer included); ``primer``, ids from
    ``BOS`` on, replaces the one ``opts`` names; ``on_step``: the sampler's (progress);
    ``end=False``: the model's end token is never drawn (the length asked ends each
    piece); ``log`` hears of a primer whose bars are in a meter without a token."""
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.inputs import with_inputs
    from tunesmith.sampling.settings import per_head

    family = RemiFamily()
    opts = family.compose_options(opts)
    given = primer is None
    primer = [[i] for i in (primer_ids(rep, opts, corpus) if primer is None else primer)]
    if given and opts.primer:  # the bars its tokens span, in meters it has tokens for
        from tunesmith.representations.remi import BAR

        bars = sum(rep.kinds()[s[0]] == BAR for s in primer)
        odd = rep.unknown_meters(primer_piece(opts.primer, opts.seed, corpus),
                                 bars=max(int(bars), 1))
        if odd:
            log(f"{opts.primer}: the primer is in {', '.join(odd)}, which the model's "
                "REMI tokens do not have: its bars are read as 4/4", "warning")
    if given and opts.seconds is not None and len(primer) > 1:
        from tunesmith.sampling.endings import check_primer_fits

        check_primer_fits(opts.seconds, _primer_beats(rep, [s[0] for s in primer]), rep)
    beats = None if opts.seconds is None else rep.beats_for_seconds(opts.seconds)
    # a model trained with --lookback reads them too, tilted towards the offer by W; one
    # trained with --ends counts down to the length asked
    model = with_inputs(model, rep, family.repeat_bias_of(opts, rep),
                        new_reader=lambda: rep.input_reader(bars=opts.bars, beats=beats))
    rows = opts.num * (opts.beam or 1)
    until = None
    if opts.seconds is not None or opts.bars is not None:
        until = BarClock(rep, rows, [s[0] for s in primer], bars=opts.bars, beats=beats,
                         grace=opts.grace)
    max_steps = max(1, family.piece_steps(opts, rep) - len(primer))
    constraint = RemiGrammar(rows, rep) if opts.constrain else None
    if opts.seconds is not None:  # the model may end a piece only past the length asked
        from tunesmith.sampling.endings import EndAfter

        constraint = EndAfter(until, "token", rep.eos, constraint)
    common = dict(max_steps=max_steps, heads=["token"], stop=("token", rep.eos) if end else None,
                  banned={"token": rep.never_sample() + ([] if end else [rep.eos])},
                  seed=opts.seed, device=device,
                  until=until, constraint=constraint)
    if opts.beam:
        from tunesmith.sampling.beam import beam_search

        steps = beam_search(model, primer, num=opts.num, beam=opts.beam,
                            length_penalty=opts.length_penalty,
                            stochastic=opts.stochastic_beam, on_step=on_step, **common)
    else:
        settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
        steps = sample(model, primer, num=opts.num, settings=settings, on_step=on_step,
                       **common)
    return [[s[0] for s in primer + seq] for seq in steps]


class RemiGrammar:
    """What may follow what in REMI, for the sampler (the order of MidiTok's tokens):
    ``BOS`` -> ``Bar`` -> ``TimeSig`` -> ``Position`` or ``Bar``; ``Position`` ->
    ``Pitch`` -> ``Velocity`` -> ``Duration`` -> ``Pitch``, ``Position``, ``Bar`` or
    ``EOS``. A ``Position`` must be later than the last one of its bar and inside the
    bar of its meter; a ``Pitch`` higher than the last one at its position (REMI writes
    a chord lowest note first, one key once). Every encoded piece obeys it; a sampled
    piece under it has only whole notes, each at a position of its bar. ``meters``: per
    row, the one ``TimeSig`` id its bars may take (None: any), so that a continuation
    keeps its primer's meter."""

    order = ("token",)

    def __init__(self, num: int, rep, meters: list[int | None] | None = None):
        import torch

        from tunesmith.representations.remi import (
            BAR,
            BOS,
            DURATION,
            EOS,
            KINDS,
            PITCH,
            POSITION,
            TIMESIG,
            VELOCITY,
        )

        self.kind = torch.as_tensor(rep.kinds())  # (V,)
        self.value = torch.as_tensor(rep.values())  # (V,)
        self.slots_of = torch.as_tensor(rep.meter_sizes()[1])  # (V,) positions per bar
        follows = {BOS: (BAR,), BAR: (TIMESIG,), TIMESIG: (POSITION, BAR),
                   POSITION: (PITCH,), PITCH: (VELOCITY,), VELOCITY: (DURATION,),
                   DURATION: (PITCH, POSITION, BAR, EOS)}
        self.after = torch.ones(len(KINDS), len(self.kind), dtype=torch.bool)  # (K, V)
        for k, nxt in follows.items():
            self.after[k] = torch.isin(self.kind, torch.tensor(nxt))
        self.is_position, self.is_pitch = self.kind == POSITION, self.kind == PITCH
        self.BAR, self.TIMESIG, self.POSITION, self.PITCH = BAR, TIMESIG, POSITION, PITCH
        self.prev = torch.full((num,), BOS)  # the kind of each row's last token
        self.last_position = torch.full((num,), -1)  # in the current bar
        self.slots = torch.full((num,), 4 * rep.positions_per_beat)  # 4/4 until a TimeSig
        self.last_pitch = torch.full((num,), -1)  # at the current position
        self.is_meter, self.ids = self.kind == TIMESIG, torch.arange(len(self.kind))
        self.meter = torch.tensor([-1 if m is None else m for m in (meters or [None] * num)])

    def mask(self, head, logits, picks, rows=None):
        """``logits`` (R, V) with what the grammar forbids at -inf; ``rows``: which
        sequence each row continues (beam search), default one row per sequence."""
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        last_position, last_pitch = pick(self.last_position), pick(self.last_pitch)
        allowed = self.after[pick(self.prev)]  # (R, V)
        late = (self.value <= last_position[:, None]) | (self.value >= pick(self.slots)[:, None])
        allowed &= ~(self.is_position & late)
        allowed &= ~(self.is_pitch & (self.value <= last_pitch[:, None]))
        meter = pick(self.meter)[:, None]
        allowed &= ~(self.is_meter & (meter >= 0) & (self.ids != meter))
        return logits.masked_fill(~allowed, float("-inf"))

    def update(self, ids) -> None:
        """Read each row's new token (ids (B, 1))."""
        import torch

        token = ids[:, 0].cpu().long()
        kind = self.kind[token]
        self.prev = torch.where(kind >= 0, kind, self.prev)
        bar, position = kind == self.BAR, kind == self.POSITION
        self.last_position[bar] = -1
        self.last_pitch[bar | position] = -1
        self.last_position[position] = self.value[token[position]]
        meter = kind == self.TIMESIG
        self.slots[meter] = self.slots_of[token[meter]]
        pitch = kind == self.PITCH
        self.last_pitch[pitch] = self.value[token[pitch]]

    def select(self, rows) -> None:
        """Keep the state of ``rows``, in that order (beam search)."""
        self.prev, self.last_position = self.prev[rows], self.last_position[rows]
        self.meter = self.meter[rows]
        self.slots, self.last_pitch = self.slots[rows], self.last_pitch[rows]


class BarClock:
    """``until`` for the sampler: a row is done at the ``Bar`` token that starts bar
    ``bars`` (0-based: ``bars`` whole bars written), or the first bar that starts at or
    after ``beats`` quarter notes; the bar running at the limit is finished. With
    ``grace``, a row goes on to the first bar that starts ``grace`` quarter notes after
    that one (room to end on a cadence). The clock reads bar lengths off the ``TimeSig``
    tokens; it starts after ``primer`` (ids)."""

    def __init__(self, rep, num: int, primer: list[int], bars: int | None = None,
                 beats: float | None = None, grace: float = 0.0):
        import torch

        from tunesmith.representations.remi import BAR, TIMESIG, _Walk

        walk = _Walk(rep, primer)
        for i in primer:
            walk.step(i)
        self.kind = torch.as_tensor(rep.kinds())
        self.length_of = torch.as_tensor(rep.meter_sizes()[0], dtype=torch.float64)
        self.BAR, self.TIMESIG = BAR, TIMESIG
        self.bar = torch.full((num,), walk.bar)
        self.start = torch.full((num,), walk.bar_start, dtype=torch.float64)
        self.length = torch.full((num,), float(walk.length), dtype=torch.float64)
        self.bars, self.beats, self.grace = bars, beats, grace
        self.reached = torch.full((num,), float("inf"), dtype=torch.float64)

    def __call__(self, ids):
        import torch

        token = ids[:, 0].cpu().long()
        kind = self.kind[token]
        bar = kind == self.BAR
        self.start = torch.where(bar & (self.bar >= 0), self.start + self.length, self.start)
        self.bar = self.bar + bar.long()
        meter = kind == self.TIMESIG
        self.length = torch.where(meter, self.length_of[token], self.length)
        done = torch.zeros_like(bar)
        if self.bars is not None:
            done |= self.bar >= self.bars
        if self.beats is not None:
            done |= self.start >= self.beats - 1e-9
        self.reached = torch.where(bar & done, torch.minimum(self.reached, self.start),
                                   self.reached)
        return bar & done & (self.start >= self.reached + self.grace - 1e-9)

    def select(self, rows) -> None:
        """Keep the clocks of ``rows``, in that order (beam search)."""
        self.bar, self.start, self.length = self.bar[rows], self.start[rows], self.length[rows]
        self.reached = self.reached[rows]

