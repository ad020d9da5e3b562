"""The Lloyd step and nearest-centre assignment, in bounded-memory blocks.

This module is the engine boundary: :func:`lloyd_step` takes (X, centres,
weights) and nothing else of the estimator, so a compiled or GPU engine can
replace it without touching :class:`KMeans`.

Two paths compute the same step:

* the compiled kernels (:mod:`._numba_kernels`, the default for dense rows):
  the rows are cut into chunks fixed by the data's shape; each chunk is one
  call without the GIL (one per thread, BLAS on one thread each) that does
  the distance products, the argmin and the chunk's contribution to the new
  centres in cache-sized sub-blocks;
* the NumPy reference (sparse rows, ``engine="numpy"``): per block one BLAS
  call for ``||c||^2 - 2 x.c`` (a row's own ``||x||^2`` does not change its
  argmin), ``np.argmin``, and a sparse one-hot product for the sums.

Partial sums are added in chunk (block) order, so results do not depend on
the number of threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

from .._utils._threads import n_threads, one_blas_thread
from .._utils._validation import check_in

__all__ = ["LloydStep", "assign", "lloyd_step", "row_norms_sq", "update_centers"]

#: Bytes of one block's (rows x k) distance matrix: small enough to stay in cache.
_BLOCK_BYTES = 2 * 2**20


#: Rows per compiled chunk: chunks are fixed by the data's shape (never by the
#: number of threads) and their sums are added in chunk order, so results do not
#: depend on the threads.
_CHUNK_ROWS = 8192


def _chunks(n: int) -> list[tuple[int, int]]:
    rows = max(_CHUNK_ROWS, -(-n // 64))  # at most 64 chunks: little Python per step
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def _sub_block_rows(k: int, itemsize: int) -> int:
    """Rows per BLAS product in the compiled kernels: the (k, rows) product
    stays within 256 KiB (L2), between 128 and 1024 rows (measured flat there)."""
    return max(128, min(1024, 2**18 // (k * itemsize)))


def row_norms_sq(X: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """Squared Euclidean norm of each row (dense or CSR)."""
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel().astype(X.dtype, copy=False)
    return np.einsum("ij,ij->i", X, X)


def _blocks(n: int, k: int, itemsize: int) -> list[tuple[int, int]]:
    rows = max(128, _BLOCK_BYTES // (itemsize * max(k, 1)))
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def _partial_distances(Xb: np.ndarray | sp.csr_matrix, centers: np.ndarray, c_sq: np.ndarray):
    """``||c||^2 - 2 x.c`` for a block of rows: shape (rows, k), in X's dtype."""
    if sp.issparse(Xb) or centers.dtype not in (np.float32, np.float64):
        D = np.asarray(Xb @ centers.T)
        D *= -2
        D += c_sq
        return D
    D = np.empty((Xb.shape[0], centers.shape[0]), dtype=centers.dtype)
    D[...] = c_sq
    gemm = blas.sgemm if centers.dtype == np.float32 else blas.dgemm
    # D (C order) is D.T in Fortran order: D.T = C @ Xb.T, accumulated onto ||c||^2.
    Xb = np.ascontiguousarray(Xb)
    gemm(-2.0, centers.T, Xb.T, trans_a=True, beta=1.0, c=D.T, overwrite_c=True)
    return D


def _compiled_kernels(engine: str | None):
    """The compiled kernel module, or None for the NumPy path.

    ``engine``: None or "auto" (Numba when installed), "numba", or "numpy".
    """
    check_in(engine, (None, "auto", "numba", "numpy"), name="engine", owner="lloyd_step")
    if engine == "numpy":
        return None
    try:
        from . import _numba_kernels
    except ImportError:
        if engine == "numba":
            raise ImportError(
                "engine='numba' needs numba: pip install numba (a dependency of anomalykit)"
            ) from None
        return None
    return _numba_kernels


def _numpy_threads(n_features: int, n_clusters: int) -> int:
    """The NumPy path: Python threads over blocks pay off only where the per-row
    work after the product dominates and the product is light; elsewhere
    BLAS's own threads are faster (measured, 2 cores)."""
    return n_threads() if n_features <= 32 and n_clusters <= 128 else 1


def _run_blocks(func, blocks, threads: int) -> list:
    """``func(start, stop)`` for every block, in block order, on ``threads`` threads
    with one BLAS thread each."""
    if threads <= 1 or len(blocks) == 1:
        return [func(a, b) for a, b in blocks]
    with one_blas_thread(), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda ab: func(*ab), blocks))


def assign(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    x_sq_norms: np.ndarray | None = None,
    *,
    threads: int | None = None,
    engine: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row and the squared distance to it.

    Uses ``||x||^2 - 2 x.c + ||c||^2`` block by block (never an n x k
    matrix); distances are clipped at 0 against rounding. ``engine`` as in
    :func:`lloyd_step`.
    """
    n = X.shape[0]
    if x_sq_norms is None:
        x_sq_norms = row_norms_sq(X)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=centers.dtype)
    kernels = None if sp.issparse(X) else _compiled_kernels(engine)

    if kernels is not None:
        X, centers_c = np.ascontiguousarray(X), np.ascontiguousarray(centers)
        x_sq_c = np.ascontiguousarray(x_sq_norms, dtype=centers.dtype)
        rows = _sub_block_rows(centers.shape[0], centers.dtype.itemsize)

        def work(start: int, stop: int) -> None:
            kernels.assign_chunk(X, centers_c, c_sq, x_sq_c, labels, dist, start, stop, rows)

        _run_blocks(work, _chunks(n), n_threads() if threads is None else threads)
        return labels, dist

    def work(start: int, stop: int) -> None:
        D = _partial_distances(X[start:stop], centers, c_sq)
        lab = np.argmin(D, axis=1)
        labels[start:stop] = lab
        dist[start:stop] = D[np.arange(stop - start), lab] + x_sq_norms[start:stop]

    blocks = _blocks(n, centers.shape[0], centers.dtype.itemsize)
    if threads is None:
        threads = _numpy_threads(X.shape[1], centers.shape[0])
    _run_blocks(work, blocks, threads)
    np.maximum(dist, 0, out=dist)
    return labels, dist


def _weighted_sums(
    Xb: np.ndarray | sp.csr_matrix, labels: np.ndarray, w: np.ndarray, k: int
) -> np.ndarray:
    """Sum of ``w_i x_i`` per cluster for one block, shape (k, d).

    The one-hot matrix is built directly in CSC form (one entry per column,
    i.e. per row of the block): the product then reads the block once, in
    order, into a (k, d) result that stays in cache.
    """
    m = Xb.shape[0]
    onehot = sp.csc_matrix(
        (w.astype(Xb.dtype, copy=False), labels.astype(np.int32), np.arange(m + 1, dtype=np.int32)),
        shape=(k, m),
    )
    sums = onehot @ Xb
    return sums.toarray() if sp.issparse(sums) else np.asarray(sums)


def update_centers(
    X: np.ndarray | sp.csr_matrix,
    labels: np.ndarray,
    sample_weight: np.ndarray,
    n_clusters: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of the rows of each cluster (float64), and each cluster's weight."""
    sums = np.zeros((n_clusters, X.shape[1]), dtype=np.float64)
    for start, stop in _blocks(X.shape[0], n_clusters, X.dtype.itemsize):
        sums += _weighted_sums(
            X[start:stop], labels[start:stop], sample_weight[start:stop], n_clusters
        )
    weights = np.bincount(labels, weights=sample_weight, minlength=n_clusters)
    return sums, weights


@dataclass(frozen=True)
class LloydStep:
    """One Lloyd iteration: ``labels`` w.r.t. the old centres, the ``centers``
    they imply, each cluster's weight, and the clusters that were empty (and
    re-seeded)."""

    labels: np.ndarray
    centers: np.ndarray
    cluster_weights: np.ndarray
    relocated: np.ndarray


def lloyd_step(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    sample_weight: np.ndarray,
    *,
    x_sq_norms: np.ndarray | None = None,
    spherical: bool = False,
    threads: int | None = None,
    engine: str | None = None,
) -> LloydStep:
    """Assign every row to its nearest centre, then move each centre to the
    weighted mean of its rows.

    An empty cluster is re-seeded with the row of positive weight farthest
    from its own centre (the next farthest for a second empty cluster, and so
    on); that row's weight moves with it, as scikit-learn does. With ``spherical``, centres
    are normalised to unit length (rows are assumed unit length). Sums are
    accumulated in float64 whatever the dtype of ``X``.

    ``engine``: None or "auto" uses the compiled kernels (:mod:`._numba_kernels`)
    when Numba is installed and the rows are dense; "numba" insists on them;
    "numpy" forces the NumPy reference path (also the path of sparse rows).
    ``threads``: threads over chunks of rows (default: the cores available).

    Prior validation of data is assumed.
    """
    n, k = X.shape[0], centers.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    kernels = None if sp.issparse(X) else _compiled_kernels(engine)
    if kernels is not None:
        X, centers_c = np.ascontiguousarray(X), np.ascontiguousarray(centers)
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        rows = _sub_block_rows(k, centers.dtype.itemsize)

        def work(start: int, stop: int) -> np.ndarray:
            sums = np.zeros((k, X.shape[1]), dtype=np.float64)
            kernels.lloyd_chunk(X, centers_c, c_sq, sample_weight, labels, sums, start, stop, rows)
            return sums

        blocks = _chunks(n)
        if threads is None:
            threads = n_threads()
    else:

        def work(start: int, stop: int) -> np.ndarray:
            Xb = X[start:stop]
            lab = np.argmin(_partial_distances(Xb, centers, c_sq), axis=1)
            labels[start:stop] = lab
            return _weighted_sums(Xb, lab, sample_weight[start:stop], k)

        blocks = _blocks(n, k, centers.dtype.itemsize)
        if threads is None:
            threads = _numpy_threads(X.shape[1], k)
    partial = _run_blocks(work, blocks, threads)
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    for part in partial:  # block order: the same sums on any number of threads
        sums += part
    weights = np.bincount(labels, weights=sample_weight, minlength=k)
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        _, dist = assign(X, centers, x_sq_norms, threads=threads, engine=engine)
        dist[sample_weight <= 0] = -1  # a row without weight cannot hold a cluster
        far = np.argsort(-dist, kind="stable")[: empty.size]
        for cluster, row in zip(empty, far, strict=False):
            x = X[row].toarray().ravel() if sp.issparse(X) else X[row]
            w = sample_weight[row]
            old = labels[row]
            sums[old] -= x * w
            weights[old] -= w
            sums[cluster] = x * w
            weights[cluster] = w
    with np.errstate(invalid="ignore", divide="ignore"):
        new = sums / weights[:, np.newaxis]
    # Clusters whose weight is still 0 (all their rows have zero weight) keep their centre.
    zero = weights <= 0
    if zero.any():
        new[zero] = centers[zero]
    if spherical:
        norms = np.sqrt(np.einsum("ij,ij->i", new, new))
        norms[norms == 0] = 1
        new /= norms[:, np.newaxis]
    return LloydStep(labels, new.astype(centers.dtype, copy=False), weights, empty)
