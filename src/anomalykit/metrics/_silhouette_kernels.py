"""Compiled kernel (Numba) for the exact silhouette, imported only when first needed.

:func:`block_row_sums` takes one band of rows (grouped by cluster, as the whole
array) and sweeps the columns from the band's first row to the end, in square
blocks: one BLAS product per block, then in the same cache-resident block the
distances (Euclidean ``sqrt(max(||x||^2 + ||y||^2 - 2 x.y, 0))`` on centred
rows, recomputed from differences where the expansion cancels, so identical
rows are exactly 0 apart; or cosine ``1 - x.y`` clipped to [0, 2] on unit rows;
a row's distance to itself exactly 0) and their sums per cluster, both for the band's rows (over runs of columns
of one cluster) and, above the diagonal, for the columns (over runs of the
band's rows). Every distance is computed once. The sums may be added in any
order (the compiler vectorises them; their rounding, about 1e-16 relative, is
far below the tests' 1e-10), always the same order for the same data, whatever
the number of threads. The NumPy sweep in :mod:`._cluster` is the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._utils._numba_cache import salt_kernel_caches

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = ["block_row_sums"]


#: A squared distance below this fraction of ``||x||^2 + ||y||^2`` has lost most of
#: its digits to cancellation in the expansion: it is recomputed from differences
#: (so identical rows are exactly 0 apart, and near-duplicates keep their digits).
NEAR = 1e-6


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _distances(X, g, D, i, lo, hi, sq, t, euclidean):  # pragma: no cover - compiled
    """``D[i, lo:hi]`` (row ``g`` against rows ``t + lo : t + hi``): products in,
    distances out; returns their sum."""
    row = D[i, lo:hi]  # slices, indexed from 0: the compiler then vectorises
    col_sq = sq[t + lo : t + hi]
    acc = 0.0
    if not euclidean:
        for j in range(row.shape[0]):
            v = min(max(1.0 - row[j], 0.0), 2.0)
            row[j] = v
            acc += v
        return acc
    si = sq[g]
    near = 0
    for j in range(row.shape[0]):
        v2 = si + col_sq[j] - 2.0 * row[j]
        near += v2 < NEAR * (si + col_sq[j])
        v = np.sqrt(max(v2, 0.0))
        row[j] = v
        acc += v
    if near > 0:  # rare: near-duplicates, recomputed from differences
        for j in range(row.shape[0]):
            if row[j] * row[j] < NEAR * (si + col_sq[j]):
                s = 0.0
                for f in range(X.shape[1]):
                    diff = X[g, f] - X[t + lo + j, f]
                    s += diff * diff
                acc += np.sqrt(s) - row[j]
                row[j] = np.sqrt(s)
    return acc


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def block_row_sums(
    X, sq, codes, run_end, s, e, block, euclidean, row_sums, col_sums
):  # pragma: no cover - compiled; covered through silhouette_samples's tests
    """Per-cluster distance sums of rows ``s:e`` against every row ``j >= s``.

    ``row_sums[i - s, c] += sum_{j in c} d(i, j)`` over all ``j >= s`` (the band's
    own rows included), and for the columns beyond the band ``col_sums[j - e, c]
    += sum_{i in s:e, i in c} d(i, j)``. ``codes`` are the rows' clusters,
    sorted; ``run_end[j]`` is the end of the run of equal codes that holds ``j``.
    Bands are whole blocks (``e - s`` a multiple of ``block``, or ``e = n``);
    distances are computed ``block x block`` at a time.
    """
    n = X.shape[0]
    colacc = np.empty(block)
    for t in range(s, n, block):
        u = min(t + block, n)
        bj = u - t
        for r0 in range(s, e, block):  # square blocks: cache-resident
            r1 = min(r0 + block, e)
            D = np.dot(X[r0:r1], X[t:u].T)  # products; distances in place
            for i in range(r1 - r0):
                g = r0 + i  # the row's index
                jd = g - t  # the row itself, when it is among these columns
                a = t
                while a < u:  # runs of columns of one cluster
                    lo, hi = a - t, min(run_end[a], u) - t
                    if lo <= jd < hi:  # a row's distance to itself: exactly 0
                        acc = _distances(X, g, D, i, lo, jd, sq, t, euclidean)
                        acc += _distances(X, g, D, i, jd + 1, hi, sq, t, euclidean)
                        D[i, jd] = 0.0
                    else:
                        acc = _distances(X, g, D, i, lo, hi, sq, t, euclidean)
                    row_sums[g - s, codes[a]] += acc
                    a = hi + t
            if t >= e:  # beyond the band: the same distances, summed for the columns
                a = r0
                while a < r1:  # runs of rows of one cluster
                    z = min(run_end[a], r1)
                    for j in range(bj):
                        colacc[j] = 0.0
                    for i in range(a - r0, z - r0):
                        for j in range(bj):
                            colacc[j] += D[i, j]
                    c = codes[a]
                    for j in range(bj):
                        col_sums[t - e + j, c] += colacc[j]
                    a = z
