"""The compiled CSR kernels (cluster/_numba_sparse.py) against the NumPy (SciPy) path."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp

from anomalykit import KMeans, MiniBatchKMeans
from anomalykit.cluster import _kmeans, _lloyd
from anomalykit.cluster._lloyd import _sparse_chunks, assign, lloyd_step

pytest.importorskip("numba")


def documents(n=3000, d=400, density=0.03, dtype=np.float64, seed=0):
    """Sparse non-negative rows with topic structure, rows of unit length."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=np.float64)
    topic = rng.integers(0, 4, n)
    X = X + sp.csr_matrix((np.ones(n), (np.arange(n), topic * 7)), shape=(n, d)) * 2
    X = sp.csr_matrix(X, dtype=dtype)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=dtype)


def shuffled_indices(X):
    """The same matrix with each row's stored values in reverse order."""
    Y = X.copy()
    for i in range(Y.shape[0]):
        a, b = Y.indptr[i], Y.indptr[i + 1]
        Y.indices[a:b] = Y.indices[a:b][::-1]
        Y.data[a:b] = Y.data[a:b][::-1]
    Y.has_sorted_indices = False
    return Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spherical", [False, True])
def test_compiled_sparse_step_equals_the_scipy_path(dtype, spherical):
    X = shuffled_indices(documents(dtype=dtype))
    rng = np.random.default_rng(1)
    centers = X[rng.choice(X.shape[0], 12, replace=False)].toarray()
    centers[11] = 50.0  # far from every row: an empty cluster to re-seed
    w = rng.uniform(0.0, 2.0, X.shape[0])
    w[::9] = 0.0
    ref = lloyd_step(X, centers, w, spherical=spherical, engine="numpy")
    fast = lloyd_step(X, centers, w, spherical=spherical, engine="numba")
    np.testing.assert_array_equal(fast.labels, ref.labels)  # the same products, in order
    np.testing.assert_array_equal(fast.relocated, ref.relocated)
    assert fast.relocated.tolist() == [11]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast.centers, ref.centers, rtol=tol, atol=tol)
    np.testing.assert_allclose(fast.cluster_weights, ref.cluster_weights, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_sparse_assign_equals_the_scipy_path(dtype):
    X = documents(dtype=dtype)
    X.indices = X.indices.astype(np.int64)  # both index widths compile
    X.indptr = X.indptr.astype(np.int64)
    centers = X[:7].toarray()
    centers[6] = centers[2]  # a duplicate centre: ties to the lower index
    ref_labels, ref_dist = assign(X, centers, engine="numpy")
    labels, dist = assign(X, centers, engine="numba")
    np.testing.assert_array_equal(labels, ref_labels)
    assert not (labels == 6).any()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dist, ref_dist, rtol=tol, atol=tol)
    only, none = assign(X, centers, engine="numba", distances=False)
    assert none is None
    np.testing.assert_array_equal(only, labels)


def test_sparse_chunks_are_fixed_by_the_data_and_bounded_in_memory(monkeypatch):
    X = documents(n=20000, d=400, density=0.05)
    chunks = _sparse_chunks(X, 10)
    assert len(chunks) > 2  # work enough for both threads
    assert chunks[0][0] == 0 and chunks[-1][1] == X.shape[0]
    assert all(a < b for a, b in chunks)
    assert all(b == c for (_, b), (c, _) in pairwise(chunks))
    monkeypatch.setattr(_lloyd, "_SPARSE_SUMS_BYTES", 3 * 8 * 10 * 400)  # room for 3 sums
    assert len(_sparse_chunks(X, 10)) <= 3


def test_one_and_two_threads_give_identical_sparse_steps():
    X = documents(n=20000, d=400, density=0.05)
    centers = X[:10].toarray()
    w = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    one = lloyd_step(X, centers, w, threads=1, engine="numba")
    two = lloyd_step(X, centers, w, threads=2, engine="numba")
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_array_equal(one.centers, two.centers)  # chunk order: bit for bit


def test_distances_to_the_own_centre_need_no_dense_copy(monkeypatch):
    X = documents()
    centers = X[:5].toarray()
    labels = assign(X, centers)[0]
    x_sq = _lloyd.row_norms_sq(X)
    fast = _kmeans._sq_distances_to_own(X, centers, labels, x_sq)
    monkeypatch.setattr(_kmeans, "_compiled_sparse", lambda engine: None)
    ref = _kmeans._sq_distances_to_own(X, centers, labels, x_sq)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
    assert fast.dtype == X.dtype and (fast >= 0).all()


def test_kmeans_on_csr_equals_kmeans_on_the_same_dense_rows():
    X = documents(n=2000)
    init = X[:4].toarray()
    for metric in ("euclidean", "cosine"):
        a = KMeans(4, init=init, metric=metric).fit(X)
        b = KMeans(4, init=init, metric=metric).fit(X.toarray())
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
        assert a.n_iter_ == b.n_iter_


def test_identical_csr_rows_are_recognised_whatever_their_storage_order():
    row = sp.csr_matrix(np.array([[0.0, 0.3, 0.0, 0.1]]))
    X = sp.vstack([row] * 50, format="csr")
    assert _kmeans._identical_csr_rows(shuffled_indices(X))
    with pytest.raises(ValueError, match="All 50 rows are identical"):
        KMeans(2).fit(shuffled_indices(X))
    Y = X.tolil()
    Y[7, 0] = 0.5
    assert not _kmeans._identical_csr_rows(Y.tocsr())
    # the same rows with a stored zero in one, and a value split in two in another
    data, indices, indptr = [], [], [0]
    for i in range(50):
        cols, vals = [1, 3], [0.3, 0.1]
        if i == 3:
            cols, vals = [0, 1, 3], [0.0, 0.3, 0.1]
        if i == 9:
            cols, vals = [1, 3, 1], [0.15, 0.1, 0.15]
        indices += cols
        data += vals
        indptr.append(len(indices))
    Z = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)), shape=(50, 4))
    assert _kmeans._identical_csr_rows(Z)
    for cls in (KMeans, MiniBatchKMeans):
        with pytest.raises(ValueError, match="All 50 rows are identical"):
            cls(2).fit(Z)
