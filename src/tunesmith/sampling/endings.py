"""Ending a sampled piece on purpose: a little past the length asked for, where it closes
on a cadence, instead of wherever the clock runs out.

A piece composed for ``--seconds`` (events, piano roll, REMI), ``--bars`` (REMI) or a
piano roll's ``--max-len`` is sampled ``grace`` beats longer than asked, then
:func:`finish` cuts it at the beat in ``[length, length + grace]`` where it ends best:

1. on a V-I or IV-I cadence into the tonic with the tonic in the bass;
2. else on such a cadence (the tonic in an inner voice or above);
3. else with the tonic in the bass;
4. else at ``length``, as before (the clock's cut).

The earliest beat of the best kind wins. "Ends on a cadence" and "the tonic in the bass"
are judged on the cut piece exactly as the musical report judges a whole piece
(:func:`~tunesmith.evaluation.harmony.final_cadence`,
:func:`~tunesmith.evaluation.harmony.tonic_ending`, with the key estimated from the cut
piece), so what the report counts is what this looked for. The cadence is one the model
wrote: this only chooses where to stop, within the grace window, which is what a player
does who is told to stop "at the end of the phrase after the next minute".

A family that can sample a piece's last beats again (:func:`finish_all`'s ``redraw``)
gives a piece whose own window has no cadence with the tonic in the bass a few fresh
continuations of its first ``length`` beats, and keeps the first that closes: the shipped
events model writes such a cadence at ~2% of beats, so one window of 8 beats rarely holds
one.

After a cadence the last chord rings for :data:`HOLD` beats more (the fermata a chorale
ends on) when the held chord still reads as that cadence. Every note ends at the cut or
at the hold: none is left sounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from tunesmith.music import Piece, Track

GRACE_BEATS = 8.0  # two bars of 4/4: a chorale phrase is about that long
HOLD = 1.0  # beats the final chord rings on after a cadence
DRAFTS = 8  # fresh continuations tried for a piece whose own window holds no cadence
_EPS = 1e-6


def cut(piece: Piece, at: float) -> Piece:
    """``piece`` up to beat ``at``: notes starting at or after it dropped, notes sounding
    across it ended there; tempos, time signatures and bar lines after it dropped."""
    tracks = [Track([replace(n, end=min(n.end, at)) for n in t.notes if n.start < at - _EPS],
                    t.program, t.is_drum, t.name) for t in piece.tracks]
    return replace(piece, tracks=tracks,
                   tempos=[x for x in piece.tempos if x.beat < at - _EPS] or piece.tempos[:1],
                   time_signatures=[x for x in piece.time_signatures if x.beat < at - _EPS],
                   bar_lines=[b for b in piece.bar_lines if b <= at + _EPS])


def hold(piece: Piece, beats: float = HOLD) -> Piece:
    """``piece`` with the notes sounding at its end lengthened by ``beats``."""
    end = piece.end_beat
    tracks = [Track([replace(n, end=n.end + beats) if n.end >= end - _EPS else n
                     for n in t.notes], t.program, t.is_drum, t.name) for t in piece.tracks]
    return replace(piece, tracks=tracks)


def ending(piece: Piece) -> tuple[bool, bool]:
    """(ends on a V-I / IV-I cadence into its tonic, has the tonic in the bass at its end),
    as the musical report judges them."""
    from tunesmith.evaluation.harmony import final_cadence, tonic_ending

    cadence = final_cadence(piece) in ("V-I", "IV-I")
    return cadence, tonic_ending(piece) == 1.0


def best_ending(piece: Piece, length: float, grace: float) -> tuple[tuple[bool, bool], int | None]:
    """The best kind of ending (see :func:`ending`) at a whole beat of ``[length, length +
    grace]``, and the earliest beat with it (None when no beat has either)."""
    best, best_at = (False, False), None
    for beat in range(math.ceil(length - _EPS), math.floor(length + grace + _EPS) + 1):
        if beat > piece.end_beat + _EPS:
            break
        kind = ending(cut(piece, beat))
        if kind > best:
            best, best_at = kind, beat
            if kind == (True, True):
                break
    return best, best_at


def finish(piece: Piece, length: float, grace: float = GRACE_BEATS) -> Piece:
    """``piece`` (sampled to about ``length + grace`` beats) ended at the best beat of
    ``[length, length + grace]`` (see the module's docstring). A piece that ends by itself
    before ``length`` (the model's end token) is returned as it is."""
    if grace <= 0 or piece.end_beat <= length + _EPS:
        return cut(piece, length) if piece.end_beat > length + _EPS else piece
    best, at = best_ending(piece, length, grace)
    if at is None:
        return cut(piece, length)
    out = cut(piece, at)
    if best[0]:
        held = hold(out)
        if ending(held) == best:
            return held
    return out


def check_primer_fits(seconds: float, primer_beats: float, rep) -> None:
    """``--seconds`` counts the whole piece, primer included (events, REMI, piano roll):
    a primer that already lasts as long would come back with nothing new. One-line
    OptionError."""
    from tunesmith.errors import OptionError

    if primer_beats >= rep.beats_for_seconds(seconds) - 1e-9:
        lasts = primer_beats * 60.0 / rep.qpm
        raise OptionError("seconds", f"is {seconds:g}, but the primer already lasts "
                          f"{lasts:.1f} s: --seconds counts the whole piece, primer "
                          "included (ask for more, or a shorter --primer-len)")


def redraw_options(opts, piece: int, n: int):
    """Compose options (a :class:`~tunesmith.families.base.ComposeOptions`) for ``n``
    fresh endings of piece ``piece``: sampled, not beam-searched (tries should differ),
    with a seed of their own that follows from ``opts.seed`` (None: a fresh one)."""
    seed = None if opts.seed is None else (opts.seed + 7919 * (piece + 1)) % 2**63
    return replace(opts, num=n, seed=seed, beam=None, length_penalty=0.0,
                   stochastic_beam=False)


def finish_all(pieces: list[Piece], length: float, grace: float,
               redraw: Callable[[int, int], list[Piece]] | None = None,
               drafts: int = DRAFTS) -> list[Piece]:
    """:func:`finish` for each piece; with ``redraw``, a piece whose own grace window
    holds no cadence with the tonic in the bass gets ``drafts`` more tries at it:
    ``redraw(i, n)`` samples ``n`` new continuations of piece ``i``'s first ``length``
    beats (each a whole piece), and the first one that ends better wins (the piece's
    own ending on a tie)."""
    out = []
    for i, piece in enumerate(pieces):
        if grace > 0 and redraw is not None and piece.end_beat > length + _EPS:
            best, _ = best_ending(piece, length, grace)
            if best != (True, True):
                for draft in redraw(i, drafts):
                    kind, _ = best_ending(draft, length, grace)
                    if kind > best:
                        best, piece = kind, draft
                        if kind == (True, True):
                            break
        out.append(finish(piece, length, grace))
    return out


class EndAfter:
    """A sampler constraint (``mask`` / ``update`` / ``select``, as
    :func:`~tunesmith.sampling.decode.sample` and beam search take one): the end token
    ``end`` of ``head`` only in rows whose ``clock`` has reached the length asked (its
    ``reached``: finite once it has), so a piece composed for ``--seconds`` is never ended
    by the model before that length (a weak model's came back 0.4 s long) but may end on
    its own in the grace window after it, as a player may stop at the end of a phrase.
    ``inner``: another constraint applied first (a grammar), or None."""

    def __init__(self, clock, head: str, end: int, inner=None):
        self.clock, self.head, self.end, self.inner = clock, head, end, inner
        self.order = inner.order if inner is not None else (head,)

    def mask(self, head, logits, picks, rows=None):
        import torch

        if self.inner is not None:
            logits = self.inner.mask(head, logits, picks, rows)
        if head != self.head:
            return logits
        early = ~torch.isfinite(self.clock.reached)
        if rows is not None:
            early = early[rows]
        if not bool(early.any()):
            return logits
        logits = logits.clone()
        logits[early, self.end] = float("-inf")
        return logits

    def update(self, ids) -> None:
        if self.inner is not None:
            self.inner.update(ids)

    def select(self, rows) -> None:
        if self.inner is not None:
            self.inner.select(rows)
