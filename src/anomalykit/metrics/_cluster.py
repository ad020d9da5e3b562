"""Cluster metrics: exact silhouette in bounded memory, Davies-Bouldin, Calinski-Harabasz
and inertia.

The silhouette never forms the n x n distance matrix: distances are computed in square
blocks of at most ``chunk_size**2`` entries, each reduced at once to per-cluster sums.
Public functions validate and call a worker that assumes valid input.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from .._utils._engine import compiled_module
from .._utils._random import as_generator
from .._utils._threads import dot_unthreaded, engine_threads, one_blas_thread, thread_pool
from .._utils._validation import check_in, check_real, check_sample_weight

__all__ = [
    "calinski_harabasz_score",
    "davies_bouldin_score",
    "inertia",
    "silhouette_samples",
    "silhouette_score",
]

_METRICS = ("euclidean", "cosine")

# One block of distances is sized for the CPU caches: 512 x 512 float64 = 2 MiB. On 2 cores
# (n=20,000, d=10, k=8) 64 MiB row blocks took 1.16 s, as their element-wise passes (clip,
# sqrt) stream from main memory; cache-sized blocks 0.80 s, and 0.46 s once each block serves
# both its rows and its columns (the symmetric sweep below).
_BLOCK_BYTES = 2 << 20
# The symmetric sweep (each block of distances computed once, used for its rows and its
# columns) keeps per-cluster distance sums for every row, n x k. Above this many bytes, rows
# are swept a few at a time against all columns, holding only those rows' sums but
# computing every distance twice.
_SUMS_BYTES = 64 << 20


# --------------------------------------------------------------------------- validation


def _check_X(X: Any, *, owner: str) -> np.ndarray | sp.csr_matrix:
    """Dense float64 array or CSR float64 matrix, 2-D, non-empty and finite."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64, copy=True)  # never alter the caller's matrix
        X.sum_duplicates()
        values = X.data
    else:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"X of {owner} must be numeric ({exc}). Encode categorical columns as "
                "numbers first."
            ) from None
        if X.ndim != 2:
            raise ValueError(
                f"X of {owner} must be 2-D, shape (n_samples, n_features); got an array of "
                f"shape {X.shape}. Reshape a single feature with X.reshape(-1, 1)."
            )
        values = X
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X of {owner} is empty (shape {X.shape}): give it rows with at least one feature."
        )
    bad = ~np.isfinite(values)
    if bad.any():
        n_bad = int(bad.sum())
        if sp.issparse(X):
            where = ""
        else:
            i, j = map(int, np.argwhere(bad)[0])
            where = f" (first at row {i}, column {j}: {float(X[i, j])})"
        raise ValueError(
            f"X of {owner} contains {n_bad} NaN or infinite value(s){where}. "
            "Impute or drop those rows first."
        )
    return X


def _encode_labels(labels: Any, n_samples: int) -> tuple[np.ndarray, int]:
    """Any sortable labels (ints, strings, ...) -> codes 0..k-1 and k."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D; got an array of shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"X and labels have different lengths: {n_samples} rows in X, "
            f"{arr.shape[0]} labels. Give one label per row."
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(
            f"labels contain {int(np.isnan(arr).sum())} NaN value(s). Give every row a "
            "cluster label (e.g. -1 for noise, which then counts as a cluster)."
        )
    try:
        classes, codes = np.unique(arr, return_inverse=True)
    except TypeError:
        raise ValueError(
            "labels mix values that cannot be sorted together (e.g. int and str); "
            "convert them to one type first, e.g. labels.astype(str)."
        ) from None
    return codes.reshape(-1).astype(np.intp), int(classes.shape[0])


def _check_number_of_labels(n_labels: int, n_samples: int, *, owner: str, subset: str = "") -> None:
    """2 <= n_labels <= n_samples - 1, with the scikit-learn message plus the numbers."""
    if 1 < n_labels < n_samples:
        return
    if n_labels <= 1:
        why = (
            f"All {n_samples} rows{subset} carry the same label: {owner} compares clusters, "
            "so it needs at least 2."
        )
    else:
        why = (
            f"Each of the {n_samples} rows{subset} has its own label, so no cluster has 2 "
            "rows to compare within. Use fewer clusters than rows."
        )
    raise ValueError(
        f"Number of labels is {n_labels}. Valid values are 2 to n_samples - 1 (inclusive), "
        f"here 2 to {n_samples - 1} for n_samples={n_samples}. {why}"
    )


def _validate(X: Any, labels: Any, *, owner: str) -> tuple[Any, np.ndarray, int]:
    X = _check_X(X, owner=owner)
    codes, n_labels = _encode_labels(labels, X.shape[0])
    _check_number_of_labels(n_labels, X.shape[0], owner=owner)
    return X, codes, n_labels


def _check_chunk_size(chunk_size: Any, owner: str) -> int:
    if chunk_size is None:
        return int(np.sqrt(_BLOCK_BYTES // 8))
    check_real(chunk_size, name="chunk_size", owner=owner, low=1, integer=True)
    return int(chunk_size)


# ------------------------------------------------------------------ shared computations


def _sorted_by_label(X: Any, codes: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """Rows grouped by cluster (stable), their codes, and the permutation used."""
    order = np.argsort(codes, kind="stable")
    return X[order], codes[order], order


def _row_dots(X: sp.csr_matrix, rows_of: np.ndarray) -> np.ndarray:
    """``sum_j X[i, j] * rows_of[i, j]`` for each row i, touching only the non-zeros."""
    row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    return np.bincount(row, weights=X.data * rows_of[row, X.indices], minlength=X.shape[0])


def _centroid_sq_distances(
    X: Any, codes: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster means and each row's squared distance to its own cluster's mean.

    ``X`` and ``codes`` are grouped by cluster. Dense means are shifted by each cluster's
    first row (mean = x_first + mean(x - x_first)), so a cluster of identical rows has
    exactly zero spread. Sparse rows use ||x||^2 - 2 x.m + ||m||^2, clipped at 0.
    """
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if sp.issparse(X):
        indicator = sp.csr_matrix(
            (np.ones(X.shape[0]), (codes, np.arange(X.shape[0]))),
            shape=(counts.shape[0], X.shape[0]),
        )
        means = np.asarray((indicator @ X).todense()) / counts[:, None]
        row_sq = np.asarray(X.multiply(X).sum(axis=1)).reshape(-1)
        mean_sq = np.einsum("ij,ij->i", means, means)
        sq = row_sq - 2.0 * _row_dots(X, means[codes]) + mean_sq[codes]
        return means, np.maximum(sq, 0.0)
    shifted = X - X[starts][codes]
    means = X[starts] + np.add.reduceat(shifted, starts, axis=0) / counts[:, None]
    diff = X - means[codes]
    return means, np.einsum("ij,ij->i", diff, diff)


# ------------------------------------------------------------------------- silhouette


def _distance_blocks(X: Any, metric: str) -> Callable[[int, int, int, int], np.ndarray]:
    """A function ``block(s, e, t, u) -> D`` giving the distances between rows ``s:e`` and
    ``t:u`` of ``X`` (self-distances set to 0), written into a reused buffer.

    Dense Euclidean data are centred first, then one GEMM per block on augmented factors
    gives ||x||^2 - 2 x.y + ||y||^2 directly: [-2x, 1, ||x||^2] . [y, ||y||^2, 1].
    Cosine rows are scaled to unit length: [-x, 1] . [y, 1] = 1 - cos.
    """
    n = X.shape[0]
    euclidean = metric == "euclidean"
    sparse = sp.issparse(X)
    if euclidean:
        if not sparse:
            X = X - X.mean(axis=0)  # the expansion loses less to cancellation near 0
        sq = (
            np.asarray(X.multiply(X).sum(axis=1)).reshape(-1)
            if sparse
            else np.einsum("ij,ij->i", X, X)
        )
    else:
        norms = np.sqrt(
            np.asarray(X.multiply(X).sum(axis=1)).reshape(-1)
            if sparse
            else np.einsum("ij,ij->i", X, X)
        )
        norms[norms == 0.0] = 1.0  # an all-zero row stays zero: distance 1 to every other row
        X = sp.diags(1.0 / norms) @ X if sparse else X / norms[:, None]
        X = sp.csr_matrix(X) if sparse else X
    if not sparse:
        ones = np.ones((n, 1))
        if euclidean:
            left = np.hstack([-2.0 * X, ones, sq[:, None]])
            right = np.hstack([X, sq[:, None], ones])
        else:
            left = np.hstack([-X, ones])
            right = np.hstack([X, ones])
        X = None  # the factors hold all that the blocks need
    buffer = np.empty(0)
    columns: dict[tuple[int, int], sp.csr_matrix] = {}  # sparse: X[t:u].T, made once each

    def block(s: int, e: int, t: int, u: int) -> np.ndarray:
        nonlocal buffer
        if sparse:
            if (t, u) not in columns:
                columns[(t, u)] = sp.csr_matrix(X[t:u].T)
            D = (X[s:e] @ columns[(t, u)]).toarray()
            if euclidean:
                D *= -2.0
                D += sq[s:e, None]
                D += sq[None, t:u]
            else:
                np.subtract(1.0, D, out=D)
        else:
            if buffer.size < (e - s) * (u - t):
                buffer = np.empty((e - s) * (u - t))
            D = buffer[: (e - s) * (u - t)].reshape(e - s, u - t)
            np.matmul(left[s:e], right[t:u].T, out=D)
        lo, hi = max(s, t), min(e, u)
        if lo < hi:  # the expansion leaves rounding noise where the distance is exactly 0
            D[np.arange(lo - s, hi - s), np.arange(lo - t, hi - t)] = 0.0
        if euclidean:
            if D.min() < 0.0:  # cheaper to test than to clip every block
                np.maximum(D, 0.0, out=D)
            np.sqrt(D, out=D)
        elif D.min() < 0.0 or D.max() > 2.0:
            np.clip(D, 0.0, 2.0, out=D)
        return D

    return block


def _silhouette_from_sums(sums: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """s(i) from the per-cluster distance sums of some rows (one row of ``sums`` each)."""
    rows = np.arange(codes.shape[0])
    size = counts[codes]
    a = sums[rows, codes] / np.maximum(size - 1, 1)
    means = sums / counts
    means[rows, codes] = np.inf
    b = means.min(axis=1)
    top = np.maximum(a, b)
    s = np.divide(b - a, top, out=np.zeros_like(a), where=top > 0)
    s[size == 1] = 0.0
    return s


def _segments(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal codes in a sorted array: (starts, codes of the runs, ends)."""
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return first, codes[first], np.r_[first[1:], codes.shape[0]]


def _silhouette_kernels(engine: str | None):
    """The compiled silhouette kernel module, or None for the NumPy sweep."""
    return compiled_module(f"{__package__}._silhouette_kernels", engine, owner="silhouette_samples")


#: Rows per band of the compiled sweep, in blocks: each band is one task for a thread.
_BAND_BLOCKS = 4


def _silhouette_compiled(
    kernels, X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
    chunk_size: int, threads: int,
) -> np.ndarray:  # fmt: skip
    """Silhouette of every row (grouped by cluster), by the compiled symmetric sweep.

    Bands of ``_BAND_BLOCKS * chunk_size`` rows are the tasks: a band's distances to
    its own rows and to every later row, each computed once
    (:func:`._silhouette_kernels.block_row_sums`), give its rows' sums and the later
    rows' shares. Tasks run ``threads`` at a time; their sums are added in band
    order, so the result does not depend on the number of threads. Memory
    O((threads + 1) n k + chunk_size^2) besides the data.
    """
    n, k = X.shape[0], counts.shape[0]
    euclidean = metric == "euclidean"
    if euclidean:
        X = np.ascontiguousarray(X - X.mean(axis=0))  # the expansion loses less near 0
        sq = np.einsum("ij,ij->i", X, X)
    else:
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))
        norms[norms == 0.0] = 1.0  # an all-zero row stays zero: distance 1 to every other row
        X = np.ascontiguousarray(X / norms[:, None])
        sq = np.zeros(n)
    first, _, ends = _segments(codes)
    run_end = np.repeat(ends, ends - first)
    band = _BAND_BLOCKS * chunk_size
    starts = list(range(0, n, band))
    sums = np.zeros((n, k))

    def task(s: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        e = min(s + band, n)
        row_sums = np.zeros((e - s, k))
        col_sums = np.zeros((n - e, k))
        kernels.block_row_sums(
            X, sq, codes, run_end, s, e, chunk_size, euclidean, row_sums, col_sums
        )
        return s, e, row_sums, col_sums

    pool = thread_pool(max(1, threads))
    with one_blas_thread():
        for wave in range(0, len(starts), max(1, threads)):
            for s, e, row_sums, col_sums in pool.map(task, starts[wave : wave + threads]):
                sums[s:e] += row_sums  # band order: the same sums on any number of threads
                sums[e:] += col_sums
    return _silhouette_from_sums(sums, codes, counts)


def _silhouette_worker(
    X: Any,
    codes: np.ndarray,
    n_labels: int,
    metric: str,
    chunk_size: int,
    *,
    engine: str | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Silhouette of every row; no input validation. Memory O(n k + chunk_size^2).

    Dense rows go to the compiled sweep (:func:`_silhouette_compiled`) when Numba is
    installed and ``(threads + 1) n k`` float64 sums fit in ``_SUMS_BYTES``;
    ``engine="numpy"`` forces the NumPy sweep below (the reference).

    Rows are grouped by cluster first, so the columns of a block fall into a few runs
    of one cluster each: per-cluster sums are one ``np.add.reduceat`` along the rows and
    a ``sum(axis=0)`` per run along the columns: 0.4 ns per distance, against 1.0 ns for
    multiplying each block by a one-hot label matrix (``D @ H`` and ``D.T @ H``, BLAS on
    one thread).
    """
    n = X.shape[0]
    counts = np.bincount(codes, minlength=n_labels)
    X, codes, order = _sorted_by_label(X, codes)
    kernels = None if sp.issparse(X) else _silhouette_kernels(engine)
    threads = engine_threads() if threads is None else threads
    if kernels is not None and (threads + 1) * n * n_labels * 8 <= _SUMS_BYTES:
        result = np.empty(n)
        result[order] = _silhouette_compiled(kernels, X, codes, counts, metric, chunk_size, threads)
        return result
    block = _distance_blocks(X, metric)
    edges = [*range(0, n, chunk_size), n]
    spans = list(pairwise(edges))
    runs = [_segments(codes[s:e]) for s, e in spans]
    out = np.empty(n)
    # Thousands of small matrix products: multi-threaded BLAS makes each one wait for its
    # second thread, which is slow to get a core when other processes run. On 2 cores with
    # a load of ~3, n=100,000 took 66 s with 2 BLAS threads and 11 s with 1 (n=50,000:
    # 2.8-8.4 s against 2.4 s); on idle cores 2 threads were 15% faster (n=20,000).
    # scikit-learn's KMeans limits BLAS the same way around its chunked loop.
    single = one_blas_thread() if len(spans) > 1 else nullcontext()
    with single:
        if n * n_labels * 8 <= _SUMS_BYTES:
            # Symmetric sweep: block (I, J), J >= I, adds to the sums of rows I and of rows J.
            sums = np.zeros((n, n_labels))
            for i, (s, e) in enumerate(spans):
                for j in range(i, len(spans)):
                    t, u = spans[j]
                    D = block(s, e, t, u)
                    first, run_codes, _ = runs[j]
                    sums[s:e, run_codes] += np.add.reduceat(D, first, axis=1)
                    if j != i:
                        for a, c, z in zip(*runs[i], strict=True):
                            sums[t:u, c] += D[a:z].sum(axis=0)
                out[s:e] = _silhouette_from_sums(sums[s:e], codes[s:e], counts)
        else:
            # Many clusters: a few rows at a time against all columns, every distance twice.
            step = max(1, min(chunk_size, _SUMS_BYTES // (8 * n_labels)))
            for s in range(0, n, step):
                e = min(s + step, n)
                sums = np.zeros((e - s, n_labels))
                for (t, u), (first, run_codes, _) in zip(spans, runs, strict=True):
                    sums[:, run_codes] += np.add.reduceat(block(s, e, t, u), first, axis=1)
                out[s:e] = _silhouette_from_sums(sums, codes[s:e], counts)
    result = np.empty(n)
    result[order] = out
    return result


def silhouette_samples(
    X: ArrayLike | sp.spmatrix,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    chunk_size: int | None = None,
) -> NDArray[np.float64]:
    """Silhouette coefficient of each sample, exact, in bounded memory.

    ``s(i)`` is near 1 when sample ``i`` sits well inside its cluster, near 0 on a
    border and negative when a neighbouring cluster is closer on average.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples; a SciPy sparse matrix is converted to CSR (TF-IDF documents, for example).
        Computed in float64.
    labels : array-like of shape (n_samples,)
        Cluster of each sample: any sortable values (ints, strings). Each distinct value
        is a cluster, including a noise label such as -1.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` is ``1 - cos(x, y)`` on rows scaled to unit length, clipped to [0, 2].
    chunk_size : int, default=None
        Rows (and columns) of each block of distances computed at once; a block holds at
        most ``chunk_size**2`` float64 values. None picks 512 (a 2 MiB block, sized for
        CPU caches).

    Returns
    -------
    ndarray of shape (n_samples,)
        Values in [-1, 1]; 0 for samples alone in their cluster.

    See Also
    --------
    silhouette_score : The mean over samples, optionally on a random subset.

    Notes
    -----
    With ``d(i, j)`` the distance, ``C_i`` the cluster of ``i`` and ``|C|`` a size::

        a(i) = sum_{j in C_i, j != i} d(i, j) / (|C_i| - 1)
        b(i) = min_{C != C_i} sum_{j in C} d(i, j) / |C|
        s(i) = (b(i) - a(i)) / max(a(i), b(i)),   s(i) = 0 if |C_i| = 1

    and ``s(i) = 0`` also when ``a(i) = b(i) = 0``, as in scikit-learn. Defined for
    2 <= n_labels <= n_samples - 1.

    Distances come in blocks of ``chunk_size x chunk_size`` from one matrix product each,
    ``||x||^2 - 2 x.y + ||y||^2`` clipped at 0 before the square root, on centred data
    (dense input; sparse input is not centred, which would densify it); a sample's
    distance to itself is set to exactly 0. Each block is computed once and reduced to
    per-cluster sums for its rows and its columns (rows are grouped by cluster first);
    BLAS runs on one thread meanwhile, which is faster for many small products on shared
    cores. The expansion's absolute error on ``d(i, j)`` is about ``eps * R**2 / d(i, j)``,
    ``R`` the largest distance to the mean, so near-duplicate points lose digits (as in
    scikit-learn, which uses the same expansion uncentred). An all-zero row under
    ``"cosine"`` is at distance 1 from every other row and 0 from itself.

    Time O(n^2 d / 2); memory O(n k + chunk_size^2) besides the data, with k the number of
    clusters. When ``n k`` float64 values exceed 64 MiB, rows are swept a few at a time
    against all columns instead: memory O(64 MiB + chunk_size^2), twice the time.

    .. versionadded:: 0.1

    References
    ----------
    Rousseeuw, P. J. (1987). Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. Journal of Computational and Applied Mathematics, 20.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.metrics import silhouette_samples
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0]])
    >>> silhouette_samples(X, [0, 0, 0, 1, 1, 1]).round(3)
    array([0.868, 0.825, 0.825, 0.849, 0.836, 0.836])
    """
    owner = "silhouette_samples"
    check_in(metric, _METRICS, name="metric", owner=owner)
    block = _check_chunk_size(chunk_size, owner)
    X, codes, n_labels = _validate(X, labels, owner=owner)
    return _silhouette_worker(X, codes, n_labels, metric, block)


def silhouette_score(
    X: ArrayLike | sp.spmatrix,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    sample_size: int | None = None,
    random_state: int | np.random.Generator | None = None,
    chunk_size: int | None = None,
) -> float:
    """Mean silhouette coefficient over all samples, or over a random subset.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples; sparse input is converted to CSR.
    labels : array-like of shape (n_samples,)
        Cluster of each sample: any sortable values.
    metric : {"euclidean", "cosine"}, default="euclidean"
    sample_size : int, default=None
        If given, the exact silhouette of ``sample_size`` rows drawn without replacement
        (clusters re-counted within the subset), as scikit-learn does. None uses all rows.
    random_state : None, int or numpy.random.Generator, default=None
        Seed of the subset draw, ``rng.choice(n_samples, sample_size, replace=False)``.
        A given int draws another subset than scikit-learn's ``RandomState`` would.
    chunk_size : int, default=None
        See :func:`silhouette_samples`.

    Returns
    -------
    float
        In [-1, 1]; higher is better separated.

    See Also
    --------
    silhouette_samples : The coefficient of each sample, with the formulas.
    davies_bouldin_score, calinski_harabasz_score : Cheaper, centroid-based indices.

    Notes
    -----
    The mean of ``s(i)`` from :func:`silhouette_samples`, singletons counting as 0.
    Time O(m^2 d / 2) for m = ``sample_size`` (or n) rows.

    .. versionadded:: 0.1

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.metrics import silhouette_score
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0]])
    >>> round(silhouette_score(X, [0, 0, 0, 1, 1, 1]), 4)
    0.8398
    >>> round(silhouette_score(X, ["a", "a", "a", "b", "b", "b"], metric="cosine"), 4)
    0.2572
    """
    owner = "silhouette_score"
    check_in(metric, _METRICS, name="metric", owner=owner)
    block = _check_chunk_size(chunk_size, owner)
    X = _check_X(X, owner=owner)
    codes, n_labels = _encode_labels(labels, X.shape[0])
    subset = ""
    if sample_size is not None:
        n = X.shape[0]
        check_real(sample_size, name="sample_size", owner=owner, low=2, integer=True)
        if sample_size > n:
            raise ValueError(
                f"sample_size={sample_size} should be <= n_samples={n}. "
                "Use sample_size=None to score every row."
            )
        rows = as_generator(random_state).choice(n, size=int(sample_size), replace=False)
        X = X[rows]
        classes, codes = np.unique(codes[rows], return_inverse=True)
        codes, n_labels = codes.reshape(-1), int(classes.shape[0])
        subset = f" of the random subset (sample_size={sample_size})"
    _check_number_of_labels(n_labels, X.shape[0], owner=owner, subset=subset)
    return float(np.mean(_silhouette_worker(X, codes, n_labels, metric, block)))


# ----------------------------------------------------------------- centroid indices


def davies_bouldin_score(X: ArrayLike | sp.spmatrix, labels: ArrayLike) -> float:
    """Davies-Bouldin index: mean over clusters of the worst spread-to-separation ratio.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        Cluster of each sample: any sortable values.

    Returns
    -------
    float
        At least 0; lower is better separated.

    See Also
    --------
    calinski_harabasz_score, silhouette_score

    Notes
    -----
    With centroid ``c_k`` and spread ``s_k = mean_{i in k} ||x_i - c_k||`` (Euclidean)::

        DB = (1/k) sum_i max_{j != i} (s_i + s_j) / ||c_i - c_j||

    A pair of clusters whose centroids coincide exactly contributes a ratio of 0, as in
    scikit-learn, which also returns 0 when all spreads or all centroid distances are
    within 1e-8 of 0; here only exact zeros count, so the score does not change with the
    units of X. Dense centroid distances and spreads are computed from differences (not
    the dot-product expansion). Sparse input uses ``||x||^2 - 2 x.c + ||c||^2`` for the
    spreads, clipped at 0. Time O(n d + k^2 d), memory O(n d + k d).

    .. versionadded:: 0.1

    References
    ----------
    Davies, D. L. and Bouldin, D. W. (1979). A Cluster Separation Measure. IEEE
    Transactions on Pattern Analysis and Machine Intelligence, PAMI-1(2), 224-227.

    Examples
    --------
    >>> from anomalykit.metrics import davies_bouldin_score
    >>> round(davies_bouldin_score([[0, 1], [1, 1], [3, 4]], [0, 0, 1]), 6)
    0.128037
    """
    X, codes, n_labels = _validate(X, labels, owner="davies_bouldin_score")
    return _davies_bouldin_worker(X, codes, n_labels)


def _davies_bouldin_worker(X: Any, codes: np.ndarray, n_labels: int) -> float:
    counts = np.bincount(codes, minlength=n_labels)
    X, codes, _ = _sorted_by_label(X, codes)
    centroids, sq = _centroid_sq_distances(X, codes, counts)
    spread = np.bincount(codes, weights=np.sqrt(sq), minlength=n_labels) / counts
    diff = centroids[:, None, :] - centroids[None, :, :]
    separation = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    pair = spread[:, None] + spread[None, :]
    ratio = np.divide(pair, separation, out=np.zeros_like(pair), where=separation > 0)
    return float(ratio.max(axis=1).mean())


def calinski_harabasz_score(X: ArrayLike | sp.spmatrix, labels: ArrayLike) -> float:
    """Calinski-Harabasz index (variance ratio criterion).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        Cluster of each sample: any sortable values.

    Returns
    -------
    float
        Higher is better separated; 1.0 when every cluster is a single repeated point.

    See Also
    --------
    davies_bouldin_score, silhouette_score

    Notes
    -----
    With ``c_k`` the mean of cluster ``k`` (``n_k`` rows) and ``c`` the overall mean::

        B = sum_k n_k ||c_k - c||^2          (between-cluster dispersion)
        W = sum_i ||x_i - c_{label_i}||^2    (within-cluster dispersion)
        CH = (B / (k - 1)) / (W / (n - k))

    When ``W = 0`` the ratio is undefined and 1.0 is returned, as scikit-learn does. Dense
    cluster means are shifted by the cluster's first row, so a cluster of identical rows
    has W exactly 0. Sparse input uses ``||x||^2 - 2 x.c + ||c||^2`` per row, clipped at 0.
    Time O(n d), memory O(n d + k d).

    .. versionadded:: 0.1

    References
    ----------
    Calinski, T. and Harabasz, J. (1974). A dendrite method for cluster analysis.
    Communications in Statistics, 3(1), 1-27.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.metrics import calinski_harabasz_score
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0]])
    >>> round(calinski_harabasz_score(X, [0, 0, 0, 1, 1, 1]), 4)
    112.5
    """
    X, codes, n_labels = _validate(X, labels, owner="calinski_harabasz_score")
    return _calinski_harabasz_worker(X, codes, n_labels)


def _calinski_harabasz_worker(X: Any, codes: np.ndarray, n_labels: int) -> float:
    n = X.shape[0]
    counts = np.bincount(codes, minlength=n_labels)
    X, codes, _ = _sorted_by_label(X, codes)
    means, sq = _centroid_sq_distances(X, codes, counts)
    within = float(sq.sum())
    if within == 0.0:
        return 1.0
    overall = np.asarray(X.mean(axis=0)).reshape(-1)
    between = float(counts @ np.sum((means - overall) ** 2, axis=1))
    return between * (n - n_labels) / (within * (n_labels - 1.0))


# ---------------------------------------------------------------------------- inertia


def inertia(
    X: ArrayLike | sp.spmatrix,
    labels: ArrayLike,
    centers: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Within-cluster sum of squares (WCSS) of an assignment to given centres.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,)
        Index of each sample's centre: integers in ``0 .. n_clusters - 1``.
    centers : array-like of shape (n_clusters, n_features)
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights; None weighs every sample 1.

    Returns
    -------
    float
        ``sum_i w_i ||x_i - c_{label_i}||^2``, the K-means objective.

    See Also
    --------
    calinski_harabasz_score : Puts this within-cluster dispersion over the between-cluster one.

    Notes
    -----
    ::

        inertia = sum_i w_i ||x_i - c_{label_i}||^2

    a sum over samples, not a sum (or mean) of per-cluster mean distances, so it equals
    scikit-learn's ``KMeans.inertia_`` for the fitted labels and centres. Dense input uses
    differences; sparse input uses ``||x||^2 - 2 x.c + ||c||^2`` per row, clipped at 0,
    touching only the non-zeros. Time O(n d), memory O(n d).

    .. versionadded:: 0.1

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.metrics import inertia
    >>> X = np.array([[0.0, 0.0], [0.0, 2.0], [4.0, 4.0], [6.0, 4.0]])
    >>> inertia(X, [0, 0, 1, 1], [[0.0, 1.0], [5.0, 4.0]])
    4.0
    >>> inertia(X, [0, 0, 1, 1], [[0.0, 1.0], [5.0, 4.0]], sample_weight=[1, 1, 0, 2])
    4.0
    """
    owner = "inertia"
    X = _check_X(X, owner=owner)
    n, n_features = X.shape
    C = np.asarray(centers, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] == 0 or C.shape[1] != n_features:
        raise ValueError(
            f"centers must have shape (n_clusters, {n_features}) to match X; got shape {C.shape}."
        )
    if not np.isfinite(C).all():
        raise ValueError("centers contain NaN or infinite values.")
    idx = _check_center_index(labels, n, C.shape[0])
    w = check_sample_weight(sample_weight, n)
    if sp.issparse(X):
        row_sq = np.asarray(X.multiply(X).sum(axis=1)).reshape(-1)
        center_sq = np.einsum("ij,ij->i", C, C)
        sq = np.maximum(row_sq - 2.0 * _row_dots(X, C[idx]) + center_sq[idx], 0.0)
    else:
        diff = X - C[idx]
        sq = np.einsum("ij,ij->i", diff, diff)
    return float(sq.sum()) if w is None else dot_unthreaded(w, sq)


def _check_center_index(labels: Any, n_samples: int, n_clusters: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"labels must have shape ({n_samples},), one centre index per row of X; got "
            f"shape {arr.shape}."
        )
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.intp)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"labels of inertia must be integer indices of rows of centers; got dtype "
            f"{arr.dtype}. Encode them with np.unique(labels, return_inverse=True)."
        )
    bad = (arr < 0) | (arr >= n_clusters)
    if bad.any():
        raise ValueError(
            f"labels must index rows of centers (0 to {n_clusters - 1} for {n_clusters} "
            f"centres); found {np.unique(arr[bad])[:5].tolist()} in {int(bad.sum())} row(s)."
        )
    return arr.astype(np.intp)
