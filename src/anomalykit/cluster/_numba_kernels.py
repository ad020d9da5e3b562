"""Compiled kernels (Numba) behind :mod:`._lloyd`, imported only when first needed.

Compilation happens on the first call for each dtype and is cached on disk
(``cache=True``), never at import time of anomalykit. The NumPy code in
:mod:`._lloyd` stays the reference these kernels are tested against.

Each kernel handles one *chunk* of rows (``start:stop``) start to finish,
without the GIL, in sub-blocks of ``rows`` rows: one BLAS product
``C @ Xb.T`` (k x rows, small enough to stay in cache), then the argmin
column by column -- for each centre ``j`` a loop over the block's rows that
the compiler turns into SIMD compares and selects -- then, for the Lloyd
step, the block's rows added to their centre's sum. Ties go to the lowest
centre index, as ``np.argmin``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["assign_chunk", "lloyd_chunk"]


@njit(nogil=True, cache=True, inline="always")
def _nearest(
    X, centers, c_sq, start, stop, labels, best
):  # pragma: no cover - compiled; covered through lloyd_step's tests
    """``labels[start:stop]`` and ``best[:stop-start]`` (= ``||c||^2 - 2 x.c``
    of the nearest centre) for one sub-block of rows."""
    m = stop - start
    DT = np.dot(centers, X[start:stop].T)  # (k, m): x.c for every centre and row
    lab = labels[start:stop]
    c0 = c_sq[0]
    for i in range(m):
        best[i] = c0 - 2 * DT[0, i]
        lab[i] = 0
    for j in range(1, centers.shape[0]):
        cj = c_sq[j]
        for i in range(m):
            v = cj - 2 * DT[j, i]
            if v < best[i]:
                best[i] = v
                lab[i] = j


@njit(nogil=True, cache=True)
def lloyd_chunk(
    X: np.ndarray,
    centers: np.ndarray,
    c_sq: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    start: int,
    stop: int,
    rows: int,
) -> None:  # pragma: no cover - compiled; covered through lloyd_step's tests
    """Nearest centre of rows ``start:stop`` into ``labels``, and
    ``sums[label] += w * x`` (``sums`` float64 whatever X's dtype)."""
    d = X.shape[1]
    best = np.empty(rows, dtype=X.dtype)
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        _nearest(X, centers, c_sq, a, b, labels, best)
        for i in range(a, b):
            arg = labels[i]
            wi = w[i]
            for f in range(d):
                sums[arg, f] += wi * X[i, f]


@njit(nogil=True, cache=True)
def assign_chunk(
    X: np.ndarray,
    centers: np.ndarray,
    c_sq: np.ndarray,
    x_sq: np.ndarray,
    labels: np.ndarray,
    dist: np.ndarray,
    start: int,
    stop: int,
    rows: int,
) -> None:  # pragma: no cover - compiled; covered through assign's tests
    """Nearest centre of rows ``start:stop`` into ``labels`` and the squared
    distance to it (``||x||^2 + best``, clipped at 0) into ``dist``."""
    best = np.empty(rows, dtype=X.dtype)
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        _nearest(X, centers, c_sq, a, b, labels, best)
        for i in range(a, b):
            dist[i] = max(x_sq[i] + best[i - a], 0)
