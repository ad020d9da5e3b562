"""Compiled kernels (Numba) behind :mod:`._lloyd`, imported only when first needed.

Compilation happens on the first call for each dtype and is cached on disk
(``cache=True``), never at import time of anomalykit. The NumPy code in
:mod:`._lloyd` stays the reference these kernels are tested against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["argmin_accumulate"]


@njit(nogil=True, cache=True)
def argmin_accumulate(
    D: np.ndarray,
    c_sq: np.ndarray,
    Xb: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through lloyd_step's tests
    """For each row i of a block: ``labels[i] = argmin_j D[i, j] + c_sq[j]`` (first
    minimum on ties, as ``np.argmin``) and ``sums[labels[i]] += w[i] * Xb[i]``.

    ``D`` holds ``-2 x.c`` from one BLAS call; adding ``||c||^2`` here spares a
    pass over the block. ``sums`` is float64 whatever the dtype of ``Xb``.
    """
    m, k = D.shape
    d = Xb.shape[1]
    for i in range(m):
        best = D[i, 0] + c_sq[0]
        arg = 0
        for j in range(1, k):
            v = D[i, j] + c_sq[j]
            if v < best:
                best = v
                arg = j
        labels[i] = arg
        wi = w[i]
        for f in range(d):
            sums[arg, f] += wi * Xb[i, f]
