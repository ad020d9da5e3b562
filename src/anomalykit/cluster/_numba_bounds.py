"""Compiled kernels (Numba) for Lloyd iterations accelerated by distance bounds.

Imported only when first needed; compiled on the first call for each dtype and
cached on disk. :class:`._lloyd.BoundedLloyd` drives them; the plain kernels in
:mod:`._numba_kernels` (and through them the NumPy reference) are what they are
tested against.

The bounds (Yinyang, Ding et al. 2015; one group per centre is Elkan's, one
group in all Hamerly's). Each row keeps an upper bound ``u >= ||x - c_label||``
(float64) and, per group ``g`` of centres, a lower bound
``l_g <= min_{j in g, j != label} ||x - c_j||`` (float32, always rounded
down). After the centres move by ``p_j``: ``u += p_label``, ``l_g -= max_{j in
g} p_j``. With ``s_a = min_{j != a} ||c_a - c_j||`` every other centre is at
least ``L = max(min_g l_g, s_a - u)`` away, and the row keeps its label when

    u**2 + 2 delta < L**2                                       (1)

Exactness. ``delta`` bounds the rounding error of ``||c||^2 - 2 x.c`` as the
plain kernel computes it, for any summation order, the rounding of the
subtraction in X's dtype included: ``(d + 8) eps (max||c||^2 + 2 ||x|| max||c||)``,
plus a float64 slack of ``1e-10 (||x|| + max||c||)^2`` that covers the
rounding of the bounds' own float64 updates many times over. Under (1) the
plain kernel's argmin is the current label strictly, whatever its rounding.

A row that fails (1) gets its upper bound tightened to the float64 distance and
is tested again. A row that still fails is settled one of two ways:

* few candidates (centres of the groups whose bound does not exclude them, less
  those that the group's old bound minus the centre's own move, or the
  distance between centres, excludes): their ``||c||^2 - 2 x.c`` one by one
  (float32 dot products). The nearest wins when every other candidate is more
  than ``4 delta`` above it: then the plain kernel, off by at most ``delta``
  per value, picks it too. Otherwise (a near tie) the row goes the second way;
* many candidates, or a near tie: the row joins a block whose distances to every
  centre come from the SAME products and the same values, in X's dtype, as
  the plain kernel's (:func:`._numba_kernels._nearest`; it compares them four
  at a time or in register panels, this kernel one at a time: the first
  smallest is the same), so its label is bit for bit the plain kernel's, and
  all its bounds are renewed from those products.

  Where the plain kernel uses register panels (:mod:`._numba_panels`), so do
  these blocks (:func:`._numba_panels.panel_products`), and a row's products
  are summed in feature order wherever it sits: equal to the plain kernel's in
  every pass. On the BLAS route, this rests on BLAS rounding a row's products
  the same wherever the row sits in a block, which OpenBLAS does not promise:
  measured, blocks of a few rows (its edge kernels) or at another offset can
  round a row's products differently from the plain kernel's sub-blocks, in
  both product orientations. The first pass computes rows in the plain kernel's
  own sub-blocks; in later passes rows go through gathered blocks, and a row
  whose two nearest centres are within rounding of each other (its values
  within ``4 delta``) may take the other of the two. Tested: on data made of
  ulp-level ties, 1 row in 12,000 in some later passes, always such a tie.
  Recomputing each such row in its plain sub-block restores the plain labels,
  but cost 3x on 2e5 x 128 blobs with k = 256, where 0.6% of the rows are
  within ``4 delta`` (``delta`` is a worst-case bound, far above the real
  rounding): not done.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._utils._numba_cache import salt_kernel_caches
from ._numba_kernels import move_row, products
from ._numba_panels import PANEL_ROWS_MAX, panel_products, panels_for

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = ["bounded_chunk", "center_distances", "panels_for", "row_norm64_chunk"]

#: Relative float64 slack on ``(||x|| + max ||c||)**2`` added to ``delta``:
#: covers the rounding of the float64 bound updates (about 1e-16 relative each,
#: accumulated over the iterations) many times over.
BOUND_SLACK = 1e-10

#: Lower bounds are stored as float32 multiplied by this first: the stored value
#: is then below the float64 one (float32 rounds by at most 2**-24 relative).
_DOWN = 1.0 - 2.0**-22

#: Sums whose order does not matter for exactness (their rounding bound holds in
#: any order): let the compiler vectorise them.
_ANY_ORDER = {"reassoc", "contract"}


@njit(nogil=True, cache=True, fastmath=_ANY_ORDER)
def row_norm64_chunk(X, out, start, stop):  # pragma: no cover - compiled
    """``out[i] = ||X[i]||`` in float64 for rows ``start:stop``."""
    for i in range(start, stop):
        s = 0.0
        for f in range(X.shape[1]):
            v = np.float64(X[i, f])
            s += v * v
        out[i] = np.sqrt(s)


@njit(nogil=True, cache=True, fastmath=_ANY_ORDER)
def center_distances(centers):  # pragma: no cover - compiled
    """Distances between centres (float64 differences), and each centre's
    distance to its nearest other centre."""
    k, d = centers.shape
    cc = np.zeros((k, k))
    for a in range(k):
        for j in range(a + 1, k):
            s = 0.0
            for f in range(d):
                diff = np.float64(centers[a, f]) - np.float64(centers[j, f])
                s += diff * diff
            cc[a, j] = cc[j, a] = np.sqrt(s)
    separation = np.full(k, np.inf)
    for a in range(k):
        for j in range(k):
            if j != a and cc[a, j] < separation[a]:
                separation[a] = cc[a, j]
    return cc, separation


@njit(nogil=True, cache=True, fastmath=_ANY_ORDER)
def _distance64(X, i, centers, a):  # pragma: no cover - compiled
    s = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f]) - np.float64(centers[a, f])
        s += diff * diff
    return np.sqrt(s)


@njit(nogil=True, cache=True, fastmath=_ANY_ORDER)
def _dot(X, i, centers, j):  # pragma: no cover - compiled
    """``x_i . c_j`` in X's dtype (any summation order: covered by ``delta``)."""
    s = X[i, 0] * centers[j, 0]
    for f in range(1, X.shape[1]):
        s += X[i, f] * centers[j, f]
    return s


@njit(nogil=True, cache=True, inline="always")
def _delta(xn, coef, cmax):  # pragma: no cover - compiled
    """Bound on the rounding error of one ``||c||^2 - 2 x.c`` for a row of norm ``xn``."""
    return coef * (cmax * cmax + 2.0 * xn * cmax) + BOUND_SLACK * (xn + cmax) ** 2


@njit(nogil=True, cache=True, inline="always")
def _store_lower(lower, i, g, value):  # pragma: no cover - compiled
    lower[i, g] = np.float32(max(value, 0.0) * _DOWN)  # branch-free; 0 = no information


@njit(nogil=True, cache=True)
def _renew_block(
    X, centers, c_sq, Cp, pad, w, x_norm, labels, upper, lower, group, gstart, gmembers, coef,
    cmax, idx, m, xg, best, bestv, lab, m1, sums, wsum, npos, accumulate, full_sums,
):  # fmt: skip  # pragma: no cover - compiled
    """Distances of the ``m`` gathered rows ``idx[:m]`` to every centre, exactly as
    the plain kernel computes them; new labels, all bounds, and the sums' update.
    Returns the number of rows whose label changed."""
    k, d = centers.shape
    t = lower.shape[1]
    consecutive = idx[m - 1] - idx[0] == m - 1  # (every row of the first pass)
    if not consecutive:
        for r in range(m):
            src, dst = X[idx[r]], xg[r]  # 1-D views indexed from 0: a plain copy loop
            for f in range(d):
                dst[f] = src[f]
    src, a = (X, idx[0]) if consecutive else (xg, 0)
    if Cp.shape[0] > 0:  # the plain kernel's panel products: the same wherever the row sits
        DT = panel_products(src, a, a + m, Cp, k, pad)
    else:
        DT = products(centers, src, a, a + m)  # (k, m), as the plain kernel's product
    two = DT.dtype.type(2)  # values in X's dtype, as the plain kernel's
    for g in range(t):
        for r in range(m):
            m1[g, r] = np.inf
    c0 = c_sq[0]
    for r in range(m):
        v = c0 - two * DT[0, r]  # the plain kernel's expressions and types
        best[r] = v
        bestv[r] = v
        lab[r] = 0
    m10 = m1[group[0]]
    for r in range(m):
        m10[r] = bestv[r]
    for j in range(1, k):
        cj = c_sq[j]
        m1g = m1[group[j]]
        for r in range(m):
            v = cj - two * DT[j, r]
            if v < best[r]:
                best[r] = v
                lab[r] = j
                bestv[r] = v
            m1g[r] = min(m1g[r], v)
    changed = 0
    for r in range(m):
        i = idx[r]
        new = lab[r]
        old = labels[i]
        xn = x_norm[i]
        xs = xn * xn
        delta = _delta(xn, coef, cmax)
        gn = group[new]
        for g in range(t):
            if g != gn:
                _store_lower(lower, i, g, np.sqrt(max(m1[g, r] + xs - delta, 0.0)))
        other = np.inf  # the nearest other centre of the label's group
        for q in range(gstart[gn], gstart[gn + 1]):
            j = gmembers[q]
            if j != new:
                other = min(other, c_sq[j] - two * DT[j, r])
        _store_lower(lower, i, gn, np.sqrt(max(other + xs - delta, 0.0)))
        upper[i] = np.sqrt(max(bestv[r] + xs + delta, 0.0))
        if new != old:
            changed += 1
            labels[i] = new
        if accumulate and (full_sums or new != old):
            move_row(X, i, w, old, new, sums, wsum, npos, full_sums)
    return changed


@njit(nogil=True, cache=True)
def bounded_chunk(
    X, centers, c_sq, Cp, w, x_norm, labels, upper, lower, group, gstart, gmembers,
    drift, gdrift, cc, separation, coef, cmax, sums, wsum, npos, stats,
    start, stop, rows, first, accumulate, max_candidates,
):  # fmt: skip  # pragma: no cover - compiled
    """One Lloyd assignment of rows ``start:stop`` with bounds.

    ``first``: no valid bounds yet: every row is computed in full, and with
    ``accumulate`` its ``w x`` is added to ``sums`` (``w`` to ``wsum``, 1 to
    ``npos`` when ``w > 0``): the chunk's full sums. Otherwise the bounds move
    by ``drift`` (per centre) and ``gdrift`` (per group), and with
    ``accumulate`` a row that changes cluster moves its ``w x`` between the
    two clusters (the chunk's change of the sums). Groups: the centres of
    group ``g`` are ``gmembers[gstart[g]:gstart[g + 1]]``. A row with more
    than ``max_candidates`` candidate centres is computed in full.

    ``stats``: rows whose label changed; rows computed in full; upper bounds
    tightened; candidate distances computed one by one.
    """
    k, d = centers.shape
    t = lower.shape[1]
    # The chunk's sums in arrays of this call's own, added to the outputs at the
    # end: neighbouring chunks' outputs may share cache lines (see
    # _numba_kernels.lloyd_chunk).
    out_sums, out_wsum, out_npos = sums, wsum, npos
    sums = np.zeros_like(out_sums)
    wsum = np.zeros_like(out_wsum)
    npos = np.zeros_like(out_npos)
    idx = np.empty(rows, dtype=np.int64)
    xg = np.empty((rows, d), dtype=X.dtype)
    pad = np.zeros((PANEL_ROWS_MAX, d), dtype=X.dtype)
    best = np.empty(rows, dtype=X.dtype)
    bestv = np.empty(rows, dtype=np.float64)
    lab = np.empty(rows, dtype=np.int64)
    m1 = np.empty((t, rows), dtype=np.float64)
    old_lb = np.empty(t)
    lb = np.empty(t)
    checked = np.empty(t, dtype=np.bool_)
    g1 = np.empty(t)  # per checked group: smallest value, its centre, second smallest
    g1j = np.empty(t, dtype=np.int64)
    g2 = np.empty(t)
    skipped = np.empty(t)  # per checked group: smallest bound of the centres skipped
    cand = np.empty(k, dtype=np.int64)
    vals = np.empty(k)
    m = 0
    changed = 0
    full = 0
    tightened = 0
    singles = 0
    for i in range(start, stop):
        if not first:
            a = labels[i]
            u = upper[i] + drift[a]
            glb = np.inf
            for g in range(t):
                o = np.float64(lower[i, g])
                old_lb[g] = o
                v = o - gdrift[g]
                lb[g] = v
                glb = min(glb, v)
            xn = x_norm[i]
            delta = _delta(xn, coef, cmax)
            low = max(glb, separation[a] - u)
            settled = low > 0 and u * u + 2.0 * delta < low * low
            if not settled:
                u = _distance64(X, i, centers, a)
                tightened += 1
                low = max(glb, separation[a] - u)
                settled = low > 0 and u * u + 2.0 * delta < low * low
            if settled:
                upper[i] = u
                for g in range(t):
                    _store_lower(lower, i, g, lb[g])
                continue
            # The groups whose bound does not exclude them (4 delta: see the module).
            reach = u * u + 4.0 * delta
            count = 0
            for g in range(t):
                c = lb[g] <= 0 or lb[g] * lb[g] <= reach
                checked[g] = c
                count += (gstart[g + 1] - gstart[g]) if c else 0
            if count <= max_candidates:
                xs = xn * xn
                ga = group[a]
                va = u * u - xs  # the current centre's value, from its float64 distance
                bv = va
                b = a
                sv = np.inf
                ub = u  # an upper bound on the distance to b (u while b is a)
                for g in range(t):
                    if not checked[g]:
                        continue
                    f1 = np.inf
                    f1j = -1
                    f2 = np.inf
                    sk = np.inf
                    if g == ga:
                        f1 = va
                        f1j = a
                    # First the filters, which do not depend on one another's
                    # outcome, and the products (independent: they overlap) ...
                    nc = 0
                    reach_b = ub * ub + 4.0 * delta
                    ob = old_lb[g]
                    for q in range(gstart[g], gstart[g + 1]):  # branch-free compaction
                        j = gmembers[q]
                        bound = ob - drift[j]
                        out = bound > 0 and bound * bound > reach_b
                        sk = min(sk, bound if out else np.inf)
                        cand[nc] = j
                        nc += 0 if out or j == a else 1
                    for q in range(nc):
                        vals[q] = c_sq[cand[q]] - 2 * _dot(X, i, centers, cand[q])
                    singles += nc
                    # ... then the choices.
                    for q in range(nc):  # branch-free: the outcomes are unpredictable
                        v = vals[q]
                        j = cand[q]
                        f2 = min(f2, max(f1, v))
                        f1j = j if v < f1 else f1j
                        f1 = min(f1, v)
                        sv = min(sv, max(bv, v))
                        b = j if v < bv else b
                        bv = min(bv, v)
                    if b != a:
                        ub = np.sqrt(max(bv + xs + delta, 0.0))
                    g1[g] = f1
                    g1j[g] = f1j
                    g2[g] = f2
                    skipped[g] = sk
                if sv - bv > 4.0 * delta:  # no near tie: the plain kernel picks b
                    for g in range(t):
                        if checked[g]:
                            v = g2[g] if g1j[g] == b else g1[g]
                            value = min(np.sqrt(max(v + xs - delta, 0.0)), skipped[g])
                        else:
                            value = lb[g]
                            if g == ga and b != a:
                                value = min(value, np.sqrt(max(va + xs - delta, 0.0)))
                        _store_lower(lower, i, g, value)
                    upper[i] = ub
                    if b != a:
                        changed += 1
                        labels[i] = b
                        if accumulate:
                            move_row(X, i, w, a, b, sums, wsum, npos, False)
                    continue
            upper[i] = u
        idx[m] = i
        m += 1
        if m == rows:
            changed += _renew_block(
                X, centers, c_sq, Cp, pad, w, x_norm, labels, upper, lower, group, gstart,
                gmembers, coef, cmax, idx, m, xg, best, bestv, lab, m1, sums, wsum, npos,
                accumulate, first,
            )  # fmt: skip
            full += m
            m = 0
    if m > 0:
        changed += _renew_block(
            X, centers, c_sq, Cp, pad, w, x_norm, labels, upper, lower, group, gstart,
            gmembers, coef, cmax, idx, m, xg, best, bestv, lab, m1, sums, wsum, npos,
            accumulate, first,
        )  # fmt: skip
        full += m
    out_sums += sums
    out_wsum += wsum
    out_npos += npos
    stats[0] = changed
    stats[1] = full
    stats[2] = tightened
    stats[3] = singles
