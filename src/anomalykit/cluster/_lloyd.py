"""The Lloyd step and nearest-centre assignment, in bounded-memory blocks.

This module is the engine boundary: :func:`lloyd_step` takes (X, centres,
weights) and nothing else of the estimator, so a compiled or GPU engine can
replace it without touching :class:`KMeans`.

Two paths compute the same step:

* the compiled kernels, the default: for dense rows (:mod:`._numba_kernels`)
  the rows are cut into chunks fixed by the data's shape; each chunk is one
  call without the GIL (one per thread, BLAS on one thread each) that does
  the distance products, the argmin and the chunk's contribution to the new
  centres in cache-sized sub-blocks. CSR rows (:mod:`._numba_sparse`) are cut
  by their stored values, and each row's products come from its stored values
  alone (no n x k or n x d matrix);
* the NumPy reference (``engine="numpy"``, or without Numba): per block one
  BLAS call (SciPy's sparse product for CSR rows) for ``||c||^2 - 2 x.c`` (a
  row's own ``||x||^2`` does not change its argmin), ``np.argmin``, and a
  sparse one-hot product for the sums.

Partial sums are added in chunk (block) order, so results do not depend on
the number of threads.

For whole runs on dense Euclidean rows, :func:`lloyd_bounded` (driven by
``KMeans``) keeps per-row distance bounds between iterations
(:class:`BoundedLloyd`, kernels in :mod:`._numba_bounds`): the same labels as
plain steps, bit for bit (but for rows within rounding of a tie: see
:mod:`._numba_bounds`), with most distances skipped once the centres settle.
It takes plain steps until a probe on a sample of rows predicts that the
bounds pay (from the first step where the rows sit in clusters that the
initial centres tell apart), and goes back to them where the bounds stop paying.
:func:`use_bounds` picks it by the data's shape; the plain step stays the path
of sparse, cosine and small data, and the reference. Runs of plain steps on
dense rows with 16 features or more go through :class:`PlainLloyd`, whose
per-cluster sums move with the rows that change cluster once few do.
"""

from __future__ import annotations

from contextlib import nullcontext as _nullcontext
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

from .._utils._engine import compiled_module
from .._utils._memory import empty_small_pages
from .._utils._threads import engine_threads, one_blas_thread, run_chunks

__all__ = [
    "LloydStep",
    "PlainLloyd",
    "assign",
    "assign_own",
    "centre_columns",
    "delta_pays",
    "lloyd_bounded",
    "lloyd_step",
    "row_norms_sq",
    "update_centers",
    "weights_allow_moving",
]

#: Bytes of one block's (rows x k) distance matrix: small enough to stay in cache.
_BLOCK_BYTES = 2 * 2**20


#: Rows per compiled chunk: chunks are fixed by the data's shape (never by the
#: number of threads) and their sums are added in chunk order, so results do not
#: depend on the threads.
_CHUNK_ROWS = 8192
#: ... and each chunk holds at least this much distance work (rows x k x d) when
#: there are rows enough for 4 chunks: a chunk costs ~20 us to hand to a thread and
#: set up (1e5 x 64, k = 10: 2.44 ms per step in 13 chunks, 2.24 ms in 4).
_CHUNK_WORK = 2**24
#: ... and, for chunks with sums of their own (``sums`` values, k x d, zeroed then
#: added up once per chunk), at least as many rows as those sums hold values when
#: there are rows enough for this many chunks (2e5 x 128, k = 256: 37.3 ms per
#: step in 25 chunks, 35.2 ms in 8; 1e6 x 32, k = 64 and 1e5 x 64, k = 10 alike).
_SUMS_CHUNKS = 8


def _chunks(n: int, work_per_row: int = 1, sums: int = 0) -> list[tuple[int, int]]:
    rows = max(_CHUNK_ROWS, -(-n // 64))  # at most 64 chunks: little Python per step
    rows = max(rows, min(-(-n // 4), _CHUNK_WORK // max(work_per_row, 1)))
    rows = max(rows, min(-(-n // _SUMS_CHUNKS), sums))
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


def _centre_copies(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(later, first)``: the centres that repeat an earlier centre exactly
    (-0.0 as 0.0), and the index of its first copy; None when every centre
    differs.

    The rows are sorted as whole byte strings (stable: each run of copies starts
    with its first), 19 us at k = 256, d = 128 where ``np.unique(axis=0)`` took
    0.8 ms.
    """
    k = centers.shape[0]
    if k < 2 or centers.shape[1] == 0:
        return None
    C = np.ascontiguousarray(centers + 0.0)  # (-0.0 + 0.0 is 0.0)
    rows = C.view(np.dtype((np.void, C.dtype.itemsize * C.shape[1]))).reshape(k)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    repeats = ordered[1:] == ordered[:-1]
    if not repeats.any():
        return None
    run_start = np.maximum.accumulate(np.where(np.r_[True, ~repeats], np.arange(k), 0))
    first = np.empty(k, dtype=np.intp)
    first[order] = order[run_start]
    later = np.flatnonzero(first != np.arange(k))
    return later, first[later]


def _partial_distances(
    Xb: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    c_sq: np.ndarray,
    copies: tuple[np.ndarray, np.ndarray] | None = None,
):
    """``||c||^2 - 2 x.c`` for a block of rows: shape (rows, k), in X's dtype.

    ``copies`` (:func:`_centre_copies`): each later copy of a centre takes its
    first copy's column, so that the argmin gives their ties to the first, and
    the other columns are left as they are (the same k columns as without
    copies: rows near a tie between two different centres keep their rounding).
    BLAS may round the products of two equal columns differently: OpenBLAS's
    SkylakeX kernel did at k = 300, where 9 rows of 20003 went to the later copy.
    """
    if sp.issparse(Xb) or centers.dtype not in (np.float32, np.float64):
        D = np.asarray(Xb @ centers.T)
        D *= -2
        D += c_sq
    else:
        D = np.empty((Xb.shape[0], centers.shape[0]), dtype=centers.dtype)
        D[...] = c_sq
        gemm = blas.sgemm if centers.dtype == np.float32 else blas.dgemm
        # D (C order) is D.T in Fortran order: D.T = C @ Xb.T, accumulated onto ||c||^2.
        Xb = np.ascontiguousarray(Xb)
        gemm(-2.0, centers.T, Xb.T, trans_a=True, beta=1.0, c=D.T, overwrite_c=True)
    if copies is not None:
        D[:, copies[0]] = D[:, copies[1]]
    return D


def _compiled_kernels(engine: str | None):
    """The compiled kernel module, or None for the NumPy path (``engine`` as in
    :func:`lloyd_step`)."""
    return compiled_module(f"{__package__}._numba_kernels", engine, owner="lloyd_step")


def _compiled_sparse(engine: str | None):
    """The compiled CSR kernel module, or None for the NumPy (SciPy) path."""
    return compiled_module(f"{__package__}._numba_sparse", engine, owner="lloyd_step")


#: The per-chunk (k x d, float64) sums of CSR rows take at most this many bytes in all.
_SPARSE_SUMS_BYTES = 256 * 2**20


#: Stored values x centres per chunk of CSR rows, at least (a chunk costs ~20 us).
_SPARSE_CHUNK_WORK = 2**18


def _sparse_chunks(X: sp.csr_matrix, n_clusters: int) -> list[tuple[int, int]]:
    """Chunks of CSR rows cut by their stored values: each holds about
    ``max(_SPARSE_CHUNK_WORK / k, nnz / 64)`` of them (up to 64 chunks), and
    few enough chunks that their dense sums stay within
    :data:`_SPARSE_SUMS_BYTES` (where one k x d sum alone is larger, there is
    one chunk, on one thread). Fixed by the data, never by the number of
    threads."""
    n, d = X.shape
    most = max(1, min(64, _SPARSE_SUMS_BYTES // (8 * n_clusters * max(d, 1))))
    per_chunk = max(_SPARSE_CHUNK_WORK // max(n_clusters, 1), -(-X.nnz // most), 1)
    cuts = np.searchsorted(X.indptr, np.arange(per_chunk, X.nnz, per_chunk), side="left")
    bounds = np.unique(np.r_[0, cuts, n])
    return [(int(a), int(b)) for a, b in pairwise(bounds)]


def _csr_parts(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.ascontiguousarray(X.data), np.ascontiguousarray(X.indices), X.indptr


def _numpy_threads(n_features: int, n_clusters: int) -> int:
    """The NumPy path: Python threads over blocks pay off only where the per-row
    work after the product dominates and the product is light; elsewhere
    BLAS's own threads are faster (measured, 2 cores)."""
    return engine_threads() if n_features <= 32 and n_clusters <= 128 else 1


def _run_blocks(func, blocks, threads: int) -> list:
    """``func(start, stop)`` for every block, in block order, on ``threads`` threads
    with one BLAS thread each."""
    if threads <= 1 or len(blocks) == 1:
        return [func(a, b) for a, b in blocks]
    with one_blas_thread():
        return run_chunks(func, blocks, threads)


def assign(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    x_sq_norms: np.ndarray | None = None,
    *,
    threads: int | None = None,
    engine: str | None = None,
    distances: bool = True,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Index of the nearest centre of each row and the squared distance to it
    (None with ``distances=False``: the labels alone, without the rows' norms).

    Uses ``||x||^2 - 2 x.c + ||c||^2`` block by block (never an n x k
    matrix); distances are clipped at 0 against rounding. ``engine`` as in
    :func:`lloyd_step`. ``shift`` (dense rows, X's dtype): the rows are ``X -
    shift``; the labels alone are found with no copy where the register
    panels serve the shape (they subtract it as they read X, the copy's
    values to the bit), else from the shifted copy. On the NumPy path a row
    nearest to exact copies of a centre goes to the first copy
    (:func:`_partial_distances`), as in the register panels.
    """
    if shift is not None and (distances or not _panels_serve(X, centers.shape[0], engine)):
        X, shift = np.subtract(X, shift), None
    n = X.shape[0]
    if x_sq_norms is None and distances:
        x_sq_norms = row_norms_sq(X)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=centers.dtype) if distances else None
    sparse_kernels = _compiled_sparse(engine) if sp.issparse(X) else None
    if sparse_kernels is not None:
        data, indices, indptr = _csr_parts(X)
        CT = np.ascontiguousarray(centers.T, dtype=X.dtype)
        c_sq_x = c_sq.astype(X.dtype, copy=False)
        x_sq_x = None if dist is None else np.ascontiguousarray(x_sq_norms, dtype=X.dtype)

        def work(start: int, stop: int) -> None:
            sparse_kernels.assign_chunk(
                data, indices, indptr, CT, c_sq_x, x_sq_x, labels, dist, start, stop
            )

        blocks = _sparse_chunks(X, centers.shape[0])
        _run_blocks(work, blocks, engine_threads() if threads is None else threads)
        return labels, dist
    kernels = None if sp.issparse(X) else _compiled_kernels(engine)

    if kernels is not None:
        X, centers_c = np.ascontiguousarray(X), np.ascontiguousarray(centers)
        x_sq_c = None
        if distances:
            x_sq_c = np.ascontiguousarray(x_sq_norms, dtype=centers.dtype)
        rows = _sub_block_rows(centers.shape[0], centers.dtype.itemsize)
        Cp, csq = kernels.panels_for(centers_c, c_sq)

        offset = _offset(shift, X)

        def work(start: int, stop: int) -> None:
            kernels.assign_chunk(
                X, offset, centers_c, c_sq, Cp, csq, x_sq_c, labels, dist, start, stop, rows
            )

        blocks = _chunks(n, centers.shape[0] * X.shape[1])
        _run_blocks(work, blocks, engine_threads() if threads is None else threads)
        return labels, dist

    copies = _centre_copies(centers)

    def work(start: int, stop: int) -> None:
        D = _partial_distances(X[start:stop], centers, c_sq, copies)
        lab = np.argmin(D, axis=1)
        labels[start:stop] = lab
        if dist is not None:
            dist[start:stop] = D[np.arange(stop - start), lab] + x_sq_norms[start:stop]

    blocks = _blocks(n, centers.shape[0], centers.dtype.itemsize)
    if threads is None:
        threads = _numpy_threads(X.shape[1], centers.shape[0])
    _run_blocks(work, blocks, threads)
    if dist is not None:
        np.maximum(dist, 0, out=dist)
    return labels, dist


def assign_own(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    *,
    threads: int | None = None,
    engine: str | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Nearest centre of each dense row and ``||x - c_label||^2`` from exact
    differences (X's dtype, as ``KMeans``'s inertia), in one read of X: the
    last assignment of a run and its inertia together. None for CSR rows or
    without the compiled kernels (then :func:`assign` and a second pass).

    The labels are :func:`assign`'s, bit for bit (the same kernel picks them).
    ``shift`` as :class:`PlainLloyd`'s: the rows are ``X - shift``.
    """
    kernels = None if sp.issparse(X) else _compiled_kernels(engine)
    if kernels is None:
        return None
    X = np.ascontiguousarray(X)
    if shift is not None and not _panels_serve(X, centers.shape[0], engine):
        X, shift = np.subtract(X, shift), None  # (the BLAS products read the rows as they are)
    offset = _offset(shift, X)
    C = np.ascontiguousarray(centers, dtype=X.dtype)
    c_sq = np.einsum("ij,ij->i", C, C)
    labels = np.empty(X.shape[0], dtype=np.intp)
    own = np.empty(X.shape[0], dtype=X.dtype)
    rows = _sub_block_rows(C.shape[0], C.dtype.itemsize)
    Cp, csq = kernels.panels_for(C, c_sq)

    def work(start: int, stop: int) -> None:
        kernels.assign_own_chunk(X, offset, C, c_sq, Cp, csq, labels, own, start, stop, rows)

    _run_blocks(
        work,
        _chunks(X.shape[0], C.shape[0] * X.shape[1]),
        engine_threads() if threads is None else threads,
    )
    return labels, own


#: Fewer values than this are centred by NumPy (under 1 ms; the compiled path's
#: first call compiles for 0.6 s).
_CENTRE_MIN_SIZE = 2**18


def centre_columns(
    X: np.ndarray, *, engine: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X - mean, mean, column variances)`` of dense rows: a centred copy (the
    caller's array is never modified).

    The mean is NumPy's ``X.mean(axis=0)`` to the bit (scikit-learn's KMeans
    centres on it too, so float32 runs agree with it); the variances are
    those of the centred copy, summed in float64, and exactly 0 for a
    constant column (whose rounded mean may differ from its value). The
    compiled path reads X twice (the sums, then the copy and the squares,
    threaded over chunks of rows); NumPy's strided reduction alone takes
    longer than both for few columns (10 ms against 3 ms at 1e6 x 2, float32).
    Below :data:`_CENTRE_MIN_SIZE` values (unless ``engine="numba"``) NumPy
    does it: under a millisecond, and no compilation for small data.
    """
    n, d = X.shape
    compiled = d >= 2 and X.flags.c_contiguous and (engine == "numba" or n * d >= _CENTRE_MIN_SIZE)
    kernels = _compiled_kernels(engine) if compiled else None
    if kernels is None:
        # (one column, or F order: NumPy sums pairwise, not row after row)
        shift = X.mean(axis=0)
        Xc = np.subtract(X, shift, out=empty_small_pages(X.shape, X.dtype))  # C order
        variances = np.einsum("ij,ij->j", Xc, Xc, dtype=np.float64) / n
        variances[X.max(axis=0) == X.min(axis=0)] = 0.0  # (no n x d temporary)
        return Xc, shift, variances
    Xc = empty_small_pages(X.shape, X.dtype)
    shift, variances = _centre_compiled(kernels, X, Xc)
    return Xc, shift, variances


def column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, column variances)`` of dense C-ordered rows, exactly as
    :func:`centre_columns` gives them, without the centred copy: for runs
    that read X with the mean subtracted on the fly (:func:`reads_shifted`).
    Compiled kernels only; two columns or more (NumPy sums one column pairwise)."""
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError(f"column_moments needs two columns or more; got shape {X.shape}.")
    kernels = _compiled_kernels("numba")
    X = np.ascontiguousarray(X)
    return _centre_compiled(kernels, X, np.empty((0, X.shape[1]), dtype=X.dtype))


def _centre_compiled(kernels, X: np.ndarray, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy's column means of C-ordered ``X`` and the column variances about
    them; ``Xc`` (X's shape, or no rows: no copy) receives ``X - mean``."""
    n, d = X.shape
    shift = np.empty(d, dtype=X.dtype)
    kernels.column_sums(X, shift)
    # NumPy's mean: the sums divided by the count as an intp (float64), cast back.
    np.true_divide(shift, np.intp(n), out=shift, casting="unsafe")
    blocks = _chunks(n, d)
    sq = np.zeros((len(blocks), d))
    varies = np.zeros((len(blocks), d), dtype=np.bool_)
    index = {start: b for b, (start, _) in enumerate(blocks)}

    def work(start: int, stop: int) -> None:
        b = index[start]
        kernels.centre_chunk(X, shift, Xc, sq[b], varies[b], start, stop)

    _run_blocks(work, blocks, engine_threads())
    variances = sq.sum(axis=0) / n  # chunk order: the same on any number of threads
    variances[~varies.any(axis=0)] = 0.0
    return shift, variances


def _offset(shift: np.ndarray | None, X: np.ndarray) -> np.ndarray:
    """The kernels' ``shift`` argument: ``shift`` in X's dtype, or zeros (X as it is)."""
    if shift is None:
        return np.zeros(X.shape[1], dtype=X.dtype)
    return np.ascontiguousarray(shift, dtype=X.dtype)


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
    unit_weight: bool = False,
) -> LloydStep:
    """Assign every row to its nearest centre, then move each centre to the
    weighted mean of its rows.

    An empty cluster is re-seeded with the row of positive weight farthest
    from its own centre (the next farthest for a second empty cluster, and so
    on); that row's weight moves with it, as scikit-learn does. With ``spherical``, centres
    are normalised to unit length (rows are assumed unit length). Sums are
    accumulated in float64 whatever the dtype of ``X``.

    ``engine``: None or "auto" uses the compiled kernels (:mod:`._numba_kernels`,
    :mod:`._numba_sparse` for CSR rows) when Numba is installed; "numba"
    insists on them; "numpy" forces the NumPy reference path.
    ``threads``: threads over chunks of rows (default: the cores available).
    ``unit_weight``: the caller knows every weight is 1 (the dense compiled
    kernel then skips the multiplications by them; the same result).

    Prior validation of data is assumed.
    """
    n, k = X.shape[0], centers.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    kernels = None if sp.issparse(X) else _compiled_kernels(engine)
    sparse_kernels = _compiled_sparse(engine) if sp.issparse(X) else None
    if sparse_kernels is not None:
        data, indices, indptr = _csr_parts(X)
        CT = np.ascontiguousarray(centers.T, dtype=X.dtype)
        c_sq_x = c_sq.astype(X.dtype, copy=False)
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)

        def work(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
            sums = np.zeros((k, X.shape[1]), dtype=np.float64)
            wsum = np.zeros(k, dtype=np.float64)
            sparse_kernels.lloyd_chunk(
                data, indices, indptr, CT, c_sq_x, sample_weight, labels, sums, wsum, start, stop
            )
            return sums, wsum

        blocks = _sparse_chunks(X, k)
        if threads is None:
            threads = engine_threads()
    elif kernels is not None:
        X = np.ascontiguousarray(X)
        sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
        threads = engine_threads() if threads is None else threads
        sums, weights, _, _ = _dense_pass(
            kernels, X, centers, c_sq, sample_weight, labels, threads, unit_weight
        )
        new, empty = _new_centers(
            X, centers, sample_weight, labels, sums, weights, x_sq_norms, spherical, threads, engine
        )
        return LloydStep(labels, new, weights, empty)
    else:
        copies = _centre_copies(centers)

        def work(start: int, stop: int) -> np.ndarray:
            Xb = X[start:stop]
            lab = np.argmin(_partial_distances(Xb, centers, c_sq, copies), axis=1)
            labels[start:stop] = lab
            return _weighted_sums(Xb, lab, sample_weight[start:stop], k)

        blocks = _blocks(n, k, centers.dtype.itemsize)
        if threads is None:
            threads = _numpy_threads(X.shape[1], k)
    partial = _run_blocks(work, blocks, threads)
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    if sparse_kernels is not None:  # the chunks' sums and weights
        weights = np.zeros(k, dtype=np.float64)
        for part, wpart in partial:  # chunk order: the same sums on any number of threads
            sums += part
            weights += wpart
    else:
        for part in partial:  # block order: the same sums on any number of threads
            sums += part
        weights = np.bincount(labels, weights=sample_weight, minlength=k)
    new, empty = _new_centers(
        X, centers, sample_weight, labels, sums, weights, x_sq_norms, spherical, threads, engine
    )
    return LloydStep(labels, new, weights, empty)


def _dense_pass(
    kernels, X: np.ndarray, centers: np.ndarray, c_sq: np.ndarray, w: np.ndarray,
    labels: np.ndarray, threads: int, unit_weight: bool, old: np.ndarray | None = None,
    moving: bool = False, shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
    """The compiled assignment of dense C-ordered rows into ``labels``; the
    per-cluster sums of ``w x``, of ``w`` (float64) and the rows of positive
    weight, added in chunk order (the same on any number of threads); and
    how many labels differ from ``old`` (0 where None). ``moving``: the sums
    are those of the rows whose label changed, moved from their ``old``
    cluster (see ``lloyd_chunk``). ``shift``: the rows are ``X - shift``
    (:class:`PlainLloyd`)."""
    (n, d), k = X.shape, centers.shape[0]
    C = np.ascontiguousarray(centers)
    rows = _sub_block_rows(k, centers.dtype.itemsize)
    Cp, csq = kernels.panels_for(C, c_sq)
    old = np.empty(0, dtype=np.intp) if old is None else old  # (none: nothing to count)
    offset = _offset(shift, X)
    blocks = _chunks(n, k * d, sums=k * d)
    nb = len(blocks)
    sums, weights = np.zeros((nb, k, d)), np.zeros((nb, k))
    npos = np.zeros((nb, k), dtype=np.int64)
    index = {start: b for b, (start, _) in enumerate(blocks)}

    def work(start: int, stop: int) -> int:
        b = index[start]
        return kernels.lloyd_chunk(
            X, offset, C, c_sq, Cp, csq, w, labels, old, sums[b], weights[b], npos[b], start,
            stop, rows, unit_weight, moving,
        )  # fmt: skip

    changed = sum(_run_blocks(work, blocks, threads))
    total, wtotal, ntotal = sums[0], weights[0], npos[0]
    for b in range(1, nb):  # chunk order: the same sums on any number of threads
        total += sums[b]
        wtotal += weights[b]
        ntotal += npos[b]
    return total, wtotal, ntotal, changed


#: Sums that move with the rows pay from this many features (fewer: a row's
#: move costs more than adding it afresh; 1e6 x 2, k = 8: a step with 5% of the
#: rows moving 5.2 ms, summed afresh 3.6 ms, one core) ...
_DELTA_MIN_FEATURES = 16
#: ... where the last step changed at most this share of the labels (one core,
#: 30% of the rows moving: 1e5 x 64, k = 10: 1.7 ms against 1.9 ms afresh;
#: 2e5 x 16, k = 32: 2.0 against 1.9 ms).
_DELTA_MAX_SHARE = 0.25


#: Sums move with the rows only where the positive weights span at most this
#: ratio: a heavy row that leaves a cluster takes its ``w x`` back out of sums
#: that hold the light rows' too, and their digits with it (a row of weight 1e6
#: among rows of weight 1 left centres 1.4e-10 off, of weight 1e10 1e-6 off).
_MOVE_MAX_WEIGHT_RATIO = 1e4


def weights_allow_moving(sample_weight: np.ndarray) -> bool:
    """Whether per-cluster sums may move with the rows (:class:`PlainLloyd`,
    :class:`BoundedLloyd`) for these weights (:data:`_MOVE_MAX_WEIGHT_RATIO`)."""
    positive = sample_weight[sample_weight > 0]
    return positive.size == 0 or positive.max() <= _MOVE_MAX_WEIGHT_RATIO * positive.min()


def delta_pays(n_features: int, changed_share: float) -> bool:
    """Whether a step should move the sums with the rows that change cluster
    (:class:`PlainLloyd`) rather than sum them afresh, given the share of the
    labels the last step changed."""
    return n_features >= _DELTA_MIN_FEATURES and changed_share <= _DELTA_MAX_SHARE


class PlainLloyd:
    """Plain Lloyd steps on dense rows (every distance computed, as
    :func:`lloyd_step`'s compiled engine), whose per-cluster sums move with the
    rows that change cluster instead of being summed afresh.

    The first :meth:`step` is :func:`lloyd_step`'s, bit for bit (centres in
    X's dtype, to which it casts them); later ones
    give the same labels (from the same centres) and the same centres up to
    the rounding of the sums (within 1e-15 relative; the same float32
    centres in practice), as :class:`BoundedLloyd`'s. After the first steps few
    rows change cluster (1e5 x 64 uniform rows, k = 10: 2-10% a step), and
    the sums were a third of a step there.

    A step moves the sums with the rows where :func:`delta_pays` (16 features
    or more, at most a quarter of the labels changed by the step before) and
    :func:`weights_allow_moving`, else sums them afresh. ``labels``: the rows' labels before the first step
    (copied), which its count of changed labels refers to (default: none,
    every label counts as changed). The attribute ``labels`` holds the last
    step's labels; its array is written again two steps later (copy it to
    keep it). ``moved`` (for tests): whether the last step moved the sums.
    ``x_sq_norms`` and ``spherical``: as :func:`lloyd_step`'s, for re-seeding
    and normalising the centres. ``shift`` (one value per feature): the rows
    are ``X - shift``, each value rounded to X's dtype as a centred copy
    would hold it, subtracted as the kernels read X (the panels only: see
    :func:`reads_shifted`); the same labels, sums and centres as steps on
    that copy. Re-seeding an empty cluster makes the copy (once).

    Prior validation of data is assumed: dense, finite, float32 or float64.
    """

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray,
        n_clusters: int,
        *,
        threads: int | None = None,
        unit_weight: bool = False,
        x_sq_norms: np.ndarray | None = None,
        spherical: bool = False,
        labels: np.ndarray | None = None,
        shift: np.ndarray | None = None,
    ) -> None:
        self._kernels = _compiled_kernels("numba")
        self.X = np.ascontiguousarray(X)
        self.shift = None if shift is None else _offset(shift, self.X)
        if shift is not None and (x_sq_norms is not None or not _panels_serve(self.X, n_clusters)):
            raise ValueError(
                "rows read shifted need the register panels and no row norms (of which rows?)"
            )
        self._centred: np.ndarray | None = None  # X - shift, made for re-seeding
        n, k = self.X.shape[0], int(n_clusters)
        self.w = np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.n_clusters = k
        self.threads = engine_threads() if threads is None else threads
        self.unit_weight = unit_weight
        self.x_sq_norms, self.spherical = x_sq_norms, spherical
        self._may_move = unit_weight or weights_allow_moving(self.w)
        self._spare = np.empty(n, dtype=np.intp)  # the array the next step writes
        self.labels: np.ndarray | None = None
        self._changed = n  # labels changed by the last step
        self.moved = False  # whether the last step moved the sums (else summed afresh)
        if labels is not None:
            self.labels = np.array(labels, dtype=np.intp)

    def _pass(self, centers: np.ndarray) -> int:
        """Labels w.r.t. ``centers`` and the sums brought up to date; returns the
        number of labels that changed (every row on a first pass)."""
        kern, X, w = self._kernels, self.X, self.w
        n, d = X.shape
        C = np.ascontiguousarray(centers, dtype=X.dtype)
        c_sq = np.einsum("ij,ij->i", C, C)  # as lloyd_step: the same products
        new, old = self._spare, self.labels
        moved = old is not None and self._may_move and delta_pays(d, self._changed / n)
        sums, weights, npos, changed = _dense_pass(
            kern, X, C, c_sq, w, new, self.threads, self.unit_weight, old, moved, self.shift
        )
        if moved:
            self.sums += sums
            self.weights += weights
            self.npos += npos
        else:
            self.sums, self.weights, self.npos = sums, weights, npos
            changed = n if old is None else changed
        self._spare = np.empty(n, dtype=np.intp) if old is None else old
        self.labels = new
        self._changed = changed
        self.moved = moved
        return changed

    def _step(self, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """New centres, cluster weights, re-seeded clusters, labels changed."""
        changed = self._pass(centers)
        new, weights, empty = _centers_of_state(
            self._rows(), centers, self.w, self.labels, self.sums, self.weights, self.npos,
            self.x_sq_norms, self.spherical, self.threads,
        )  # fmt: skip
        return new, weights, empty, changed

    def _rows(self) -> np.ndarray:
        """The rows as the centres' update reads them (only to re-seed an empty
        cluster): X, or where it is read shifted and a cluster is empty, the
        centred copy (the kernels' values: NumPy's subtraction in X's dtype)."""
        if self.shift is None or ((self.npos > 0) & (self.weights != 0)).all():
            return self.X
        if self._centred is None:
            self._centred = np.subtract(self.X, self.shift)
        return self._centred

    def step(self, centers: np.ndarray) -> LloydStep:
        """One Lloyd iteration from ``centers``, as :func:`lloyd_step`."""
        new, weights, empty, _ = self._step(centers)
        return LloydStep(self.labels.copy(), new, weights, empty)


def _centers_of_state(
    X: np.ndarray, centers: np.ndarray, w: np.ndarray, labels: np.ndarray, sums: np.ndarray,
    weights: np.ndarray, npos: np.ndarray, x_sq_norms: np.ndarray | None, spherical: bool,
    threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`_new_centers` from sums kept across steps (left unchanged): a
    cluster without rows of positive weight (``npos == 0``) is exactly empty,
    whatever its moved sums left over. Returns the centres, the clusters'
    weights and the re-seeded clusters."""
    sums, weights = sums.copy(), weights.copy()
    settled = npos == 0
    sums[settled] = 0
    weights[settled] = 0
    # Re-seeding changes the returned centres only: the state stays that of the labels.
    new, empty = _new_centers(
        X, centers, w, labels, sums, weights, x_sq_norms, spherical, threads, "numba"
    )
    return new, weights, empty


def _new_centers(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    sample_weight: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
    x_sq_norms: np.ndarray | None,
    spherical: bool,
    threads: int | None,
    engine: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The centres implied by per-cluster ``sums`` and ``weights`` (float64, changed
    in place when clusters are re-seeded), and the clusters that were empty.

    An empty cluster takes the row of positive weight farthest from its own
    centre, and that row's weight, as scikit-learn does.
    """
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        _, dist = assign(X, centers, x_sq_norms, threads=threads, engine=engine)
        dist[sample_weight <= 0] = -1  # a row without weight cannot hold a cluster
        far = np.argsort(-dist, kind="stable")[: empty.size]
        # Rows of positive weight per cluster: a cluster whose last such row moves
        # is empty, whatever the rounding of its weight (1e-16 left over would
        # make its centre its leftover sums / 1e-16).
        held = np.bincount(labels[sample_weight > 0], minlength=weights.shape[0])
        for cluster, row in zip(empty, far, strict=False):
            x = X[row].toarray().ravel() if sp.issparse(X) else X[row]
            w = sample_weight[row]
            old = labels[row]
            sums[old] -= x * w
            weights[old] -= w
            held[old] -= w > 0  # (a row of no weight, when too few have any)
            sums[cluster] = x * w
            weights[cluster] = w
            held[cluster] = w > 0
        sums[held == 0] = 0.0
        weights[held == 0] = 0.0
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
    return new.astype(centers.dtype, copy=False), empty


# --------------------------------------------------------------------------- bounds

#: Yinyang's rule of thumb (Ding et al. 2015): about one group of centres per 10
#: centres; fewer than 20 centres make one group, i.e. Hamerly's single lower bound.
_CENTERS_PER_GROUP = 10
#: At most this many groups, and lower bounds (float32, n x groups) of at most this
#: many bytes: past that, more groups cost more memory traffic than they save.
_MAX_GROUPS = 32
_LOWER_BYTES = 256 * 2**20
#: Bounds need distance work per row worth more than their own bookkeeping (about
#: 28 bytes of state per row read and written each iteration): below this k * d,
#: the plain step (tens of ns per row) is as fast as the bounds' pass alone.
_BOUNDED_MIN_WORK = 256
#: Fewer rows than this: the plain step (the bounds' set-up costs more than they save).
_BOUNDED_MIN_ROWS = 4096
#: A run probes whether the bounds would pay (:func:`bounds_would_pay`) after each of
#: its first :data:`_PROBE_FIRST` plain steps, then after every :data:`_PROBE_EVERY`-th
#: (a probe costs 0.1 ms at 1e5 x 64, k = 10, a tenth of a plain step there).
_PROBE_FIRST = 4
_PROBE_EVERY = 2
#: After this many consecutive iterations in which the bounds cost more than plain
#: steps would have (by the cost model below), and did not fall fast enough (see
#: :data:`_FALLING`), the run continues with plain steps.
_UNPROFITABLE_STREAK = 2
#: A pass that costs at most this share of the previous one, and at most
#: :data:`_HOPELESS` plain steps, is on its way to paying: with the bounds from
#: the first step, the passes cost 2.2, 1.8, 1.6, then 0.5 plain steps on 2e4 x
#: 128 blobs (k = 128), 1.9, 1.3, 1.0, then 0.2 on 2e5 x 128 blobs (k = 256); on
#: uniform rows 1.9, 2.0, 2.0 (d = 128, k = 256) or 5.7, 6.3, 5.6, 5.1, 5.0
#: (d = 24, k = 40) (cost model).
_FALLING = 0.9
_HOPELESS = 2.0

# Cost model, ns per item on one core (float32, AVX-512): a plain step's row; a
# row's bound update; an upper bound tightened; one candidate's dot product; a row
# computed against every centre (gather, products, all bounds). Only the ratios
# matter, and only for three decisions, all deterministic (they read counts, never
# clocks): the candidates one row may take one by one, whether to take up the bounds
# (:func:`bounds_would_pay`), and whether to go on with them.


@dataclass(frozen=True)
class _Costs:
    """The cost model's per-item costs for ``k`` centres of ``d`` features."""

    plain_row: float
    full_row: float
    single: float
    bound_row: float
    tightened: float

    @classmethod
    def of(cls, k: int, d: int, itemsize: int, groups: int) -> _Costs:
        """Measured (one core, 1e5-2e5 rows of U[0, 1), 2026-11): register panels
        take 9-23 ns a row for k * d = 240-2048 and 288 ns for 32768 (k = 256),
        in proportion to the centres they hold (k rounded up to whole panels),
        BLAS 17-36 ns for k * d = 512-1536 (d <= 12); a row computed
        in full costs a plain row plus 55-140 ns for k = 10-100, 330 ns for
        k = 256 (its k products go through memory, transposed, then a scan per
        group), 70-90 ns beyond the plain row on the BLAS path, where the
        products come transposed. A row's bounds cost 10 ns plus 2.3 per group
        beyond the first (fitted to 54 passes over 9 data sets of 1e5-2e5
        rows, d = 16-128, k = 10-256, with the other costs as here: within 8%
        of the measured time in half the passes, on the same side of a 0.7
        plain-step threshold in 93% of them, against 85% for 8 + 0.5 per
        group)."""
        from ._numba_panels import lanes, panel_width

        width = panel_width(k, d, itemsize)
        if width:  # (one-vector panels, 12 rows a call: 2.5 ns more a row)
            plain = 6.0 + 0.0086 * (-(-k // width) * width) * d
            plain += 2.5 if width == lanes(itemsize) else 0.0
        else:
            plain = 2.0 + 0.032 * k * d
        full = plain + 40.0 + (1.0 if width else 0.4) * k
        return cls(plain, full, 10.0 + 0.12 * d, 10.0 + 2.3 * (groups - 1), 4.0 + 0.3 * d)

    def bounded_pass(self, rows: int, tightened: int, singles: int, full: int) -> float:
        """A bounded pass over ``rows`` rows with these counts (cf. ``last_stats``)."""
        return (
            rows * self.bound_row
            + tightened * self.tightened
            + singles * self.single
            + full * self.full_row
        )


#: Rows a probe reads (:func:`bounds_would_pay`): evenly spaced, at most this
#: many, and at most 1 in 8 (1 ms, 3% of a plain step, on 2e5 x 128, k = 256).
_PROBE_ROWS = 256
#: A probe takes up the bounds where their pass is predicted to cost at most this
#: share of a plain step: their first pass, which renews every bound, costs about
#: two plain steps (2e5 x 128, k = 256), and the gain must repay it.
_PROBE_GAIN = 0.8
#: ... and a run probes only where a pass whose every row its bounds settle would
#: cost at most this share of a plain step (:class:`_Costs`): elsewhere the
#: bounds save too little to repay their first pass, and the probes cost a tenth
#: of a plain step each for nothing (1e5 x 64, k = 10, 20 iterations, 10 blobs:
#: 20.7 ms never probing, 22.1 ms with the probes, 27.2 ms with the bounds from
#: the first step; the best pass there 0.79 plain steps by the model).
_PROBE_HOPE = 0.75
#: :func:`bounds_pay_at_once`: distance work per row from which bounds can start at
#: once, and how much nearer than the second its nearest centre a row must be.
_EAGER_WORK = 2**14
_EAGER_RATIO = 2.0


def _probe_rows(X: np.ndarray) -> np.ndarray:
    """The probes' sample of ``X``: evenly spaced rows, in float64."""
    n = X.shape[0]
    rows = np.linspace(0, n - 1, max(1, min(_PROBE_ROWS, n // 8))).astype(np.intp)
    return X[np.unique(rows)].astype(np.float64)


def _distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``A`` and of ``B`` (float64, by the
    expanded formula: the probes' estimates, not the kernels' exact values)."""
    a_sq, b_sq = np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B)
    return np.sqrt(np.maximum(a_sq[:, None] + b_sq - 2.0 * A @ B.T, 0.0))


def bounds_pay_at_once(
    X: np.ndarray, centers: np.ndarray, sample: np.ndarray | None = None
) -> bool:
    """Whether a run should take up the bounds from its first step: where a row's
    distance work ``k * d`` is at least :data:`_EAGER_WORK` and most rows of a
    sample are at least :data:`_EAGER_RATIO` times nearer one of ``centers``
    than any other. Such rows sit in clusters that the centres already tell
    apart, and the bounds settle most of them from the fourth step on; their
    first passes cost about what the plain steps they replace do (2e5 x 128
    blobs, k = 256, 20 iterations: 356-373 ms from the first step, 392-410 ms
    when a probe took them up after the third; the median row 4.9x nearer its
    nearest initial centre than the second). Rows about as far from several
    centres (uniform data: 1.02) are left to :func:`bounds_would_pay`.
    ``sample``: :func:`_probe_rows` of X, where the caller keeps it."""
    k, d = centers.shape
    if not _eager_shape(k, d):
        return False
    D = _distances(_probe_rows(X) if sample is None else sample, centers.astype(np.float64))
    D.sort(axis=1)
    return bool(np.median(D[:, 1]) >= _EAGER_RATIO * np.median(D[:, 0]))


def bounds_would_pay(
    X: np.ndarray,
    previous: np.ndarray,
    centers: np.ndarray,
    group: np.ndarray,
    sample: np.ndarray | None = None,
) -> bool:
    """Whether a pass of :class:`BoundedLloyd` would cost at most :data:`_PROBE_GAIN`
    of a plain step (by its cost model), predicted on a sample of rows.

    The sample's bounds are those a pass at ``previous`` leaves (float64
    distances; ``group``: each centre's group, numbered from 0, as
    :func:`_center_groups` gives them), moved by how far
    each centre went to ``centers``; each row then meets the bounded kernel's
    tests: settled by its bounds, settled once its upper bound is tightened,
    its candidate centres one by one, or every centre (more candidates than
    the cost model allows). The last step's moves stand in for the next one's,
    which are smaller as a run converges: the prediction errs towards plain
    steps. Deterministic: the same rows and arithmetic on every run.
    ``sample``: :func:`_probe_rows` of X, where the caller keeps it (a run
    probes up to a dozen times; the copy was a fifth of a probe's 0.13 ms at
    1e5 x 64, k = 10).
    """
    d = X.shape[1]
    k = centers.shape[0]
    Xs = _probe_rows(X) if sample is None else sample
    P, C = previous.astype(np.float64), centers.astype(np.float64)
    D = _distances(Xs, P)
    m = np.arange(Xs.shape[0])
    label = np.argmin(D, axis=1)
    upper = D[m, label]
    D[m, label] = np.inf
    t = int(group.max()) + 1
    order = np.argsort(group, kind="stable")
    lower = np.minimum.reduceat(D[:, order], np.searchsorted(group[order], np.arange(t)), axis=1)
    moved = C - P
    drift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
    gdrift = np.zeros(t)
    np.maximum.at(gdrift, group, drift)
    lb = lower - gdrift
    glb = lb.min(axis=1)
    cc = _distances(C, C)
    np.fill_diagonal(cc, np.inf)
    separation = cc.min(axis=1)[label]

    def settled(u: np.ndarray) -> np.ndarray:
        low = np.maximum(glb, separation - u)
        return (low > 0) & (u < low)

    u = upper + drift[label]
    first = settled(u)
    own = Xs - C[label]
    u = np.where(first, u, np.sqrt(np.einsum("ij,ij->i", own, own)))
    open_ = ~(first | settled(u))
    costs = _Costs.of(k, d, X.dtype.itemsize, t)
    checked = (lb <= 0) | (lb <= u[:, None])
    full = open_ & (checked @ np.bincount(group, minlength=t) > costs.full_row / costs.single)
    near = (lower[:, group] - drift) <= u[:, None]  # the centres a row computes one by one
    near[m, label] = False
    cost = costs.bounded_pass(
        Xs.shape[0], int((~first).sum()), int(near[open_ & ~full].sum()), int(full.sum())
    )
    return cost <= _PROBE_GAIN * Xs.shape[0] * costs.plain_row


def _bounds_kernels():
    """The compiled kernels of :class:`BoundedLloyd` (they need Numba)."""
    from . import _numba_bounds

    return _numba_bounds


def default_groups(n_samples: int, n_clusters: int) -> int:
    """Groups of centres for the lower bounds: ``n_clusters // 10`` (Yinyang),
    1 (Hamerly) below 20 centres, capped by :data:`_MAX_GROUPS` and memory."""
    by_memory = max(1, _LOWER_BYTES // (4 * max(n_samples, 1)))
    return max(1, min(n_clusters // _CENTERS_PER_GROUP, _MAX_GROUPS, by_memory))


def _center_groups(centers: np.ndarray, n_groups: int) -> np.ndarray:
    """Group of each centre: 5 Lloyd iterations on the centres themselves (float64),
    from evenly spaced centres, as Yinyang groups its initial centres; empty
    groups are dropped, so the groups are numbered 0 .. t-1 and none is empty."""
    k = centers.shape[0]
    if n_groups <= 1:
        return np.zeros(k, dtype=np.intp)
    C = centers.astype(np.float64)
    G = C[np.linspace(0, k - 1, n_groups).astype(np.intp)]
    for _ in range(5):
        D = np.einsum("ij,ij->i", G, G)[np.newaxis, :] - 2 * C @ G.T
        group = np.argmin(D, axis=1)
        for g in range(n_groups):
            members = group == g
            if members.any():
                G[g] = C[members].mean(axis=0)
    _, group = np.unique(group, return_inverse=True)
    return group.reshape(-1).astype(np.intp)


class BoundedLloyd:
    """Lloyd iterations on dense rows that skip most distance computations by bounds.

    Each :meth:`step` equals :func:`lloyd_step` (compiled engine) from the same
    centres: the same labels, bit for bit (a row the bounds settle provably
    keeps its label under the plain kernel's rounding; a row they cannot
    settle is computed by the plain kernel's own arithmetic, or one candidate
    at a time when no near tie leaves room for rounding to decide; see
    :mod:`._numba_bounds`, which also says why, after the first pass, a row
    within rounding of a tie may take the other of the two centres), and the
    same centres up to the rounding of the
    per-cluster sums, which move with the rows that change cluster instead of
    being summed afresh (within 1e-15 relative; the same float32 centres in
    practice).

    ``n_groups`` groups of centres (Yinyang; 1 is Hamerly) each give every row
    one lower bound; default :func:`default_groups`. ``group``: each centre's
    group (numbered from 0, none empty; it sets ``n_groups``), by default
    formed by :func:`_center_groups` from the centres of the first pass. A
    run should form them from its initial centres (:func:`lloyd_bounded`
    does): from centres that have moved for a few steps, the groups of 2e5 x
    128 blobs (k = 256) came out one of 130 centres and 24 small ones, and
    every row near the large one was computed in full (12 ms a pass against
    9 ms). ``max_candidates``: a
    row with more candidate centres than this is computed against all of
    them by BLAS (default: where that is cheaper by the cost model). The
    state (labels, an upper bound and ``n_groups`` lower bounds per row)
    persists between steps, which may be given any centres: the bounds move
    by how far each centre moved since the previous pass.

    Attributes for tests and benchmarks: ``evaluations`` (row-centre distances
    computed so far: k per row computed in full, 1 per tightened bound or
    candidate) and ``last_stats`` (in the last pass: rows whose label changed,
    rows computed in full, bounds tightened, candidates computed one by one);
    ``profitable`` is False once the bounds have cost more than plain steps
    (cost model) for :data:`_UNPROFITABLE_STREAK` passes in a row, none of
    them both much cheaper than the one before (:data:`_FALLING`) and within
    :data:`_HOPELESS` plain steps.

    Prior validation of data is assumed: dense, finite, float32 or float64.
    """

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray,
        n_clusters: int,
        *,
        n_groups: int | None = None,
        max_candidates: int | None = None,
        threads: int | None = None,
        group: np.ndarray | None = None,
    ) -> None:
        self._kernels = _bounds_kernels()
        self.X = np.ascontiguousarray(X)
        n, d = self.X.shape
        self.w = np.ascontiguousarray(sample_weight, dtype=np.float64)
        self.n_clusters = k = int(n_clusters)
        self.n_groups = default_groups(n, k) if n_groups is None else max(1, min(n_groups, k))
        self._given_group = None if group is None else np.asarray(group, dtype=np.intp)
        if self._given_group is not None:
            self.n_groups = int(self._given_group.max()) + 1
        if max_candidates is None:
            costs = _Costs.of(k, d, self.X.dtype.itemsize, self.n_groups)
            max_candidates = int(costs.full_row / costs.single)
        self.max_candidates = max_candidates
        self.threads = engine_threads() if threads is None else threads
        self._blocks = _chunks(n, k * d, sums=k * d)
        self._rows = _sub_block_rows(k, self.X.dtype.itemsize)
        # The plain kernel's ||c||^2 - 2 x.c has rounding error below
        # gamma_(d+2) (||c||^2 + 2 ||x|| ||c||) in any summation order, plus one
        # rounding of the subtraction in X's dtype: (d + 8) eps bounds both, with room.
        self._coef = (d + 8) * float(np.finfo(self.X.dtype).eps)
        self.labels = np.full(n, -1, dtype=np.intp)
        self.upper = np.empty(n)
        self.lower = np.empty((n, 0), dtype=np.float32)
        self.x_norm = np.empty(n)
        self.sums = np.zeros((k, d))
        self.weights = np.zeros(k)
        self.npos = np.zeros(k, dtype=np.int64)
        self.group = np.zeros(k, dtype=np.intp)
        self._gstart = self._gmembers = self.group
        self._centers: np.ndarray | None = None  # the centres the bounds refer to
        self.evaluations = 0
        self.last_stats = np.zeros(4, dtype=np.int64)
        self.profitable = True
        self._streak = 0
        self._last_cost = np.inf  # the cost model's cost of the last pass
        X_c, kern = self.X, self._kernels
        self._run(lambda a, b: kern.row_norm64_chunk(X_c, self.x_norm, a, b))

    def _run(self, func) -> list:
        return _run_blocks(func, self._blocks, self.threads)

    def _pass(self, centers: np.ndarray, accumulate: bool) -> int:
        """Labels w.r.t. ``centers`` (bounds first), and with ``accumulate`` the
        sums brought up to date; returns the number of labels that changed."""
        kern, X = self._kernels, self.X
        (n, d), k = X.shape, self.n_clusters
        C = np.ascontiguousarray(centers, dtype=X.dtype)
        c_sq = np.einsum("ij,ij->i", C, C)  # as lloyd_step: the same products
        Cp, _ = kern.panels_for(C, c_sq)  # (empty where lloyd_step uses BLAS)
        C64 = C.astype(np.float64)
        first = self._centers is None
        if first:
            given = self._given_group
            self.group = _center_groups(C, self.n_groups) if given is None else given
            t = int(self.group.max()) + 1
            self._gmembers = np.argsort(self.group, kind="stable")
            self._gstart = np.searchsorted(self.group[self._gmembers], np.arange(t + 1))
            self.lower = np.empty((n, t), dtype=np.float32)
            drift = np.zeros(k)
        else:
            moved = C64 - self._centers
            drift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
        t = self.lower.shape[1]
        gdrift = np.zeros(t)
        np.maximum.at(gdrift, self.group, drift)
        cc, separation = kern.center_distances(C)
        cmax = float(np.sqrt(np.max(np.einsum("ij,ij->i", C64, C64))))
        nb = len(self._blocks)
        parts = np.zeros((nb, k if accumulate else 1, d))
        wparts = np.zeros((nb, k))
        nparts = np.zeros((nb, k), dtype=np.int64)
        stats = np.zeros((nb, 4), dtype=np.int64)
        index = {start: b for b, (start, _) in enumerate(self._blocks)}

        def work(start: int, stop: int) -> None:
            b = index[start]
            kern.bounded_chunk(
                X, C, c_sq, Cp, self.w, self.x_norm, self.labels, self.upper, self.lower,
                self.group, self._gstart, self._gmembers, drift, gdrift, cc, separation,
                self._coef, cmax, parts[b], wparts[b], nparts[b], stats[b],
                start, stop, self._rows, first, accumulate, self.max_candidates,
            )  # fmt: skip

        self._run(work)
        if accumulate:
            if first:
                self.sums[...] = 0
                self.weights[...] = 0
                self.npos[...] = 0
            for b in range(nb):  # chunk order: the same sums on any number of threads
                self.sums += parts[b]
                self.weights += wparts[b]
                self.npos += nparts[b]
        self._centers = C64
        self.last_stats = stats.sum(axis=0)
        _, full, tightened, singles = (int(x) for x in self.last_stats)
        self.evaluations += full * k + tightened + singles
        costs = _Costs.of(k, d, X.dtype.itemsize, t)
        cost = costs.bounded_pass(n, tightened, singles, full)
        if not first:
            plain = n * costs.plain_row
            falling = cost <= _FALLING * self._last_cost and cost <= _HOPELESS * plain
            losing = cost > plain and not falling
            self._streak = self._streak + 1 if losing else 0
            self.profitable = self._streak < _UNPROFITABLE_STREAK
        self._last_cost = cost
        return int(self.last_stats[0])

    def _step(self, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """New centres, cluster weights, re-seeded clusters, labels changed."""
        changed = self._pass(centers, accumulate=True)
        new, weights, empty = _centers_of_state(
            self.X, centers, self.w, self.labels, self.sums, self.weights, self.npos, None,
            False, self.threads,
        )  # fmt: skip
        return new, weights, empty, changed

    def step(self, centers: np.ndarray) -> LloydStep:
        """One Lloyd iteration from ``centers``, as :func:`lloyd_step`."""
        new, weights, empty, _ = self._step(centers)
        return LloydStep(self.labels.copy(), new, weights, empty)

    def assign(self, centers: np.ndarray) -> np.ndarray:
        """Labels w.r.t. ``centers``, as :func:`assign`'s (the sums are left as they
        were: call it last)."""
        self._pass(centers, accumulate=False)
        return self.labels.copy()


def use_bounds(X: np.ndarray | sp.csr_matrix, n_clusters: int, spherical: bool) -> bool:
    """Whether :func:`lloyd_bounded` serves this data: dense Euclidean rows, Numba
    installed, enough rows, and enough distance work per row (``k * d``) for the
    bounds to pay for their bookkeeping."""
    if sp.issparse(X) or spherical or n_clusters < 2 or X.shape[0] < _BOUNDED_MIN_ROWS:
        return False
    if n_clusters * X.shape[1] < _BOUNDED_MIN_WORK:
        return False
    try:
        _bounds_kernels()
    except ImportError:
        return False
    return True


def lloyd_bounded(
    X: np.ndarray,
    centers: np.ndarray,
    sample_weight: np.ndarray,
    max_iter: int,
    tol: float,
    *,
    n_groups: int | None = None,
    max_candidates: int | None = None,
    threads: int | None = None,
    settled_share: float | None = None,
    offset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Lloyd iterations to convergence with :class:`BoundedLloyd`; scikit-learn's
    stopping rule, as ``KMeans``'s plain loop: stop when no label changes
    (strict convergence), or when the summed squared centre shift is ``<= tol``
    (then the rows are assigned once more, to the final centres).

    The run takes up the bounds from its first step where
    :func:`bounds_pay_at_once` says so (much distance work per row, rows in
    clusters that the initial centres tell apart), else once a probe
    (:func:`bounds_would_pay`, after each of the first :data:`_PROBE_FIRST`
    plain steps, then after every :data:`_PROBE_EVERY`-th; only where a pass
    could cost under :data:`_PROBE_HOPE` plain steps at all) predicts that a
    bounded pass costs well under a plain step: while many rows change
    cluster, the centres move far and the bounds settle few rows, and their
    first pass (every distance, every bound) costs about two plain steps; on
    uniform data in many dimensions, whose rows sit near several centres,
    they never pay. Measured (2 cores, 20 iterations, 2e5 x 128 float32,
    k = 256, old and new code alternating, before the panels dropped their NaN
    handling): uniform rows 849-872 ms with the bounds from the first step
    (given up after the third), 774-800 ms with plain steps throughout; blobs
    356-373 ms from the first step either way.
    ``settled_share`` (for tests) replaces both: the bounds are taken up
    after a step that changed at most that share of the labels (1: at once).
    Weights too far apart for sums that move with the rows
    (:func:`weights_allow_moving`) keep the run on plain steps summed afresh.
    Where the bounds stop paying (``BoundedLloyd.profitable``: uniform data in
    many dimensions, whose rows sit near several centres) the run goes on with
    plain steps. The labels are the same on either path, but for a row within
    rounding of a tie after the bounds' first pass (:mod:`._numba_bounds`),
    which may take the other of its two centres and so move the centres and
    ``n_iter`` of what follows.

    ``offset``: the rows are ``X - offset``, read as :class:`PlainLloyd` reads
    them (its ``shift``); only for runs that take plain steps throughout
    (:func:`plain_throughout`; else a ValueError).

    Returns ``(labels, centers, n_iter, own)``, the first three the plain
    loop's (with that exception); ``own`` is each row's squared distance to its centre where
    the last assignment was a plain pass that computed it (:func:`assign_own`),
    else None.
    """
    if threads is None:
        threads = engine_threads()
    n = X.shape[0]
    unit = bool((sample_weight == 1).all())  # one pass: the plain steps skip the products
    k = centers.shape[0]
    if offset is not None and (
        settled_share is not None or not plain_throughout(X, k, sample_weight, n_groups)
    ):
        raise ValueError("rows read shifted need a run of plain steps throughout")
    engine: BoundedLloyd | None = None
    plain: PlainLloyd | None = None
    changed = n  # before the first step every label is new
    strict = False
    labels_old: np.ndarray | None = None  # the last plain step's labels
    # (BLAS on one thread: its spinning threads would take a core from the kernels')
    with one_blas_thread() if threads > 1 else _nullcontext():
        # the groups of centres, of the bounds and the probes: from the initial centres
        t = default_groups(n, k) if n_groups is None else max(1, min(n_groups, k))
        group = _center_groups(centers, t)
        steady = unit or weights_allow_moving(sample_weight)  # (the bounds move sums)
        hopeful = steady and _hopeful(k, X.shape[1], X.dtype.itemsize, t)
        sample = _probe_rows(X) if hopeful else None  # (the probes' rows, kept for the run)
        if not steady:
            start = False
        elif settled_share is None:
            start = bounds_pay_at_once(X, centers, sample)
        else:
            start = settled_share >= 1
        for n_iter in range(1, max_iter + 1):
            if engine is None and start:
                engine = BoundedLloyd(
                    X, sample_weight, k, max_candidates=max_candidates, threads=threads,
                    group=group,
                )  # fmt: skip
                plain = None  # (its labels stay in labels_old)
            if engine is not None and engine.profitable:
                new, _, _, changed = engine._step(centers)
                labels = engine.labels
                if labels_old is not None:  # the engine's first pass counts every row
                    changed = int(np.count_nonzero(labels != labels_old))
                    labels_old = None
            else:
                if plain is None:  # (where the bounds gave up: changes from their labels)
                    plain = PlainLloyd(
                        X, sample_weight, k, threads=threads, unit_weight=unit,
                        labels=None if engine is None else engine.labels, shift=offset,
                    )  # fmt: skip
                new, _, _, changed = plain._step(centers)
                labels = labels_old = plain.labels
            shift = float(np.sum((new - centers) ** 2))
            previous, centers = centers, new
            if n_iter > 1 and changed == 0:
                strict = True
                break
            if shift <= tol:
                break
            if engine is not None or n_iter == max_iter:
                continue
            if settled_share is not None:
                start = steady and changed <= settled_share * n
            elif hopeful and (n_iter <= _PROBE_FIRST or n_iter % _PROBE_EVERY == 0):
                start = bounds_would_pay(X, previous, centers, group, sample)
        own = None
        if strict:
            labels = labels.copy()
        elif engine is not None and engine.profitable:
            labels = engine.assign(centers)
        else:
            labels, own = assign_own(X, centers, threads=threads, engine="numba", shift=offset)
    return labels, centers, n_iter, own


def _eager_shape(k: int, d: int) -> bool:
    """Whether :func:`bounds_pay_at_once` may start the bounds for this shape
    (then it asks the data): distance work per row of :data:`_EAGER_WORK`."""
    return k >= 2 and k * d >= _EAGER_WORK


def _hopeful(k: int, d: int, itemsize: int, n_groups: int) -> bool:
    """Whether a bounded pass could cost under :data:`_PROBE_HOPE` plain steps
    for this shape (by the cost model): else a run never probes."""
    costs = _Costs.of(k, d, itemsize, n_groups)
    return costs.bound_row <= _PROBE_HOPE * costs.plain_row


def plain_throughout(
    X: np.ndarray, n_clusters: int, sample_weight: np.ndarray, n_groups: int | None = None
) -> bool:
    """Whether :func:`lloyd_bounded` (without ``settled_share``) takes plain steps
    from first to last, whatever the data's values: weights too far apart for
    the bounds, or a shape whose distance work is too small for them to start
    at once (:func:`bounds_pay_at_once`) and for which no probe is hopeful."""
    (n, d), k = X.shape, n_clusters
    if not ((sample_weight == 1).all() or weights_allow_moving(sample_weight)):
        return True
    t = default_groups(n, k) if n_groups is None else max(1, min(n_groups, k))
    return not _eager_shape(k, d) and not _hopeful(k, d, X.dtype.itemsize, t)


def _panels_serve(X: np.ndarray, n_clusters: int, engine: str | None = None) -> bool:
    """Whether the compiled kernels' register panels compute the nearest centres
    of these dense C-ordered rows (they can subtract a shift as they read X).
    Not for read-only or unaligned rows: Numba types them apart, and the
    kernels, which until now read only aligned writable copies of them,
    would compile once more (6.8 s for a first fit)."""
    if sp.issparse(X) or not (X.flags.c_contiguous and X.flags.writeable and X.flags.aligned):
        return False
    if _compiled_kernels(engine) is None:
        return False
    from ._numba_panels import panel_width

    return panel_width(n_clusters, X.shape[1], X.dtype.itemsize) > 0


def reads_shifted(
    X: np.ndarray | sp.csr_matrix, n_clusters: int, sample_weight: np.ndarray, spherical: bool
) -> bool:
    """Whether a ``KMeans`` run (:func:`._kmeans._lloyd`) can read X with its
    column means subtracted on the fly instead of from a centred copy: dense
    C-ordered Euclidean rows, the compiled kernels, :class:`PlainLloyd`'s
    steps (16 features or more) from first to last (:func:`plain_throughout`
    where the bounded engine serves the shape), and register panels for the
    shape (the BLAS products read X as it is). The copy is X's size and
    written once: 2.4 ms of a 33 ms fit at 1e5 x 64 (k = 10) where NumPy's
    huge pages come at once, 10-13 ms where the kernel falls back to small
    pages (see :mod:`anomalykit._utils._memory`); the subtraction in the
    panels costs nothing measurable (0.155 against 0.160 ms for 2e4 rows).
    """
    if spherical or sp.issparse(X) or not delta_pays(X.shape[1], 0):
        return False
    if X.shape[0] * X.shape[1] < _CENTRE_MIN_SIZE:
        return False  # (centre_columns' NumPy path: its variances, summed in NumPy's order)
    if not _panels_serve(X, n_clusters):
        return False
    k = n_clusters
    return not use_bounds(X, k, spherical) or plain_throughout(X, k, sample_weight)
