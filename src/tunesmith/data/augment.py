"""Data augmentation for training windows (numpy; a pure function of the window and rng)."""

from __future__ import annotations

import numpy as np


class Transpose:
    """Transpose each ``events`` window by a random number of semitones in
    ``[-max_shift, max_shift]``, chosen per window among the shifts that keep all its keys
    on the piano (ids 0..n_keys-1 in column 0; larger ids are specials and stay)."""

    def __init__(self, max_shift: int, n_keys: int = 88):
        if not 0 <= max_shift < n_keys:
            raise ValueError(f"max_shift must be in 0..{n_keys - 1}, got {max_shift}")
        self.max_shift, self.n_keys = max_shift, n_keys

    def __call__(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        notes = windows[..., 0]  # (B, T)
        keys = notes < self.n_keys
        lo = np.where(keys, notes, self.n_keys).min(axis=1)  # lowest key per window
        hi = np.where(keys, notes, -1).max(axis=1)
        down = np.minimum(self.max_shift, np.where(hi >= 0, lo, self.max_shift))
        up = np.minimum(self.max_shift, np.where(hi >= 0, self.n_keys - 1 - hi, self.max_shift))
        shift = np.floor(rng.random(len(windows)) * (up + down + 1)).astype(np.int64) - down
        out = windows.copy()
        out[..., 0] = np.where(keys, notes + shift[:, None], notes)
        return out


class TransposeIds:
    """Transpose each window of one-head token ids (``remi``) by a random number of
    semitones in ``[-max_shift, max_shift]``, chosen per window among the shifts that keep
    all its pitches on the piano: ids ``lo..hi`` are the pitch tokens, lowest key first
    (contiguous); every other id stays."""

    def __init__(self, max_shift: int, pitch_ids: tuple[int, int], id_columns: int = 1):
        lo, hi = pitch_ids
        if not 0 <= max_shift <= hi - lo:
            raise ValueError(f"max_shift must be in 0..{hi - lo}, got {max_shift}")
        self.max_shift, self.lo, self.hi = max_shift, lo, hi
        self.id_columns = id_columns  # of rows (B, T, F): the first columns hold token ids

    def __call__(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """windows (B, T), or rows (B, T, F) whose first ``id_columns`` columns hold
        token ids (``remi``'s lookback proposes one; its other input is a count)."""
        pitches = (windows >= self.lo) & (windows <= self.hi)  # (B, T[, F])
        if windows.ndim == 3:
            pitches[:, :, self.id_columns:] = False
        flat, ids = pitches.reshape(len(windows), -1), windows.reshape(len(windows), -1)
        low = np.where(flat, ids, self.hi + 1).min(axis=1)  # lowest pitch id per window
        high = np.where(flat, ids, self.lo - 1).max(axis=1)
        any_pitch = flat.any(axis=1)
        down = np.minimum(self.max_shift, np.where(any_pitch, low - self.lo, self.max_shift))
        up = np.minimum(self.max_shift, np.where(any_pitch, self.hi - high, self.max_shift))
        shift = np.floor(rng.random(len(windows)) * (up + down + 1)).astype(np.int64) - down
        shift = shift.reshape(-1, *[1] * (windows.ndim - 1))
        return np.where(pitches, windows + shift, windows)


class TransposePair:
    """Transpose a (source, target, style) pair of ``events`` messages by one random
    number of semitones in ``[-max_shift, max_shift]``, source and target alike, chosen
    among the shifts that keep all their keys on the piano (:class:`Transpose`'s rule
    over the two phrases as one window). ``window``: another transposer of windows
    (:class:`TransposeIds` for ``remi`` tokens) in place of :class:`Transpose`."""

    def __init__(self, max_shift: int, n_keys: int = 88, window=None):
        self.window = window or Transpose(max_shift, n_keys)

    def __call__(self, pair, rng: np.random.Generator):
        source, target, style = pair
        both = np.concatenate([source, target])[None]  # (1, S + T, 3)
        moved = self.window(both, rng)[0]
        return moved[:len(source)], moved[len(source):], style
