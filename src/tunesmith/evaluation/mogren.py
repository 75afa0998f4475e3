"""The four statistics by which Mogren judged C-RNN-GAN's music, on a :class:`Piece`.

O. Mogren, "C-RNN-GAN: Continuous recurrent neural networks with adversarial training",
Constructive Machine Learning Workshop at NIPS 2016 (arXiv:1611.09904), plots polyphony,
scale consistency, tone span and 3-tone repetitions of generated samples. The paper's
experimental setup defines them in a sentence each; the numbers it plots come from the
author's code, ``midi_statistics.py`` of github.com/olofmogren/c-rnn-gan (commit
9edafc02, read, not copied; ``rnn_gan.py`` plots its ``scale_score``, ``tone_span``,
``polyphony_score`` and ``repetitions_3``). The definitions below follow that code
except where stated.

**Tones.** Mogren's code reads a MIDI file's note-on events: their pitches (track by
track, in file order) and their start ticks (all tracks merged). Here the tones are the
piece's non-drum notes (:attr:`Piece.notes`), ordered by onset (rounded to 1/480 beat,
:data:`tunesmith.evaluation.form.TICKS`) and then pitch, low to high: one order for all
four measures. Departures: drum notes are left out, and several tracks are merged in time
rather than read one after another (Mogren's repetition count runs across the joins of
its tracks; his generated samples are one track). Notes that start together with the same
pitch (a unison doubled in two tracks) count as two tones, as two note-ons do in the code.
``max_tones`` keeps only the first N tones in this order: Mogren's samples all have the
same number of events and his repetition count is not normalised, so compare sets of
pieces at one length.

**Polyphony** (code: ``get_polyphony_score``; paper: how often at least two tones are
played simultaneously, i.e. start at exactly the same time). An *event* is an onset time
(after rounding to 1/480 beat) with the tones that start at it; an event is polyphonous
when two or more tones start at it. Polyphony = (polyphonous events) / (events), in
[0, 1]: 0 for a melody, 1 when every onset is a chord. Notes that overlap without
starting together do not count (the paper notes this restriction). This is what the
code's docstring describes; the code's loop counts otherwise: it adds one count per tone
(the first tone of each event as monophonic, each further one as polyphonous) *and* one
per event as it closes, never closing the last. With events of sizes c_1..c_k in time
order it returns P / (P + M), where P = sum(c_i - 1) + #{i < k: c_i > 1} and
M = k + #{i < k: c_i = 1} (0 when P = 0): a melody still gives 0, but a piece of k
triads gives (3k - 1) / (4k - 1), about 0.75. ``as_coded=True`` returns that number, to
compare with the paper's curves.

**Scale consistency** (code: ``tones_to_scales`` and ``max_likelihood_scale``; paper:
the fraction of tones that belong to a standard scale, for the best-matching scale). The
largest, over the 12 tonics and the major, natural-minor and harmonic-minor scales, of
(tones whose pitch class is in the scale) / (tones), in [0, 1]; as the code. It is *not*
:func:`tunesmith.evaluation.features.scale_consistency` (MusPy's), which takes only major
and natural-minor scales (natural minor adds nothing to major: the same twelve pitch-class
sets). The two agree unless a harmonic-minor scale fits better, e.g. an A minor melody
with G#: A B C D E F G# A scores 1 here and 7/8 there. This one is never lower.

**Tone span** (code: ``tone_span`` in ``get_all_stats``; paper: the number of half-tone
steps between the lowest and the highest tone). Highest minus lowest MIDI pitch, in
semitones; the same as :func:`tunesmith.evaluation.features.pitch_range`.

**Repetitions** of length L (code: ``repetitions``; paper: repetitions of short
subsequences, by tones and their order, not their timing). Take the windows of L
consecutive tone pitches, w_s = (p_s, ..., p_{s+L-1}) for s = 0..n-L; the count is the
number of pairs s < t with t >= s + L (the two windows do not overlap) and w_s = w_t. It
is a raw count of pairs, not normalised: an L-tone phrase heard three times gives 3
pairs of its own windows, and the count grows with the length of the piece. The code
differs in two details that ``as_coded=True`` keeps: it never compares the last window
(it counts on the first n - 1 tones), and it counts only lengths 2 <= L < min(n // 2,
10), returning 0 for others (e.g. L = 3 needs n >= 8). The paper plots L = 3 (``repetitions_3``).

Per piece each measure is ``nan`` for a piece without notes; :func:`mogren_measures`
averages over the pieces that have notes and reports how many it skipped.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from tunesmith.evaluation.form import TICKS
from tunesmith.music import Note, Piece

# Mogren's "standard scales" (midi_statistics.py): semitones above the tonic.
MOGREN_SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "natural_minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
DEFAULT_LENGTHS = (3,)  # the repetition length the paper plots


def _onset_tick(note: Note) -> int:
    return int(round(note.start * TICKS))


def tones(piece: Piece, max_tones: int | None = None) -> list[Note]:
    """The piece's non-drum notes by onset (1/480 beat) then pitch; the first ``max_tones``."""
    if max_tones is not None and max_tones < 1:
        raise ValueError(f"max_tones must be >= 1 or None, got {max_tones}")
    ordered = sorted(piece.notes, key=lambda n: (_onset_tick(n), n.pitch))
    return ordered if max_tones is None else ordered[:max_tones]


def _event_sizes(notes: Sequence[Note]) -> list[int]:
    """Number of tones starting at each distinct onset (1/480 beat), in time order."""
    counts = Counter(_onset_tick(n) for n in notes)
    return [counts[t] for t in sorted(counts)]


def _polyphony(notes: Sequence[Note], as_coded: bool) -> float:
    sizes = _event_sizes(notes)
    if not sizes:
        return math.nan
    if not as_coded:
        return sum(c > 1 for c in sizes) / len(sizes)
    closed = sizes[:-1]  # the code never closes the last event
    poly = sum(c - 1 for c in sizes) + sum(c > 1 for c in closed)
    mono = len(sizes) + sum(c == 1 for c in closed)
    return poly / (poly + mono) if poly else 0.0


def polyphony(piece: Piece, max_tones: int | None = None, as_coded: bool = False) -> float:
    """Fraction (0-1) of onset events where two or more tones start; NaN without notes."""
    return _polyphony(tones(piece, max_tones), as_coded)


def _scale_consistency(notes: Sequence[Note]) -> float:
    if not notes:
        return math.nan
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = max(int(counts[(tonic + np.array(steps)) % 12].sum())
               for steps in MOGREN_SCALES.values() for tonic in range(12))
    return best / len(notes)


def scale_consistency(piece: Piece, max_tones: int | None = None) -> float:
    """Fraction (0-1) of tones in the best major/natural-/harmonic-minor scale; NaN if empty."""
    return _scale_consistency(tones(piece, max_tones))


def _tone_span(notes: Sequence[Note]) -> float:
    pitches = [n.pitch for n in notes]
    return float(max(pitches) - min(pitches)) if pitches else math.nan


def tone_span(piece: Piece, max_tones: int | None = None) -> float:
    """Highest minus lowest MIDI pitch, in semitones; NaN without notes."""
    return _tone_span(tones(piece, max_tones))


def repeated_window_pairs(pitches: Sequence[int], length: int) -> int:
    """Pairs of non-overlapping, equal windows of ``length`` consecutive pitches (a count)."""
    if length < 1:
        raise ValueError(f"repetition length must be >= 1, got {length}")
    starts: dict[tuple[int, ...], list[int]] = defaultdict(list)
    pairs = 0
    for t in range(len(pitches) - length + 1):
        earlier = starts[tuple(pitches[t:t + length])]
        pairs += bisect.bisect_right(earlier, t - length)  # earlier starts s <= t - length
        earlier.append(t)
    return pairs


def _repetitions(notes: Sequence[Note], length: int, as_coded: bool) -> float:
    if not notes:
        return math.nan
    pitches = [n.pitch for n in notes]
    if as_coded:
        if not 2 <= length < min(len(pitches) // 2, 10):
            return 0.0
        pitches = pitches[:-1]  # the code never compares the last window
    return float(repeated_window_pairs(pitches, length))


def repetitions(piece: Piece, length: int = 3, max_tones: int | None = None,
                as_coded: bool = False) -> float:
    """Pairs of non-overlapping equal ``length``-tone pitch windows (a count); NaN if empty."""
    return _repetitions(tones(piece, max_tones), length, as_coded)


def piece_measures(piece: Piece, lengths: Iterable[int] = DEFAULT_LENGTHS,
                   max_tones: int | None = None, as_coded: bool = False) -> dict[str, float]:
    """One piece's polyphony, scale_consistency, tone_span and repetitions_L, by name."""
    notes = tones(piece, max_tones)
    out = {
        "polyphony": _polyphony(notes, as_coded),
        "scale_consistency": _scale_consistency(notes),
        "tone_span": _tone_span(notes),
    }
    for length in lengths:
        out[f"repetitions_{length}"] = _repetitions(notes, length, as_coded)
    return out


def mogren_measures(pieces: Iterable[Piece], lengths: Iterable[int] = DEFAULT_LENGTHS,
                    max_tones: int | None = None, as_coded: bool = False) -> dict[str, float]:
    """Mean of each :func:`piece_measures` over the pieces with notes, plus the counts
    ``pieces`` (judged) and ``skipped`` (no notes); means are NaN when none is judged."""
    lengths = tuple(lengths)
    keys = ["polyphony", "scale_consistency", "tone_span",
            *(f"repetitions_{length}" for length in lengths)]
    rows, skipped = [], 0
    for piece in pieces:
        if not piece.notes:
            skipped += 1
            continue
        rows.append(piece_measures(piece, lengths, max_tones, as_coded))
    out = {k: float(np.mean([r[k] for r in rows])) if rows else math.nan for k in keys}
    out["pieces"] = float(len(rows))
    out["skipped"] = float(skipped)
    return out
