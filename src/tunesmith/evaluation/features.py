"""Per-piece musical features, and :data:`FEATURES`: the table of every per-piece feature
a musical-evaluation report compares between generated and real pieces.

Each feature is a pure function ``f(piece) -> float | np.ndarray`` of a
:class:`~tunesmith.music.Piece` (times in beats = quarter notes; drum tracks ignored)
that returns ``nan`` (a scalar, or an array of nans of the usual shape) where it is
undefined: no notes, too few notes, or no bars for a bar-based feature (bars and beats
are :mod:`tunesmith.evaluation.form`'s grid; no 4/4 is assumed). Histograms and
transition matrices are normalised to sum 1.

Definitions follow MusPy (H.-W. Dong, K. Chen, J. McAuley, T. Berg-Kirkpatrick, "MusPy:
A toolkit for symbolic music generation", ISMIR 2020; ``muspy.metrics``) and mgeval
(L.-C. Yang & A. Lerch, "On the evaluation of generative models in music", Neural
Computing and Applications 32, 2020), each docstring naming its source. They are
written here on the Piece rather than by converting to ``muspy.Music``: MusPy needs
integer time steps, and two of its metrics count one step too many at the end
(``empty_beat_rate`` counts the beat a note ends on, ``groove_consistency`` adds an
empty bar when the piece ends on a bar line); those differences are stated below, and
``tests/test_features.py`` checks the rest against MusPy itself when it is installed.

Melodic features (intervals, pitch-class and note-length transitions) read each track's
*line*: its notes in onset order, the highest where several start together (for a
monophonic track, every note, as mgeval reads a melody track).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tunesmith.evaluation import form, harmony
from tunesmith.music import Note, Piece

# mgeval's note-length classes (Yang & Lerch 2020, sec. 3.2), in beats, shortest first:
# 16th, 8th triplet, dotted 16th, 8th, quarter triplet, dotted 8th, quarter,
# half triplet, dotted quarter, half, dotted half, whole.
LENGTH_CLASSES = np.array([1 / 4, 1 / 3, 3 / 8, 1 / 2, 2 / 3, 3 / 4, 1, 4 / 3, 3 / 2, 2, 3, 4])
LENGTH_NAMES = ("16th", "8th triplet", "dotted 16th", "8th", "quarter triplet",
                "dotted 8th", "quarter", "half triplet", "dotted quarter", "half",
                "dotted half", "whole")
INTERVAL_BINS = 14  # |interval| 0..12 semitones, and 13 = more than an octave


@dataclass(frozen=True)
class Feature:
    """One per-piece feature, as the report lists it."""

    name: str
    function: Callable[[Piece], float | np.ndarray]
    kind: str  # "scalar", "histogram" (1-D, sums to 1) or "matrix" (2-D, sums to 1)
    description: str  # one line for the report, with the unit
    # What the piece must have, else the value is nan: "bars" (written bar lines or a
    # time signature), "bar_lines" (written bar lines) and "time_signature".
    needs: tuple[str, ...] = ()


def has(piece: Piece, need: str) -> bool:
    """Whether ``piece`` has what a :attr:`Feature.needs` entry names."""
    if need == "bars":
        return form.bar_bounds(piece) is not None
    if need == "bar_lines":
        return len(piece.bar_lines) >= 2
    if need == "time_signature":
        return bool(piece.time_signatures)
    raise ValueError(f"unknown need {need!r}")


# --- helpers -------------------------------------------------------------------------


def _nan(*shape: int) -> np.ndarray:
    return np.full(shape, math.nan)


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.full(counts.shape, math.nan)


def length_class(beats: np.ndarray | float) -> np.ndarray:
    """Index into :data:`LENGTH_CLASSES` of the class nearest each length (in log2:
    nearest by ratio); shorter than a 16th is a 16th, longer than a whole note whole."""
    x = np.log2(np.maximum(np.atleast_1d(np.asarray(beats, dtype=float)), 1e-9))
    return np.abs(x[:, None] - np.log2(LENGTH_CLASSES)[None, :]).argmin(axis=1)


def lines(piece: Piece) -> list[list[Note]]:
    """Each non-drum track's line: its notes in onset order, one per onset (the highest
    of the notes that start together)."""
    out = []
    for track in piece.tracks:
        if track.is_drum or not track.notes:
            continue
        top: dict[int, Note] = {}
        for n in track.notes:
            k = round(n.start * form.TICKS)
            if k not in top or n.pitch > top[k].pitch:
                top[k] = n
        out.append([top[k] for k in sorted(top)])
    return out


def _onsets(piece: Piece) -> np.ndarray:
    """Distinct onset times (beats) of all non-drum notes, sorted."""
    starts = np.array([n.start for n in piece.notes])
    return np.unique(np.round(starts * form.TICKS)) / form.TICKS


def _transitions(sequences: list[np.ndarray], k: int) -> np.ndarray:
    m = np.zeros((k, k))
    for s in sequences:
        if len(s) >= 2:
            np.add.at(m, (s[:-1], s[1:]), 1)
    return _normalised(m) if m.sum() > 0 else _nan(k, k)


# --- pitch ---------------------------------------------------------------------------


def pitch_range(piece: Piece) -> float:
    """Highest minus lowest MIDI pitch, in semitones (MusPy ``pitch_range``, mgeval PR).
    NaN without notes (MusPy returns 0)."""
    p = [n.pitch for n in piece.notes]
    return float(max(p) - min(p)) if p else math.nan


def n_pitches_used(piece: Piece) -> float:
    """Number of distinct MIDI pitches (MusPy ``n_pitches_used``, mgeval PC). NaN
    without notes."""
    p = {n.pitch for n in piece.notes}
    return float(len(p)) if p else math.nan


def n_pitch_classes_used(piece: Piece) -> float:
    """Number of distinct pitch classes, 1-12 (MusPy ``n_pitch_classes_used``). NaN
    without notes."""
    p = {n.pitch % 12 for n in piece.notes}
    return float(len(p)) if p else math.nan


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0


def pitch_entropy(piece: Piece) -> float:
    """Shannon entropy in bits of the pitch histogram (note counts):
    :math:`-\\sum_i P(p = i) \\log_2 P(p = i)` (MusPy ``pitch_entropy``). NaN without
    notes."""
    return _entropy_bits(np.bincount([n.pitch for n in piece.notes], minlength=128))


def pitch_class_entropy(piece: Piece) -> float:
    """Shannon entropy in bits of the pitch-class histogram (note counts), 0 to
    :math:`\\log_2 12 \\approx 3.585` (MusPy ``pitch_class_entropy``; Wu & Yang 2020).
    NaN without notes."""
    return _entropy_bits(np.bincount([n.pitch % 12 for n in piece.notes], minlength=12))


def pitch_class_histogram(piece: Piece) -> np.ndarray:
    """The 12-bin pitch-class histogram weighted by duration (C first), summing to 1
    (mgeval PCH, which sums a piano roll). All-nan without notes."""
    return _normalised(harmony.pitch_class_durations(piece))


def pitch_class_transition_matrix(piece: Piece) -> np.ndarray:
    """12 x 12 counts of pitch class i followed by pitch class j along each track's line
    (:func:`lines`), normalised to sum 1 (mgeval PCTM with ``normalize=2``; mgeval takes
    pretty_midi's transitions between notes that end and start together, which equals
    this for a legato melody). All-nan without a pair of notes."""
    return _transitions([np.array([n.pitch % 12 for n in ln]) for ln in lines(piece)], 12)


def pitch_in_scale_rate(piece: Piece, key: str | None = None) -> float:
    """Fraction of notes whose pitch class is in the scale of the key (MusPy
    ``pitch_in_scale_rate``; MuseGAN): :math:`\\#(notes\\ in\\ scale) / \\#(notes)`. The
    key is ``key``, else ``Piece.key`` (a mode's own scale: "A dorian" has F#), else
    the Krumhansl estimate (:func:`tunesmith.evaluation.harmony.resolve_key`). NaN
    without notes."""
    notes = piece.notes
    k = harmony.resolve_key(piece, key)
    if not notes or k is None:
        return math.nan
    scale = set(k.scale)
    return sum(n.pitch % 12 in scale for n in notes) / len(notes)


def scale_consistency(piece: Piece) -> float:
    """The largest pitch-in-scale rate over the 24 major and (natural) minor scales
    (MusPy ``scale_consistency``; Mogren 2016, C-RNN-GAN). NaN without notes."""
    notes = piece.notes
    if not notes:
        return math.nan
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = 0
    for mode in ("major", "minor"):
        for tonic in range(12):
            best = max(best, sum(counts[(tonic + s) % 12] for s in harmony.SCALES[mode]))
    return best / len(notes)


def _intervals(piece: Piece) -> np.ndarray:
    return np.concatenate([np.diff([n.pitch for n in ln]) for ln in lines(piece)] or
                          [np.zeros(0)]).astype(int)


def average_interval(piece: Piece) -> float:
    """Mean absolute interval in semitones between consecutive notes of each track's line
    (mgeval PI, "average pitch interval"). NaN without two notes in a line."""
    iv = _intervals(piece)
    return float(np.abs(iv).mean()) if len(iv) else math.nan


def interval_histogram(piece: Piece) -> np.ndarray:
    """Histogram of absolute melodic intervals along each track's line: bins 0..12
    semitones and a 14th for anything wider than an octave; sums to 1. All-nan without
    two notes in a line."""
    iv = np.minimum(np.abs(_intervals(piece)), INTERVAL_BINS - 1)
    return _normalised(np.bincount(iv, minlength=INTERVAL_BINS).astype(float))


# --- rhythm --------------------------------------------------------------------------


def note_count(piece: Piece) -> float:
    """Number of notes (mgeval NC). 0.0 for a piece without notes (a count is defined)."""
    return float(len(piece.notes))


def note_density(piece: Piece) -> float:
    """Notes per beat: number of notes / (end - first onset) in beats. NaN without notes."""
    notes = piece.notes
    if not notes:
        return math.nan
    span = piece.end_beat - notes[0].start
    return len(notes) / span if span > 0 else math.nan


def _iois(piece: Piece) -> np.ndarray:
    return np.diff(_onsets(piece)) if piece.notes else np.zeros(0)


def average_ioi(piece: Piece) -> float:
    """Mean inter-onset interval in beats: the mean gap between consecutive distinct
    onset times of the whole piece (mgeval IOI, there in seconds). NaN with fewer than
    two onsets."""
    d = _iois(piece)
    return float(d.mean()) if len(d) else math.nan


def ioi_histogram(piece: Piece) -> np.ndarray:
    """Histogram of the inter-onset intervals (as :func:`average_ioi`) over the 12
    note-length classes of :data:`LENGTH_CLASSES` (nearest by ratio); sums to 1. All-nan
    with fewer than two onsets."""
    d = _iois(piece)
    if not len(d):
        return _nan(len(LENGTH_CLASSES))
    return _normalised(np.bincount(length_class(d), minlength=len(LENGTH_CLASSES))
                       .astype(float))


def ioi_transition_matrix(piece: Piece) -> np.ndarray:
    """12 x 12 counts of IOI class i followed by IOI class j (consecutive gaps between
    distinct onsets), normalised to sum 1. All-nan with fewer than three onsets."""
    d = _iois(piece)
    return _transitions([length_class(d)] if len(d) else [], len(LENGTH_CLASSES))


def note_length_histogram(piece: Piece) -> np.ndarray:
    """Histogram of note durations over the 12 classes of :data:`LENGTH_CLASSES`
    (nearest by ratio; mgeval NLH, which quantises to the closest class); sums to 1.
    All-nan without notes."""
    notes = piece.notes
    if not notes:
        return _nan(len(LENGTH_CLASSES))
    cls = length_class(np.array([n.end - n.start for n in notes]))
    return _normalised(np.bincount(cls, minlength=len(LENGTH_CLASSES)).astype(float))


def note_length_transition_matrix(piece: Piece) -> np.ndarray:
    """12 x 12 counts of a note of length class i followed by one of class j along each
    track's line (mgeval NLTM), normalised to sum 1. All-nan without two notes in a
    line."""
    seqs = [length_class(np.array([n.end - n.start for n in ln])) for ln in lines(piece)]
    return _transitions(seqs, len(LENGTH_CLASSES))


def empty_beat_rate(piece: Piece) -> float:
    """Fraction of beats (quarter notes from beat 0 to the end, :func:`form.beat_bounds`)
    in which no note sounds (MusPy ``empty_beat_rate``; Pypianoroll):
    :math:`\\#(empty\\ beats) / \\#(beats)`. A note sounds in beat [k, k+1) when it
    overlaps it; MusPy also marks the beat a note ends on, so its rate is lower when
    notes end on beats. NaN without notes."""
    bounds = form.beat_bounds(piece)
    if bounds is None:
        return math.nan
    n_beats = len(bounds) - 1
    used = np.zeros(n_beats, dtype=bool)
    for n in piece.notes:
        a = int(math.floor(n.start + form.EPS))
        b = int(math.ceil(n.end - form.EPS))  # first beat not overlapped
        used[max(a, 0):max(min(b, n_beats), a + 1)] = True
    return float(1.0 - used.mean())


def groove_consistency(piece: Piece, steps_per_beat: int = 24) -> float:
    """1 minus the mean Hamming distance between the onset patterns of neighbouring bars
    (MusPy ``groove_consistency``; Wu & Yang 2020):

    .. math:: 1 - \\frac{1}{T - 1} \\sum_{i=1}^{T-1} \\frac{d(G_i, G_{i+1})}{W}

    where :math:`G_i` marks the steps of bar i (``steps_per_beat`` per beat, 24 as
    MusPy's default resolution) that hold an onset and :math:`W` is the number of steps
    in the longest bar. Bars are :func:`form.bar_bounds` (written bars, else the time
    signature's; MusPy adds an empty bar when the piece ends on a bar line, this does
    not). NaN with fewer than two bars or without bars."""
    bounds = form.bar_bounds(piece)
    if bounds is None or len(bounds) < 3:
        return math.nan
    width = int(round(np.diff(bounds).max() * steps_per_beat))
    patterns = np.zeros((len(bounds) - 1, max(width, 1)), dtype=bool)
    starts = np.array([n.start for n in piece.notes])
    bar = np.searchsorted(bounds, starts + form.EPS, side="right") - 1
    ok = (bar >= 0) & (bar < len(bounds) - 1)
    pos = np.round((starts[ok] - bounds[bar[ok]]) * steps_per_beat).astype(int)
    patterns[bar[ok], np.minimum(pos, patterns.shape[1] - 1)] = True
    hamming = np.count_nonzero(patterns[:-1] != patterns[1:])
    return float(1.0 - hamming / (patterns.shape[1] * (len(patterns) - 1)))


# --- texture -------------------------------------------------------------------------


def polyphony(piece: Piece) -> float:
    """Mean number of distinct pitches sounding, over the time when at least one sounds
    (MusPy ``polyphony``). NaN without notes."""
    edges, counts = form.sounding_profile(piece)
    if len(edges) < 2:
        return math.nan
    widths = np.diff(edges)
    on = counts > 0
    return float((counts[on] * widths[on]).sum() / widths[on].sum())


def polyphony_rate(piece: Piece, threshold: int = 2) -> float:
    """Fraction of the time from beat 0 to the end with *more than* ``threshold``
    distinct pitches sounding (MusPy ``polyphony_rate``, MuseGAN's "polyphonicity";
    the default 2 counts three or more). NaN without notes."""
    return form.time_fraction_sounding(piece, threshold + 1)


# --- the table -----------------------------------------------------------------------


def _f(name, function, kind, description, needs=()) -> tuple[str, Feature]:
    return name, Feature(name, function, kind, description, tuple(needs))


FEATURES: dict[str, Feature] = dict([
    # pitch
    _f("pitch_range", pitch_range, "scalar", "highest minus lowest pitch (semitones)"),
    _f("n_pitches_used", n_pitches_used, "scalar", "distinct pitches used"),
    _f("n_pitch_classes_used", n_pitch_classes_used, "scalar", "distinct pitch classes used"),
    _f("pitch_entropy", pitch_entropy, "scalar", "entropy of the pitch histogram (bits)"),
    _f("pitch_class_entropy", pitch_class_entropy, "scalar",
       "entropy of the pitch-class histogram (bits)"),
    _f("pitch_class_histogram", pitch_class_histogram, "histogram",
       "time spent on each pitch class, C to B"),
    _f("pitch_class_transition_matrix", pitch_class_transition_matrix, "matrix",
       "pitch class followed by pitch class along each voice"),
    _f("pitch_in_scale_rate", pitch_in_scale_rate, "scalar",
       "fraction of notes in the scale of the piece's key (given, else estimated)"),
    _f("scale_consistency", scale_consistency, "scalar",
       "fraction of notes in the best-fitting major or minor scale"),
    _f("key_correlation", harmony.key_correlation, "scalar",
       "Krumhansl key-profile correlation of the best key (tonality)"),
    _f("average_interval", average_interval, "scalar",
       "mean absolute melodic interval (semitones)"),
    _f("interval_histogram", interval_histogram, "histogram",
       "melodic intervals, unison to octave and wider"),
    # rhythm
    _f("note_count", note_count, "scalar", "number of notes"),
    _f("note_density", note_density, "scalar", "notes per beat"),
    _f("average_ioi", average_ioi, "scalar", "mean time between onsets (beats)"),
    _f("ioi_histogram", ioi_histogram, "histogram", "times between onsets, 16th to whole"),
    _f("ioi_transition_matrix", ioi_transition_matrix, "matrix",
       "time between onsets followed by the next"),
    _f("note_length_histogram", note_length_histogram, "histogram",
       "note lengths, 16th to whole"),
    _f("note_length_transition_matrix", note_length_transition_matrix, "matrix",
       "note length followed by the next along each voice"),
    _f("empty_beat_rate", empty_beat_rate, "scalar", "fraction of beats with no note"),
    _f("groove_consistency", groove_consistency, "scalar",
       "similarity of neighbouring bars' onset patterns", ("bars",)),
    # texture
    _f("polyphony", polyphony, "scalar", "mean pitches sounding when any sounds"),
    _f("polyphony_rate", polyphony_rate, "scalar", "fraction of time with 3+ pitches"),
    _f("pile_up_rate", form.pile_up_rate, "scalar", "fraction of time with 5+ pitches"),
    # form
    _f("bar_repetition_rate", form.bar_repetition_rate, "scalar",
       "fraction of bars that repeat an earlier bar exactly", ("bars",)),
    _f("transposed_bar_repetition_rate", form.transposed_bar_repetition_rate, "scalar",
       "fraction of bars that repeat an earlier bar, transposed or not", ("bars",)),
    _f("longest_repeated_span", form.longest_repeated_span, "scalar",
       "longest passage heard twice exactly (beats)"),
    _f("aabb", form.aabb, "scalar", "AABB form in four equal sections (0/1)", ("bars",)),
    _f("bar_length_match_rate", form.bar_length_match_rate, "scalar",
       "fraction of written bars as long as the time signature says",
       ("bar_lines", "time_signature")),
    _f("meter_consistent", form.meter_consistent, "scalar",
       "most common written bar length matches the time signature (0/1)",
       ("bar_lines", "time_signature")),
    _f("grid_onset_rate", form.grid_onset_rate, "scalar",
       "fraction of onsets on the eighth-note grid"),
    _f("register_drift", form.register_drift, "scalar",
       "mean pitch of the last third minus the first, absolute (semitones)"),
    _f("longest_held_note", form.longest_held_note, "scalar", "longest note (beats)"),
    # endings
    _f("tonic_ending", harmony.tonic_ending, "scalar",
       "lowest final note on the tonic of the piece's key, else the estimated (0/1)"),
    _f("cadence_ending", harmony.cadence_ending, "scalar",
       "ends on V-I or IV-I into the tonic of the estimated key (0/1)"),
])


def compute(piece: Piece, names: list[str] | None = None) -> dict[str, float | np.ndarray]:
    """Every feature of :data:`FEATURES` (or those named) for one piece, by name."""
    return {name: FEATURES[name].function(piece) for name in (names or list(FEATURES))}
