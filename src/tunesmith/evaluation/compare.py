"""Compare a feature between two sets of pieces (generated vs real): overlapping area and
KL divergence, and the same between two halves of the real set, so a reader sees how far
apart sampling noise alone puts two sets.

Two kinds of input, from :mod:`tunesmith.evaluation.features`:

- **per-piece scalars** (:func:`compare_values`): each set's values are smoothed into a
  density by a Gaussian kernel density estimate with Scott's bandwidth
  :math:`h = \\hat\\sigma\\, n^{-1/5}` (scipy's ``gaussian_kde`` default, which mgeval
  uses) computed on both sets pooled and shared by them, and
  :math:`OA = \\int \\min(p, q)\\,dx` (1 = the same distribution, 0 = disjoint) and
  :math:`KL(p \\| q) = \\int p \\log(p / q)\\,dx` in nats (0 = the same) are integrated
  numerically on one grid that covers both (mgeval evaluated each density on its own
  grid, which is not a KL divergence);
- **per-piece histograms or matrices** (:func:`compare_histograms`): each set's
  histograms are pooled (the mean of the pieces' normalised histograms, so every piece
  counts the same), then :math:`OA = \\sum_i \\min(p_i, q_i)` and
  :math:`KL = \\sum_i p_i \\log(p_i / q_i)` after adding :data:`HIST_EPS` to every bin
  and renormalising (so a bin the generated set never uses costs a finite amount).

``p`` is the real set and ``q`` the generated one: KL(real || generated) grows when the
generated pieces miss what real pieces do. NaN values (a feature undefined for a piece)
are left out and the counts used are reported. Too few values give NaN with the reason
in :attr:`Comparison.reason` rather than an exception, so one sparse feature does not
stop a report: a density needs :data:`MIN_VALUES` values per set (two, for a spread),
a pooled histogram one piece; :func:`real_vs_real` needs two sets of two, either kind.
Estimates from a handful of pieces are noisy: the real-vs-real band says how noisy.

References: L.-C. Yang & A. Lerch, "On the evaluation of generative models in music",
Neural Computing and Applications 32 (2020) (OA and KL of feature distributions);
D. W. Scott, *Multivariate Density Estimation* (1992) (the bandwidth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_VALUES = 2  # per set, for a kernel density (a spread needs two values)
HIST_EPS = 1e-6  # added to each pooled-histogram bin before the KL divergence
GRID_POINTS = 2048  # integration grid of the kernel densities
MIN_BANDWIDTH = 1e-3  # relative to the data's scale, for a set of identical values


@dataclass(frozen=True)
class Comparison:
    """OA and KL of the real set against the other set; for :func:`real_vs_real`, the
    median over random splits, with the (min, max) over splits in the ranges."""

    oa: float  # overlapping area in [0, 1]; 1 = identical distributions
    kl: float  # KL(real || other) in nats; 0 = identical
    n_real: int  # values (or pieces) of the real set used
    n_other: int  # values (or pieces) of the other set used
    reason: str = ""  # why oa and kl are nan; "" when they are not
    oa_range: tuple[float, float] | None = None  # real_vs_real: (min, max) over splits
    kl_range: tuple[float, float] | None = None
    splits: int = 0  # real_vs_real: the number of random splits


def _finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[~np.isnan(x)]


def scott_bandwidth(x: np.ndarray) -> float:
    """Scott's rule for a 1-D Gaussian kernel: sample standard deviation x n^(-1/5)."""
    return float(np.std(x, ddof=1) * len(x) ** (-1 / 5)) if len(x) > 1 else 0.0


def kde(x: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """The Gaussian kernel density of sample ``x`` evaluated at ``grid`` (integrates to 1)."""
    total = np.zeros(len(grid))
    for i in range(0, len(x), 512):  # in chunks: grid x sample would be large
        z = (grid[:, None] - x[None, i:i + 512]) / bandwidth
        total += np.exp(-0.5 * z * z).sum(axis=1)
    return total / (len(x) * bandwidth * math.sqrt(2 * math.pi))


def compare_values(real, generated) -> Comparison:
    """OA and KL(real || generated) of two samples of a per-piece scalar feature, by
    Gaussian kernel densities (module docstring) with **one bandwidth for both sets**:
    Scott's rule on the two sets pooled. (mgeval gives each set its own bandwidth; then a
    set of identical values, common for 0/1 features such as ``tonic_ending``, becomes a
    spike that overlaps nothing.) When all values are equal the bandwidth is 1e-3 times
    the larger of their magnitude and 1. NaN values are dropped; with fewer than
    :data:`MIN_VALUES` values in either set the result is NaN with the reason."""
    a, b = _finite(real), _finite(generated)
    if len(a) < MIN_VALUES or len(b) < MIN_VALUES:
        return Comparison(math.nan, math.nan, len(a), len(b),
                          f"needs at least {MIN_VALUES} values per set (real {len(a)}, "
                          f"other {len(b)})")
    both = np.concatenate([a, b])
    scale = max(float(np.abs(both).max()), 1.0)
    h = max(scott_bandwidth(both), MIN_BANDWIDTH * scale)
    grid = np.linspace(both.min() - 6 * h, both.max() + 6 * h, GRID_POINTS)
    p, q = kde(a, grid, h), kde(b, grid, h)
    dx = grid[1] - grid[0]
    oa = float(np.minimum(p, q).sum() * dx)
    tiny = 1e-300
    kl = float((p * (np.log(p + tiny) - np.log(q + tiny))).sum() * dx)
    return Comparison(min(oa, 1.0), max(kl, 0.0), len(a), len(b))


def pool(histograms) -> tuple[np.ndarray | None, int]:
    """The mean of the per-piece histograms (each normalised to sum 1; pieces with a nan,
    or with nothing counted, left out), flattened and renormalised, and the number of
    pieces used. None when no piece is usable."""
    rows = [np.asarray(h, dtype=float).ravel() for h in histograms]
    rows = [r / r.sum() for r in rows if not np.isnan(r).any() and r.sum() > 0]
    if not rows:
        return None, 0
    mean = np.mean(rows, axis=0)
    return mean / mean.sum(), len(rows)


def histogram_oa_kl(p: np.ndarray, q: np.ndarray, eps: float = HIST_EPS) -> tuple[float, float]:
    """OA = sum of bin-wise minima of two distributions, and KL(p || q) in nats after
    adding ``eps`` to every bin of both and renormalising."""
    oa = float(np.minimum(p, q).sum())
    ps, qs = (p + eps) / (p + eps).sum(), (q + eps) / (q + eps).sum()
    return oa, float(max((ps * np.log(ps / qs)).sum(), 0.0))


def compare_histograms(real, generated) -> Comparison:
    """OA and KL(real || generated) of the pooled per-piece histograms (or matrices,
    flattened) of two sets (module docstring). NaN with the reason when a set has no
    usable piece; a ValueError when the two sets' histograms differ in size."""
    p, n_a = pool(real)
    q, n_b = pool(generated)
    if p is None or q is None:
        return Comparison(math.nan, math.nan, n_a, n_b,
                          f"needs at least 1 piece with a defined histogram per set "
                          f"(real {n_a}, other {n_b})")
    if p.shape != q.shape:
        raise ValueError(f"histograms of different sizes: {p.size} and {q.size} bins")
    oa, kl = histogram_oa_kl(p, q)
    return Comparison(oa, kl, n_a, n_b)


def compare(real, generated) -> Comparison:
    """:func:`compare_values` for a list of scalars, :func:`compare_histograms` for a
    list of arrays (histograms or matrices), by the shape of the first item."""
    items = list(real)
    if items and np.ndim(items[0]) > 0:
        return compare_histograms(items, generated)
    return compare_values(items, generated)


def real_vs_real(values, rng: np.random.Generator, splits: int = 20,
                 size: int | None = None) -> Comparison:
    """The noise band: :func:`compare` between two disjoint random halves of one real
    set (scalars or histograms), repeated over ``splits`` random splits; the result holds
    the median OA and KL and their (min, max) ranges. ``size`` draws two disjoint
    subsets of that many pieces instead of halves (to match the generated set's size:
    needs 2 x size pieces). Pieces whose value is undefined (nan) are dropped first.
    NaN with the reason when there are too few pieces for two sets (2 x
    :data:`MIN_VALUES` defined values, scalars or histograms)."""
    items = list(values)
    hist = bool(items) and np.ndim(items[0]) > 0
    if hist:
        items = [h for h in items if not np.isnan(np.asarray(h, dtype=float)).any()]
    else:
        items = list(_finite(items))
    need = MIN_VALUES  # a band of one piece against one is one number, not a spread
    half = len(items) // 2 if size is None else size
    if half < need or 2 * half > len(items):
        return Comparison(math.nan, math.nan, half, half,
                          f"needs two disjoint sets of at least {need} pieces "
                          f"(have {len(items)} defined, want 2 x {half})", splits=0)
    oas, kls = [], []
    for _ in range(max(1, splits)):
        order = rng.permutation(len(items))
        a = [items[i] for i in order[:half]]
        b = [items[i] for i in order[half:2 * half]]
        c = compare(a, b)
        oas.append(c.oa)
        kls.append(c.kl)
    return Comparison(float(np.median(oas)), float(np.median(kls)), half, half,
                      oa_range=(float(min(oas)), float(max(oas))),
                      kl_range=(float(min(kls)), float(max(kls))), splits=max(1, splits))
