"""GaussianDetector: parameters against NumPy/SciPy/scikit-learn, log-space scoring,
thresholds, partial_fit, weights and every input error."""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.covariance import ledoit_wolf, ledoit_wolf_shrinkage
from sklearn.exceptions import NotFittedError

from anomalykit import ConstantFeatureWarning, GaussianDetector, select_threshold

COVARIANCES = ["diag", "full"]


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def X(rng):
    """Correlated features with different scales and offsets."""
    A = np.array(
        [[1.0, 0.6, 0.0, 0.2], [0.0, 2.0, 0.5, 0.0], [0.0, 0.0, 0.3, 0.1], [0.0, 0.0, 0.0, 4.0]]
    )
    return rng.normal(size=(400, 4)) @ A + np.array([1.0, -5.0, 20.0, 0.0])


def as_container(X, kind):
    if kind == "list":
        return X.tolist()
    if kind == "dataframe":
        return pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    return X


def f1_of(y, flagged):
    tp = int(np.sum(flagged & (y == 1)))
    return 2 * tp / (2 * tp + int(np.sum(flagged & (y == 0))) + int(np.sum(~flagged & (y == 1))))


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("ddof", [0, 1])
def test_diag_parameters_equal_numpy(X, ddof):
    det = GaussianDetector(ddof=ddof, reg_covar=1e-3).fit(X)
    np.testing.assert_allclose(det.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(det.var_, X.var(axis=0, ddof=ddof) + 1e-3, rtol=1e-12)
    assert not hasattr(det, "covariance_")
    assert det.n_samples_seen_ == 400 and det.n_features_in_ == 4


def test_default_ddof_is_zero(X):
    det = GaussianDetector(reg_covar=0.0).fit(X)
    np.testing.assert_allclose(det.var_, X.var(axis=0), rtol=1e-12)
    assert not np.allclose(det.var_, X.var(axis=0, ddof=1), rtol=1e-6)


@pytest.mark.parametrize("ddof", [0, 1])
def test_full_covariance_equals_numpy(X, ddof):
    det = GaussianDetector("full", ddof=ddof, reg_covar=1e-4).fit(X)
    expected = np.cov(X.T, ddof=ddof) + 1e-4 * np.eye(4)
    np.testing.assert_allclose(det.covariance_, expected, rtol=1e-12)
    np.testing.assert_allclose(det.var_, np.diag(expected), rtol=1e-12)
    P = det.precision_cholesky_
    np.testing.assert_allclose(P @ P.T @ det.covariance_, np.eye(4), atol=1e-10)
    assert det.shrinkage_ == 0.0


def test_full_covariance_is_biased_by_default(X):
    det = GaussianDetector("full", reg_covar=1e-6).fit(X)
    np.testing.assert_allclose(
        det.covariance_, np.cov(X.T, bias=True) + 1e-6 * np.eye(4), rtol=1e-12
    )


# --------------------------------------------------------------------- scoring
def test_full_scores_equal_scipy(X, rng):
    det = GaussianDetector("full").fit(X)
    X_new = np.vstack([X[:50], rng.normal(size=(50, 4)) * 5])
    expected = stats.multivariate_normal(det.mean_, det.covariance_).logpdf(X_new)
    np.testing.assert_allclose(det.score_samples(X_new), expected, rtol=1e-10)


def test_diag_scores_equal_sum_of_norm_logpdf(X, rng):
    det = GaussianDetector().fit(X)
    X_new = np.vstack([X[:50], rng.normal(size=(50, 4)) * 5])
    expected = stats.norm.logpdf(X_new, det.mean_, np.sqrt(det.var_)).sum(axis=1)
    np.testing.assert_allclose(det.score_samples(X_new), expected, rtol=1e-12)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_scores_invariant_under_translation(X, covariance):
    # moving every row by the same vector moves the mean only: the (co)variance and the
    # scores stay, up to the rounding of the mean itself (ulp(1e5) / std ~ 1e-10)
    offset = np.array([1e5, -3e4, 5e5, 1e3])
    X_moved = X + offset
    X_back = X_moved - offset  # exact (Sterbenz): the same rows, up to the rounding of X_moved
    base = GaussianDetector(covariance).fit(X_back)
    moved = GaussianDetector(covariance).fit(X_moved)
    np.testing.assert_allclose(moved.mean_ - offset, base.mean_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(moved.var_, base.var_, rtol=1e-12)
    np.testing.assert_allclose(moved.score_samples(X_moved), base.score_samples(X_back), rtol=1e-8)


def test_high_dimension_stays_finite_where_the_product_underflows(rng):
    d = 1000
    X_train = rng.normal(size=(2000, d))
    det = GaussianDetector().fit(X_train)
    shifts = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    X_new = det.mean_ + shifts[:, None] * np.sqrt(det.var_)
    # the guide's product of per-feature densities is 0 for every row: no ranking left
    product = np.prod(stats.norm.pdf(X_new, det.mean_, np.sqrt(det.var_)), axis=1)
    assert np.all(product == 0.0)
    assert np.all(det.density(X_new) == 0.0)
    scores = det.score_samples(X_new)
    assert np.all(np.isfinite(scores))
    assert np.all(np.diff(scores) < 0)  # further out, lower score
    expected = stats.norm.logpdf(X_new, det.mean_, np.sqrt(det.var_)).sum(axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_density_decision_predict_is_anomaly_agree(X, rng, covariance):
    det = GaussianDetector(covariance, contamination=0.1).fit(X)
    X_new = X[:200] + rng.normal(size=(200, 4))
    scores = det.score_samples(X_new)
    np.testing.assert_allclose(det.density(X_new), np.exp(scores), rtol=1e-14)
    np.testing.assert_array_equal(det.decision_function(X_new), scores - det.offset_)
    pred = det.predict(X_new)
    assert set(np.unique(pred)) == {-1, 1}
    flagged = det.is_anomaly(X_new)
    assert flagged.dtype == bool
    np.testing.assert_array_equal(pred, np.where(flagged, -1, 1))
    np.testing.assert_array_equal(flagged, scores < det.offset_)
    np.testing.assert_array_equal(det.fit_predict(X), det.predict(X))


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_rows_scored_together_equal_rows_scored_alone(X, rng, covariance):
    det = GaussianDetector(covariance).fit(X)
    X_new = rng.normal(size=(30, 4)) * 2
    together = det.score_samples(X_new)
    alone = np.array([det.score_samples(row[None, :])[0] for row in X_new])
    np.testing.assert_allclose(together, alone, rtol=1e-13)
    explained = det.explain(X_new).z
    np.testing.assert_allclose(explained[7], det.explain(X_new[7:8]).z[0], rtol=1e-12)


# ------------------------------------------------------------------ thresholds
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_epsilon_sets_offset(X, covariance):
    det = GaussianDetector(covariance, epsilon=1e-5).fit(X)
    assert det.offset_ == math.log(1e-5)
    assert det.epsilon_ == pytest.approx(1e-5, rel=1e-14)
    np.testing.assert_array_equal(det.is_anomaly(X), det.density(X) < 1e-5)


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.2, "auto"])
def test_contamination_flags_that_share_of_training_rows(X, covariance, contamination):
    det = GaussianDetector(covariance, contamination=contamination).fit(X)
    rate = 0.01 if contamination == "auto" else contamination
    assert det.is_anomaly(X).sum() == math.ceil(round(rate * 400, 9))
    assert (det.predict(X) == -1).sum() == math.ceil(round(rate * 400, 9))


def test_epsilon_and_contamination_together_raise(X):
    with pytest.raises(ValueError, match="give one threshold only"):
        GaussianDetector(epsilon=1e-3, contamination=0.05).fit(X)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"covariance": "spherical"}, r"'covariance' parameter of GaussianDetector must be one of"),
        ({"ddof": 2}, r"'ddof' parameter of GaussianDetector must be one of"),
        ({"reg_covar": -1.0}, r"'reg_covar' parameter of GaussianDetector must be a real"),
        ({"epsilon": 0.0}, r"'epsilon' parameter of GaussianDetector must be a real"),
        ({"epsilon": -1e-3}, r"'epsilon' parameter of GaussianDetector must be a real"),
        ({"contamination": 0.0}, r"'contamination' parameter of GaussianDetector"),
        ({"contamination": 0.7}, r"'contamination' parameter of GaussianDetector"),
        ({"contamination": "most"}, r"'contamination' parameter of GaussianDetector"),
        ({"covariance": "full", "shrinkage": 1.5}, r"'shrinkage' parameter"),
        ({"covariance": "full", "shrinkage": "oas"}, r"'shrinkage' parameter"),
        ({"shrinkage": 0.1}, r"shrinkage applies to covariance='full' only"),
        ({"shrinkage": "ledoit-wolf"}, r"shrinkage applies to covariance='full' only"),
    ],
)
def test_bad_parameters_raise(X, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianDetector(**params).fit(X)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_tune_threshold_sets_offset_and_improves_f1(rng, covariance):
    d = 6
    det = GaussianDetector(covariance, contamination=0.2).fit(rng.normal(size=(3000, d)))
    y_val = (rng.random(1000) < 0.05).astype(int)
    X_val = rng.normal(size=(1000, d)) + 1.6 * y_val[:, None]
    before = f1_of(y_val, det.is_anomaly(X_val))
    assert det.tune_threshold(X_val, y_val) is det
    result = det.threshold_result_
    assert det.offset_ == result.threshold
    assert result == select_threshold(y_val, det.score_samples(X_val))
    flagged = det.is_anomaly(X_val)
    assert flagged.sum() == result.n_flagged
    assert f1_of(y_val, flagged) == pytest.approx(result.f1)
    assert result.f1 > before + 0.2


def test_set_threshold(X):
    det = GaussianDetector().fit(X)
    det.set_threshold(epsilon=2e-4)
    assert det.offset_ == math.log(2e-4)
    det.set_threshold(log_epsilon=-12.5)
    assert det.offset_ == -12.5
    with pytest.raises(ValueError, match="exactly one of epsilon or log_epsilon"):
        det.set_threshold()
    with pytest.raises(ValueError, match="exactly one of epsilon or log_epsilon"):
        det.set_threshold(epsilon=1e-3, log_epsilon=-3.0)
    with pytest.raises(ValueError, match="'epsilon' parameter of set_threshold"):
        det.set_threshold(epsilon=0.0)
    with pytest.raises(ValueError, match="'log_epsilon' parameter of set_threshold"):
        det.set_threshold(log_epsilon=np.nan)
    with pytest.raises(NotFittedError):
        GaussianDetector().set_threshold(epsilon=1e-3)


def test_log_epsilon_works_where_epsilon_underflows(rng):
    d = 1000
    det = GaussianDetector().fit(rng.normal(size=(1500, d)))
    X_new = rng.normal(size=(200, d)) * 1.05
    scores = det.score_samples(X_new)
    assert scores.max() < -745  # every density, and so every usable epsilon, underflows to 0
    log_eps = float(np.median(scores))
    det.set_threshold(log_epsilon=log_eps)
    assert det.epsilon_ == 0.0
    assert det.offset_ == log_eps
    assert det.is_anomaly(X_new).sum() == 100
    np.testing.assert_array_equal(det.is_anomaly(X_new), scores < log_eps)


# ----------------------------------------------------------- partial_fit, weights
def chunked(n, sizes):
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == n
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_partial_fit_equals_batch_fit(X, rng, covariance, weighted, ddof):
    w = rng.uniform(0.0, 3.0, size=400) if weighted else None
    batch = GaussianDetector(covariance, ddof=ddof).fit(X, sample_weight=w)
    stream = GaussianDetector(covariance, ddof=ddof)
    for part in chunked(400, [9, 1, 120, 2, 37, 231]):
        stream.partial_fit(X[part], sample_weight=None if w is None else w[part])
    assert stream.n_samples_seen_ == 400
    np.testing.assert_allclose(stream.mean_, batch.mean_, rtol=1e-10)
    np.testing.assert_allclose(stream.var_, batch.var_, rtol=1e-10)
    if covariance == "full":
        np.testing.assert_allclose(stream.covariance_, batch.covariance_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stream.score_samples(X), batch.score_samples(X), rtol=1e-10)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_integer_weights_equal_repeated_rows(X, rng, covariance):
    w = rng.integers(0, 4, size=400)
    weighted = GaussianDetector(covariance, contamination=0.05).fit(X, sample_weight=w)
    repeated = GaussianDetector(covariance, contamination=0.05).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-12)
    np.testing.assert_allclose(weighted.var_, repeated.var_, rtol=1e-10)
    np.testing.assert_allclose(weighted.score_samples(X), repeated.score_samples(X), rtol=1e-10)
    assert weighted.offset_ == pytest.approx(repeated.offset_, rel=1e-10)


def test_bad_sample_weight_raises(X):
    with pytest.raises(ValueError, match="one entry per row"):
        GaussianDetector().fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="finite and non-negative"):
        GaussianDetector().fit(X, sample_weight=-np.ones(400))
    with pytest.raises(ValueError, match="All sample weights are zero"):
        GaussianDetector().fit(X, sample_weight=np.zeros(400))


# ------------------------------------------------- dtypes, containers, mutation
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("kind", ["list", "ndarray", "dataframe"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_containers_and_dtypes(X, covariance, kind, dtype):
    reference = GaussianDetector(covariance).fit(X)
    Xt = X.astype(dtype)
    det = GaussianDetector(covariance).fit(as_container(Xt, kind))
    scores = det.score_samples(as_container(Xt, kind))
    assert scores.dtype == np.float64
    assert np.all(np.isfinite(scores))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(det.mean_, reference.mean_, rtol=tol, atol=tol)
    np.testing.assert_allclose(det.var_, reference.var_, rtol=tol * 10)
    np.testing.assert_allclose(scores, reference.score_samples(X), rtol=tol * 10)
    if dtype == np.float32:  # a float32 array is the same as its exact float64 copy
        exact = GaussianDetector(covariance).fit(Xt.astype(np.float64))
        np.testing.assert_allclose(scores, exact.score_samples(Xt.astype(np.float64)), rtol=1e-12)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_input_not_mutated(X, rng, covariance):
    X_orig = X.copy()
    w = rng.uniform(size=400)
    w_orig = w.copy()
    X_new = rng.normal(size=(20, 4))
    X_new_orig = X_new.copy()
    det = GaussianDetector(covariance).fit(X, sample_weight=w)
    det.score_samples(X_new)
    det.predict(X_new)
    det.explain(X_new)
    det.partial_fit(X_new)
    y = np.zeros(20, dtype=int)
    y[:3] = 1
    det.tune_threshold(X_new, y)
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(w, w_orig)
    np.testing.assert_array_equal(X_new, X_new_orig)
    np.testing.assert_array_equal(y[:3], [1, 1, 1])


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_refit_with_other_parameters_equals_fresh_fit(X, covariance):
    other = "diag" if covariance == "full" else "full"
    det = GaussianDetector(covariance).fit(X)
    det.set_params(covariance=other).fit(X)
    fresh = GaussianDetector(other).fit(X)
    np.testing.assert_allclose(det.score_samples(X), fresh.score_samples(X), rtol=1e-12)
    assert det.explain(X[:2]).kind == fresh.explain(X[:2]).kind
    np.testing.assert_allclose(det.explain(X[:5]).z, fresh.explain(X[:5]).z, rtol=1e-12)


# ----------------------------------------------------------- constant features
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_constant_feature_warns_with_its_index(X, covariance):
    X = X.copy()
    X[:, 2] = 7.5
    with pytest.warns(ConstantFeatureWarning, match=r"'x2' \(column 2\)"):
        det = GaussianDetector(covariance).fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))
    assert det.var_[2] == pytest.approx(1e-6)
    # any other value of the constant feature is an extreme anomaly
    other = X[:1].copy()
    other[0, 2] = 7.6
    assert det.score_samples(other)[0] < det.score_samples(X).min() - 1000


def test_constant_feature_warns_with_its_column_name(X):
    df = pd.DataFrame(X, columns=["latency", "load", "errors", "temp"])
    df["errors"] = 0.0
    with pytest.warns(ConstantFeatureWarning, match=r"'errors' \(column 2\)"):
        det = GaussianDetector().fit(df)
    assert np.all(np.isfinite(det.score_samples(df)))


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_constant_feature_without_reg_covar_raises(X, covariance):
    X = X.copy()
    X[:, 1] = -3.0
    with pytest.raises(ValueError, match=r"Constant feature\(s\) 'x1' \(column 1\).*reg_covar > 0"):
        GaussianDetector(covariance, reg_covar=0).fit(X)


@pytest.mark.parametrize("n", [3, 8, 10])
def test_full_with_no_more_rows_than_features_warns(rng, n):
    X = rng.normal(size=(n, 10))
    with pytest.warns(
        UserWarning, match=rf"n_samples={n} <= n_features=10.*shrinkage='ledoit-wolf'"
    ):
        det = GaussianDetector("full").fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))


def test_full_with_more_rows_than_features_does_not_warn(rng):
    X = rng.normal(size=(11, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianDetector("full").fit(X)


# ------------------------------------------------------------------- shrinkage
@pytest.mark.parametrize(
    ("n", "d", "mixed", "capped"),
    [(60, 12, True, False), (200, 5, True, False), (4, 30, False, False), (50, 5, False, True)],
)
def test_ledoit_wolf_equals_sklearn(rng, n, d, mixed, capped):
    X = rng.normal(size=(n, d))
    if mixed:
        X = X @ rng.normal(size=(d, d)) + 3.0
    det = GaussianDetector("full", shrinkage="ledoit-wolf", reg_covar=0.0).fit(X)
    expected = ledoit_wolf_shrinkage(X - X.mean(axis=0))
    assert (expected == 1.0) if capped else (0.0 < expected < 1.0)
    assert det.shrinkage_ == pytest.approx(expected, rel=1e-10)
    cov, shrink = ledoit_wolf(X)
    assert shrink == pytest.approx(det.shrinkage_, rel=1e-10)
    np.testing.assert_allclose(det.covariance_, cov, rtol=1e-10)


def test_fixed_shrinkage_formula(X):
    det = GaussianDetector("full", shrinkage=0.3, reg_covar=0.0).fit(X)
    C = np.cov(X.T, bias=True)
    expected = 0.7 * C + 0.3 * np.trace(C) / 4 * np.eye(4)
    np.testing.assert_allclose(det.covariance_, expected, rtol=1e-12)
    assert det.shrinkage_ == 0.3


def test_ledoit_wolf_conditions_the_covariance_when_n_below_d(rng):
    X = rng.normal(size=(20, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "n_samples <= n_features" warning with shrinkage
        det = GaussianDetector("full", shrinkage="ledoit-wolf").fit(X)
    assert 0.0 < det.shrinkage_ <= 1.0
    assert np.linalg.cond(det.covariance_) < 1e3
    assert np.linalg.cond(np.cov(X.T, bias=True) + 1e-6 * np.eye(50)) > 1e5
    scores = det.score_samples(rng.normal(size=(10, 50)))
    assert np.all(np.isfinite(scores))


def test_weighted_ledoit_wolf_equals_repeated_rows(rng):
    X = rng.normal(size=(40, 8)) @ rng.normal(size=(8, 8))
    w = rng.integers(1, 5, size=40)
    weighted = GaussianDetector("full", shrinkage="ledoit-wolf").fit(X, sample_weight=w)
    repeated = GaussianDetector("full", shrinkage="ledoit-wolf").fit(np.repeat(X, w, axis=0))
    assert weighted.shrinkage_ == pytest.approx(repeated.shrinkage_, rel=1e-10)
    np.testing.assert_allclose(weighted.covariance_, repeated.covariance_, rtol=1e-10)


def test_partial_fit_unavailable_with_ledoit_wolf(X):
    det = GaussianDetector("full", shrinkage="ledoit-wolf")
    assert not hasattr(det, "partial_fit")
    with pytest.raises(AttributeError):
        det.partial_fit(X)
    assert hasattr(GaussianDetector("full", shrinkage=0.2), "partial_fit")
    assert hasattr(GaussianDetector(), "partial_fit")


# -------------------------------------------------------------- input errors
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X_raises(X, bad):
    X_bad = X.copy()
    X_bad[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        GaussianDetector().fit(X_bad)
    det = GaussianDetector().fit(X)
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        det.score_samples(X_bad)


@pytest.mark.parametrize("method", ["predict", "score_samples", "decision_function", "explain"])
def test_wrong_number_of_features_raises(X, method):
    det = GaussianDetector().fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianDetector is expecting 4"):
        getattr(det, method)(X[:, :3])


def test_one_row_raises(X):
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        GaussianDetector().fit(X[:1])
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        GaussianDetector().partial_fit(X[:1])


def test_one_row_with_ddof_one_of_weight_one_raises(X):
    with pytest.raises(ValueError, match=r"total sample weight 1 must exceed ddof=1"):
        GaussianDetector(ddof=1).fit(X[:2], sample_weight=[1.0, 0.0])


@pytest.mark.parametrize(
    "method", ["predict", "score_samples", "decision_function", "density", "is_anomaly", "explain"]
)
def test_use_before_fit_raises_not_fitted(X, method):
    with pytest.raises(NotFittedError):
        getattr(GaussianDetector(), method)(X)


def test_feature_names_from_a_dataframe_are_kept(X):
    names = ["latency", "load", "errors", "temp"]
    df = pd.DataFrame(X, columns=names)
    det = GaussianDetector().fit(df)
    assert det.feature_names_in_.tolist() == names
    row = df.iloc[:1].copy()
    row["errors"] = det.mean_[2] + 9 * np.sqrt(det.var_[2])
    explanation = det.explain(row)
    assert explanation.feature_names == names
    assert explanation.to_strings(k=1) == ["errors=+9.00σ"]


def test_partial_fit_refuses_a_covariance_change(X):
    det = GaussianDetector("diag").partial_fit(X[:50])
    det.set_params(covariance="full")
    with pytest.raises(ValueError, match="covariance changed to 'full' since the last fit"):
        det.partial_fit(X[50:])
    det.fit(X)  # fit starts again
    assert det.precision_cholesky_.shape == (X.shape[1], X.shape[1])


def test_refit_drops_a_stale_threshold_result(X, rng):
    y = np.r_[np.zeros(len(X) - 5), np.ones(5)]
    Xv = X + np.r_[np.zeros(len(X) - 5), np.full(5, 6.0)][:, None]
    det = GaussianDetector().fit(X).tune_threshold(Xv, y)
    assert hasattr(det, "threshold_result_")
    det.set_threshold(epsilon=1e-3)
    assert not hasattr(det, "threshold_result_")
    det.tune_threshold(Xv, y).fit(X)
    assert not hasattr(det, "threshold_result_")


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_mahalanobis_is_the_quadratic_form_and_matches_the_log_density(covariance):
    from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 2.0]])
    X += 1e6  # far from the origin: computed from centred rows, no cancellation
    det = GaussianDetector(covariance, reg_covar=0.0).fit(X)
    rows = X[:20] + 0.5
    cov = det.covariance_ if covariance == "full" else np.diag(det.var_)
    VI = np.linalg.inv(cov)
    expected = np.array([scipy_mahalanobis(r, det.mean_, VI) ** 2 for r in rows])
    np.testing.assert_allclose(det.mahalanobis(rows), expected, rtol=1e-9)
    # log p = log p(mean) - D2 / 2
    np.testing.assert_allclose(
        det.score_samples(det.mean_[None]) - det.score_samples(rows),
        det.mahalanobis(rows) / 2,
        rtol=1e-6,
    )
    with pytest.raises(ValueError):
        det.mahalanobis(rows[:, :2])


def test_scoring_plain_arrays_skips_only_checks_that_would_return_them_unchanged(
    monkeypatch, tmp_path
):
    from sklearn.utils.validation import validate_data

    from anomalykit.detectors import _gaussian

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    det = GaussianDetector("full").fit(X)
    plain = [X, X[:1], np.asfortranarray(X), X[::3], X.astype(np.float32)]
    for A in plain:
        assert _gaussian._plain_rows(A, 4)
        assert validate_data(det, A, dtype=[np.float64, np.float32], reset=False,
                             ensure_all_finite=False) is A  # fmt: skip
        assert det._check_X(A, finite=False) is A
    seen = []
    monkeypatch.setattr(_gaussian, "validate_data", lambda *a, **k: seen.append(1) or a[1])
    mapped = np.memmap(tmp_path / "rows.f8", dtype=np.float64, mode="w+", shape=X.shape)
    others = [X.tolist(), X[:0], X[:, :3], X.astype(np.float16), X.astype(">f8"),
              X.astype(int), X.view(np.matrix), mapped]  # fmt: skip
    for A in others:
        det._check_X(A, finite=False)
    det._check_X(X)  # (finiteness is checked by validate_data)
    assert len(seen) == len(others) + 1
    monkeypatch.undo()
    with pytest.raises(ValueError, match="4 features"):
        det.score_samples(X[:, :3])
    named = GaussianDetector().fit(pd.DataFrame(X, columns=list("abcd")))
    with pytest.warns(UserWarning, match="feature names"):
        named.score_samples(X)  # (fitted with names: the plain array goes through the check)


def test_fitting_plain_arrays_records_what_validate_data_would(monkeypatch):
    import copy

    from sklearn.utils.validation import validate_data

    from anomalykit.detectors import _gaussian

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    named = GaussianDetector().fit(pd.DataFrame(X[:, :3], columns=list("abc")))
    for start in (GaussianDetector(), named):
        for A in (X, X[:2], np.asfortranarray(X), X[::3, ::2], X.astype(np.float32)):
            ref = copy.deepcopy(start)
            assert validate_data(ref, A, dtype=[np.float64, np.float32], ensure_min_samples=2,
                                 ensure_all_finite=False) is A  # fmt: skip
            got = copy.deepcopy(start).fit(A)
            assert got.n_features_in_ == ref.n_features_in_ == A.shape[1]
            assert not hasattr(got, "feature_names_in_") and not hasattr(ref, "feature_names_in_")
    seen = []
    real = _gaussian.validate_data
    monkeypatch.setattr(_gaussian, "validate_data", lambda *a, **k: seen.append(1) or real(*a, **k))
    GaussianDetector().fit(X)
    assert seen == []  # (the plain rows did not go through it)
    for A in (X[:1], X.tolist(), X.astype(int), pd.DataFrame(X)):
        with contextlib.suppress(ValueError):
            GaussianDetector().fit(A)
    assert len(seen) == 4
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        GaussianDetector().fit(X[:1])
