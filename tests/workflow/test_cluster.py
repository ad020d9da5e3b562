import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from anomalykit.workflow import cluster_data


@pytest.fixture
def X():
    X, _ = make_blobs(450, 2, centers=[[0, 0], [10, 0], [5, 9]], cluster_std=0.6, random_state=0)
    return np.r_[X, [[5.0, 3.5], [14.0, 0.0]]]


def test_auto_k_and_outliers(X):
    report = cluster_data(X, k="auto", n_sigma=3.0, feature_names=["a", "b"])
    assert report.k == 3 and report.selection.k == 3
    flagged = set(np.flatnonzero(report.is_outlier).tolist())
    assert {450, 451} <= flagged and len(flagged) < 10
    assert report.top_outliers(1)[0]["row"] == 450  # the farther of the two
    assert report.explanations[451].startswith(("a=", "b="))
    assert report.explanations[0] == "" or report.is_outlier[0]
    assert report.sizes.sum() == len(X)
    assert report.metrics["silhouette"] == pytest.approx(silhouette_score(X, report.labels))
    d = report.to_dict()
    assert d["k"] == 3 and d["n_outliers"] == len(flagged) and d["selection"]["k"] == 3


def test_given_k_without_outliers(X):
    report = cluster_data(X, k=3)
    assert report.selection is None and report.is_outlier is None and report.n_outliers == 0
    own = np.linalg.norm(X - report.centers[report.labels], axis=1)
    np.testing.assert_allclose(report.distances, own, atol=1e-9)
    assert report.to_dict()["outliers"] == []


def test_no_clear_k_is_an_error_with_the_votes():
    X = np.random.default_rng(0).uniform(size=(500, 2))
    with pytest.raises(ValueError, match=r"No clear K: .* Choose one with k=N"):
        cluster_data(X, k="auto")


def test_bad_arguments(X):
    with pytest.raises(ValueError, match="k must be a positive integer or 'auto'"):
        cluster_data(X, k="five")
    with pytest.raises(ValueError, match="Euclidean units"):
        cluster_data(np.abs(X) + 1, k=3, n_sigma=3.0, metric="cosine")
    with pytest.raises(ValueError, match="1 feature names for 2 features"):
        cluster_data(X, k=3, feature_names=["a"])


def test_cosine_indices_are_measured_on_unit_rows(X):
    from sklearn.preprocessing import normalize

    from anomalykit.metrics import calinski_harabasz_score, davies_bouldin_score

    Xp = np.abs(X) + 1.0
    report = cluster_data(Xp, k=3, metric="cosine")
    Xn = normalize(Xp)
    assert report.metrics["davies_bouldin"] == pytest.approx(
        davies_bouldin_score(Xn, report.labels)
    )
    assert report.metrics["calinski_harabasz"] == pytest.approx(
        calinski_harabasz_score(Xn, report.labels)
    )


def test_sparse_input_needs_a_given_k_and_no_outliers(X):
    import scipy.sparse as sp

    S = sp.csr_matrix(np.abs(X))
    assert cluster_data(S, k=3).k == 3
    with pytest.raises(ValueError, match="Sparse input is clustered with a given k"):
        cluster_data(S, k="auto")
    with pytest.raises(ValueError, match="Sparse input"):
        cluster_data(S, k=3, n_sigma=3.0)


def test_scaling_and_profiles_in_original_units():
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    # Spend-like data: two segments that differ in "visits" only on a log scale.
    small = np.c_[rng.lognormal(3, 0.2, 150), rng.lognormal(0.5, 0.15, 150)]
    big = np.c_[rng.lognormal(3, 0.2, 50), rng.lognormal(3.5, 0.15, 50)]
    X = np.vstack([small, big])
    r = cluster_data(X, k=2, scale="standard", log=True, feature_names=["spend", "visits"])
    assert isinstance(r.model, Pipeline)
    np.testing.assert_array_equal(r.model.predict(X), r.labels)
    big_cluster = r.labels[-1]
    p = r.profiles[big_cluster]
    assert p["size"] == 50 and p["share"] == pytest.approx(0.25)
    assert p["mean"]["visits"] == pytest.approx(big[:, 1].mean())
    assert p["median"]["spend"] == pytest.approx(np.median(big[:, 0]))
    assert p["distinctive"][0][0] == "visits" and p["distinctive"][0][1] > 1
    assert all(name != "spend" for name, _ in p["distinctive"])  # spend does not set it apart
    # The centre is back in original units: exp of the mean log (+1 undone).
    assert p["center"]["visits"] == pytest.approx(np.expm1(np.log1p(big[:, 1]).mean()), rel=1e-6)
    assert r.to_dict()["scaler"] == {"method": "standard", "log": True}
    np.testing.assert_array_equal(r.X, X)


def test_progress_follows_the_k_sweep():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.2, size=(60, 2)) for c in ([0, 0], [4, 0], [0, 4])])
    calls = []
    r = cluster_data(X, ks=range(1, 5), progress=lambda d, t: calls.append((d, t)))
    assert r.k == 3
    assert calls == [(i, 4 * 11) for i in range(1, 45)]


def test_no_clear_k_can_fall_back_to_the_silhouette_and_says_so():
    X = np.random.default_rng(0).uniform(size=(300, 2))
    with pytest.raises(ValueError, match="No clear K"):
        cluster_data(X, ks=range(1, 6))
    r = cluster_data(X, ks=range(1, 6), no_clear_k="silhouette")
    assert r.selection.k is None and r.k == r.selection.silhouette_k
    assert "highest silhouette" in r.selection_note and "tentative" in r.selection_note
    assert r.to_dict()["selection_note"] == r.selection_note
    assert cluster_data(X, k=3).selection_note is None
    with pytest.raises(ValueError, match="no_clear_k"):
        cluster_data(X, no_clear_k="gap")
