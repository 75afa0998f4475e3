"""Set comparison (tunesmith.evaluation.compare): OA and KL of kernel densities and of
pooled histograms, with hand-computed values, and the real-vs-real noise band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.evaluation import compare as C


def phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_identical_samples_overlap_fully():
    c = C.compare_values([1.0, 2.0, 4.0], [1.0, 2.0, 4.0])
    assert c.oa == pytest.approx(1.0, abs=1e-6)  # p = q: the integral of min(p, p) is 1
    assert c.kl == pytest.approx(0.0, abs=1e-9)  # log(p / p) = 0
    assert (c.n_real, c.n_other, c.reason) == (3, 3, "")


def test_oa_of_two_shifted_pairs_by_hand():
    # real {0, 2}, generated {2, 4}; one bandwidth from the pooled {0, 2, 2, 4}:
    # sd = sqrt((4 + 0 + 0 + 4) / 3) = sqrt(8/3), h = sd * 4^(-1/5) (Scott)
    h = math.sqrt(8 / 3) * 4 ** (-1 / 5)
    # p = (N(0,h) + N(2,h)) / 2, q = (N(2,h) + N(4,h)) / 2 are mirror images about 2;
    # left of 2, q < p, so OA = 2 * integral of q up to 2 = Phi(0) + Phi(-2/h)
    expected = 0.5 + phi(-2 / h)
    c = C.compare_values([0.0, 2.0], [2.0, 4.0])
    assert c.oa == pytest.approx(expected, abs=1e-4)
    assert c.oa == pytest.approx(0.553, abs=1e-3)
    assert c.kl > 0


def test_kl_grows_with_distance_and_nans_are_dropped():
    near = C.compare_values([0.0, 1.0, 2.0], [0.5, 1.5, 2.5])
    far = C.compare_values([0.0, 1.0, 2.0], [10.0, 11.0, 12.0])
    assert far.kl > near.kl > 0 and far.oa < near.oa
    c = C.compare_values([0.0, math.nan, 1.0], [0.0, 1.0, math.nan])
    assert (c.n_real, c.n_other) == (2, 2) and c.oa == pytest.approx(1.0, abs=1e-6)


def test_zero_one_features_compare():
    # tonic endings: 3 of 5 real pieces, 4 of 4 generated; all-equal sets work too
    c = C.compare_values([0, 1, 1, 1, 0], [1, 1, 1, 1])
    assert 0.55 < c.oa < 0.75  # about the 3/5 of the real mass at 1
    same = C.compare_values([1, 1, 1], [1, 1])
    assert same.oa == pytest.approx(1.0, abs=1e-6) and same.kl == pytest.approx(0.0)


def test_too_few_values_give_nan_with_a_reason():
    c = C.compare_values([1.0], [1.0, 2.0])
    assert math.isnan(c.oa) and math.isnan(c.kl)
    assert "at least 2 values" in c.reason and "real 1" in c.reason
    c = C.compare_values([math.nan, math.nan], [1.0, 2.0])
    assert math.isnan(c.oa) and c.n_real == 0


def test_histograms_by_hand():
    p, n = C.pool([np.array([2.0, 0.0]), np.array([1.0, 1.0])])
    # each piece normalised ([1, 0] and [0.5, 0.5]), then averaged: [0.75, 0.25]
    np.testing.assert_allclose(p, [0.75, 0.25])
    assert n == 2
    # real [0.5, 0.5, 0], generated [0.25, 0.25, 0.5]:
    # OA = min(.5,.25) + min(.5,.25) + min(0,.5) = 0.5
    # KL = 0.5 ln(0.5/0.25) * 2 = ln 2 (the empty real bin adds ~0 with eps 1e-6)
    c = C.compare_histograms([np.array([1.0, 1.0, 0.0])], [np.array([1.0, 1.0, 2.0])])
    assert c.oa == pytest.approx(0.5)
    assert c.kl == pytest.approx(math.log(2), abs=1e-4)


def test_matrices_are_flattened_and_undefined_pieces_skipped():
    a = np.eye(2) / 2
    nan = np.full((2, 2), math.nan)
    c = C.compare_histograms([a, nan], [a])
    assert c.oa == pytest.approx(1.0) and c.kl == pytest.approx(0.0) and c.n_real == 1
    c = C.compare([a], [a])  # dispatches on the shape of the values
    assert c.oa == pytest.approx(1.0)
    c = C.compare_histograms([nan], [a])
    assert math.isnan(c.oa) and "at least 1 piece" in c.reason
    with pytest.raises(ValueError, match="different sizes"):
        C.compare_histograms([np.ones(3)], [np.ones(4)])


def test_real_vs_real_band():
    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, 200)
    band = C.real_vs_real(real, np.random.default_rng(1), splits=10)
    assert band.splits == 10 and band.n_real == band.n_other == 100
    assert band.oa_range[0] <= band.oa <= band.oa_range[1] <= 1.0
    assert band.kl_range[0] <= band.kl <= band.kl_range[1]
    assert band.oa > 0.8  # two halves of one normal sample overlap well
    # same seed, same band
    again = C.real_vs_real(real, np.random.default_rng(1), splits=10)
    assert again == band
    # a far-off generated set falls outside the band
    assert C.compare_values(real, rng.normal(3.0, 1.0, 100)).oa < band.oa_range[0]
    # two draws of a chosen size (to match a generated set of 20)
    assert C.real_vs_real(real, rng, splits=2, size=20).n_real == 20


def test_real_vs_real_needs_enough_pieces():
    c = C.real_vs_real([1.0, 2.0, 3.0], np.random.default_rng(0))
    # 3 values: halves of 1, but a density needs 2 per set
    assert math.isnan(c.oa) and "two disjoint sets of at least 2" in c.reason
    c = C.real_vs_real([1.0, 2.0, 3.0, 4.0], np.random.default_rng(0), size=3)
    assert math.isnan(c.oa)  # 2 x 3 > 4
    hists = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    c = C.real_vs_real(hists, np.random.default_rng(0), splits=1)
    # one piece against one is a single number, not a band: histograms need 2 a set too
    assert math.isnan(c.oa) and "two disjoint sets of at least 2" in c.reason
    c = C.real_vs_real(hists * 2, np.random.default_rng(0), splits=1)
    assert 0.0 <= c.oa <= 1.0
