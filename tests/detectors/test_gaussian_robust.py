"""GaussianDetector(robust=True): the iterated reweighting, its fixed point,
weights, warnings and errors, on both engines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import chi2
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from anomalykit import ConstantFeatureWarning, GaussianDetector
from anomalykit.detectors import _gaussian

SETTINGS = [
    {"covariance": "diag"},
    {"covariance": "full"},
    {"covariance": "full", "shrinkage": "ledoit-wolf"},
]


@pytest.fixture(params=["numpy", "numba"])
def engine(request, monkeypatch):
    if request.param == "numba":
        pytest.importorskip("numba")
    monkeypatch.setattr(_gaussian, "_ENGINE", request.param)
    return request.param


@pytest.fixture
def contaminated():
    """900 correlated normal rows and 100 rows of a second, far-away group."""
    rng = np.random.default_rng(7)
    A = np.array([[1.0, 0.8, 0.0], [0.0, 0.6, 0.3], [0.0, 0.0, 0.5]])
    normal = rng.normal(size=(900, 3)) @ A + np.array([10.0, -2.0, 0.0])
    far = rng.normal(size=(100, 3)) * 0.3 + np.array([16.0, 4.0, 3.0])
    X = np.vstack([normal, far])
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    return X, y


def test_default_is_not_robust(contaminated):
    X, _ = contaminated
    det = GaussianDetector("full").fit(X)
    assert det.robust is False
    assert not hasattr(det, "support_") and not hasattr(det, "n_robust_iter_")


@pytest.mark.parametrize("settings", SETTINGS)
def test_robust_fit_ignores_the_far_group(engine, contaminated, settings):
    X, y = contaminated
    plain = GaussianDetector(**settings).fit(X)
    robust = GaussianDetector(**settings, robust=True).fit(X)
    true_mean = np.array([10.0, -2.0, 0.0])
    # The far rows pull the plain mean away; the robust one stays on the normal rows.
    assert np.abs(plain.mean_ - true_mean).max() > 0.5
    assert np.abs(robust.mean_ - true_mean).max() < 0.1
    assert not robust.support_[y == 1].any()
    assert robust.support_[y == 0].mean() > 0.9
    assert robust.n_robust_iter_ >= 1
    # ... and ranks them as anomalies where the plain fit, widened by them, does worse.
    auc_plain = roc_auc_score(y, -plain.score_samples(X))
    auc_robust = roc_auc_score(y, -robust.score_samples(X))
    assert auc_robust == 1.0
    if settings["covariance"] == "full":  # the far group tilts the plain covariance its way
        assert auc_plain < 0.995


@pytest.mark.parametrize("settings", SETTINGS)
def test_robust_fit_is_a_fixed_point(engine, contaminated, settings):
    """The final model is the plain fit of support_, and support_ is its own cut."""
    X, _ = contaminated
    robust = GaussianDetector(**settings, robust=True, robust_quantile=0.95).fit(X)
    refit = GaussianDetector(**settings).fit(X[robust.support_])
    np.testing.assert_allclose(robust.mean_, refit.mean_, rtol=1e-12)
    np.testing.assert_allclose(robust.var_, refit.var_, rtol=1e-12)
    d2 = robust.mahalanobis(X)
    cut = chi2.ppf(0.95, 3) / chi2.ppf(0.5, 3) * np.median(d2)
    np.testing.assert_array_equal(robust.support_, d2 <= cut)
    # At least half of the rows are always kept (the cut is above the median).
    assert robust.support_.mean() >= 0.5


def test_a_large_group_that_the_first_fit_covers_can_stay(contaminated):
    """The documented limit: the reweighting starts from the fit on all rows, so a
    compact group big enough to pull that fit towards it is never cut (masking)."""
    X, y = contaminated
    rng = np.random.default_rng(8)
    X = np.vstack([X, rng.normal(size=(50, 3)) * 0.3 + np.array([16.0, 4.0, 3.0])])
    y = np.r_[y, np.ones(50, int)]
    det = GaussianDetector("full", robust=True).fit(X)
    assert det.support_[y == 1].mean() > 0.9


def test_lower_quantile_keeps_fewer_rows(contaminated):
    X, _ = contaminated
    kept = [
        GaussianDetector("full", robust=True, robust_quantile=q).fit(X).support_.sum()
        for q in (0.999, 0.975, 0.9)
    ]
    assert kept[0] > kept[1] > kept[2]


def test_clean_gaussian_data_keeps_most_rows():
    X = np.random.default_rng(0).normal(size=(5000, 4))
    det = GaussianDetector("full", robust=True).fit(X)
    # The cut is about the 97.5% quantile of D2 scaled by its median: ~96% of the rows stay.
    assert 0.93 < det.support_.mean() < 0.99
    np.testing.assert_allclose(det.mean_, 0.0, atol=0.05)


def test_engines_agree(monkeypatch, contaminated):
    pytest.importorskip("numba")
    X, _ = contaminated
    fits = {}
    for name in ("numpy", "numba"):
        monkeypatch.setattr(_gaussian, "_ENGINE", name)
        fits[name] = GaussianDetector("full", shrinkage="ledoit-wolf", robust=True).fit(X)
    np.testing.assert_array_equal(fits["numpy"].support_, fits["numba"].support_)
    np.testing.assert_allclose(fits["numpy"].covariance_, fits["numba"].covariance_, rtol=1e-12)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_integer_weights_equal_repeated_rows(engine, contaminated, covariance):
    X, _ = contaminated
    X = X[::4]  # 250 rows
    counts = np.random.default_rng(3).integers(0, 4, size=X.shape[0])
    weighted = GaussianDetector(covariance, robust=True).fit(X, sample_weight=counts)
    repeated = GaussianDetector(covariance, robust=True).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-10)
    np.testing.assert_allclose(weighted.var_, repeated.var_, rtol=1e-10)
    np.testing.assert_array_equal(np.repeat(weighted.support_, counts), repeated.support_)


@pytest.mark.parametrize("scale", [0.1, 0.3, 7.0])
def test_rescaled_weights_change_nothing(contaminated, scale):
    """Uniform weights of any size equal no weights (the median's half-way mark
    is found with a tolerance, not by exact float comparison)."""
    X, _ = contaminated
    plain = GaussianDetector("full", robust=True).fit(X)
    weighted = GaussianDetector("full", robust=True).fit(X, sample_weight=np.full(len(X), scale))
    np.testing.assert_array_equal(weighted.support_, plain.support_)
    np.testing.assert_allclose(weighted.covariance_, plain.covariance_, rtol=1e-10)
    values = np.arange(10.0)
    assert _gaussian._weighted_median(values, np.full(10, scale)) == np.median(values)


def test_weighted_median_matches_numpy_on_repeated_rows():
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 10):
        values = rng.normal(size=n)
        counts = rng.integers(1, 4, size=n)
        expected = np.median(np.repeat(values, counts))
        assert _gaussian._weighted_median(values, counts.astype(float)) == expected
    # Rows of zero weight do not count.
    assert _gaussian._weighted_median(np.array([0.0, 1.0, 100.0]), np.array([1.0, 1.0, 0.0])) == 0.5


def test_a_value_shared_by_the_kept_rows_keeps_the_spread_of_all_rows(engine, contaminated):
    """A feature constant on the kept rows but not on all rows keeps the variance
    of all rows and no covariance: its other values are not made extreme."""
    X, y = contaminated
    X = np.column_stack([X, np.where(y == 1, 5.0, 1.0)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det = GaussianDetector("full", robust=True).fit(X)
    assert not [w for w in caught if issubclass(w.category, ConstantFeatureWarning)]
    assert not det.support_[y == 1].any()
    assert det.var_[3] == pytest.approx(X[:, 3].var() + 1e-6, rel=1e-12)
    np.testing.assert_array_equal(det.covariance_[3, :3], 0.0)
    diag = GaussianDetector("diag", robust=True).fit(X)
    assert diag.var_[3] == pytest.approx(X[:, 3].var() + 1e-6, rel=1e-12)


def test_zero_inflated_feature_neither_collapses_nor_oscillates(engine):
    """70% zeros: the kept rows may all be 0 there. Once so, the feature keeps the
    spread of all rows for good: the refits settle (no ConvergenceWarning) and a
    typical non-zero value still scores as typical."""
    rng = np.random.default_rng(11)
    counts = np.where(rng.random(2000) < 0.7, 0.0, rng.poisson(3.0, 2000) + 1.0)
    X = np.column_stack([rng.normal(size=2000), counts])
    plain = GaussianDetector("full").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning would fail here
        robust = GaussianDetector("full", robust=True).fit(X)
    assert robust.var_[1] == pytest.approx(counts.var() + 1e-6, rel=1e-12)
    row = np.array([[0.0, 4.0]])
    assert robust.score_samples(row)[0] > plain.score_samples(row)[0] - 5.0


def test_feature_constant_on_all_rows_still_warns(contaminated):
    X, _ = contaminated
    X = np.column_stack([X, np.ones(len(X))])
    with pytest.warns(ConstantFeatureWarning, match="column 3"):
        GaussianDetector("full", robust=True).fit(X)


def test_error_on_the_kept_rows_says_so(contaminated):
    """Columns equal on the kept rows only: the refit's covariance is singular."""
    X, y = contaminated
    X = np.column_stack([X, np.where(y == 1, -X[:, 0], X[:, 0])])
    with pytest.raises(ValueError, match=r"robust=True: the refit on the \d+ of 1000 .*positive"):
        GaussianDetector("full", robust=True, reg_covar=0.0).fit(X)
    # A column constant on all rows fails the first fit, with the plain fit's message.
    X[:, 3] = 1.0
    with pytest.raises(ValueError, match=r"^Constant feature"):
        GaussianDetector("full", robust=True, reg_covar=0.0).fit(X)


def test_no_fixed_point_warns(monkeypatch, contaminated):
    X, _ = contaminated
    monkeypatch.setattr(_gaussian, "_ROBUST_MAX_ITER", 1)
    with pytest.warns(ConvergenceWarning, match="fixed point in 1 refits"):
        det = GaussianDetector("full", robust=True).fit(X)
    assert det.n_robust_iter_ == 1


def test_refit_without_robust_drops_the_support(contaminated):
    X, _ = contaminated
    det = GaussianDetector("full", robust=True).fit(X)
    det.set_params(robust=False).fit(X)
    assert not hasattr(det, "support_") and not hasattr(det, "n_robust_iter_")


def test_partial_fit_is_not_offered(contaminated):
    det = GaussianDetector(robust=True)
    assert not hasattr(det, "partial_fit")
    assert hasattr(GaussianDetector(), "partial_fit")
    # ... nor after a robust fit: its moments hold only the kept rows.
    X, _ = contaminated
    det.fit(X).set_params(robust=False)
    with pytest.raises(ValueError, match="robust: its statistics hold only the rows it kept"):
        det.partial_fit(X[:10])
    det.fit(X).partial_fit(X[:10])  # a plain fit continues as before
    assert det.n_samples_seen_ == 1010


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"robust": "yes"}, "robust"),
        ({"robust": 1.0}, "robust"),
        ({"robust": True, "robust_quantile": 0.5}, "robust_quantile"),
        ({"robust": True, "robust_quantile": 1.0}, "robust_quantile"),
        ({"robust": True, "robust_quantile": float("nan")}, "robust_quantile"),
    ],
)
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        GaussianDetector(**params).fit(np.random.default_rng(0).normal(size=(20, 2)))
