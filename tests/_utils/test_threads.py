import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from anomalykit import KMeans
from anomalykit._utils._threads import dot_unthreaded, engine_threads, n_threads


def test_engine_threads_follow_the_blas_limit():
    assert 1 <= engine_threads() <= n_threads()
    with threadpool_limits(1):
        assert engine_threads() == 1
    assert engine_threads() == min(n_threads(), engine_threads())


def test_kmeans_under_a_one_thread_limit_gives_the_same_answer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 8)).astype(np.float32)
    init = X[:16].copy()
    free = KMeans(16, init=init, n_init=1, max_iter=5, tol=0).fit(X)
    with threadpool_limits(1):
        limited = KMeans(16, init=init, n_init=1, max_iter=5, tol=0).fit(X)
    np.testing.assert_array_equal(free.labels_, limited.labels_)
    np.testing.assert_array_equal(free.cluster_centers_, limited.cluster_centers_)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_working_pools():
    """The parent's pools have threads the child does not: without the at-fork
    reset, a chunked fit in the child waits for ever (multiprocessing forks)."""
    import multiprocessing

    from anomalykit import GaussianDetector
    from anomalykit._utils._threads import thread_pool

    X = np.random.default_rng(0).normal(size=(100_000, 3))
    GaussianDetector("full").fit(X)  # several chunks: the parent's pool now runs
    assert list(thread_pool(2).map(abs, [-1, -2])) == [1, 2]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_fit_in_child, (X,))
        mean = result.get(timeout=60)  # hangs (then fails here) without the reset
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12)


def _fit_in_child(X):
    from anomalykit import GaussianDetector
    from anomalykit.metrics import silhouette_score

    silhouette_score(X[:3000], (X[:3000, 0] > 0).astype(int))
    return GaussianDetector("full").fit(X).mean_


def test_dot_unthreaded_is_the_dot_product():
    rng = np.random.default_rng(0)
    a = rng.random(50_001).astype(np.float32)  # past OpenBLAS's threaded-dot size
    b = rng.random(50_001)
    assert dot_unthreaded(a, b) == pytest.approx(float(a.astype(np.float64) @ b), rel=1e-12)
    assert isinstance(dot_unthreaded(a, b), float)
    assert dot_unthreaded(np.empty(0), np.empty(0)) == 0.0
