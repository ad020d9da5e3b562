"""Compiled kernels (Numba) behind :mod:`._lloyd` for CSR rows, imported only when first needed.

Compiled on the first call for each dtype and cached on disk (``cache=True``),
never at import time of anomalykit. The NumPy path in :mod:`._lloyd` (SciPy's
sparse products) stays the reference these kernels are tested against.

A row's products with every centre come from its stored values, in storage
order, each times a row of the transposed centres (``CT``, features x k,
contiguous over the centres): ``acc[j] += x_p * CT[col_p, j]``, the order of
SciPy's ``csr @ dense``, so the values and the labels are the reference's,
bit for bit. Only the centre rows of the row's own features are read: the
work is ``nnz x k``, not ``n x d x k``. The Lloyd step adds each row's values
to its centre's (dense, float64) sum, and no n x d matrix is ever made (the
NumPy path's distance to the own centre multiplies X by a dense n x d copy of
the centres).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._utils._numba_cache import salt_kernel_caches

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = ["assign_chunk", "lloyd_chunk", "own_sq_distances_chunk"]


@njit(nogil=True, cache=True, inline="always")
def _nearest(data, indices, indptr, CT, c_sq, i, acc):  # pragma: no cover - compiled
    """Label of row ``i`` and its ``||c||^2 - 2 x.c`` (in the data's dtype)."""
    k = CT.shape[1]
    for j in range(k):
        acc[j] = 0
    for p in range(indptr[i], indptr[i + 1]):
        v = data[p]
        ct = CT[indices[p]]
        for j in range(k):
            acc[j] += v * ct[j]
    two = acc.dtype.type(2)
    best = c_sq[0] - two * acc[0]
    arg = 0
    for j in range(1, k):
        value = c_sq[j] - two * acc[j]
        if value < best:
            best = value
            arg = j
    return arg, best


@njit(nogil=True, cache=True)
def lloyd_chunk(
    data, indices, indptr, CT, c_sq, w, labels, sums, wsum, start, stop
):  # pragma: no cover - compiled; covered through lloyd_step's tests
    """Nearest centre of rows ``start:stop`` into ``labels``,
    ``sums[label] += w * x`` (``sums`` dense float64) and ``wsum[label] += w``
    (summed in an array of this call's own: neighbouring chunks' ``wsum`` may
    share a cache line)."""
    acc = np.empty(CT.shape[1], dtype=CT.dtype)
    wacc = np.zeros(wsum.shape[0])
    for i in range(start, stop):
        arg, _ = _nearest(data, indices, indptr, CT, c_sq, i, acc)
        labels[i] = arg
        wi = w[i]
        wacc[arg] += wi
        srow = sums[arg]
        for p in range(indptr[i], indptr[i + 1]):
            srow[indices[p]] += wi * data[p]
    for j in range(wsum.shape[0]):
        wsum[j] += wacc[j]


@njit(nogil=True, cache=True)
def assign_chunk(
    data, indices, indptr, CT, c_sq, x_sq, labels, dist, start, stop
):  # pragma: no cover - compiled; covered through assign's tests
    """Nearest centre of rows ``start:stop`` into ``labels`` and, unless ``dist``
    is None, the squared distance to it (``||x||^2 + best``, clipped at 0)."""
    acc = np.empty(CT.shape[1], dtype=CT.dtype)
    for i in range(start, stop):
        arg, best = _nearest(data, indices, indptr, CT, c_sq, i, acc)
        labels[i] = arg
        if dist is not None:
            dist[i] = max(x_sq[i] + best, 0)


@njit(nogil=True, cache=True)
def own_sq_distances_chunk(
    data, indices, indptr, centers, c_sq, x_sq, labels, out, start, stop
):  # pragma: no cover - compiled; covered through KMeans's tests
    """``out[i] = max(||x_i||^2 - 2 x_i.c + ||c||^2, 0)`` with ``c`` the row's own
    centre: the dot product over the row's stored values in storage order."""
    two = data.dtype.type(2)
    for i in range(start, stop):
        c = centers[labels[i]]
        dot = data.dtype.type(0)
        for p in range(indptr[i], indptr[i + 1]):
            dot += data[p] * c[indices[p]]
        out[i] = max(x_sq[i] - two * dot + c_sq[labels[i]], 0)
