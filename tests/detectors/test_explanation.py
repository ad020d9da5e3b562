"""explain: marginal and conditional z-scores, contributions, ranking and rendering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalykit import Explanation, GaussianDetector


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def X(rng):
    A = rng.normal(size=(5, 5)) * 0.25 + np.eye(5)
    return rng.normal(size=(2000, 5)) @ A + np.arange(5.0) * 3


def conditional_z(mean, cov, x):
    """z of x_j under x_j | x_-j ~ N(mu_j + S_jo S_oo^-1 (x_o - mu_o), S_jj - S_jo S_oo^-1 S_oj)."""
    d = len(mean)
    z = np.empty(d)
    for j in range(d):
        o = [k for k in range(d) if k != j]
        gain = np.linalg.solve(cov[np.ix_(o, o)], cov[o, j])
        cond_mean = mean[j] + gain @ (x[o] - mean[o])
        cond_var = cov[j, j] - cov[j, o] @ gain
        z[j] = (x[j] - cond_mean) / np.sqrt(cond_var)
    return z


# ------------------------------------------------------------------------ diag
def test_diag_z_is_the_standardised_value(X, rng):
    det = GaussianDetector().fit(X)
    X_new = rng.normal(size=(40, 5)) * 4
    explanation = det.explain(X_new)
    assert explanation.kind == "marginal"
    np.testing.assert_allclose(explanation.z, (X_new - det.mean_) / np.sqrt(det.var_), rtol=1e-13)
    np.testing.assert_allclose(explanation.contributions, -0.5 * explanation.z**2, rtol=1e-13)


def test_diag_contributions_add_up_to_the_score(X, rng):
    det = GaussianDetector().fit(X)
    X_new = rng.normal(size=(40, 5)) * 4
    at_mean = det.score_samples(det.mean_[None, :])[0]
    total = det.explain(X_new).contributions.sum(axis=1)
    np.testing.assert_allclose(total, det.score_samples(X_new) - at_mean, rtol=1e-12)
    np.testing.assert_allclose(det.explain(det.mean_[None, :]).z, 0.0, atol=1e-12)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_ranking_puts_the_planted_feature_first(X, rng, covariance):
    det = GaussianDetector(covariance).fit(X)
    n = 60
    X_new = X[rng.choice(len(X), size=n, replace=False)]
    planted = rng.integers(0, 5, size=n)
    sign = rng.choice([-1.0, 1.0], size=n)
    if covariance == "full":  # 10 conditional standard deviations
        precision = det.precision_cholesky_ @ det.precision_cholesky_.T
        step = 1.0 / np.sqrt(np.diag(precision))
    else:
        step = np.sqrt(det.var_)
    X_new[np.arange(n), planted] += 10 * sign * step[planted]
    explanation = det.explain(X_new)
    np.testing.assert_array_equal(explanation.ranking[:, 0], planted)
    z_planted = explanation.z[np.arange(n), planted]
    assert np.all(np.sign(z_planted) == sign)
    assert np.all(np.abs(z_planted) > 6)
    assert [row[0][0] for row in explanation.top(1)] == [f"x{j}" for j in planted]


# ------------------------------------------------------------------------ full
def test_correlated_pair_conditional_z_exposes_the_contradiction(rng):
    cov = np.array([[1.0, 0.95], [0.95, 1.0]])
    X = rng.multivariate_normal([0.0, 0.0], cov, size=20_000)
    full = GaussianDetector("full").fit(X)
    diag = GaussianDetector().fit(X)
    point = np.array([[2.0, -2.0]])
    marginal = diag.explain(point)
    conditional = full.explain(point)
    assert conditional.kind == "conditional"
    assert np.all(np.abs(marginal.z) < 2.2)  # each value is ordinary on its own
    assert np.all(np.abs(conditional.z) > 10)  # impossible given the other
    # analytic: x1 | x2 = -2 has mean -1.9 and variance 1 - 0.95^2
    expected = (2.0 + 1.9) / np.sqrt(1 - 0.95**2)
    np.testing.assert_allclose(np.abs(conditional.z[0]), expected, rtol=0.05)
    np.testing.assert_allclose(
        conditional.z[0], conditional_z(full.mean_, full.covariance_, point[0]), rtol=1e-10
    )
    assert conditional.z[0, 0] > 0 > conditional.z[0, 1]


def test_full_z_equals_analytic_conditional(X, rng):
    det = GaussianDetector("full", reg_covar=1e-3).fit(X)
    X_new = X[:10] + rng.normal(size=(10, 5)) * 2
    z = det.explain(X_new).z
    for i in range(10):
        np.testing.assert_allclose(
            z[i], conditional_z(det.mean_, det.covariance_, X_new[i]), rtol=1e-9
        )


def test_full_of_uncorrelated_features_matches_diag(rng):
    # centred orthogonal columns: the sample covariance is exactly diagonal
    Z = rng.normal(size=(500, 3))
    Q, _ = np.linalg.qr(Z - Z.mean(axis=0))
    X = Q * np.sqrt(500) * [1.0, 2.0, 0.5] + [10.0, -1.0, 0.0]
    X_new = X[:5] * 3
    full = GaussianDetector("full").fit(X).explain(X_new)
    diag = GaussianDetector().fit(X).explain(X_new)
    np.testing.assert_allclose(full.z, diag.z, rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(full.ranking, diag.ranking)


# ------------------------------------------------------------------ rendering
def test_to_strings_top_and_to_dict_by_hand():
    explanation = Explanation(
        feature_names=["latency", "load", "errors"],
        z=np.array([[1.234, -5.678, 0.1], [0.0, 0.0, 3.0]]),
        contributions=-0.5 * np.array([[1.234, -5.678, 0.1], [0.0, 0.0, 3.0]]) ** 2,
        kind="marginal",
    )
    assert explanation.to_strings(k=2) == [
        "load=-5.68σ; latency=+1.23σ",
        "errors=+3.00σ; latency=+0.00σ",
    ]
    assert explanation.to_strings() == [
        "load=-5.68σ; latency=+1.23σ; errors=+0.10σ",
        "errors=+3.00σ; latency=+0.00σ; load=+0.00σ",  # ties keep column order
    ]
    assert explanation.to_strings(k=10) == explanation.to_strings(k=3)
    assert explanation.top(1) == [[("load", -5.678)], [("errors", 3.0)]]
    assert explanation.to_dict(k=1) == [
        {"features": [{"feature": "load", "z": -5.678}]},
        {"features": [{"feature": "errors", "z": 3.0}]},
    ]
    np.testing.assert_array_equal(explanation.ranking, [[1, 0, 2], [2, 0, 1]])
    assert len(explanation) == 2
    assert repr(explanation) == "Explanation(n_samples=2, n_features=3, kind='marginal')"


def test_docstring_example_by_hand():
    X = np.array([[1.0, 2.0], [1.2, 1.9], [0.8, 2.1], [1.1, 2.2], [0.9, 1.8]])
    det = GaussianDetector(epsilon=1e-3).fit(X)
    # mean (1, 2), both variances 0.02 + 1e-6: z = +-2 / sqrt(0.020001) = +-14.14, a tie
    # that keeps column order
    explanation = det.explain([[3.0, 0.0]])
    np.testing.assert_allclose(explanation.z, [[2.0, -2.0]] / np.sqrt(0.020001), rtol=1e-12)
    assert explanation.to_strings(k=2) == ["x0=+14.14σ; x1=-14.14σ"]


def test_names_from_a_dataframe(X):
    names = ["a", "b", "c", "d", "e"]
    det = GaussianDetector().fit(pd.DataFrame(X, columns=names))
    row = pd.DataFrame([det.mean_], columns=names)
    row["d"] += 5 * np.sqrt(det.var_[3])
    explanation = det.explain(row)
    assert explanation.feature_names == names
    assert explanation.to_strings(k=1) == ["d=+5.00σ"]
