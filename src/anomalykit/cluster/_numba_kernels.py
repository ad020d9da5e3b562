"""Compiled kernels (Numba) behind :mod:`._lloyd`, imported only when first needed.

Compilation happens on the first call for each dtype and is cached on disk
(``cache=True``), never at import time of anomalykit. The NumPy code in
:mod:`._lloyd` stays the reference these kernels are tested against.

Each kernel handles one *chunk* of rows (``start:stop``) start to finish,
without the GIL, in sub-blocks of ``rows`` rows. With 16 features or more on
a CPU with AVX-512, the nearest centres come from register panels
(:mod:`._numba_panels`: products, minimum and argmin in vector registers,
1.4-3.2x less time than the BLAS route below). Otherwise: one BLAS product
``C @ Xb.T`` (k x rows, small enough to stay in cache; ``Xb @ C.T`` for the
shapes :func:`rows_first` picks), then the argmin over the centres -- four at
a time, in loops over the block's rows that the compiler turns into SIMD
compares and selects, or along each row after a rows-first product. Then,
for the Lloyd step, the block's rows are added to their centre's sum. Equal
values go to the lowest centre index, as ``np.argmin``. (On the BLAS route
two copies of one centre need not give equal values: BLAS may round the
products of different columns differently, so a row can go to the later copy;
the NumPy reference gives later copies their first copy's products. The panels
sum every product in feature order: copies tie, and the first wins.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._utils._numba_cache import salt_kernel_caches
from ._numba_panels import PANEL_ROWS_MAX, nearest_panels, panels_for

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = [
    "assign_chunk",
    "assign_own_chunk",
    "centre_chunk",
    "column_sums",
    "lloyd_chunk",
    "move_row",
    "own_sq_distances_chunk",
    "panels_for",
    "products",
]

#: Up to this many features the products ``C @ Xb.T`` are plain loops over a
#: transposed copy of the block (vectorised over rows); BLAS does poorly with so
#: short an inner dimension.
DIRECT_MAX_FEATURES = 4


@njit(cache=True)
def rows_first(k, d, itemsize):  # pragma: no cover - compiled
    """Whether BLAS computes a block's products rows first (``Xb @ C.T``, shape
    (rows, k)) rather than centres first (``C @ Xb.T``).

    For few centres and a medium number of features, rows first is faster:
    OpenBLAS's kernels pad a short side of the product to their register
    tile (16 rows of float32, 4 of float64 in the centres-first product), and
    the argmin then runs along each row. Measured on one core (AMD EPYC,
    OpenBLAS Haswell kernels, 1e5-2e5 rows, labels included), rows first
    over centres first: float32, d = 16-64 and k <= 10: 0.37-0.94 (1e5 x 64,
    k = 10: 0.83); d = 12 or 80-128, or k >= 12: 0.96-1.4; float64,
    d = 32-48 and k <= 12: 0.65-0.87, elsewhere 0.89-1.34. Fixed by the
    shape, never by timing: the same values on every run.
    """
    if itemsize == 4:
        return k <= 10 and 16 <= d <= 64
    return k <= 12 and 32 <= d <= 48


@njit(nogil=True, cache=True)
def products(centers, X, start, stop):  # pragma: no cover - compiled
    """``centers @ X[start:stop].T``, shape (k, stop - start), in X's dtype: BLAS
    (in the orientation :func:`rows_first` picks: the same values as
    :func:`_nearest` compares), or for few features loops over a transposed
    copy of the rows."""
    d = X.shape[1]
    k, m = centers.shape[0], stop - start
    if d > DIRECT_MAX_FEATURES:
        if not rows_first(k, d, X.itemsize):
            return np.dot(centers, X[start:stop].T)
        D = np.dot(X[start:stop], centers.T)  # (m, k)
        DT = np.empty((k, m), dtype=X.dtype)
        for i in range(m):
            for j in range(k):
                DT[j, i] = D[i, j]
        return DT
    Xt = np.empty((d, m), dtype=X.dtype)
    for i in range(m):
        for f in range(d):
            Xt[f, i] = X[start + i, f]
    DT = np.empty((k, m), dtype=X.dtype)
    for j in range(k):
        c = centers[j, 0]
        for i in range(m):
            DT[j, i] = c * Xt[0, i]
        for f in range(1, d):
            c = centers[j, f]
            for i in range(m):
                DT[j, i] += c * Xt[f, i]
    return DT


@njit(nogil=True, cache=True, inline="always")
def _buffers(X, Cp, csq, rows):  # pragma: no cover - compiled
    """``best`` and ``lab`` for sub-blocks of up to ``rows`` rows, and the
    ``panels`` argument of :func:`_nearest`."""
    best = np.empty(rows + PANEL_ROWS_MAX, dtype=X.dtype)
    lab = np.empty(rows + PANEL_ROWS_MAX, dtype=np.int32)
    pad = np.zeros((PANEL_ROWS_MAX if Cp.shape[0] > 0 else 0, X.shape[1]), dtype=X.dtype)
    return best, lab, (Cp, csq, pad)


@njit(nogil=True, cache=True)
def _nearest(
    X, centers, c_sq, start, stop, labels, best, lab, panels, shift
):  # pragma: no cover - compiled; covered through lloyd_step's tests
    """``labels[start:stop]`` and ``best[:stop-start]`` (= ``||c||^2 - 2 x.c``
    of the nearest centre) for one sub-block of rows; ``lab`` is an int32
    buffer of the sub-block's length (plus ``PANEL_ROWS_MAX``).

    ``panels``: ``(Cp, csq, pad)`` from :func:`_buffers`; where ``Cp`` holds
    panels, :func:`._numba_panels.nearest_panels` does the work, else BLAS
    products (below). ``shift`` (one value per feature, X's dtype): the rows
    are ``X - shift`` as a centred copy would hold them, subtracted by the
    panels as they read X; zeros (X itself) where there are no panels.

    Every value ``||c||^2 - 2 x.c`` is computed and compared in X's dtype,
    so the nearest centre is the first index of the smallest of these values
    however they are compared: here four centres at a time (a small
    tournament, ties to the lower index) before one compare with the running
    minimum, a quarter of the loads and stores of ``best`` and ``lab``, whose
    traffic otherwise bounds the loop; in the bounded kernels
    (:mod:`._numba_bounds`) one centre at a time, with the same result.
    Labels are kept as int32 within the sub-block (twice the SIMD lanes of
    intp) and copied out once.
    """
    Cp, csq, pad = panels
    if Cp.shape[0] > 0:
        nearest_panels(X, Cp, csq, start, stop, labels, best, lab, pad, shift)
        return
    for f in range(shift.shape[0]):
        if shift[f] != 0:
            raise ValueError("rows are shifted as they are read by the panels only")
    m = stop - start
    k, d = centers.shape
    if d > DIRECT_MAX_FEATURES and rows_first(k, d, X.itemsize):
        # (m, k): a row's values lie together; one compare after another.
        D = np.dot(X[start:stop], centers.T)
        two = D.dtype.type(2)
        out = labels[start:stop]
        for i in range(m):
            v = c_sq[0] - two * D[i, 0]
            arg = 0
            for j in range(1, k):
                vj = c_sq[j] - two * D[i, j]
                if vj < v:
                    v = vj
                    arg = j
            best[i] = v
            lab[i] = arg
            out[i] = arg
        return
    DT = products(centers, X, start, stop)  # (k, m): x.c for every centre and row
    two = DT.dtype.type(2)  # (a literal 2 would make float32 values float64)
    for i in range(m):  # (+inf: the first centre's finite value always replaces it)
        best[i] = np.inf
        lab[i] = 0
    j = 0
    while j + 3 < k:
        c0, c1, c2, c3 = c_sq[j], c_sq[j + 1], c_sq[j + 2], c_sq[j + 3]
        j0, j1, j2, j3 = np.int32(j), np.int32(j + 1), np.int32(j + 2), np.int32(j + 3)
        for i in range(m):
            v0 = c0 - two * DT[j, i]
            v1 = c1 - two * DT[j + 1, i]
            v2 = c2 - two * DT[j + 2, i]
            v3 = c3 - two * DT[j + 3, i]
            lo = v1 < v0
            va = v1 if lo else v0
            la = j1 if lo else j0
            hi = v3 < v2
            vb = v3 if hi else v2
            lb = j3 if hi else j2
            second = vb < va
            vc = vb if second else va
            lc = lb if second else la
            b = best[i]
            better = vc < b
            best[i] = vc if better else b
            lab[i] = lc if better else lab[i]
        j += 4
    while j < k:
        cj = c_sq[j]
        for i in range(m):
            v = cj - two * DT[j, i]
            if v < best[i]:
                best[i] = v
                lab[i] = j
        j += 1
    out = labels[start:stop]
    for i in range(m):
        out[i] = lab[i]


@njit(nogil=True, cache=True, inline="always")
def move_row(
    X, i, w, old, new, sums, wsum, npos, full_sums, shift=None
):  # pragma: no cover - compiled
    """Row ``i`` joins cluster ``new`` (and leaves ``old`` unless ``full_sums``
    or ``old < 0``): its ``w x`` added to (subtracted from) the cluster's
    ``sums`` row, ``w`` to ``wsum``, 1 to ``npos`` where ``w > 0``. ``shift``
    (None, or one value per feature): ``x`` is ``X[i] - shift``, rounded to
    X's dtype (a centred copy's row).

    One loop over 1-D views of the rows, whichever the case (subtracting 0
    from the joined row where no row is left: the same value): with a loop
    for each case, or ``sums[new, f]`` indexed in two loops, the compiled code
    took 45-66 ns a row at 32-64 features, this 9-23 ns (in cache)."""
    wi = w[i]
    leaves = not full_sums and old >= 0
    xrow, into, out = X[i], sums[new], sums[old if leaves else new]
    zero = 0.0
    if shift is None:
        for f in range(X.shape[1]):
            v = wi * xrow[f]
            into[f] += v
            out[f] -= v if leaves else zero
    else:
        for f in range(X.shape[1]):
            v = wi * (xrow[f] - shift[f])
            into[f] += v
            out[f] -= v if leaves else zero
    wsum[new] += wi
    if wi > 0:
        npos[new] += 1
    if leaves:
        wsum[old] -= wi
        if wi > 0:
            npos[old] -= 1


@njit(nogil=True, cache=True)
def lloyd_chunk(
    X: np.ndarray,
    shift: np.ndarray,
    centers: np.ndarray,
    c_sq: np.ndarray,
    Cp: np.ndarray,
    csq: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    old: np.ndarray,
    sums: np.ndarray,
    wsum: np.ndarray,
    npos: np.ndarray,
    start: int,
    stop: int,
    rows: int,
    unit: bool,
    moving: bool,
) -> int:  # pragma: no cover - compiled; covered through lloyd_step's tests
    """Nearest centre of rows ``start:stop`` into ``labels``, and the chunk's
    per-cluster sums added to ``sums`` (``w x``, float64 whatever X's dtype),
    ``wsum`` (``w``) and ``npos`` (1 where ``w > 0``), given zero: then they
    are the chunk's. Returns the number of rows whose label differs from
    ``old``, counted while the labels are in cache (``old`` empty: no earlier
    labels, nothing counted, 0). ``shift``: the rows are ``X - shift`` as a
    centred copy of X would hold them (see :func:`_nearest`; zeros: X).

    ``moving``: the sums are the change of sums kept across steps: only a row
    whose label differs from ``old`` counts, its ``w x`` moved from the old
    cluster to the new (:class:`._lloyd.PlainLloyd`). After the first steps
    few rows change (1e5 x 64 uniform rows, k = 10: 2-10% a step), and
    adding every row was a third of a step there (one core: 1.9 ms a step,
    1.2 ms without the sums). ``unit``: every weight is 1; where the sums are
    not moving, ``w`` is not read and the products ``1 * x`` are skipped (the
    same sums: 8% of a step at 1e6 x 2, k = 8).

    The sums are kept in arrays of this call's own until the end: ``sums``
    and ``wsum`` of neighbouring chunks may share cache lines, and writing
    them row by row from two threads costs more than the step's arithmetic
    (see :func:`centre_chunk`). One kernel for both kinds of step: each
    compiles its own copy of every panel shape."""
    k, d = centers.shape
    best, lab, panels = _buffers(X, Cp, csq, rows)
    acc = np.zeros((k, d))
    wacc = np.zeros(k)
    nacc = np.zeros(k, dtype=np.int64)
    moved = np.empty(rows, dtype=np.intp)
    changed = 0
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        _nearest(X, centers, c_sq, a, b, labels, best, lab, panels, shift)
        now, before = labels[a:b], old[a:b]  # (views indexed from 0: SIMD compares)
        if moving:  # (old holds every row's label)
            m = 0
            for r in range(b - a):  # the rows that moved, without a branch per row
                moved[m] = r
                m += np.intp(now[r] != before[r])
            for q in range(m):
                r = moved[q]
                move_row(X, a + r, w, before[r], now[r], acc, wacc, nacc, False, shift)
            changed += m
            continue
        if old.shape[0] > 0:
            for r in range(b - a):
                changed += np.intp(now[r] != before[r])
        if unit and d == 2:  # constant column indices: the same additions in the same
            # order; the sums 30% faster (one core), fits of 1e6 x 2 (k = 8) 6-14%
            s0, s1 = shift[0], shift[1]
            for i in range(a, b):
                arg = lab[i - a]
                wacc[arg] += 1.0
                acc[arg, 0] += X[i, 0] - s0
                acc[arg, 1] += X[i, 1] - s1
        elif unit:
            for i in range(a, b):
                arg = lab[i - a]
                wacc[arg] += 1.0
                srow, xrow = acc[arg], X[i]  # 1-D views indexed from 0: vectorised
                for f in range(d):
                    srow[f] += xrow[f] - shift[f]
        else:
            for i in range(a, b):
                arg = lab[i - a]
                wi = w[i]
                wacc[arg] += wi
                nacc[arg] += wi > 0
                srow, xrow = acc[arg], X[i]
                for f in range(d):
                    srow[f] += wi * (xrow[f] - shift[f])
    if unit and not moving:
        for j in range(k):
            nacc[j] = np.int64(wacc[j])  # (counts, exact in float64)
    for j in range(k):
        wsum[j] += wacc[j]
        npos[j] += nacc[j]
        for f in range(d):
            sums[j, f] += acc[j, f]
    return changed


@njit(nogil=True, cache=True)
def assign_chunk(
    X: np.ndarray,
    shift: np.ndarray,
    centers: np.ndarray,
    c_sq: np.ndarray,
    Cp: np.ndarray,
    csq: np.ndarray,
    x_sq: np.ndarray | None,
    labels: np.ndarray,
    dist: np.ndarray | None,
    start: int,
    stop: int,
    rows: int,
) -> None:  # pragma: no cover - compiled; covered through assign's tests
    """Nearest centre of rows ``start:stop`` into ``labels`` and, unless ``dist``
    is None, the squared distance to it (``||x||^2 + best``, clipped at 0).
    ``shift`` as :func:`lloyd_chunk`'s (the norms ``x_sq`` are the caller's)."""
    best, lab, panels = _buffers(X, Cp, csq, rows)
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        _nearest(X, centers, c_sq, a, b, labels, best, lab, panels, shift)
        if dist is not None:
            for i in range(a, b):
                dist[i] = max(x_sq[i] + best[i - a], 0)


@njit(nogil=True, cache=True)
def own_sq_distances_chunk(
    X: np.ndarray,
    shift: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    out: np.ndarray,
    start: int,
    stop: int,
) -> None:  # pragma: no cover - compiled; covered through KMeans's tests
    """``out[i] = ||x_i - c_{label_i}||^2`` from exact differences (in X's dtype,
    summed in feature order, as NumPy's einsum over a difference would);
    ``x_i`` is ``X[i] - shift`` rounded to X's dtype (zeros: ``X[i]``).

    Eight rows at a time, each summed alone in feature order (the same
    operations as one row at a time): one row's sum is a chain of dependent
    additions, eight are independent ones the CPU overlaps (1e5 x 64 float32,
    k = 10, two threads: :func:`assign_own_chunk`'s pass 4.5 -> 2.7 ms, the
    assignment alone 1.3 ms)."""
    d = X.shape[1]
    zero = X.dtype.type(0)
    i = start
    while i + 8 <= stop:
        a0, a1, a2, a3 = labels[i], labels[i + 1], labels[i + 2], labels[i + 3]
        a4, a5, a6, a7 = labels[i + 4], labels[i + 5], labels[i + 6], labels[i + 7]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
        for f in range(d):
            t = shift[f]
            e0 = (X[i, f] - t) - centers[a0, f]
            e1 = (X[i + 1, f] - t) - centers[a1, f]
            e2 = (X[i + 2, f] - t) - centers[a2, f]
            e3 = (X[i + 3, f] - t) - centers[a3, f]
            e4 = (X[i + 4, f] - t) - centers[a4, f]
            e5 = (X[i + 5, f] - t) - centers[a5, f]
            e6 = (X[i + 6, f] - t) - centers[a6, f]
            e7 = (X[i + 7, f] - t) - centers[a7, f]
            s0 += e0 * e0
            s1 += e1 * e1
            s2 += e2 * e2
            s3 += e3 * e3
            s4 += e4 * e4
            s5 += e5 * e5
            s6 += e6 * e6
            s7 += e7 * e7
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
        out[i + 4], out[i + 5], out[i + 6], out[i + 7] = s4, s5, s6, s7
        i += 8
    for r in range(i, stop):
        a = labels[r]
        s = zero
        for f in range(d):
            e = (X[r, f] - shift[f]) - centers[a, f]
            s += e * e
        out[r] = s


@njit(nogil=True, cache=True)
def assign_own_chunk(
    X: np.ndarray,
    shift: np.ndarray,
    centers: np.ndarray,
    c_sq: np.ndarray,
    Cp: np.ndarray,
    csq: np.ndarray,
    labels: np.ndarray,
    own: np.ndarray,
    start: int,
    stop: int,
    rows: int,
) -> None:  # pragma: no cover - compiled; covered through KMeans's tests
    """Nearest centre of rows ``start:stop`` into ``labels``, and ``own[i] =
    ||x_i - c_label||^2`` as :func:`own_sq_distances_chunk` computes it, sub-block
    by sub-block while the rows are in cache: a run's last assignment and its
    inertia in one read of X. ``shift`` as :func:`lloyd_chunk`'s."""
    best, lab, panels = _buffers(X, Cp, csq, rows)
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        _nearest(X, centers, c_sq, a, b, labels, best, lab, panels, shift)
        own_sq_distances_chunk(X, shift, centers, labels, own, a, b)


@njit(nogil=True, cache=True)
def column_sums(X: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[f] = sum_i X[i, f]``, accumulated in X's dtype row after row.

    The order NumPy's ``X.sum(axis=0)`` uses for C-ordered X with two or
    more columns (a row added to the running sums at a time), so the mean
    KMeans centres on is NumPy's (and scikit-learn's) to the bit, in one
    read of X without NumPy's buffered strided loop.

    Up to four columns, the running sums are local variables: through
    ``out`` each addition waited for the previous one's store (1e6 x 2
    float32: 2.9 ms; 0.5 ms in registers). The same additions in the same
    order.
    """
    n, d = X.shape
    if d <= 4:
        zero = X.dtype.type(0)
        s0 = s1 = s2 = s3 = zero
        if d == 4:
            for i in range(n):
                s0 += X[i, 0]
                s1 += X[i, 1]
                s2 += X[i, 2]
                s3 += X[i, 3]
        elif d == 3:
            for i in range(n):
                s0 += X[i, 0]
                s1 += X[i, 1]
                s2 += X[i, 2]
        elif d == 2:
            for i in range(n):
                s0 += X[i, 0]
                s1 += X[i, 1]
        else:
            for i in range(n):
                s0 += X[i, 0]
        sums = (s0, s1, s2, s3)
        for f in range(d):
            out[f] = sums[f]
        return
    for f in range(d):
        out[f] = 0
    for i in range(n):
        xr = X[i]
        for f in range(d):
            out[f] += xr[f]


@njit(nogil=True, cache=True)
def centre_chunk(
    X: np.ndarray,
    shift: np.ndarray,
    out: np.ndarray,
    sq: np.ndarray,
    varies: np.ndarray,
    start: int,
    stop: int,
) -> None:  # pragma: no cover - compiled; covered through KMeans's tests
    """``out[i] = X[i] - shift`` (in X's dtype, as NumPy's subtraction) for rows
    ``start:stop``; ``sq[f] = sum_i (X[i, f] - shift[f])**2`` in float64, and
    ``varies[f]``: whether any of these rows differs from ``X[0]`` in column f
    (a constant column's mean need not be exact, so its squares need not be 0).
    ``out`` with no rows: no copy, the sums and ``varies`` alone."""
    d = X.shape[1]
    first = X[0]
    copy = out.shape[0] > 0
    # Private accumulators, written out once: the chunks' rows of ``sq`` and
    # ``varies`` share cache lines, and updating them row by row from two
    # threads made the pass 3.5x slower than on one thread (1e6 x 2).
    if d == 2:  # the sums in registers, as in column_sums: 3x faster at 1e6 x 2
        m0, m1, f0, f1 = shift[0], shift[1], first[0], first[1]
        a0 = a1 = 0.0
        v0 = v1 = False
        for i in range(start, stop):
            x0, x1 = X[i, 0], X[i, 1]
            y0, y1 = x0 - m0, x1 - m1
            if copy:
                out[i, 0] = y0
                out[i, 1] = y1
            a0 += np.float64(y0) * np.float64(y0)
            a1 += np.float64(y1) * np.float64(y1)
            v0 |= x0 != f0
            v1 |= x1 != f1
        sq[0], sq[1], varies[0], varies[1] = a0, a1, v0, v1
        return
    acc = np.zeros(d)
    differs = np.zeros(d, dtype=np.bool_)
    for i in range(start, stop):
        xr = X[i]
        for f in range(d):
            x = xr[f]
            v = x - shift[f]
            acc[f] += np.float64(v) * np.float64(v)
            differs[f] |= x != first[f]
        if copy:  # (from the row in cache: its own loop keeps the one above vectorised)
            orow = out[i]
            for f in range(d):
                orow[f] = xr[f] - shift[f]
    for f in range(d):
        sq[f] = acc[f]
        varies[f] = differs[f]
