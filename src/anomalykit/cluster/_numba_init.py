"""Compiled kernels (Numba) for greedy k-means++, imported only when first needed.

One pass over the rows evaluates every candidate of a step at once: per row,
the squared distance to each candidate (``||x||^2 + ||c||^2 - 2 x.c`` in float64
around a dot product in X's dtype), its minimum with the row's current
distance to the chosen centres, and each candidate's gain (how much the
weighted sum of those minima, the potential, falls). A candidate ``q`` cannot
bring a row closer when it is at least twice the row's distance away from the
row's nearest chosen centre ``a`` (triangle inequality:
``||x - q|| >= ||q - c_a|| - ||x - c_a|| >= ||x - c_a||``): such a row is not
read at all for that candidate, so on clustered data most rows are skipped
once their cluster has a centre. The NumPy path in :mod:`._init` is the
reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._numba_panels import PANEL_ROWS_MAX, panel_rows, panels_for

__all__ = ["panels_for", "trial_chunk", "update_chunk"]

#: Relative margin on the skip test ``||q - c_a||^2 > 4 ||x - c_a||^2``, far above the
#: float64 rounding of the centre-to-candidate distances.
SKIP_MARGIN = 1e-6


@njit(nogil=True, cache=True)
def _flush(
    X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdist2, mins, acc, idx, m, block, offset
):  # pragma: no cover - compiled
    """Rows ``idx[:m]`` against every candidate: one product of ``block`` (the
    rows' values: row ``idx[r]`` is ``block[idx[r] - offset]``, or ``block[r]``
    when ``offset < 0``) by BLAS, or by register panels where ``Cp`` holds the
    candidates packed (:mod:`._numba_panels`), then the minima and gains."""
    if Cp.shape[0] > 0:
        P = panel_rows(block, 0, block.shape[0], Cp, pad)  # (rows + 12, W >= t)
    else:
        P = np.dot(block, cands.T)  # (rows, t or more: see trial_chunk)
    t = c_sq.shape[0]
    for r in range(m):
        i = idx[r]
        p = r if offset < 0 else i - offset
        cl = closest[i]
        a = near[i]
        reach = 4.0 * cl * (1.0 + SKIP_MARGIN)
        wi = w[i]
        for q in range(t):
            d2 = x_sq[i] + c_sq[q] - 2.0 * np.float64(P[p, q])
            # min(cl, max(d2, 0)), or cl where q cannot improve the row: a select
            floor = cl if cdist2[q, a] > reach else 0.0
            v = min(cl, max(d2, floor))
            mins[q, i] = v
            acc[q] += wi * (cl - v)


@njit(nogil=True, cache=True)
def trial_chunk(
    X, x_sq, w, closest, near, cands, Cp, c_sq, cdist2, nearest2, mins, gains, start, stop, rows
):  # pragma: no cover - compiled; covered through kmeans_plusplus's tests
    """For rows ``start:stop`` and every candidate ``q`` it may improve:
    ``mins[q, i] = min(closest[i], ||x_i - cands[q]||^2)`` (clipped at 0), and
    ``gains[q] += w[i] * (closest[i] - mins[q, i])``. ``cdist2[q, a]`` is the
    squared distance from candidate ``q`` to chosen centre ``a``,
    ``nearest2[a] = min_q cdist2[q, a]`` and ``near[i]`` the row's nearest
    chosen centre. Rows that no candidate can improve (not even the one nearest
    their centre: one test per row) are skipped (``mins`` is not written for
    them). The others go, ``rows`` at a time, through one product with all the
    candidates -- register panels where ``Cp`` holds them packed
    (:func:`._numba_panels.panels_for`; empty: BLAS) -- of the whole block
    straight from X when at least half its rows are needed (a gathered copy
    costs more than the product of the rows not needed), else of a gathered
    copy. ``cands`` may have more rows than ``c_sq`` (zeros, ignored): BLAS is
    faster for 8 than for 7. Returns the rows computed."""
    t, d = c_sq.shape[0], cands.shape[1]
    acc = np.zeros(t)
    idx = np.empty(rows, dtype=np.int64)
    xg = np.empty((rows, d), dtype=X.dtype)
    pad = np.zeros((PANEL_ROWS_MAX, d), dtype=X.dtype)
    computed = 0
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        m = 0
        for i in range(a, b):
            if nearest2[near[i]] <= 4.0 * closest[i] * (1.0 + SKIP_MARGIN):
                idx[m] = i
                m += 1
        if m == 0:
            continue
        if 2 * m >= b - a:
            _flush(
                X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdist2, mins, acc, idx, m,
                X[a:b], a,
            )  # fmt: skip
        else:
            for r in range(m):
                src, dst = X[idx[r]], xg[r]  # 1-D views indexed from 0: a plain copy loop
                for f in range(d):
                    dst[f] = src[f]
            _flush(
                X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdist2, mins, acc, idx, m,
                xg[:m], -1,
            )  # fmt: skip
        computed += m
    for q in range(t):
        gains[q] = acc[q]
    return computed


@njit(nogil=True, cache=True)
def update_chunk(
    closest, near, cdist2, mins, best, new, w, sums, start, stop, block
):  # pragma: no cover - compiled; covered through kmeans_plusplus's tests
    """Rows ``start:stop`` that candidate ``best`` (now centre ``new``) brings
    closer take its distance and ``near = new``. A row is read only where
    :func:`_flush` wrote ``mins[best]``: where ``best`` could bring it closer
    (the same test), which implies that :func:`trial_chunk` computed the row.

    ``sums[j]``: the sum of ``w * closest`` (updated) over the chunk's ``j``-th
    block of ``block`` rows, added in row order, as ``np.cumsum`` adds them:
    the next draws find their block from these totals, without a pass over
    every row."""
    for a in range(start, stop, block):
        b = min(a + block, stop)
        total = 0.0
        for i in range(a, b):
            cl = closest[i]
            if cdist2[best, near[i]] <= 4.0 * cl * (1.0 + SKIP_MARGIN):
                m = mins[best, i]
                if m < cl:
                    closest[i] = m
                    near[i] = new
                    cl = m
            total += w[i] * cl
        sums[(a - start) // block] = total
