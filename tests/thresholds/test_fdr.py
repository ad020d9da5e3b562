"""fdr_threshold (Benjamini-Hochberg/Yekutieli), mahalanobis_pvalues, conformal_pvalues."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import NotFittedError

from anomalykit import GaussianDetector, KMeans
from anomalykit.thresholds import (
    FDRResult,
    conformal_pvalues,
    fdr_threshold,
    mahalanobis_pvalues,
)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def brute_force_bh(p, q, c_m=1.0):
    """The step-up rule read literally: the largest k with p_(k) <= k q / (m c_m)."""
    m = len(p)
    s = sorted(p)
    for k in range(m, 0, -1):
        if s[k - 1] <= k * q / (m * c_m):
            return np.array([pi <= s[k - 1] for pi in p])
    return np.zeros(m, dtype=bool)


def mixed_pvalues(rng, m, share=0.1):
    """Uniform p-values for nulls, small ones for a share of alternatives."""
    p = rng.uniform(size=m)
    n_alt = int(share * m)
    p[:n_alt] = stats.norm.sf(rng.normal(3.0, 1.0, n_alt))
    return rng.permutation(p)


def test_benjamini_hochberg_1995_example():
    # The 15 p-values of Benjamini & Hochberg (1995), section 4: 4 rejections at q = 0.05.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
         0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]  # fmt: skip
    result = fdr_threshold(p, q=0.05)
    assert result.n_rejected == 4
    assert result.rejected.tolist() == [True] * 4 + [False] * 11
    assert result.pvalue_threshold == pytest.approx(4 * 0.05 / 15)


@pytest.mark.parametrize("m", [1, 2, 7, 50, 1000])
@pytest.mark.parametrize("q", [0.01, 0.05, 0.2])
def test_bh_equals_brute_force_and_scipy(rng, m, q):
    for _ in range(20):
        p = mixed_pvalues(rng, m)
        result = fdr_threshold(p, q=q)
        np.testing.assert_array_equal(result.rejected, brute_force_bh(p, q))
        adjusted = stats.false_discovery_control(p, method="bh")
        np.testing.assert_allclose(result.adjusted, adjusted, rtol=1e-12)
        np.testing.assert_array_equal(result.rejected, adjusted <= q)
        assert result.n_rejected == result.rejected.sum()
        assert np.all(p[result.rejected] <= result.pvalue_threshold)
        assert np.all(p[~result.rejected] > result.pvalue_threshold)


@pytest.mark.parametrize("m", [3, 100, 2000])
def test_by_equals_brute_force_and_scipy(rng, m):
    c_m = np.sum(1.0 / np.arange(1, m + 1))
    for _ in range(10):
        p = mixed_pvalues(rng, m, share=0.3)
        result = fdr_threshold(p, q=0.05, method="by")
        np.testing.assert_array_equal(result.rejected, brute_force_bh(p, 0.05, c_m))
        adjusted = stats.false_discovery_control(p, method="by")
        np.testing.assert_allclose(result.adjusted, adjusted, rtol=1e-12)
        # BY never flags more than BH
        assert result.n_rejected <= fdr_threshold(p, q=0.05).n_rejected


def test_ties_at_the_cut_are_all_flagged_and_order_does_not_matter(rng):
    p = np.array([0.01, 0.01, 0.01, 0.5, 0.9, 0.01])
    result = fdr_threshold(p, q=0.1)
    assert result.rejected.tolist() == [True, True, True, False, False, True]
    np.testing.assert_array_equal(result.rejected, brute_force_bh(p, 0.1))
    perm = rng.permutation(p.size)
    np.testing.assert_array_equal(fdr_threshold(p[perm], q=0.1).rejected, result.rejected[perm])


def test_nothing_flagged_gives_a_zero_threshold_and_a_zero_pvalue_is_always_flagged():
    nothing = fdr_threshold([0.2, 0.5, 0.9], q=0.05)
    assert nothing.n_rejected == 0 and nothing.pvalue_threshold == 0.0
    assert not nothing.rejected.any()
    zero = fdr_threshold([0.0, 0.5, 0.9], q=1e-9)
    assert zero.rejected.tolist() == [True, False, False]


def test_controls_the_false_discovery_rate_when_the_pvalues_are_right(rng):
    q, m, m0 = 0.1, 500, 450
    fdp = []
    for _ in range(300):
        p = np.r_[rng.uniform(size=m0), stats.norm.sf(rng.normal(2.5, 1.0, m - m0))]
        rejected = fdr_threshold(p, q=q).rejected
        fdp.append(rejected[:m0].sum() / max(rejected.sum(), 1))
    # E[FDP] = q m0 / m = 0.09 for independent uniform nulls; 300 runs: s.e. ~0.003
    assert np.mean(fdp) == pytest.approx(q * m0 / m, abs=0.015)


def test_result_repr_and_dict():
    result = fdr_threshold([0.001, 0.5], q=0.05)
    assert isinstance(result, FDRResult)
    assert repr(result) == (
        "FDRResult(q=0.05, method='bh', flagged 1 of 2, pvalue_threshold=0.025)"
    )
    assert result.to_dict() == {
        "q": 0.05, "method": "bh", "n_tests": 2, "n_rejected": 1, "pvalue_threshold": 0.025,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pvalues": [0.1, 1.5]}, r"pvalues must lie in \[0, 1\]"),
        ({"pvalues": [0.1, -0.1]}, r"pvalues must lie in \[0, 1\]"),
        ({"pvalues": [0.1, np.nan]}, "NaN or infinite"),
        ({"pvalues": []}, "pvalues is empty"),
        ({"pvalues": [0.1], "q": 0.0}, r"'q' parameter of fdr_threshold must be .* \(0.0, 1.0\)"),
        ({"pvalues": [0.1], "q": 1.0}, r"'q' parameter of fdr_threshold"),
        ({"pvalues": [0.1], "method": "holm"}, r"'method' parameter of fdr_threshold"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fdr_threshold(**kwargs)


# ------------------------------------------------------------- mahalanobis_pvalues
@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_mahalanobis_pvalues_are_chi2_of_the_log_density_drop(rng, covariance):
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    det = GaussianDetector(covariance).fit(X)
    Y = rng.normal(size=(30, 4)) * 3
    d2 = 2.0 * (det.score_samples(det.mean_[None, :])[0] - det.score_samples(Y))
    np.testing.assert_allclose(mahalanobis_pvalues(det, Y), stats.chi2.sf(d2, 4), rtol=1e-9)
    np.testing.assert_allclose(mahalanobis_pvalues(det, det.mean_[None, :]), [1.0])


def test_mahalanobis_pvalues_are_uniform_for_gaussian_rows(rng):
    cov = np.array([[2.0, 1.2, 0.0], [1.2, 1.0, 0.3], [0.0, 0.3, 0.5]])
    X = rng.multivariate_normal([1.0, -2.0, 0.0], cov, size=20000)
    det = GaussianDetector("full").fit(X[:10000])
    p = mahalanobis_pvalues(det, X[10000:])
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(p <= 0.01) == pytest.approx(0.01, abs=0.003)


def test_mahalanobis_pvalues_checks_the_detector_and_the_rows(rng):
    X = rng.normal(size=(50, 3))
    with pytest.raises(NotFittedError):
        mahalanobis_pvalues(GaussianDetector(), X)
    det = GaussianDetector("full").fit(X)
    with pytest.raises(ValueError, match="features"):
        mahalanobis_pvalues(det, X[:, :2])
    with pytest.raises(TypeError, match=r"needs a fitted GaussianDetector.*got KMeans"):
        mahalanobis_pvalues(KMeans(2, random_state=0).fit(X), X)


def test_fdr_on_gaussian_rows_controls_the_realised_rate(rng):
    # The end-to-end use: fit on normal rows, test a mix, flag at q.
    X = rng.normal(size=(5000, 3))
    det = GaussianDetector("full").fit(X)
    test = np.r_[rng.normal(size=(4000, 3)), rng.normal(size=(200, 3)) + 5.0]
    rejected = fdr_threshold(mahalanobis_pvalues(det, test), q=0.05).rejected
    assert rejected[4000:].mean() > 0.9
    assert rejected[:4000].sum() / rejected.sum() < 0.05


# --------------------------------------------------------------- conformal_pvalues
def test_conformal_pvalues_by_hand():
    cal = [-1.0, -2.0, -3.0, -4.0]
    p = conformal_pvalues(cal, [-0.5, -1.0, -2.5, -9.0])
    # #{cal <= s} + 1 over 5; a tie counts against the tested row
    np.testing.assert_allclose(p, [5 / 5, 5 / 5, 3 / 5, 1 / 5])


def test_conformal_pvalues_are_valid_for_exchangeable_rows(rng):
    t = np.array([0.01, 0.05, 0.2, 0.5])
    below = np.zeros_like(t)
    runs = 2000
    for _ in range(runs):
        s = rng.standard_t(2, size=101)  # heavy tails: no Gaussian needed
        p = conformal_pvalues(s[:100], s[100:])
        below += p[0] <= t
    # P(p <= t) = floor(t (n+1)) / (n+1) <= t exactly for continuous scores
    np.testing.assert_allclose(below / runs, np.floor(t * 101) / 101, atol=0.02)


def test_conformal_pvalues_reject_bad_scores():
    with pytest.raises(ValueError, match="calibration_scores contains 1 NaN"):
        conformal_pvalues([0.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="scores is empty"):
        conformal_pvalues([0.0], [])
