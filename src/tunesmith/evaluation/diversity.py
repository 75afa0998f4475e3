"""Mode collapse: how varied a set of generated pieces is, measured against real pieces.

A GAN can fool its discriminator with a few good pieces played again and again. Three
measures show it, each meant to be read beside the same measure of a real set:

- :func:`mean_pairwise_distance` of :func:`feature_matrix` rows: the mean Euclidean
  distance between every two pieces' feature vectors, each feature in units of the *real*
  set's spread (its standard deviation), so a generated and a real set are measured with
  one ruler. A collapsed generator scores near 0. The real set measured against itself
  (no NaNs) has mean *squared* pair distance 2 d n / (n - 1) for d features and n pieces,
  so its mean distance is a little under sqrt(2 d).
- :func:`distinct_openings`: how many different first bars a set holds.
- :func:`shuffled`: the shuffled-real baseline, a real piece with its pitches permuted
  among its notes. It keeps the piece's rhythm and pitch content but breaks its melody
  and harmony, so a measure that scores shuffled pieces as well as real ones does not
  see melody or harmony.

Times are in beats (quarter notes), pitches MIDI numbers; drum notes are left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np

from tunesmith.evaluation import features
from tunesmith.music import Piece, Track

# Scalar features of tunesmith.evaluation.features that every piece with notes has (none
# needs bars, a time signature or a key, so generated pieces without bar lines are
# measured as real ones are), that are not 0/1 flags (aabb, tonic_ending, ...: they make
# distances jump) and that do not grow with the piece's length (note_count,
# longest_repeated_span), so pieces of different lengths compare. Units: semitones,
# counts, bits, fractions, notes per beat, beats.
DEFAULT_FEATURES: tuple[str, ...] = (
    "pitch_range",  # semitones
    "n_pitch_classes_used",  # 1-12
    "pitch_class_entropy",  # bits
    "scale_consistency",  # fraction of notes in the best major/minor scale
    "average_interval",  # semitones
    "note_density",  # notes per beat
    "average_ioi",  # beats
    "empty_beat_rate",  # fraction of beats
    "polyphony",  # pitches sounding when any sounds
    "grid_onset_rate",  # fraction of onsets on the eighth-note grid
    "register_drift",  # semitones
)
OPENING_GRID = 12  # steps per beat at which opening onsets are compared (16ths, triplets)


def _scalar_names(names: Sequence[str] | None) -> list[str]:
    """The feature names to use, checked to be scalar features of FEATURES."""
    names = list(DEFAULT_FEATURES if names is None else names)
    for name in names:
        feature = features.FEATURES.get(name)
        if feature is None:
            raise ValueError(f"unknown feature {name!r}")
        if feature.kind != "scalar":
            raise ValueError(f"feature {name!r} is a {feature.kind}, not a scalar")
    return names


def feature_matrix(pieces: Iterable[Piece], names: Sequence[str] | None = None) -> np.ndarray:
    """Pieces x features array of scalar features (their own units; NaN where undefined)."""
    names = _scalar_names(names)
    rows = [[float(features.compute(p, names)[n]) for n in names] for p in pieces]
    return np.array(rows, dtype=float).reshape(len(rows), len(names))


def _reference_scale(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``reference``: mean, standard deviation (ddof 0) of its finite
    values, and whether the column can serve as a unit (two finite values, not constant)."""
    finite = np.isfinite(reference)
    count = finite.sum(axis=0)
    safe = np.maximum(count, 1)
    mean = np.where(finite, reference, 0.0).sum(axis=0) / safe
    var = (np.where(finite, reference - mean, 0.0) ** 2).sum(axis=0) / safe
    std = np.sqrt(var)
    usable = (count >= 2) & (std > 1e-12 * np.maximum(1.0, np.abs(mean)))
    return mean, std, usable


def standardised(matrix: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``matrix`` in reference standard deviations from the reference mean (unitless),
    keeping only the columns the reference gives a unit (see :func:`mean_pairwise_distance`)."""
    matrix = np.asarray(matrix, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if matrix.ndim != 2 or reference.ndim != 2 or matrix.shape[1] != reference.shape[1]:
        raise ValueError(f"matrix {matrix.shape} and reference {reference.shape} must be "
                         "2-D with the same number of columns")
    mean, std, usable = _reference_scale(reference)
    return (matrix[:, usable] - mean[usable]) / std[usable]


def mean_pairwise_distance(matrix: np.ndarray, reference: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows, in reference standard deviations.

    Each column is standardised by the mean and standard deviation (ddof 0) of the finite
    values in that column of ``reference`` (pass the real set's matrix; pass the same
    matrix to measure the real set itself). Columns the reference gives no unit (fewer
    than two finite values, or constant) are left out. A NaN left in a row is handled as
    scikit-learn's ``nan_euclidean_distances`` does: a pair's distance is taken over the
    columns both rows have, scaled by sqrt(columns / shared columns); a pair that shares
    no column is left out. NaN when fewer than two rows, no usable column or no pair.
    Memory O(rows^2)."""
    z = standardised(matrix, reference)
    n, d = z.shape
    if n < 2 or d == 0:
        return math.nan
    present = np.isfinite(z)
    values = np.where(present, z, 0.0)
    squared = np.zeros((n, n))
    shared = np.zeros((n, n))
    for c in range(d):
        both = present[:, c, None] & present[None, :, c]
        squared += np.where(both, (values[:, c, None] - values[None, :, c]) ** 2, 0.0)
        shared += both
    i, j = np.triu_indices(n, k=1)
    ok = shared[i, j] > 0
    if not ok.any():
        return math.nan
    distances = np.sqrt(squared[i, j][ok] * d / shared[i, j][ok])
    return float(distances.mean())


def opening(piece: Piece, beats: float = 4.0) -> tuple[tuple[float, int], ...]:
    """Sorted (onset in beats rounded to 1/12, pitch) of the notes starting before ``beats``."""
    limit = round(beats * OPENING_GRID)
    steps = ((round(n.start * OPENING_GRID), n.pitch) for n in piece.notes)
    return tuple(sorted((k / OPENING_GRID, p) for k, p in steps if k < limit))


def distinct_openings(pieces: Iterable[Piece], beats: float = 4.0) -> int:
    """Number of different :func:`opening` s among the pieces (an empty one is one kind)."""
    return len({opening(p, beats) for p in pieces})


def shuffled(piece: Piece, rng: np.random.Generator) -> Piece:
    """A new Piece with the non-drum notes' pitches permuted among those notes (times in
    beats, durations, velocities, tracks, tempos, time signatures, bar lines, key and
    title kept; drum tracks copied unchanged; ``source_text`` emptied, as it no longer
    spells the piece)."""
    slots = [(t, i) for t, track in enumerate(piece.tracks) if not track.is_drum
             for i in range(len(track.notes))]
    pitches = [piece.tracks[t].notes[i].pitch for t, i in slots]
    order = rng.permutation(len(pitches))
    notes = [list(track.notes) for track in piece.tracks]
    for (t, i), k in zip(slots, order, strict=True):
        notes[t][i] = dataclasses.replace(notes[t][i], pitch=pitches[k])
    tracks = [Track(notes=notes[t], program=track.program, is_drum=track.is_drum,
                    name=track.name) for t, track in enumerate(piece.tracks)]
    return Piece(tracks=tracks, tempos=list(piece.tempos),
                 time_signatures=list(piece.time_signatures), key=piece.key,
                 title=piece.title, source_text="", bar_lines=list(piece.bar_lines))
