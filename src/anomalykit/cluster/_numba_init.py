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
once their cluster has a centre. Per row, up to ``LANES`` candidates'
distances, minima and gains take one vector of float64 lanes
(:func:`_gain_lanes`), and their minima are stored side by side
(``mins[q, i]``, written only for rows that some candidate brings closer,
as a byte of bits per row records). The NumPy path in :mod:`._init` is the
reference.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._utils._numba_cache import salt_kernel_caches
from ._numba_panels import PANEL_ROWS_MAX, panel_rows, panels_for
from ._numba_panels import splat as splat_ir

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = ["LANES", "panels_for", "shifted_sq_norms_chunk", "trial_chunk", "update_chunk"]

#: Relative margin on the skip test ``||q - c_a||^2 > 4 ||x - c_a||^2``, far above the
#: float64 rounding of the centre-to-candidate distances.
SKIP_MARGIN = 1e-6
#: Candidates evaluated by one vector of float64 lanes (:func:`_gain_lanes`); the
#: candidates' arrays are padded to a multiple of it.
LANES = 8


@intrinsic
def _gain_lanes(typingctx, P, p, c_sq, cdT, a, cl, xs, wi, mins, better, i, acc):
    """:func:`_flush`'s work for one row and the ``LANES`` candidates at once:
    with ``pq = float64(P[p, q])``, ``d2 = (xs + c_sq[q]) - 2 pq``, ``floor =
    cl if cdT[a, q] > 4 cl (1 + SKIP_MARGIN) else 0``, ``v = min(cl, max(d2,
    floor))`` (as Python's ``min``/``max`` pick), ``acc[q] += wi * (cl -
    v)``; bit ``q`` of ``better[i]`` tells whether ``v < cl``, and where any
    is, ``mins[q, i] = v``: the scalar loop's operations, in its order, in
    the lanes of one vector. Arrays C-contiguous, ``P`` float32 or float64
    with at least ``LANES`` columns, ``better`` uint8, the others float64:
    ``cdT`` with ``LANES`` columns, ``mins`` with ``LANES`` rows, ``c_sq``
    and ``acc`` of ``LANES`` values; nothing is bounds-checked."""
    arrays = (P, c_sq, cdT, mins, acc)
    if not all(isinstance(x, types.Array) and x.layout == "C" for x in arrays):
        return None
    if P.dtype not in (types.float32, types.float64) or (P.ndim, cdT.ndim, mins.ndim) != (2, 2, 2):
        return None
    if not all(x.dtype == types.float64 for x in arrays[1:]) or (c_sq.ndim, acc.ndim) != (1, 1):
        return None
    if not all(isinstance(x, types.Integer) for x in (p, a, i)):
        return None
    if not (isinstance(better, types.Array) and better.dtype == types.uint8 and better.ndim == 1):
        return None
    if not all(isinstance(x, types.Float) for x in (cl, xs, wi)):
        return None
    sig = types.void(P, p, c_sq, cdT, a, cl, xs, wi, mins, better, i, acc)

    def codegen(context, builder, signature, args):
        b, f64, i32 = builder, ir.DoubleType(), ir.IntType(32)
        v8 = ir.VectorType(f64, LANES)
        pa, sa, ca, ma, ba, aa = (
            context.make_array(signature.args[j])(context, b, args[j]) for j in (0, 2, 3, 8, 9, 11)
        )
        p_, a_, i_ = (context.cast(b, args[j], signature.args[j], types.intp) for j in (1, 4, 10))
        cl_, xs_, wi_ = (
            context.cast(b, args[j], signature.args[j], types.float64) for j in (5, 6, 7)
        )

        def load(arr, r, element, width):  # arr[r, :LANES] (arr 2-D) or arr[:LANES] (r None)
            ptr = arr.data
            if r is not None:
                ptr = b.gep(ptr, [b.mul(r, cgutils.unpack_tuple(b, arr.shape, 2)[1])])
            return b.load(b.bitcast(ptr, ir.VectorType(element, LANES).as_pointer()), align=width)

        def splat(x):
            return splat_ir(b, x, v8)

        element = context.get_value_type(signature.args[0].dtype)
        pv = load(pa, p_, element, signature.args[0].dtype.bitwidth // 8)
        if element != f64:
            pv = b.fpext(pv, v8)
        cl_v = splat(cl_)
        d2 = b.fsub(
            b.fadd(splat(xs_), load(sa, None, f64, 8)), b.fmul(splat(ir.Constant(f64, 2.0)), pv)
        )
        reach = b.fmul(b.fmul(ir.Constant(f64, 4.0), cl_), ir.Constant(f64, 1.0 + SKIP_MARGIN))
        far = b.fcmp_ordered(">", load(ca, a_, f64, 8), splat(reach))
        floor = b.select(far, cl_v, ir.Constant(v8, [0.0] * LANES))
        top = b.select(b.fcmp_ordered(">", floor, d2), floor, d2)  # max(d2, floor)
        lower = b.fcmp_ordered("<", top, cl_v)
        v = b.select(lower, top, cl_v)  # min(cl, top)
        bits = b.bitcast(lower, ir.IntType(LANES))
        b.store(bits, b.gep(ba.data, [i_]))
        with b.if_then(b.icmp_unsigned("!=", bits, ir.Constant(ir.IntType(LANES), 0))):
            # one value per candidate's row of mins: the update reads one of them
            n = cgutils.unpack_tuple(b, ma.shape, 2)[1]
            for q in range(LANES):
                at = b.add(b.mul(ir.Constant(n.type, q), n), i_)
                b.store(b.extract_element(v, ir.Constant(i32, q)), b.gep(ma.data, [at]))
        acc = b.bitcast(aa.data, v8.as_pointer())
        b.store(b.fadd(b.load(acc, align=8), b.fmul(splat(wi_), b.fsub(cl_v, v))), acc, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True)
def _flush(
    X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdT, mins, better, acc, idx, m, block,
    offset, shift,
):  # fmt: skip  # pragma: no cover - compiled
    """Rows ``idx[:m]`` against every candidate: one product of ``block`` (the
    rows' values: row ``idx[r]`` is ``block[idx[r] - offset]``, or ``block[r]``
    when ``offset < 0``; less ``shift``, one value per feature: panels only)
    by BLAS, or by register panels where ``Cp`` holds the candidates packed
    (:mod:`._numba_panels`), then the minima and gains: a vector of
    ``LANES`` candidates at a time (:func:`_gain_lanes`) where there are no
    more, else one at a time, the same operations."""
    if Cp.shape[0] > 0:  # (shift: zeros where there is none, one compiled variant)
        P = panel_rows(block, 0, block.shape[0], Cp, pad, shift)  # (rows + 12, >= LANES)
    else:
        P = np.dot(block, cands.T)  # (rows, t rounded up to LANES)
    t = c_sq.shape[0]
    for r in range(m):
        i = idx[r]
        p = r if offset < 0 else i - offset
        cl = closest[i]
        a = near[i]
        if t == LANES:
            _gain_lanes(P, p, c_sq, cdT, a, cl, x_sq[i], w[i], mins, better, i, acc)
            continue
        reach = 4.0 * cl * (1.0 + SKIP_MARGIN)
        wi = w[i]
        better[i] = 255  # (more than LANES candidates: update_chunk compares every row computed)
        for q in range(t):
            d2 = x_sq[i] + c_sq[q] - 2.0 * np.float64(P[p, q])
            # min(cl, max(d2, 0)), or cl where q cannot improve the row: a select
            floor = cl if cdT[a, q] > reach else 0.0
            v = min(cl, max(d2, floor))
            mins[q, i] = v
            acc[q] += wi * (cl - v)


@njit(nogil=True, cache=True)
def trial_chunk(
    X, shift, x_sq, w, closest, near, cands, Cp, c_sq, cdT, nearest2, mins, better, gains, start,
    stop, rows,
):  # fmt: skip  # pragma: no cover - compiled; covered through kmeans_plusplus's tests
    """For rows ``start:stop`` and every candidate ``q`` it may improve:
    ``mins[q, i] = min(closest[i], ||x_i - cands[q]||^2)`` (clipped at 0), and
    ``gains[q] += w[i] * (closest[i] - mins[q, i])``, where ``x_i`` is row
    ``i`` of ``X - shift`` (X's dtype: the values of a centred copy; an empty
    ``shift``: X itself). ``cdT[a, q]`` is the squared distance from
    candidate ``q`` to chosen centre ``a``, ``nearest2[a] = min_q cdT[a, q]``
    and ``near[i]`` the row's nearest chosen centre. The candidates' arrays
    (``cands``' rows, ``c_sq``, the columns of ``cdT``, the rows of ``mins`` and
    ``gains``) are padded to a multiple of ``LANES`` (``c_sq`` +inf, ``cdT`` 0
    and ``cands`` zeros there: those gains are 0, or NaN on rows still
    infinitely far, and are not read).

    Rows that no candidate can improve (not even the one nearest their
    centre: one test per row) are skipped. The others go, ``rows`` at a
    time, through one product with all the candidates -- register panels
    where ``Cp`` holds them packed (:func:`._numba_panels.panels_for`; empty:
    BLAS) -- of the whole block straight from X when at least half its rows
    are needed (a gathered copy costs more than the product of the rows not
    needed; the panels subtract the shift as they read the rows, BLAS needs
    the copy), else of a gathered (and shifted) copy.

    ``better[i]``: bit ``q`` (``q < LANES``) tells whether candidate ``q``
    brings row ``i`` closer (0 for rows skipped; every bit for rows computed
    where there are more than ``LANES`` candidates); ``mins[:, i]`` is
    written only where a bit is set. Returns the rows computed."""
    t, d = c_sq.shape[0], cands.shape[1]
    shifted = shift.shape[0] > 0
    no_shift = np.zeros(d, dtype=X.dtype)
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
            else:
                better[i] = 0
        if m == 0:
            continue
        if 2 * m >= b - a and (Cp.shape[0] > 0 or not shifted):
            _flush(
                X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdT, mins, better, acc, idx,
                m, X[a:b], a, shift if shifted else no_shift,
            )  # fmt: skip
        else:
            for r in range(m):
                src, dst = X[idx[r]], xg[r]  # 1-D views indexed from 0: plain copy loops
                if shifted:
                    for f in range(d):
                        dst[f] = src[f] - shift[f]
                else:
                    for f in range(d):
                        dst[f] = src[f]
            _flush(
                X, x_sq, w, closest, near, cands, Cp, pad, c_sq, cdT, mins, better, acc, idx,
                m, xg[:m], -1, no_shift,
            )  # fmt: skip
        computed += m
    for q in range(t):
        gains[q] = acc[q]
    return computed


@njit(nogil=True, cache=True)
def shifted_sq_norms_chunk(
    X, shift, out, start, stop
):  # pragma: no cover - compiled; covered through kmeans_plusplus's tests
    """``out[i] = sum_f float64(X[i, f] - shift[f]) ** 2`` for rows ``start:stop``,
    the difference rounded to X's dtype as a centred copy holds it (an empty
    ``shift``: no difference)."""
    d = X.shape[1]
    shifted = shift.shape[0] > 0
    for i in range(start, stop):
        row = X[i]
        total = 0.0
        if shifted:
            for f in range(d):
                v = np.float64(row[f] - shift[f])
                total += v * v
        else:
            for f in range(d):
                v = np.float64(row[f])
                total += v * v
        out[i] = total


@njit(nogil=True, cache=True)
def update_chunk(
    closest, near, better, mins, best, new, w, sums, start, stop, block
):  # pragma: no cover - compiled; covered through kmeans_plusplus's tests
    """Rows ``start:stop`` that candidate ``best`` (now centre ``new``) brings
    closer take its distance and ``near = new``. ``mins[best, i]`` is read only
    where :func:`trial_chunk` set the row's bit of ``best`` in ``better``
    (bit ``LANES - 1`` for any later candidate): where ``best`` brings it
    closer, and so where it wrote ``mins[:, i]``.

    ``sums[j]``: the sum of ``w * closest`` (updated) over the chunk's ``j``-th
    block of ``block`` rows, added in row order, as ``np.cumsum`` adds them:
    the next draws find their block from these totals, without a pass over
    every row."""
    bit = np.uint8(1 << min(best, LANES - 1))
    for a in range(start, stop, block):
        b = min(a + block, stop)
        total = 0.0
        for i in range(a, b):
            cl = closest[i]
            if better[i] & bit:
                m = mins[best, i]
                if m < cl:
                    closest[i] = m
                    near[i] = new
                    cl = m
            total += w[i] * cl
        sums[(a - start) // block] = total
