"""CentroidOutlierDetector: per-cluster thresholds against the guide's global rule,
the three rules by hand, frozen thresholds, cloning, small clusters, explain,
errors and scikit-learn's estimator checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from anomalykit.cluster import KMeans
from anomalykit.detectors._centroid import (
    MAD_TO_SD,
    CentroidOutlierDetector,
    DegenerateClusterWarning,
)
from anomalykit.detectors._explanation import Explanation

RULES = ["sigma", "mad", "chi2"]
TIGHT_CENTRE = np.array([0.0, 0.0])
WIDE_CENTRE = np.array([40.0, 0.0])
#: 7.5 sigma from the tight cluster along feature 1; 4.7 sigma from the wide one along feature 0.
PLANTED = np.array([[0.0, 1.5], [40.0 + 4.7 * 3.0, 0.0]])


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def X_two(rng):
    """The research notes' case: sigma 0.2 and sigma 3, 500 rows each, two planted outliers last."""
    tight = TIGHT_CENTRE + rng.normal(scale=0.2, size=(500, 2))
    wide = WIDE_CENTRE + rng.normal(scale=3.0, size=(500, 2))
    return np.vstack([tight, wide, PLANTED])


def fitted(X, rule="sigma", **params):
    params.setdefault("random_state", 0)
    return CentroidOutlierDetector(2, 3.0, rule, **params).fit(X)


def fitted_attributes(estimator):
    return sorted(k for k in vars(estimator) if k.endswith("_") and not k.startswith("__"))


# ------------------------------------------------------- the research notes' case
def test_sigma_rule_flags_both_planted_outliers_the_global_rule_misses(X_two):
    det = fitted(X_two, "sigma")
    flagged = det.is_anomaly(X_two)
    assert flagged[-2:].all()
    assert flagged[:-2].mean() < 0.01
    # The guide's rule, broadcast correctly (distance to the nearest centre), misses both.
    distance = det.clusterer_.transform(X_two).min(axis=1)
    global_rule = distance > 3 * X_two.std()
    assert not global_rule[-2:].any()
    np.testing.assert_allclose(distance, det.distances_, rtol=1e-9)


@pytest.mark.parametrize("rule", ["mad", "chi2"])
def test_robust_and_chi2_rules_flag_both_planted_outliers(X_two, rule):
    flagged = fitted(X_two, rule).is_anomaly(X_two)
    assert flagged[-2:].all()
    assert flagged[:-2].mean() < 0.02


@pytest.mark.parametrize("rule", RULES)
def test_default_eight_clusters_still_flag_both(X_two, rule):
    det = CentroidOutlierDetector(rule=rule, random_state=0).fit(X_two)
    assert det.cluster_centers_.shape == (8, 2)
    assert det.is_anomaly(PLANTED).all()


# ---------------------------------------------------------- the rules, by hand
def members(det, X, c):
    """Training distances of cluster c, from scratch."""
    d = np.linalg.norm(X[:, None, :] - det.cluster_centers_[None], axis=2)
    own = d.argmin(axis=1) == c
    return d[own, c], X[own] - det.cluster_centers_[c]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_sigma", [2.0, 3.0, 4.5])
def test_thresholds_follow_the_rule(X_two, rule, n_sigma):
    det = CentroidOutlierDetector(2, n_sigma, rule, random_state=0).fit(X_two)
    for c in range(2):
        dc, diff = members(det, X_two, c)
        std = math.sqrt(np.sum(diff**2) / diff.size)
        np.testing.assert_allclose(det.cluster_std_[c], std, rtol=1e-10)
        if rule == "sigma":
            expected = dc.mean() + n_sigma * dc.std()
        elif rule == "mad":
            median = np.median(dc)
            expected = median + n_sigma * 1.4826 * np.median(np.abs(dc - median))
        else:
            tail = 2 * stats.norm.sf(n_sigma)
            expected = std * math.sqrt(stats.chi2.isf(tail, df=2))
        np.testing.assert_allclose(det.thresholds_[c], expected, rtol=1e-10)
    assert det.offset_ == -det.critical_value_


def test_mad_constant_is_the_normal_consistency_constant():
    np.testing.assert_allclose(MAD_TO_SD, 1 / stats.norm.ppf(0.75), rtol=1e-4)


@pytest.mark.parametrize("n_sigma", [1.0, 2.5, 3.0, 5.0])
def test_chi2_with_one_feature_is_the_n_sigma_rule(rng, n_sigma):
    X = np.concatenate([rng.normal(size=300), rng.normal(size=300) * 4 + 50])[:, None]
    det = CentroidOutlierDetector(2, n_sigma, "chi2", random_state=0).fit(X)
    np.testing.assert_allclose(det.critical_value_, n_sigma, rtol=1e-9)
    np.testing.assert_allclose(det.thresholds_, n_sigma * det.cluster_std_, rtol=1e-9)


def test_chi2_critical_value_grows_with_dimension(rng):
    X = rng.normal(size=(400, 6))
    values = [
        CentroidOutlierDetector(1, 3.0, "chi2").fit(X[:, :d]).critical_value_ for d in (1, 2, 6)
    ]
    assert values[0] < values[1] < values[2]
    np.testing.assert_allclose(values[1], math.sqrt(-2 * math.log(2 * stats.norm.sf(3))))


def test_mad_falls_back_to_mean_absolute_deviation_when_mad_is_zero():
    ring = [[1, 0], [-1, 0], [0, 1], [0, -1]] * 2
    X = np.array([*ring, [0, 0], [3, 0], [-3, 0]], dtype=float)  # centre 0; 8 of 11 at d=1
    det = CentroidOutlierDetector(1, rule="mad").fit(X)
    np.testing.assert_allclose(det.cluster_centers_, [[0.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(det.locations_, [1.0])
    np.testing.assert_allclose(det.scales_, [math.sqrt(math.pi / 2) * 5 / 11], rtol=1e-12)


def test_zero_spread_cluster_warns_and_stays_finite(rng):
    X = np.vstack([np.zeros((10, 2)), rng.normal(size=(50, 2)) + 30])
    with pytest.warns(DegenerateClusterWarning, match=r"zero spread"):
        det = fitted(X)
    assert np.isfinite(det.score_samples(X)).all()
    assert not det.is_anomaly(X[:10]).any()
    assert det.is_anomaly([[0.0, 0.5]]).all()


# --------------------------------------------------- scores and their contract
def test_score_is_minus_the_distance_in_cluster_units(X_two, rng):
    det = fitted(X_two, "sigma")
    X_new = rng.uniform(-10, 60, size=(300, 2))
    d = np.linalg.norm(X_new[:, None, :] - det.cluster_centers_[None], axis=2)
    own = d.argmin(axis=1)
    dist = d[np.arange(len(X_new)), own]
    expected = -(dist - det.locations_[own]) / det.scales_[own]
    np.testing.assert_allclose(det.score_samples(X_new), expected, rtol=1e-10)
    np.testing.assert_array_equal(det.predict_cluster(X_new), own)
    np.testing.assert_array_equal(det.is_anomaly(X_new), dist > det.thresholds_[own])


@pytest.mark.parametrize("rule", RULES)
def test_predict_is_anomaly_decision_agree(X_two, rng, rule):
    det = fitted(X_two, rule)
    X_new = np.vstack([X_two, rng.uniform(-10, 60, size=(300, 2))])
    scores = det.score_samples(X_new)
    decision = det.decision_function(X_new)
    np.testing.assert_allclose(decision, scores - det.offset_, rtol=0, atol=0)
    flags = det.is_anomaly(X_new)
    assert flags.dtype == bool
    np.testing.assert_array_equal(det.predict(X_new), np.where(flags, -1, 1))
    np.testing.assert_array_equal(flags, decision < 0)
    assert 0 < flags.sum() < len(X_new)


@pytest.mark.parametrize("rule", RULES)
def test_fit_predict_equals_fit_then_predict(X_two, rule):
    a = CentroidOutlierDetector(2, rule=rule, random_state=0).fit_predict(X_two)
    b = fitted(X_two, rule).predict(X_two)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, np.where(fitted(X_two, rule).is_anomaly(X_two), -1, 1))


def test_training_attributes(X_two):
    det = fitted(X_two)
    assert det.labels_.shape == det.distances_.shape == (1002,)
    np.testing.assert_array_equal(det.labels_, det.clusterer_.labels_)
    np.testing.assert_allclose(det.cluster_centers_, det.clusterer_.cluster_centers_)
    expected = np.linalg.norm(X_two - det.cluster_centers_[det.labels_], axis=1)
    np.testing.assert_allclose(det.distances_, expected, rtol=1e-12)
    np.testing.assert_array_equal(det.cluster_sizes_, np.bincount(det.labels_))
    assert det.thresholds_.shape == det.scales_.shape == det.locations_.shape == (2,)
    assert not det.small_clusters_.any()


# --------------------------------------------------- frozen, row-wise thresholds
@pytest.mark.parametrize("rule", RULES)
def test_rows_scored_alone_equal_rows_scored_together(X_two, rng, rule):
    det = fitted(X_two, rule)
    X_new = rng.uniform(-10, 60, size=(40, 2))
    together = det.score_samples(X_new)
    alone = np.array([det.score_samples(row[None, :])[0] for row in X_new])
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(det.score_samples(X_new[::-1]), together[::-1])


@pytest.mark.parametrize("rule", RULES)
def test_new_data_is_judged_by_the_fit_time_thresholds(X_two, rng, rule):
    det = fitted(X_two, rule)
    thresholds = det.thresholds_.copy()
    # A batch made only of anomalies: a threshold re-estimated on it would pass most of it.
    angles = rng.uniform(0, 2 * np.pi, size=30)
    ring = np.c_[np.cos(angles), np.sin(angles)]
    batch = np.vstack([TIGHT_CENTRE + 6 * 0.2 * ring, WIDE_CENTRE + 6 * 3.0 * ring])
    assert det.is_anomaly(batch).all()
    d = np.linalg.norm(batch[:, None, :] - det.cluster_centers_[None], axis=2)
    own = d.argmin(axis=1)
    np.testing.assert_array_equal(
        det.predict(batch), np.where(d[np.arange(len(batch)), own] > thresholds[own], -1, 1)
    )
    np.testing.assert_array_equal(det.thresholds_, thresholds)
    # A batch of ordinary rows passes, one at a time or together.
    inliers = np.vstack([TIGHT_CENTRE + 0.2 * ring, WIDE_CENTRE + 3.0 * ring])
    assert not det.is_anomaly(inliers).any()
    assert not any(det.is_anomaly(row[None, :])[0] for row in inliers)


# ------------------------------------------------------------------- clusterer
@pytest.mark.parametrize(
    "clusterer",
    [KMeans(n_clusters=3, random_state=0), SklearnKMeans(n_clusters=3, n_init=2, random_state=0)],
    ids=["anomalykit", "sklearn"],
)
def test_clusterer_is_cloned_not_mutated(X_two, clusterer):
    params = clusterer.get_params()
    det = CentroidOutlierDetector(clusterer=clusterer).fit(X_two)
    assert det.clusterer_ is not clusterer
    assert det.clusterer is clusterer
    assert clusterer.get_params() == params
    assert fitted_attributes(clusterer) == []
    assert not hasattr(clusterer, "cluster_centers_")
    assert det.clusterer_.get_params() == params
    # Its settings win over the detector's n_clusters=8.
    assert det.cluster_centers_.shape == (3, 2)
    assert det.is_anomaly(PLANTED).all()


def test_default_clusterer_is_our_seeded_kmeans(X_two):
    det = CentroidOutlierDetector(3, random_state=7).fit(X_two)
    assert type(det.clusterer_) is KMeans
    assert det.clusterer_.n_clusters == 3 and det.clusterer_.random_state == 7
    again = CentroidOutlierDetector(3, random_state=7).fit(X_two)
    np.testing.assert_array_equal(det.thresholds_, again.thresholds_)


def test_cosine_clusterer_is_refused(X_two):
    clusterer = KMeans(n_clusters=2, metric="cosine")
    with pytest.raises(ValueError, match=r"Euclidean distances.*metric='cosine'"):
        CentroidOutlierDetector(clusterer=clusterer).fit(X_two)


def test_clusterer_without_centres_is_refused(X_two):
    from sklearn.cluster import AgglomerativeClustering

    with pytest.raises(ValueError, match=r"no cluster_centers_ after fit"):
        CentroidOutlierDetector(clusterer=AgglomerativeClustering(2)).fit(X_two)


# -------------------------------------------------------------- small clusters
@pytest.fixture
def X_small(rng):
    """A blob of 300 rows and 3 rows far away; K-means gives the 3 a cluster of their own."""
    blob = rng.normal(size=(300, 2))
    far = np.array([[20.0, 20.0], [20.5, 20.0], [20.0, 20.5]])
    return np.vstack([blob, far])


def test_small_cluster_is_dissolved_and_its_rows_flagged(X_small):
    det = fitted(X_small, min_cluster_size=None)
    assert det.min_cluster_size_ == max(5, math.ceil(0.1 * 303 / 2))
    small = int(np.flatnonzero(det.small_clusters_)[0])
    big = 1 - small
    np.testing.assert_array_equal(det.small_clusters_, np.arange(2) == small)
    np.testing.assert_array_equal(det.cluster_sizes_[[big, small]], [300, 3])
    for attribute in ("thresholds_", "scales_", "locations_", "cluster_std_"):
        value = getattr(det, attribute)
        assert np.isnan(value[small]) and np.isfinite(value[big])
    # Its rows are scored against the big cluster, so they are flagged ...
    np.testing.assert_array_equal(det.labels_, np.full(303, big))
    flagged = det.is_anomaly(X_small)
    assert flagged[300:].all() and flagged[:300].mean() < 0.02
    np.testing.assert_allclose(
        det.distances_[300:], np.linalg.norm(X_small[300:] - det.cluster_centers_[big], axis=1)
    )
    # ... and so is a new row sitting on the dissolved centre.
    centre = det.cluster_centers_[small][None, :]
    assert det.is_anomaly(centre).all()
    assert det.predict_cluster(centre)[0] == big
    # The big cluster's statistics come from its own 300 rows only.
    blob_d = np.linalg.norm(X_small[:300] - det.cluster_centers_[big], axis=1)
    np.testing.assert_allclose(det.thresholds_[big], blob_d.mean() + 3 * blob_d.std(), rtol=1e-12)


def test_a_lower_min_cluster_size_keeps_the_small_cluster(X_small):
    det = fitted(X_small, min_cluster_size=3)
    assert not det.small_clusters_.any()
    assert not det.is_anomaly(X_small[300:]).any()  # three rows cannot reach 3 sigma


def test_default_min_cluster_size_is_a_tenth_of_the_average(rng):
    X = rng.normal(size=(2000, 2))
    assert CentroidOutlierDetector(4, random_state=0).fit(X).min_cluster_size_ == 50
    assert CentroidOutlierDetector(4, random_state=0).fit(X[:40]).min_cluster_size_ == 5


def test_no_cluster_large_enough_raises(X_two):
    with pytest.raises(ValueError, match=r"No cluster has min_cluster_size=2000 rows"):
        fitted(X_two, min_cluster_size=2000)


# --------------------------------------------------------------------- explain
@pytest.mark.parametrize("rule", RULES)
def test_explain_ranks_the_displaced_feature_first(X_two, rule):
    det = fitted(X_two, rule)
    explanation = det.explain(PLANTED)
    assert isinstance(explanation, Explanation) and explanation.kind == "centroid"
    np.testing.assert_array_equal(explanation.ranking[:, 0], [1, 0])
    strings = explanation.to_strings(k=1)
    assert strings[0].startswith("x1=+") and strings[1].startswith("x0=+")


def test_explain_contributions_are_shares_of_the_squared_distance(X_two, rng):
    det = fitted(X_two)
    X_new = np.vstack([PLANTED, rng.uniform(-10, 60, size=(50, 2))])
    explanation = det.explain(X_new)
    own = det.predict_cluster(X_new)
    diff = X_new - det.cluster_centers_[own]
    std = det.cluster_std_[own][:, None]
    np.testing.assert_allclose(explanation.z, diff / std, rtol=1e-12)
    np.testing.assert_allclose(explanation.contributions, -0.5 * (diff / std) ** 2, rtol=1e-12)
    sq = np.sum(diff**2, axis=1)
    total = explanation.contributions.sum(axis=1)
    np.testing.assert_allclose(total, -sq / (2 * det.cluster_std_[own] ** 2), rtol=1e-12)
    np.testing.assert_allclose(explanation.contributions / total[:, None], diff**2 / sq[:, None])


def test_explain_ranks_a_planted_feature_in_more_dimensions(rng):
    centres = np.array([[0.0] * 5, [30.0] * 5])
    X = np.vstack(
        [c + rng.normal(scale=s, size=(400, 5)) for c, s in zip(centres, [0.5, 2.0], strict=True)]
    )
    det = CentroidOutlierDetector(2, random_state=0).fit(X)
    pick = rng.integers(0, 800, size=60)
    planted = rng.integers(0, 5, size=60)
    X_new = X[pick].copy()
    scale = np.where(pick < 400, 0.5, 2.0)
    X_new[np.arange(60), planted] += 8 * scale * rng.choice([-1, 1], size=60)
    np.testing.assert_array_equal(det.explain(X_new).ranking[:, 0], planted)


def test_explain_uses_dataframe_column_names(X_two):
    frame = pd.DataFrame(X_two, columns=["latency", "throughput"])
    det = CentroidOutlierDetector(2, random_state=0).fit(frame)
    planted = pd.DataFrame(PLANTED, columns=["latency", "throughput"])
    assert det.explain(planted).to_strings(k=1)[0].startswith("throughput=")


# ------------------------------------------------------------ inputs and errors
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_sigma": 0.0}, r"'n_sigma' parameter of CentroidOutlierDetector must be a real"),
        ({"n_sigma": -1.0}, r"'n_sigma' parameter .* Got -1.0 instead"),
        ({"n_sigma": float("nan")}, r"'n_sigma' parameter"),
        ({"n_sigma": "3"}, r"'n_sigma' parameter"),
        ({"rule": "zscore"}, r"'rule' parameter .* one of 'sigma', 'mad', 'chi2'. Got 'zscore'"),
        ({"n_clusters": 0}, r"'n_clusters' parameter .* an integer"),
        ({"n_clusters": 2.5}, r"'n_clusters' parameter"),
        ({"min_cluster_size": 0}, r"'min_cluster_size' parameter"),
        ({"min_cluster_size": 2.5}, r"'min_cluster_size' parameter"),
        ({"clusterer": "kmeans"}, r"'clusterer' parameter .* KMeans-like estimator"),
        ({"clusterer": KMeans}, r"'clusterer' parameter .* Got <class"),
        ({"rule": "chi2", "n_sigma": 40.0}, r"too large for rule='chi2'"),
    ],
)
def test_bad_parameters_raise(X_two, params, match):
    with pytest.raises(ValueError, match=match):
        CentroidOutlierDetector(**params).fit(X_two)


def test_parameters_are_not_validated_in_init():
    det = CentroidOutlierDetector(n_sigma=-1, rule="nope")
    assert det.n_sigma == -1 and det.rule == "nope"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_raises(X_two, bad):
    X = X_two.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        fitted(X)
    det = fitted(X_two)
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        det.score_samples(X[:5])


@pytest.mark.parametrize("method", ["score_samples", "predict", "is_anomaly", "explain"])
def test_wrong_number_of_features_raises(X_two, method):
    det = fitted(X_two)
    with pytest.raises(ValueError, match=r"3 features.*expecting 2"):
        getattr(det, method)(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "method", ["score_samples", "decision_function", "predict", "is_anomaly", "explain"]
)
def test_use_before_fit_raises_not_fitted(X_two, method):
    with pytest.raises(NotFittedError):
        getattr(CentroidOutlierDetector(), method)(X_two)


def test_too_few_rows_for_the_clusters_raises(X_two):
    with pytest.raises(ValueError, match=r"n_samples=3 should be >= n_clusters=5"):
        CentroidOutlierDetector(5).fit(X_two[:3])


@pytest.mark.parametrize("kind", ["list", "float32"])
def test_containers_and_dtypes(X_two, kind):
    X = X_two.tolist() if kind == "list" else X_two.astype(np.float32)
    det = fitted(X)
    reference = fitted(X_two)
    np.testing.assert_array_equal(det.predict(X), reference.predict(X_two))
    np.testing.assert_allclose(det.thresholds_, reference.thresholds_, rtol=1e-5)


def test_input_not_mutated(X_two):
    before = X_two.copy()
    det = fitted(X_two)
    det.score_samples(X_two)
    det.explain(X_two)
    np.testing.assert_array_equal(X_two, before)


def test_refit_with_other_parameters_equals_fresh_fit(X_two, X_small):
    det = fitted(X_small, min_cluster_size=None)
    det.set_params(rule="mad", min_cluster_size=3).fit(X_two)
    fresh = fitted(X_two, "mad", min_cluster_size=3)
    for name in fitted_attributes(fresh):
        if name != "clusterer_":
            np.testing.assert_array_equal(getattr(det, name), getattr(fresh, name), err_msg=name)


def test_clone_of_the_detector_is_unfitted(X_two):
    det = fitted(X_two)
    assert fitted_attributes(clone(det)) == []


# ---------------------------------------------------- scikit-learn's own checks
# check_outliers_train wants some of its 300 blob rows flagged: on three clean Gaussian
# blobs a 3-sigma rule on three clusters may flag none, so those run at 2 sigma.
ESTIMATORS = [
    CentroidOutlierDetector(2, random_state=0),
    CentroidOutlierDetector(3, 2.0, "mad", random_state=0),
    CentroidOutlierDetector(
        n_sigma=2.0, rule="chi2", clusterer=KMeans(n_clusters=3, random_state=0)
    ),
]


def _expected_failed_checks(estimator):
    """Checks that cannot pass, each with its reason: none, every check passes."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
