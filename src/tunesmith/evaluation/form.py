"""Form: the time grid, bars and what repeats in them, and how a piece is laid out in time.

Every function is a pure function of a :class:`~tunesmith.music.Piece` (times in beats =
quarter notes, as everywhere in tunesmith) and returns ``float('nan')`` (or ``None`` for
the functions that return a matrix or a label) where it is undefined: no notes, or no
bars for a bar-based measure. Drum tracks are ignored (``Piece.notes``).

**The grid, defined once here** (and used by :mod:`tunesmith.evaluation.features`):

- *beats* are quarter notes counted from beat 0 (:func:`beat_bounds`); onsets "on the
  eighth-note grid" are multiples of 0.5 beats from beat 0 (:func:`grid_onset_rate`);
- *bars* (:func:`bar_bounds`) are the bars the source wrote (``Piece.bar_lines``: ABC,
  MusicXML) when it has them, else the bars implied by the time signatures
  (:func:`signature_bars`), else there are none and every bar-based measure is n/a.
  **No 4/4 is assumed** for a piece without a time signature.

Measures of form that the symbolic-music metric libraries (MusPy, mgeval) do not have:
bar repetition, the longest repeated span, a self-similarity matrix of bars, AABB
section structure, meter consistency (needs the *written* bar lines), onsets on a grid,
register drift, the longest held note, and the pile-up rate (time with many notes
sounding at once).
"""

from __future__ import annotations

import math
from collections import Counter
from string import ascii_uppercase

import numpy as np

from tunesmith.music import Note, Piece, TimeSignature

EPS = 1e-6  # beats: two times closer than this are the same time
TICKS = 480  # per beat: times are compared after rounding to 1/480 beat (triplets exact)


# --- the grid ------------------------------------------------------------------------


def bar_length(ts: TimeSignature) -> float:
    """Length in beats (quarter notes) of one bar of ``ts``: numerator x 4 / denominator
    (6/8 -> 3.0, 3/4 -> 3.0, 2/2 -> 4.0)."""
    return ts.numerator * 4.0 / ts.denominator


def beat_bounds(piece: Piece, step: float = 1.0) -> np.ndarray | None:
    """Boundaries of the beat grid: 0, step, 2 step, ... up to the first multiple of
    ``step`` at or after the piece's end (``ceil(end / step) + 1`` entries). None for a
    piece without notes."""
    end = piece.end_beat
    if not piece.notes or end <= 0:
        return None
    n = max(1, math.ceil(end / step - EPS))
    return np.arange(n + 1, dtype=float) * step


def signature_bars(piece: Piece) -> np.ndarray | None:
    """Bar boundaries implied by the time signatures, from beat 0 to the end of the bar
    that holds the last note's end.

    Each signature starts a new bar at its beat and lays bars of :func:`bar_length` until
    the next signature (a bar cut short by a change ends there); the first signature also
    governs the time before its beat (music21 and MIDI files put it at 0). None for a
    piece without notes or without a time signature: a 4/4 default is not assumed."""
    end = piece.end_beat
    if not piece.notes or end <= 0:
        return None
    by_beat = {}  # one signature per beat (the last listed wins)
    for ts in sorted(piece.time_signatures, key=lambda s: s.beat):
        if bar_length(ts) > 0:
            by_beat[_ticks(ts.beat)] = ts
    sigs = [ts for k, ts in sorted(by_beat.items()) if k == min(by_beat) or ts.beat < end - EPS]
    if not sigs:
        return None
    bounds: list[float] = []
    for i, ts in enumerate(sigs):
        start = 0.0 if i == 0 else ts.beat
        last = i + 1 == len(sigs)
        limit = end if last else sigs[i + 1].beat  # the next signature cuts a bar short
        t = start
        while t < limit - EPS:
            bounds.append(t)
            t += bar_length(ts)
        if last:
            bounds.append(t)  # the end of the last bar, at or after the piece's end
    return np.asarray(bounds, dtype=float) if len(bounds) >= 2 else None


def written_bars(piece: Piece) -> np.ndarray | None:
    """The written bar lines (``Piece.bar_lines``) as an array, None when there are none."""
    return np.asarray(piece.bar_lines, dtype=float) if len(piece.bar_lines) >= 2 else None


def bar_bounds(piece: Piece) -> np.ndarray | None:
    """The bars that bar-based measures use: the written bar lines when the piece has
    them (so a pickup bar stays a pickup), else those implied by the time signatures,
    else None (the measure is n/a). Bar ``i`` spans ``bounds[i]`` to ``bounds[i + 1]``."""
    if not piece.notes:
        return None
    written = written_bars(piece)
    return written if written is not None else signature_bars(piece)


def _ticks(x: float) -> int:
    return int(round(x * TICKS))


def _bar_index(bounds: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Bar index of each time (-1 before the first bar, len(bounds) - 1 after the last)."""
    return np.searchsorted(bounds, times + EPS, side="right") - 1


def bar_contents(piece: Piece, bounds: np.ndarray) -> list[tuple[tuple[int, int, int], ...]]:
    """For each bar, the notes that *start* in it as a sorted tuple of ``(onset from the
    bar's start, duration, pitch)`` with times in ticks (1/480 beat). A note held over a
    bar line belongs to the bar it starts in, with its whole duration."""
    n_bars = len(bounds) - 1
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(n_bars)]
    notes = piece.notes
    if not notes:
        return [() for _ in range(n_bars)]
    starts = np.array([n.start for n in notes])
    idx = _bar_index(bounds, starts)
    for note, i in zip(notes, idx, strict=True):
        if 0 <= i < n_bars:
            out[i].append((_ticks(note.start - bounds[i]), _ticks(note.end - note.start),
                           note.pitch))
    return [tuple(sorted(b, key=lambda x: (x[0], x[2], x[1]))) for b in out]


def _transposed(content: tuple) -> tuple:
    """A bar's content with pitches relative to its first note (earliest, then lowest)."""
    if not content:
        return content
    p0 = content[0][2]
    return tuple((o, d, p - p0) for o, d, p in content)


# --- repetition ----------------------------------------------------------------------


def bar_repetition_rate(piece: Piece, transposed: bool = False) -> float:
    """Fraction of bars that repeat an earlier bar exactly.

    .. math:: \\frac{\\#\\{i : \\exists j < i,\\ C_j = C_i\\}}{\\#\\{i : C_i \\ne \\emptyset\\}}

    over the bars with at least one onset, where :math:`C_i` is the bar's content
    (:func:`bar_contents`: onsets relative to the bar's start, durations, pitches). With
    ``transposed=True`` two bars also match when one is the other shifted by a constant
    number of semitones (so this rate is >= the exact one). Bars are :func:`bar_bounds`.

    Measured on a piece with its repeats *expanded*, every written repeat adds repeated
    bars (an ``|: A :|`` tune repeats at least half of them); to ask whether a composer
    repeats itself beyond its repeat marks, measure the written order
    (``tune_to_piece(text, repeats=False)``). NaN without bars or notes."""
    bounds = bar_bounds(piece)
    if bounds is None:
        return math.nan
    contents = [c for c in bar_contents(piece, bounds) if c]
    if not contents:
        return math.nan
    seen: set[tuple] = set()
    repeats = 0
    for c in contents:
        key = _transposed(c) if transposed else c
        if key in seen:
            repeats += 1
        seen.add(key)
    return repeats / len(contents)


def transposed_bar_repetition_rate(piece: Piece) -> float:
    """:func:`bar_repetition_rate` with ``transposed=True``."""
    return bar_repetition_rate(piece, transposed=True)


def onset_tokens(piece: Piece) -> tuple[np.ndarray, np.ndarray]:
    """The piece as a sequence of onset groups: ``(ids, times)``, where ``ids[k]`` names
    the k-th distinct onset time's content (the ``(pitch, duration)`` of every note that
    starts there, and the time to the next onset; for the last, its longest note) and
    ``times`` holds the k onset times in beats followed by the end of the last group
    (``len(ids) + 1`` entries). Two groups get the same id iff they sound the same."""
    notes = piece.notes
    if not notes:
        return np.zeros(0, dtype=np.int64), np.zeros(1)
    groups: dict[int, list[Note]] = {}
    for n in notes:
        groups.setdefault(_ticks(n.start), []).append(n)
    onsets = sorted(groups)
    ends = []
    for k, t in enumerate(onsets):
        ends.append(onsets[k + 1] if k + 1 < len(onsets)
                    else max(_ticks(n.end) for n in groups[t]))
    vocab: dict[tuple, int] = {}
    ids = []
    for t, e in zip(onsets, ends, strict=True):
        key = (tuple(sorted((n.pitch, _ticks(n.end - n.start)) for n in groups[t])), e - t)
        ids.append(vocab.setdefault(key, len(vocab)))
    times = np.array(onsets + [ends[-1]], dtype=float) / TICKS
    return np.asarray(ids, dtype=np.int64), times


def longest_repeated_span(piece: Piece) -> float:
    """Length in beats of the longest passage that occurs twice, exactly (same pitches,
    durations and onset gaps; not transposed), at non-overlapping positions.

    The piece is a sequence of onset groups (:func:`onset_tokens`); for every shift
    :math:`d`, runs where group :math:`k` equals group :math:`k + d` are found, and a run
    counts for at most :math:`d` groups (so the two copies do not overlap); the span of
    groups :math:`k..k+L-1` is :math:`t_{k+L} - t_k`. O(n^2) comparisons for n onsets,
    vectorised per shift. 0.0 when nothing repeats; NaN without notes. Needs no bars."""
    ids, times = onset_tokens(piece)
    n = len(ids)
    if n == 0:
        return math.nan
    best = 0.0
    for d in range(1, n):
        eq = ids[:-d] == ids[d:]  # eq[k]: group k equals group k + d
        if not eq.any():
            continue
        ks = np.flatnonzero(eq)
        breaks = np.flatnonzero(~eq)
        # end of the run that holds k: the first unequal position after k (or n - d)
        run_end = np.append(breaks, n - d)[np.searchsorted(breaks, ks)]
        length = np.minimum(d, run_end - ks)
        span = times[ks + length] - times[ks]
        best = max(best, float(span.max()))
    return best


def self_similarity(piece: Piece) -> np.ndarray | None:
    """The bars' self-similarity matrix: ``S[i, j]`` = Jaccard index
    :math:`|A_i \\cap A_j| / |A_i \\cup A_j|` of the sets of ``(onset within the bar,
    pitch)`` of the notes starting in bars i and j (1 on the diagonal; 1 between two
    empty bars, 0 between an empty and a full one). Shape (bars, bars); None without
    bars (:func:`bar_bounds`)."""
    bounds = bar_bounds(piece)
    if bounds is None:
        return None
    sets = [frozenset((o, p) for o, _d, p in c) for c in bar_contents(piece, bounds)]
    n = len(sets)
    out = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            s = len(sets[i] & sets[j]) / union if union else 1.0
            out[i, j] = out[j, i] = s
    return out


def counted_bars(piece: Piece) -> list[tuple[tuple[int, int, int], ...]] | None:
    """The bars as a musician counts them, for comparing sections: :func:`bar_bounds`'s
    bars (:func:`bar_contents`), less a leading pickup (a first bar shorter than the
    most common bar length) and empty bars at the end, with each short bar that is
    completed by the next one (two bars shorter than the most common length that add up
    to it: a section's last bar and the next section's written pickup, as in
    ``... f2 f2 f2 :| |: (fe) | d2 ...``) merged into one. None without bars."""
    counted = _counted(piece)
    return None if counted is None else counted[0]


def misfit_bars(piece: Piece) -> int | None:
    """How many of :func:`counted_bars`'s bars, the last one aside, are not of the most
    common bar length: a bar that breaks the meter, or a section's last bar that does
    not complete the pickup after it (which keeps a tune from splitting into equal
    sections, :func:`section_structure`). None without bars."""
    counted = _counted(piece)
    if counted is None:
        return None
    _, lengths, modal = counted
    return sum(n != modal for n in lengths[:-1])


def _counted(piece: Piece):
    """:func:`counted_bars`, with each counted bar's length in ticks and the most common
    written bar length: ``(bars, lengths, modal)``; None without bars."""
    bounds = bar_bounds(piece)
    if bounds is None:
        return None
    contents = bar_contents(piece, bounds)
    lengths = np.round(np.diff(bounds) * TICKS).astype(int).tolist()
    modal = Counter(lengths).most_common(1)[0][0]
    if len(contents) >= 2 and lengths[0] < modal:
        contents, lengths = contents[1:], lengths[1:]
    out: list[tuple[tuple[int, int, int], ...]] = []
    out_lengths: list[int] = []
    i = 0
    while i < len(contents):
        if (i + 1 < len(contents) and lengths[i] < modal and lengths[i + 1] < modal
                and lengths[i] + lengths[i + 1] == modal):
            shifted = tuple((o + lengths[i], d, p) for o, d, p in contents[i + 1])
            out.append(tuple(sorted(contents[i] + shifted, key=lambda x: (x[0], x[2], x[1]))))
            out_lengths.append(modal)
            i += 2
        else:
            out.append(contents[i])
            out_lengths.append(lengths[i])
            i += 1
    while out and not out[-1]:
        out.pop()
        out_lengths.pop()
    return out, out_lengths, modal


def section_structure(piece: Piece, tolerance: float = 0.75) -> str | None:
    """The piece's bars in four equal sections, labelled by which earlier section each
    repeats: ``"AABB"`` for a folk tune written ``|: A :|: B :|`` and played with its
    repeats (or written out twice), ``"ABAB"``, ``"AAAA"``, ``"ABCD"`` ...; ``""`` when
    the bars do not split into four equal sections.

    Bars are :func:`counted_bars` (a pickup left out, a short last bar and the pickup
    after it counted as one bar); their number n must be a multiple of 4 (and at least
    4). Section s takes the label of the first earlier labelled section whose bars it
    equals exactly (:func:`bar_contents`) at a fraction >= ``tolerance`` of the n/4
    positions (0.75 lets a first and second ending differ in one bar of four, or two of
    eight), else a new letter. None without bars or notes."""
    bars = counted_bars(piece)
    if bars is None:
        return None
    n = len(bars)
    if n < 4 or n % 4:
        return ""
    size = n // 4
    sections = [bars[s * size:(s + 1) * size] for s in range(4)]
    labels: list[str] = []
    firsts: dict[str, int] = {}  # label -> index of the section that introduced it
    for sec in sections:
        label = next((lab for lab, f in firsts.items()
                      if np.mean([a == b for a, b in zip(sections[f], sec, strict=True)])
                      >= tolerance), None)
        if label is None:
            label = ascii_uppercase[len(firsts)]
            firsts[label] = len(labels)
        labels.append(label)
    return "".join(labels)


def aabb(piece: Piece) -> float:
    """1.0 when :func:`section_structure` is ``"AABB"``, 0.0 for any other structure
    (including bars that do not split into four equal sections), NaN without bars."""
    s = section_structure(piece)
    return math.nan if s is None else float(s == "AABB")


# --- meter ---------------------------------------------------------------------------


def _written_bar_ratios(piece: Piece) -> np.ndarray | None:
    """Each written bar's length divided by the bar length of the time signature in
    force at its start; None without written bar lines or time signature."""
    written = written_bars(piece)
    sigs = sorted(piece.time_signatures, key=lambda s: s.beat)
    if written is None or not sigs or not piece.notes:
        return None
    starts = written[:-1]
    sig_beats = np.array([s.beat for s in sigs])
    which = np.maximum(np.searchsorted(sig_beats, starts + EPS, side="right") - 1, 0)
    expected = np.array([bar_length(sigs[i]) for i in which])
    return np.diff(written) / expected


def bar_length_match_rate(piece: Piece) -> float:
    """Fraction of the *written* bars whose length equals the time signature's bar
    length (within 1e-6 beats): :math:`\\#\\{i : |\\ell_i - \\ell_{M}| < \\epsilon\\} / n`.
    A pickup bar and the short last bar that completes it count as mismatches. Needs
    ``Piece.bar_lines`` and a time signature; NaN otherwise (the time-signature grid
    would match by construction, so it is no fallback here)."""
    ratios = _written_bar_ratios(piece)
    if ratios is None:
        return math.nan
    return float(np.mean(np.abs(ratios - 1.0) < EPS))


def meter_consistent(piece: Piece) -> float:
    """1.0 when the most common written bar length equals the time signature's bar
    length (strictly more bars have the signature's length than any other length), else
    0.0: "the bar length matches M:". Lengths are compared as ratios to the signature in
    force at each bar, so a piece that changes meter is judged by each signature. NaN
    without written bar lines or time signature."""
    ratios = _written_bar_ratios(piece)
    if ratios is None:
        return math.nan
    counts = Counter(np.round(ratios * TICKS).astype(int).tolist())
    right = counts.pop(TICKS, 0)
    return float(right > max(counts.values(), default=0))


# --- time ----------------------------------------------------------------------------


def grid_onset_rate(piece: Piece, grid: float = 0.5) -> float:
    """Fraction of the distinct onset times that lie on the grid of ``grid`` beats from
    beat 0 (0.5 = the eighth-note grid; 1/3 = eighth-note triplets), within 1e-6 beats.
    Needs no bars. NaN without notes."""
    notes = piece.notes
    if not notes:
        return math.nan
    onsets = np.unique(np.round(np.array([n.start for n in notes]) * TICKS)) / TICKS
    x = onsets / grid
    return float(np.mean(np.abs(x - np.round(x)) < EPS / grid))


def register_drift(piece: Piece, signed: bool = False) -> float:
    """Change of register from the first to the last third of the piece, in semitones:
    :math:`|\\bar p_{last} - \\bar p_{first}|`, where the piece's time from its first
    onset to its end is cut into thirds and :math:`\\bar p` is the mean MIDI pitch of
    the notes whose onset lies in that third (each note counts once). ``signed=True``
    keeps the sign (positive: the piece ends higher). NaN when a third has no onset."""
    notes = piece.notes
    if not notes:
        return math.nan
    t0, t1 = notes[0].start, piece.end_beat
    third = (t1 - t0) / 3.0
    first = [n.pitch for n in notes if n.start < t0 + third - EPS]
    last = [n.pitch for n in notes if n.start >= t1 - third - EPS]
    if not first or not last:
        return math.nan
    d = float(np.mean(last) - np.mean(first))
    return d if signed else abs(d)


def longest_held_note(piece: Piece) -> float:
    """The longest note's duration in beats (ties already merged by the readers). NaN
    without notes."""
    notes = piece.notes
    return float(max(n.end - n.start for n in notes)) if notes else math.nan


def sounding_profile(piece: Piece) -> tuple[np.ndarray, np.ndarray]:
    """How many distinct pitches sound over time, as a step function on [0, end):
    ``(edges, counts)`` with ``counts[i]`` pitches sounding from ``edges[i]`` to
    ``edges[i + 1]``. A pitch played by two tracks at once (or by two overlapping notes)
    counts once, as in a piano roll (MusPy's ``polyphony`` counts the same way). Empty
    arrays for a piece without notes."""
    notes = piece.notes
    if not notes:
        return np.zeros(0), np.zeros(0, dtype=int)
    by_pitch: dict[int, list[tuple[float, float]]] = {}
    for n in notes:
        by_pitch.setdefault(n.pitch, []).append((n.start, n.end))
    times: list[float] = [0.0, piece.end_beat]
    delta: list[int] = [0, 0]
    for spans in by_pitch.values():
        spans.sort()
        cur_s, cur_e = spans[0]
        for s, e in spans[1:]:
            if s <= cur_e + EPS:
                cur_e = max(cur_e, e)
            else:
                times += [cur_s, cur_e]
                delta += [1, -1]
                cur_s, cur_e = s, e
        times += [cur_s, cur_e]
        delta += [1, -1]
    t = np.round(np.asarray(times) * TICKS) / TICKS
    order = np.argsort(t, kind="stable")
    t, dl = t[order], np.asarray(delta)[order]
    edges, idx = np.unique(t, return_index=True)
    step = np.add.reduceat(dl, idx)  # net change at each distinct time
    counts = np.cumsum(step)[:-1]
    return edges, counts


def time_fraction_sounding(piece: Piece, min_pitches: int) -> float:
    """Fraction of the time from beat 0 to the end during which at least
    ``min_pitches`` distinct pitches sound (:func:`sounding_profile`). NaN without notes."""
    edges, counts = sounding_profile(piece)
    if len(edges) < 2 or edges[-1] <= 0:
        return math.nan
    widths = np.diff(edges)
    return float(widths[counts >= min_pitches].sum() / (edges[-1] - edges[0]))


def pile_up_rate(piece: Piece, min_notes: int = 5) -> float:
    """Fraction of the piece's time (beat 0 to the end) with ``min_notes`` (5) or more
    distinct pitches sounding at once: the "pile-up" of notes held too long that a
    four-voice chorale rarely shows. NaN without notes."""
    return time_fraction_sounding(piece, min_notes)
