import numpy as np
from threadpoolctl import threadpool_limits

from anomalykit import KMeans
from anomalykit._utils._threads import engine_threads, n_threads


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
