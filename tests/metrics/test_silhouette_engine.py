"""The compiled silhouette sweep against the NumPy sweep and scikit-learn."""

import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from anomalykit.metrics import _cluster, silhouette_samples, silhouette_score
from anomalykit.metrics._cluster import _silhouette_worker

pytest.importorskip("numba")


def blobs(n=700, d=5, k=6, seed=0):
    X, y = make_blobs(n, d, centers=k, cluster_std=2.0, random_state=seed)
    return X, y


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, None])
def test_compiled_equals_numpy_and_sklearn(metric, chunk_size):
    X, y = blobs()
    n_labels = int(y.max()) + 1
    chunk = 512 if chunk_size is None else chunk_size
    fast = _silhouette_worker(X, y, n_labels, metric, chunk, engine="numba")
    ref = _silhouette_worker(X, y, n_labels, metric, chunk, engine="numpy")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, sk_silhouette_samples(X, y, metric=metric), rtol=0, atol=1e-10)
    assert silhouette_samples(X, y, metric=metric, chunk_size=chunk_size) == pytest.approx(
        fast, abs=1e-12
    )


def test_singletons_duplicates_and_unsorted_string_labels():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (50, 3)), np.ones((20, 3)), [[9.0, 9.0, 9.0]]])
    labels = np.array(["b"] * 50 + ["a"] * 20 + ["c"])
    order = rng.permutation(len(X))
    X, labels = X[order], labels[order]
    got = silhouette_samples(X, labels, chunk_size=8)
    np.testing.assert_allclose(got, sk_silhouette_samples(X, labels), rtol=0, atol=1e-10)
    assert got[labels == "c"] == 0.0  # a singleton scores 0
    np.testing.assert_allclose(got[labels == "a"], 1.0)  # identical points: a = 0


def test_one_and_two_threads_give_identical_results():
    X, y = blobs(n=3000, k=4)
    one = _silhouette_worker(X, y, 4, "euclidean", 64, engine="numba", threads=1)
    two = _silhouette_worker(X, y, 4, "euclidean", 64, engine="numba", threads=2)
    np.testing.assert_array_equal(one, two)


def test_many_clusters_fall_back_to_the_numpy_sweep(monkeypatch):
    X, y = blobs(n=400, k=40)
    ref = _silhouette_worker(X, y, 40, "euclidean", 32, engine="numpy")
    monkeypatch.setattr(_cluster, "_SUMS_BYTES", 1000)  # (threads + 1) n k sums do not fit
    calls = []
    monkeypatch.setattr(_cluster, "_silhouette_compiled", lambda *a, **kw: calls.append(1) or 1 / 0)
    got = _silhouette_worker(X, y, 40, "euclidean", 32, engine="numba")
    assert not calls
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_memory_stays_far_below_the_distance_matrix():
    X, y = blobs(n=6000, d=4, k=5)
    silhouette_score(X[:200], y[:200])  # compile outside the measurement
    tracemalloc.start()
    silhouette_score(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.05 * X.shape[0] ** 2 * 8  # under 5% of the 288 MB n x n matrix


def test_unknown_engine_is_an_error():
    X, y = blobs(n=50)
    with pytest.raises(ValueError, match="engine"):
        _silhouette_worker(X, y, 6, "euclidean", 16, engine="cuda")
