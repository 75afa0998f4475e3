"""Keys, chords and endings: Krumhansl-Schmuckler key finding, a per-beat chord estimate
good enough to find the final cadence, and whether a piece ends on its tonic.

Pure functions of a :class:`~tunesmith.music.Piece` (beats = quarter notes; drum tracks
ignored). A key passed explicitly always wins. Otherwise :func:`tonic_ending` (and
``pitch_in_scale_rate``) use ``Piece.key`` when it names one (music21's names, as the
readers write them: ``"D major"``, ``"E minor"``, ``"A dorian"``, ``"Bb major"``; ABC
modes such as ``K:ADor`` arrive as ``"A dorian"``; for ABC it is the ``K:`` field), else
the Krumhansl estimate (:func:`estimate_key`); :func:`final_cadence` always uses the
estimate, as its docstring explains.

References: C. L. Krumhansl, *Cognitive Foundations of Musical Pitch* (1990), ch. 4
(the key-finding algorithm, with the probe-tone profiles of Krumhansl & Kessler 1982);
B. Pardo & W. P. Birmingham, "Algorithms for chordal analysis", Computer Music Journal
26(2), 2002 (template matching of pitch-class weights, as in :func:`chord_of`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from tunesmith.music import Piece

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Scales (semitones above the tonic) of the modes music21 names keys with.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor, as MusPy's pitch_in_scale_rate
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
_MODE_ALIASES = {"": "major", "ionian": "major", "aeolian": "minor", "maj": "major",
                 "min": "minor", "m": "minor"}
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])([#b\-]*)\s*([A-Za-z]*)\s*$")

# Chord templates: (quality, pitch classes above the root), in tie-break order.
TEMPLATES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("maj", (0, 4, 7)),
    ("min", (0, 3, 7)),
    ("7", (0, 4, 7, 10)),
    ("min7", (0, 3, 7, 10)),
    ("dim", (0, 3, 6)),
    ("hdim7", (0, 3, 6, 10)),
)
MISSING_PENALTY = 0.05  # score lost per template tone that does not sound at all


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11 (0 = C)
    mode: str  # a key of SCALES
    correlation: float = math.nan  # Krumhansl's r for an estimate; nan for a named key

    @property
    def scale(self) -> tuple[int, ...]:
        """The pitch classes of the key's scale."""
        return tuple((self.tonic + s) % 12 for s in SCALES[self.mode])


@dataclass(frozen=True)
class Chord:
    start: float  # beats
    end: float  # beats
    root: int  # pitch class
    quality: str  # a name of TEMPLATES


def parse_key(name: str) -> Key | None:
    """A key name as music21 writes it (``"D major"``, ``"f# minor"``, ``"B- major"``,
    ``"A dorian"``; a bare tonic is major) -> :class:`Key`; None when it names none."""
    m = _KEY_RE.match(name or "")
    if not m:
        return None
    letter, accidentals, mode = m.groups()
    mode = mode.lower()
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in SCALES:
        return None
    shift = accidentals.count("#") - accidentals.count("b") - accidentals.count("-")
    return Key((_LETTERS[letter.upper()] + shift) % 12, mode)


def pitch_class_durations(piece: Piece, start: float = -math.inf,
                          end: float = math.inf) -> np.ndarray:
    """Total sounding time (beats) of each pitch class within [start, end)."""
    w = np.zeros(12)
    for n in piece.notes:
        d = min(n.end, end) - max(n.start, start)
        if d > 0:
            w[n.pitch % 12] += d
    return w


def estimate_key(piece: Piece) -> Key | None:
    """Krumhansl-Schmuckler key finding: the major or minor key whose Krumhansl-Kessler
    profile, rotated to its tonic, has the largest Pearson correlation
    :math:`r = \\mathrm{corr}(x, \\mathrm{roll}(K, t))` with the piece's duration-weighted
    pitch-class vector :math:`x` (:func:`pitch_class_durations`). Ties go to the lower
    tonic, major first. Returns the tonic pitch class, mode ("major"/"minor") and
    :math:`r` in [-1, 1]; None without notes; r is NaN when all 12 pitch classes sound
    equally long (no key is preferred: the tonic is then C major, arbitrarily)."""
    x = pitch_class_durations(piece)
    if x.sum() <= 0:
        return None
    if np.allclose(x, x[0]):
        return Key(0, "major", math.nan)
    best = Key(0, "major", -math.inf)
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(x, np.roll(profile, tonic))[0, 1])
            if r > best.correlation + 1e-12 or (
                    abs(r - best.correlation) <= 1e-12 and
                    (tonic, mode == "minor") < (best.tonic, best.mode == "minor")):
                best = Key(tonic, mode, r)
    return best


def key_correlation(piece: Piece) -> float:
    """Krumhansl's r of the best-fitting key (:func:`estimate_key`): how tonal the
    pitch content is (near 0.9 for a diatonic tune, low for a chromatic jumble). NaN
    without notes."""
    k = estimate_key(piece)
    return k.correlation if k is not None else math.nan


def resolve_key(piece: Piece, key: str | None = None) -> Key | None:
    """The key to judge ``piece`` by: ``key`` when given (a :class:`ValueError` if it
    names none), else ``piece.key`` when it names one, else :func:`estimate_key` (None
    without notes)."""
    if key is not None:
        k = parse_key(key)
        if k is None:
            raise ValueError(f"not a key name: {key!r} (expected e.g. 'D major', 'E minor')")
        return k
    named = parse_key(piece.key) if piece.key else None
    return named if named is not None else estimate_key(piece)


def chord_of(weights: np.ndarray, bass: int | None = None) -> tuple[int, str] | None:
    """The chord (root pitch class, quality) that best explains a pitch-class weight
    vector (sounding time per class), by template matching (Pardo & Birmingham 2002):

    .. math:: S(r, T) = \\sum_{c \\in T_r} w_c - \\sum_{c \\notin T_r} w_c
              - 0.05\\,\\#\\{c \\in T_r : w_c = 0\\}

    with :math:`w` normalised to sum 1 and :math:`T_r` the template transposed to root
    r. Ties go to the chord whose root is the bass (lowest sounding pitch class), then to
    the heavier root, then to the template order of :data:`TEMPLATES` (major first).
    None when nothing sounds."""
    total = weights.sum()
    if total <= 0:
        return None
    w = weights / total
    member = _TEMPLATE_MASKS  # (templates x 12 roots, 12)
    score = member @ w - (~member) @ w - MISSING_PENALTY * (member & (w == 0)).sum(1)
    best_key, best = None, None
    for row in np.flatnonzero(score >= score.max() - 1e-9):  # the tied best, then tie-break
        t_index, root = divmod(int(row), 12)
        key = (bass == root, round(float(w[root]), 9), -t_index)
        if best_key is None or key > best_key:
            best_key, best = key, (root, TEMPLATES[t_index][0])
    return best


def _template_masks() -> np.ndarray:
    masks = np.zeros((len(TEMPLATES) * 12, 12), dtype=bool)
    for t_index, (_quality, template) in enumerate(TEMPLATES):
        for root in range(12):
            masks[t_index * 12 + root, [(root + i) % 12 for i in template]] = True
    return masks


_TEMPLATE_MASKS = _template_masks()


def chords(piece: Piece, step: float = 1.0) -> list[Chord]:
    """The piece's harmony, one chord per window of ``step`` beats (quarter notes from
    beat 0) estimated by :func:`chord_of` from the time each pitch class sounds in the
    window (the bass is the lowest pitch sounding in it); windows where nothing sounds
    are skipped, and consecutive windows with the same root and quality are merged into
    one chord. Empty for a piece without notes."""
    notes = piece.notes
    if not notes:
        return []
    end = piece.end_beat
    n_win = max(1, math.ceil(end / step - 1e-9))
    out: list[Chord] = []
    starts = np.array([n.start for n in notes])
    ends = np.array([n.end for n in notes])
    pitches = np.array([n.pitch for n in notes])
    for k in range(n_win):
        a, b = k * step, (k + 1) * step
        overlap = np.minimum(ends, b) - np.maximum(starts, a)
        on = overlap > 1e-9
        if not on.any():
            continue
        w = np.bincount(pitches[on] % 12, weights=overlap[on], minlength=12)
        bass = int(pitches[on].min() % 12)
        rq = chord_of(w, bass)
        if rq is None:
            continue
        if out and (out[-1].root, out[-1].quality) == rq:
            out[-1] = Chord(out[-1].start, min(b, end), *rq)
        else:
            out.append(Chord(a, min(b, end), *rq))
    return out


def final_cadence(piece: Piece, key: str | None = None, step: float = 1.0) -> str | None:
    """How the piece's harmony ends: ``"V-I"``, ``"IV-I"`` or ``"none"``; None when
    undefined (no notes, or fewer than two chords).

    What counts: the last two chords of :func:`chords` (per-beat chords, repeated
    chords merged). The last must be a major or minor triad on the tonic (a Picardy
    third counts); the one before it must have its root on the fifth degree (V, V7,
    also a minor v: ``"V-I"``, authentic) or on the fourth (IV or iv: ``"IV-I"``,
    plagal). Inversions count (the root, not the bass, decides). A half close (ending on
    V) and a Phrygian ending on the dominant are not cadences to the tonic.

    The key is ``key`` when given (a name, see :func:`parse_key`), else the Krumhansl
    estimate (:func:`estimate_key`), so real and generated pieces are judged alike.
    ``Piece.key`` is not used: the readers take it from the key signature, which for
    many chorales names the relative major (music21 calls a signature without a mode
    major, and Bach writes "Dorian" signatures: BWV 384 in C minor reads "Eb major")."""
    cs = chords(piece, step)
    k = parse_key(key) if key is not None else estimate_key(piece)
    if key is not None and k is None:
        raise ValueError(f"not a key name: {key!r} (expected e.g. 'D major', 'E minor')")
    if k is None or len(cs) < 2:
        return None
    last, before = cs[-1], cs[-2]
    if last.root != k.tonic or last.quality not in ("maj", "min"):
        return "none"
    if before.root == (k.tonic + 7) % 12 and before.quality in ("maj", "7", "min"):
        return "V-I"
    if before.root == (k.tonic + 5) % 12 and before.quality in ("maj", "min"):
        return "IV-I"
    return "none"


def cadence_ending(piece: Piece, key: str | None = None) -> float:
    """1.0 when the piece ends on a V-I or IV-I cadence (:func:`final_cadence`), 0.0 when
    it does not, NaN when undefined (no notes, or fewer than two chords)."""
    c = final_cadence(piece, key)
    return math.nan if c is None else float(c != "none")


def final_bass(piece: Piece) -> int | None:
    """The lowest pitch (MIDI number) sounding at the very end of the piece: among the
    notes that end with it (within 1e-6 beats), the lowest; for a melody, its last note.
    None without notes."""
    notes = piece.notes
    if not notes:
        return None
    end = piece.end_beat
    return min(n.pitch for n in notes if n.end >= end - 1e-6)


def tonic_ending(piece: Piece, key: str | None = None) -> float:
    """1.0 when the lowest note sounding at the end (:func:`final_bass`; a melody's last
    note) is the tonic of the key (:func:`resolve_key`: ``key``, else ``Piece.key``,
    else the Krumhansl estimate), 0.0 when it is another pitch class, NaN without notes.
    For ABC, ``Piece.key`` is the ``K:`` field, the tonic the issue asks about. For
    MusicXML it comes from the key signature, which may name the relative major of a
    minor piece (see :func:`final_cadence`); to judge real and generated pieces alike
    when only one side has a ``Piece.key``, pass ``key`` or clear ``Piece.key``.

    .. math:: [\\,p_{final} \\bmod 12 = t\\,]"""
    k = resolve_key(piece, key)
    bass = final_bass(piece)
    if k is None or bass is None:
        return math.nan
    return float(bass % 12 == k.tonic)
