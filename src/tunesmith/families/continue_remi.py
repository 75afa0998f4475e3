"""The ``continue-remi`` family: read the first bars of a MIDI / MusicXML piece, write what
follows in a chosen style, in REMI tokens. MIDI corpora labelled by sub-folder or
``label=`` part (:mod:`tunesmith.corpora.labelled`) -> ``remi_phrases`` (pairs of source
and target bars of REMI tokens) -> ``seq2seq`` with one head -> the primer's bars joined
to their continuation, as MIDI / WAV / PNG.

What it changes from ``continue-events`` (whose corpus, split, styles, training and
options it shares): a REMI token says where in its bar a note starts and how long it
lasts, so a continuation cannot leave a note sounding, cannot drift off the grid and
writes a chord in one order (the events model wrote a chord's note-offs and note-ons in
any order, which no real piece has); and a bar is a ``Bar`` token, so compose writes
whole bars by counting them. Composing writes ``--bars`` bars in steps of the model's
``target_bars``: each step reads the last ``source_bars`` bars written so far and draws
until the ``Bar`` token after its bars (which the next step writes again), under the
REMI grammar (:class:`~tunesmith.families.remi.RemiGrammar`) when constrained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.errors import TunesmithError
from tunesmith.families.base import ComposeOptions
from tunesmith.families.continue_events import ContinueEventsFamily

MAX_SOURCE = 384  # tokens of a source phrase a pair keeps (its last ones; 4 chorale bars ~230)
MAX_TARGET = 256  # tokens of a target a pair keeps (its first ones; 2 chorale bars ~120)
MAX_TOKENS_PER_BAR = 256  # a step stops drawing past this many tokens a bar
OPENINGS = 8  # held-out openings a model keeps, to continue when no primer is given


class ContinueRemiFamily(ContinueEventsFamily):
    name = "continue-remi"
    representation = "remi_phrases"
    unit = "tokens"
    max_source = MAX_SOURCE

    # --- training (the corpus, split and styles are continue-events')
    def new_representation(self, **settings):
        from tunesmith.representations.remi_phrases import RemiPhrases

        return RemiPhrases(**settings)

    def with_openings(self, rep, pieces):
        """``rep`` with the first ``source_bars`` bars of the first :data:`OPENINGS` of
        ``pieces`` that have more bars than that and a note in them."""
        import dataclasses

        openings = []
        for p in pieces:
            tokens, cuts = rep.split_piece(p)
            if len(cuts) > rep.source_bars:
                first = tokens[:cuts[rep.source_bars]]
                if rep.has_notes(first):
                    openings.append(tuple(first))
            if len(openings) == OPENINGS:
                break
        return dataclasses.replace(rep, openings=tuple(openings))

    def encode_pair(self, rep, source, target, ends: bool, style: list[int]):
        return encode_pair(rep, source, target, ends, style)

    def model_sizes(self, representation) -> dict:
        return {"vocab_size": len(representation.vocab),
                "styles": representation.style_sizes}

    def transposer(self, rep, shift: int):
        from tunesmith.data.augment import TransposeIds, TransposePair

        return TransposePair(shift, window=TransposeIds(shift, rep.pitch_ids))

    # --- composing (the rest is continue-events')
    @staticmethod
    def read_primer(path, rep, seed, corpus):
        return read_primer(path, rep, seed, corpus)

    @staticmethod
    def opening(rep, k: int):
        return Primer(list(rep.openings[k]))

    @staticmethod
    def continue_primers(model, rep, primers, style, bars, opts, seed, device, counter):
        return continue_tokens(model, rep, [p.tokens for p in primers], style, bars, opts,
                               seed, device=device, counter=counter)

    @staticmethod
    def joined_piece(rep, primer, steps):
        return joined_piece(rep, primer, steps)

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """A source's tokens and the continuation's, at most."""
        return MAX_SOURCE + MAX_TOKENS_PER_BAR * (opts.bars or representation.target_bars)


def encode_pair(rep, source, target, ends: bool, style: list[int]):
    """A pair as ids: the source ``[BOS] + its last MAX_SOURCE tokens + [EOS]``, the
    target ``[BOS] + its first MAX_TARGET tokens`` and, when they are all of it, what
    follows its bars: ``EOS`` where the piece ends there, else the ``Bar`` token of the
    next bar (what compose stops each step at, so the model learns when its bars are
    done); and the style ids."""
    tgt = [rep.bos, *map(int, target[:MAX_TARGET])]
    if len(target) <= MAX_TARGET:
        tgt.append(rep.eos if ends else rep.bar)
    return rep.encode_source(source[-MAX_SOURCE:]), tgt, style


@dataclass
class Primer:
    """What a continuation starts from: the REMI ``tokens`` of its first bars (no
    BOS/EOS), the primer piece's tempo when it has one (the decoded piece keeps it), and
    ``offset``: beats to move the decoded piece by so that its notes stand where the
    primer's did (decoding trims the rest before a first note that the primer's bars
    had, as a MIDI file's bars from beat 0 with a rest first)."""

    tokens: list
    qpm: float | None = None
    offset: float = 0.0
    tempos: list = field(default_factory=list)  # Tempo, within the primer's bars


def read_primer(path: str, rep, seed: int | None = None,
                corpus: str = ContinueEventsFamily.default_corpus) -> Primer:
    """The first ``source_bars`` bars of the piece at ``path`` (or ``corpus``: a random
    piece of the model's corpus): a primer with fewer bars, or no note in them, is a
    one-line error."""
    from tunesmith.families.continue_events import primer_bars, primer_piece, primer_tempos

    piece = _meters_known(primer_piece(path, seed, corpus), rep, path)
    piece, first = primer_bars(path, rep, seed, corpus, rep.has_notes, piece=piece)
    # the rest decoding trims, less the beats encoding moved a written pickup by
    lead, bars_end, _ = rep.clock(first)
    offset = lead - rep.pickup_shift(piece)
    end = offset + bars_end - lead  # the end of the primer's bars, in its own time
    return Primer(first, piece.tempos[0].qpm if piece.tempos else None, offset,
                  primer_tempos(piece, end))


def _meters_known(piece, rep, path):
    """``piece``, or a one-line error when a meter of its first ``source_bars`` bars has
    no REMI token in this model (MidiTok would read those bars as 4/4)."""
    unknown = rep.unknown_meters(piece, rep.source_bars)
    if unknown:
        raise TunesmithError(f"the primer's first bars are in {', '.join(unknown)}, which "
                             f"this model's REMI tokens do not have ({', '.join(rep.meters)}"
                             "): its bars would be read as 4/4", path)
    return piece


def joined_piece(rep, primer: Primer, tokens):
    """The primer and its continuation (``tokens`` from the start) as a piece at the
    primer's tempo (else the model's), its notes where the primer's stood
    (:attr:`Primer.offset`), its bars as the tokens wrote them, and no note sounding
    past the last bar line."""
    from tunesmith.families.continue_events import with_pickup_meter
    from tunesmith.music import Note, Tempo, TimeSignature

    piece = rep.decode([rep.bos, *tokens, rep.eos])
    lead, end, starts = rep.clock(tokens)
    move = primer.offset
    # the bar lines the tokens wrote, in the primer's time (the decoded piece's are
    # counted from its first note, which a primer that opens with a rest does not have)
    bar_lines = sorted({0.0} | {b - lead + move for b in (*starts, end)
                                if b - lead + move > 1e-9})
    end -= lead  # the last bar line, in the decoded piece's time
    for track in piece.tracks:
        track.notes = [Note(n.start + move, min(n.end, end) + move, n.pitch, n.velocity)
                       for n in track.notes if n.start < end - 1e-9]
    piece.time_signatures = [TimeSignature(s.beat + move if s.beat > 0 else 0.0,
                                           s.numerator, s.denominator)
                             for s in piece.time_signatures]
    piece.bar_lines = bar_lines if piece.notes else []
    if primer.tempos or primer.qpm:
        piece.tempos = list(primer.tempos) or [Tempo(0.0, primer.qpm)]
    return with_pickup_meter(piece)


def continue_tokens(model, rep, primers: list[list[int]], style: list, bars: int,
                    opts: ComposeOptions, seed: int, device="cpu",
                    counter=None) -> list[list[int]]:
    """Each primer (tokens) continued by ``bars`` bars, in steps of the model's
    ``target_bars``: each step reads the last ``source_bars`` bars written so far and
    draws until the ``Bar`` token that starts the bar after its bars (left for the next
    step, where training has it), or :data:`MAX_TOKENS_PER_BAR` tokens a bar. The
    model's end marker is never drawn: the bars asked for end the piece. Returns the
    primers' tokens followed by their continuations. ``style``: one list of style ids
    for every primer, or one per primer. Sampled, or by beam search with ``opts.beam``
    hypotheses per primer; under the REMI grammar with ``opts.constrain``; guided towards
    the style with ``opts.style_guidance`` > 0. ``counter``: a
    :class:`~tunesmith.progress.StepCounter` that hears the tokens drawn (or None)."""
    import numpy as np

    from tunesmith.data.pairs import collate
    from tunesmith.families.continuation import draw, guided
    from tunesmith.families.remi import BarClock, RemiGrammar
    from tunesmith.sampling.settings import per_head

    written = [list(map(int, p)) for p in primers]
    meters = [rep.last_meter(p) for p in written]  # each continues in its primer's meter
    styles = style if style and isinstance(style[0], list) else [style] * len(primers)
    settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
    rows = len(primers) * (opts.beam or 1)
    left, k, drawn = bars, 0, 0
    model.eval()
    while left > 0:
        chunk = min(left, rep.target_bars)
        batch = collate([encode_pair(rep, rep.last_bars(w, rep.source_bars), [], False,
                                     styles[i]) for i, w in enumerate(written)])
        # each step starts at its bar line, as targets do: its first token is that Bar
        # (unconstrained too, where the model might add notes to the bar before)
        common = dict(primer=[[rep.bos], [rep.bar]], num=len(primers), heads=["token"],
                      stop=None, banned={"token": rep.never_sample() + [rep.eos]},
                      device=device, until=BarClock(rep, rows, [rep.bos, rep.bar], bars=chunk),
                      max_steps=MAX_TOKENS_PER_BAR * chunk + 1,
                      seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
                      constraint=RemiGrammar(rows, rep, meters=[
                          m for m in meters for _ in range(opts.beam or 1)])
                      if opts.constrain else None,
                      on_step=None if counter is None else counter.after(drawn))
        steps = draw(guided(model, batch, device, opts.style_guidance, opts.beam), opts,
                     settings, common)
        drawn += max((len(seq) for seq in steps), default=0)
        for i, seq in enumerate(steps):
            ids = [rep.bar, *(int(s[0]) for s in seq)]
            cuts = rep.bar_cuts(ids)
            if len(cuts) > chunk:  # the next bar's Bar: the next step writes it
                ids = ids[:cuts[chunk]]
            else:  # the token limit came first: its bars closed, empty where unwritten
                ids = _closed(rep, ids, chunk - len(cuts), meters[i])
            written[i] += ids
        left, k = left - chunk, k + 1
    return written


def _closed(rep, ids: list[int], missing: int, meter: int | None) -> list[int]:
    """``ids`` without a note it left unfinished (a ``Pitch`` without its ``Velocity``
    and ``Duration``), and ``missing`` empty bars after them (in ``meter``)."""
    from tunesmith.representations.remi import PITCH, VELOCITY

    kinds = rep.kinds()
    while ids and kinds[ids[-1]] in (PITCH, VELOCITY):
        ids = ids[:-1]
    bar = [rep.bar] + ([meter] if meter is not None else [])
    return ids + bar * missing
