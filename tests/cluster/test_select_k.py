"""select_k: the right K on separated blobs, no K on noise, columns equal to their definitions."""

import dataclasses
import json

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.datasets import make_blobs
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.preprocessing import normalize

from anomalykit.cluster import KMeans
from anomalykit.cluster import _select_k as module
from anomalykit.cluster._kneedle import find_elbow
from anomalykit.cluster._select_k import KSelection, select_k


def separated_blobs(n, n_features, centers, std, seed):
    X, _, C = make_blobs(
        n, n_features, centers=centers, cluster_std=std, random_state=seed, return_centers=True
    )
    # "Well separated": every pair of centres at least 8 standard deviations apart.
    assert pdist(C).min() >= 8 * std
    return X


BLOBS = {
    "3 centres, 2-D": (dict(n=600, n_features=2, centers=3, std=0.5, seed=1), range(1, 11)),
    "5 centres, 2-D": (dict(n=1000, n_features=2, centers=5, std=0.5, seed=3), range(1, 11)),
    "8 centres, 2-D": (dict(n=1200, n_features=2, centers=8, std=0.3, seed=0), range(1, 13)),
    "6 centres, 10-D": (dict(n=1200, n_features=10, centers=6, std=1.0, seed=0), range(1, 11)),
}


@pytest.fixture(scope="module")
def uniform_2d():
    X = np.random.default_rng(0).uniform(size=(500, 2))
    return X, select_k(X, random_state=0)


@pytest.fixture(scope="module")
def small():
    X = separated_blobs(120, 2, 3, 0.5, seed=1)
    return X, select_k(X, range(1, 7), n_refs=4, random_state=0)


# ----------------------------------------------------------------- the verdict
@pytest.mark.parametrize("case", list(BLOBS))
def test_separated_blobs_give_the_true_k(case):
    params, ks = BLOBS[case]
    X = separated_blobs(**params)
    sel = select_k(X, ks, random_state=0)
    true_k = params["centers"]
    assert sel.k == true_k
    assert sel.silhouette_k == true_k
    assert sel.gap_k == true_k
    assert sel.reasons[0].startswith(f"K={true_k}: ")
    # The data is far more clustered than its uniform reference at the true K.
    assert sel.gap[list(sel.ks).index(true_k)] > sel.gap[0] + 1.0


def test_uniform_noise_has_no_clear_k(uniform_2d):
    _, sel = uniform_2d
    assert sel.k in (None, 1)
    assert sel.gap_k == 1
    # The elbow and the silhouette do name a K on noise: the gap statistic must veto it.
    assert sel.elbow_k is not None and sel.silhouette_k is not None
    assert sel.reasons[0].startswith("No clear K: the gap statistic finds no more structure")


def test_uniform_noise_in_10d_is_one_cluster():
    X = np.random.default_rng(1).uniform(size=(400, 10))
    sel = select_k(X, random_state=1)
    assert sel.gap_k == 1
    assert np.nanmax(sel.silhouette) < module.WEAK_SILHOUETTE
    assert sel.k == 1
    assert sel.reasons[0].startswith("K=1, no cluster structure")


def test_a_dip_of_the_gap_1se_rule_does_not_hide_clear_clusters():
    # Two groups of blobs: K=2 splits them badly, so Gap(2) < Gap(1) and the 1-SE
    # rule stops at K=1, although Gap later rises far above Gap(1).
    X = separated_blobs(1000, 2, 5, 0.5, seed=7)
    sel = select_k(X, random_state=0)
    assert sel.gap_k == 1
    assert np.nanmax(sel.gap) - sel.gap[0] > np.log(2)
    assert sel.k == 5
    assert "dip" in sel.reasons[0]


# ----------------------------------------------------------------- consensus rule, unit level
def consensus(elbow, sil_k, gap_k, *, sil=None, gap=None, se=None, ks=range(1, 7)):
    ks = np.asarray(ks)
    sil = np.full(ks.size, 0.5) if sil is None else np.asarray(sil, dtype=float)
    gap = np.zeros(ks.size) if gap is None else np.asarray(gap, dtype=float)
    se = np.full(ks.size, 0.01) if se is None else np.asarray(se, dtype=float)
    return module._consensus(elbow, sil_k, gap_k, sil, gap, se, ks)


def test_consensus_is_the_majority_of_elbow_silhouette_and_gap():
    assert consensus(3, 3, 3)[0] == 3
    assert consensus(2, 4, 4) == (4, "K=4: silhouette and gap agree (elbow says 2).")
    assert consensus(4, 4, None)[0] == 4
    assert consensus(None, 4, 4)[1] == "K=4: silhouette and gap agree (elbow has no answer)."


def test_consensus_is_none_when_the_criteria_disagree():
    k, reason = consensus(2, 3, 4)
    assert k is None
    assert reason == "No clear K: the criteria disagree (elbow 2, silhouette 3, gap 4)."
    assert consensus(None, 3, None)[0] is None
    assert consensus(None, None, None)[1].startswith("No clear K: no criterion")


def test_gap_k1_vetoes_unless_elbow_and_silhouette_agree_strongly():
    sil = [np.nan, 0.5, 0.69, 0.5, 0.4, 0.3]
    k, reason = consensus(3, 3, 1, sil=sil)
    assert k is None
    assert "too weak to overrule" in reason
    sil[2] = 0.75
    k, reason = consensus(3, 3, 1, sil=sil)
    assert k == 3
    assert "overruling the gap statistic's K=1" in reason
    assert consensus(2, 3, 1, sil=sil)[0] is None  # strong, but they do not agree


def test_gap_k1_and_weak_silhouette_mean_one_cluster():
    k, reason = consensus(3, 2, 1, sil=[np.nan, 0.2, 0.1, 0.1, 0.1, 0.1])
    assert k == 1
    assert reason.startswith("K=1, no cluster structure")


def test_gap_k1_followed_by_a_large_rise_votes_for_the_global_maximum():
    gap = [0.5, 0.2, 0.9, 1.5, 1.48, 1.3]
    k, reason = consensus(3, 4, 1, gap=gap, se=[0.05] * 6)
    assert k == 4  # smallest K with Gap(K) >= 1.5 - 0.05, agreeing with the silhouette
    assert "dip" in reason
    # A rise below log 2 is noise: still no structure.
    assert consensus(3, 4, 1, gap=[0.5, 0.4, 0.9, 1.1, 1.0, 0.9])[0] is None


def test_one_se_rule():
    ks = np.arange(1, 6)
    se = np.full(5, 0.1)
    rule = module._one_se_rule
    assert rule(ks, np.array([0.1, 0.5, 0.9, 0.85, 0.95]), se) == 3
    assert rule(ks, np.array([0.1, 0.15, 0.9, 0.85, 0.95]), se) == 1
    assert rule(ks, np.array([0.1, 0.5, 0.9, 1.3, 1.7]), se) is None  # still rising
    assert rule(ks, np.array([np.nan, 0.5, 0.9, 0.95, 0.9]), se) == 3
    assert rule(np.array([2, 4, 8]), np.array([0.2, 0.4, 0.45]), np.full(3, 0.1)) == 4


# ----------------------------------------------------------------- columns against definitions
def test_wcss_is_kmeans_inertia_with_the_same_settings(small):
    X, sel = small
    for k, wcss in zip(sel.ks, sel.wcss, strict=True):
        assert wcss == KMeans(int(k), n_init=3, random_state=0).fit(X).inertia_


def test_metric_columns_equal_scikit_learn_on_the_fitted_labels(small):
    X, sel = small
    assert np.isnan([sel.silhouette[0], sel.davies_bouldin[0], sel.calinski_harabasz[0]]).all()
    for i, k in enumerate(sel.ks[1:], start=1):
        labels = KMeans(int(k), n_init=3, random_state=0).fit(X).labels_
        assert sel.silhouette[i] == pytest.approx(silhouette_score(X, labels), abs=1e-10)
        assert sel.davies_bouldin[i] == pytest.approx(davies_bouldin_score(X, labels), abs=1e-10)
        assert sel.calinski_harabasz[i] == pytest.approx(
            calinski_harabasz_score(X, labels), rel=1e-10
        )


def test_cosine_uses_cosine_silhouette_and_unit_rows_for_the_other_indices():
    X = np.abs(separated_blobs(150, 3, 3, 0.5, seed=1)) + 0.1
    sel = select_k(X, range(1, 5), metric="cosine", n_refs=3, random_state=0)
    for i, k in enumerate(sel.ks[1:], start=1):
        km = KMeans(int(k), n_init=3, metric="cosine", random_state=0).fit(X)
        assert sel.wcss[i] == km.inertia_
        sil = silhouette_score(X, km.labels_, metric="cosine")
        assert sel.silhouette[i] == pytest.approx(sil, abs=1e-10)
        db = davies_bouldin_score(normalize(X), km.labels_)
        assert sel.davies_bouldin[i] == pytest.approx(db, abs=1e-10)


def test_weighted_wcss(small):
    X, _ = small
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=len(X))
    sel = select_k(X, [1, 2, 3, 4], n_refs=2, sample_weight=w, random_state=0)
    for k, wcss in zip(sel.ks, sel.wcss, strict=True):
        expected = KMeans(int(k), n_init=3, random_state=0).fit(X, sample_weight=w).inertia_
        assert wcss == expected


def test_gap_columns(small, uniform_2d):
    for _, sel in (small, uniform_2d):
        assert np.isfinite(sel.gap).all()
        assert (sel.gap_se > 0).all()


def test_gap_standard_error_is_sd_times_sqrt_1_plus_1_over_b(monkeypatch):
    # Recompute Gap and s_K from the reference sets select_k draws (same generator).
    X = separated_blobs(90, 2, 3, 0.5, seed=1)
    ks, B = np.array([1, 2, 3, 4]), 5
    sel = select_k(X, ks, n_refs=B, random_state=0)
    rng = np.random.default_rng(0)
    centre = X.mean(axis=0)
    _, _, axes = np.linalg.svd(X - centre, full_matrices=False)
    proj = (X - centre) @ axes.T
    log_ref = np.empty((B, ks.size))
    for b in range(B):
        Z = rng.uniform(proj.min(0), proj.max(0), size=X.shape) @ axes + centre
        for i, k in enumerate(ks):
            log_ref[b, i] = np.log(KMeans(int(k), n_init=3, random_state=rng).fit(Z).inertia_)
    expected_gap = log_ref.mean(0) - np.log(sel.wcss)
    np.testing.assert_allclose(sel.gap, expected_gap, rtol=1e-12)
    np.testing.assert_allclose(sel.gap_se, log_ref.std(0) * np.sqrt(1 + 1 / B), rtol=1e-12)


def test_k_equal_to_n_samples_leaves_undefined_values_as_nan():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [9.0, 9.0], [9.0, 10.0], [10.0, 9.0]])
    sel = select_k(X, range(1, 7), n_refs=3, random_state=0)
    assert sel.wcss[-1] == 0.0
    assert np.isnan([sel.silhouette[-1], sel.gap[-1], sel.gap_se[-1]]).all()
    assert np.isfinite(sel.silhouette[1:-1]).all()
    assert sel.silhouette_k == 2


def test_elbow_uses_the_running_minimum_when_wcss_rises(monkeypatch):
    # A 1/K-like WCSS curve (elbow at K=3) that rises at K=5, as after a bad local optimum.
    smooth = {1: 100.0, 2: 50.0, 3: 33.0, 4: 25.0, 5: 20.0, 6: 17.0, 7: 14.0, 8: 12.5}
    curve = {**smooth, 5: 60.0}

    class Prescribed(KMeans):
        def fit(self, X, y=None, sample_weight=None):
            super().fit(X, sample_weight=sample_weight)
            self.inertia_ = curve[self.n_clusters]
            return self

    monkeypatch.setattr(module, "KMeans", Prescribed)
    X = separated_blobs(120, 2, 3, 0.5, seed=1)
    sel = select_k(X, range(1, 9), n_refs=2, random_state=0)
    np.testing.assert_array_equal(sel.wcss, list(curve.values()))  # reported as fitted
    running_min = np.minimum.accumulate(sel.wcss)
    assert running_min[4] == 25.0
    assert sel.elbow_k == find_elbow(sel.ks, running_min) == 3
    assert sel.elbow_k == find_elbow(list(smooth), list(smooth.values()))
    assert any("WCSS rose at K=5" in r and "running minimum" in r for r in sel.reasons)


def test_silhouette_sample_size(small):
    X, full = small
    sel = select_k(X, range(1, 7), n_refs=4, silhouette_sample_size=60, random_state=0)
    assert np.isnan(sel.silhouette[0]) and np.isfinite(sel.silhouette[1:]).all()
    assert not np.allclose(sel.silhouette[1:], full.silhouette[1:])
    again = select_k(X, range(1, 7), n_refs=4, silhouette_sample_size=60, random_state=0)
    np.testing.assert_array_equal(sel.silhouette, again.silhouette)
    # Not below n_samples: ignored, so the silhouette is exact.
    exact = select_k(X, range(1, 7), n_refs=4, silhouette_sample_size=len(X), random_state=0)
    np.testing.assert_array_equal(exact.silhouette, full.silhouette)


def test_no_reference_sets_skip_the_gap_statistic(small):
    X, _ = small
    sel = select_k(X, range(1, 7), n_refs=0, random_state=0)
    assert np.isnan(sel.gap).all() and np.isnan(sel.gap_se).all()
    assert sel.gap_k is None
    assert "gap: not computed (n_refs=0)." in sel.reasons


# ----------------------------------------------------------------- determinism
def test_same_int_seed_same_result(small):
    X, sel = small
    again = select_k(X, range(1, 7), n_refs=4, random_state=0)
    assert again.to_dict() == sel.to_dict()


def test_same_generator_seed_same_result(small):
    X, _ = small
    a = select_k(X, range(1, 7), n_refs=4, random_state=np.random.default_rng(7))
    b = select_k(X, range(1, 7), n_refs=4, random_state=np.random.default_rng(7))
    assert a.to_dict() == b.to_dict()


def test_input_order_of_ks_and_duplicates_do_not_matter(small):
    X, sel = small
    again = select_k(X, [6, 5, 4, 3, 3, 2, 1], n_refs=4, random_state=0)
    assert again.to_dict() == sel.to_dict()


def test_does_not_modify_x(small):
    X, _ = small
    copy = X.copy()
    select_k(X, [1, 2, 3], n_refs=2, random_state=0)
    np.testing.assert_array_equal(X, copy)


# ----------------------------------------------------------------- the result object
def test_result_is_frozen_with_a_readable_repr(small):
    _, sel = small
    assert isinstance(sel, KSelection)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.k = 2
    assert repr(sel) == (
        "KSelection(k=3, elbow_k=2, silhouette_k=3, gap_k=3, davies_bouldin_k=3, "
        "calinski_harabasz_k=3, ks=1..6)"
    )


def test_to_dict_is_json_with_none_for_nan(small):
    _, sel = small
    d = sel.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["k"] == 3 and d["ks"] == [1, 2, 3, 4, 5, 6]
    assert d["silhouette"][0] is None and d["davies_bouldin"][0] is None
    assert d["wcss"] == sel.wcss.tolist()
    assert d["reasons"] == list(sel.reasons)
    assert set(d) >= {"elbow_k", "silhouette_k", "gap_k", "gap", "gap_se", "n_refs"}


def test_table_has_one_row_per_k_and_marks_the_picks(small):
    _, sel = small
    lines = sel.table().splitlines()
    assert lines[0].split() == [
        "K",
        "WCSS",
        "silhouette",
        "Davies-Bouldin",
        "Calinski-Harabasz",
        "gap",
        "s_K",
    ]
    assert len(lines) == 1 + len(sel.ks)
    assert lines[1].split()[:5] == ["1", f"{sel.wcss[0]:.6g}", "-", "-", "-"]
    assert lines[2].endswith("<- elbow")
    assert lines[3].endswith("<- silhouette, gap, DB, CH")
    assert "<-" not in lines[1] + lines[4]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ks": [2]}, "The 'ks' parameter of select_k must be positive integers with at least 2"),
        ({"ks": [3, 3]}, "at least 2 distinct values"),
        ({"ks": [0, 1, 2]}, r"Got \[0, 1, 2\] instead"),
        ({"ks": [1, 2.5]}, "must be positive integers"),
        ({"ks": [True, 2]}, "must be positive integers"),
        ({"ks": 5}, "Got 5 instead"),
        ({"n_init": 0}, "The 'n_init' parameter of select_k must be an integer"),
        ({"n_refs": 1}, "The 'n_refs' parameter of select_k must be 0 .* or an integer >= 2"),
        ({"n_refs": -3}, "n_refs"),
        ({"metric": "manhattan"}, "The 'metric' parameter of select_k must be one of"),
        ({"silhouette_sample_size": 1}, "silhouette_sample_size"),
        ({"random_state": "seed"}, "random_state must be None"),
        ({"sample_weight": [1.0, 2.0]}, "sample_weight must have one entry per row"),
    ],
)
def test_parameter_errors(kwargs, match):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=match):
        select_k(X, **kwargs)


def test_k_larger_than_n_samples_names_both_numbers():
    X = np.random.default_rng(0).normal(size=(8, 2))
    with pytest.raises(ValueError, match=r"n_samples=8 should be >= the largest K in ks, K=10"):
        select_k(X)


def test_nan_in_x():
    X = np.random.default_rng(0).normal(size=(30, 2))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        select_k(X, [1, 2, 3])


def test_identical_rows_are_refused():
    with pytest.raises(ValueError, match="rows are identical"):
        select_k(np.ones((20, 2)), [1, 2, 3])


def test_progress_is_called_once_per_fit_and_ends_at_the_total():
    from anomalykit import select_k

    X = np.random.default_rng(0).normal(size=(60, 2))
    calls = []
    select_k(X, [1, 2, 3], n_refs=2, random_state=0, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 9) for i in range(1, 10)]
    with pytest.raises(TypeError, match="progress"):
        select_k(X, [1, 2], progress=3)
