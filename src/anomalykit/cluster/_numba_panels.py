"""Nearest centres by register panels (Numba, AVX-512), behind :mod:`._numba_kernels`.

A *panel* is up to ``4 x L`` centres (``L`` = 16 float32 or 8 float64 values,
one 512-bit vector), packed feature by feature. :func:`_panel` takes a few rows
(6, 8 or 12, for panels of 4, 2 or 1 vectors: 24, 16 or 12 accumulators) and
forms every ``x . c`` of those rows with the panel's centres in vector
registers, one fused multiply-add per row, feature and vector, with each row's
value broadcast from memory; then ``||c||^2 - 2 x . c`` (one rounding, as the
BLAS path's ``c - 2 * p``), its minimum and the first centre that reaches it,
without writing a product to memory. Across panels the earlier panel keeps a
tie, so equal values go to the lowest index, as ``np.argmin``.

Why not BLAS: OpenBLAS's sub-block products plus the argmin took 54-60 ms per
1e6 x 32 rows (k = 64, float32, one core: 82 GFLOP/s in the products, its
Haswell kernels), the panels 29-30 ms; 1.4-3.2x less time for every shape
measured with d >= 16 (k = 10-256, float32 and float64), while BLAS stays
faster for fewer features. Each row's products are summed in feature order, so
they do not depend on the row's place in a block or on the threads; they are
not BLAS's values, so a row within rounding of a tie between two centres may
take the other one than the NumPy reference does.

The panels use 512-bit vectors and are chosen only on a CPU with AVX-512
(:func:`panel_tiles`); elsewhere the compiler would split each vector and
spill the accumulators.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "nearest_panels",
    "pack_panels",
    "panel_products",
    "panel_rows",
    "panel_tiles",
    "panels_for",
]

#: The most rows of one panel call (6, 8 or 12 for panels of 4, 2 or 1 vectors:
#: 24, 16 or 12 accumulators of the 32 vector registers, enough independent sums
#: to keep both FMA units busy); buffers of :func:`nearest_panels` hold this many extra.
PANEL_ROWS_MAX = 12
#: Panels from this many features up (measured: fewer go faster through BLAS).
MIN_FEATURES = 16
#: ... while all packed centres stay within this many bytes (in L2 beside the rows).
MAX_PACKED_BYTES = 2**18


def _host_has_avx512() -> bool:
    """Whether Numba's code for this process uses AVX-512: the features it compiles
    with (``NUMBA_CPU_FEATURES`` if set, else the host's, less AVX where
    ``NUMBA_ENABLE_AVX=0``), as Numba's own JIT code generator reads them."""
    from numba.core.codegen import get_host_cpu_features

    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return "+avx512f" in str(features).split(",")


#: Whether Numba compiles for a CPU with 512-bit vectors (read when this module
#: is first imported, with the compiled kernels).
HAS_AVX512 = _host_has_avx512()


def lanes(itemsize: int) -> int:
    """Values of one 512-bit vector."""
    return 64 // itemsize


def panel_tiles(k: int, d: int, itemsize: int) -> int:
    """Vectors per panel for ``k`` centres of ``d`` features, or 0 where the BLAS
    path is used: the fewest of 1, 2 or 4 that hold ``k`` (4 beyond: several
    panels), the least padding (measured best at every k from 8 to 256)."""
    width = lanes(itemsize)
    tiles = 1 if k <= width else 2 if k <= 2 * width else 4
    packed = -(-k // (tiles * width)) * tiles * width * d * itemsize
    if not HAS_AVX512 or d < MIN_FEATURES or packed > MAX_PACKED_BYTES:
        return 0
    return tiles


def panels_for(centers: np.ndarray, c_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Cp, csq)`` of :func:`pack_panels` for these centres (C-contiguous, X's
    dtype), or empty ones (no panel: the BLAS path) where :func:`panel_tiles`
    says 0."""
    (k, d), itemsize = centers.shape, centers.dtype.itemsize
    tiles = panel_tiles(k, d, itemsize)
    if tiles == 0:
        return np.zeros((0, d, 1), dtype=centers.dtype), np.zeros((0, 1), dtype=centers.dtype)
    return pack_panels(centers, c_sq, tiles * lanes(itemsize))


def pack_panels(centers: np.ndarray, c_sq: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``Cp[p, f, q] = centers[p * width + q, f]`` (zero past the last centre) and
    ``csq[p, q]`` the matching ``||c||^2`` (+inf past the last centre: never the
    minimum), C-contiguous, in the centres' dtype."""
    k, d = centers.shape
    n_panels = -(-k // width)
    padded = np.zeros((n_panels * width, d), dtype=centers.dtype)
    padded[:k] = centers
    Cp = np.ascontiguousarray(padded.reshape(n_panels, width, d).transpose(0, 2, 1))
    csq = np.full(n_panels * width, np.inf, dtype=centers.dtype)
    csq[:k] = c_sq
    return Cp, csq.reshape(n_panels, width)


class _Panel:
    """The code both intrinsics share: the IR types and helpers of one call, and
    the loop over the features that forms ``acc[r][t]``, the products of row
    ``row + r`` with the panel's ``t``-th vector of centres."""

    def __init__(self, context, builder, signature, args):
        """From an intrinsic's arguments ``(X, row, nrows, tiles, Cp, p, ..., o)``:
        ``row``, ``p`` and ``o`` become intp values (``self.row``, ``self.pan``,
        ``self.off``)."""
        X_ty, row_ty, Cp_ty, p_ty, o_ty = (signature.args[i] for i in (0, 1, 4, 5, -1))
        x, row, cp, pan, off = (args[i] for i in (0, 1, 4, 5, -1))
        row = context.cast(builder, row, row_ty, types.intp)
        pan = context.cast(builder, pan, p_ty, types.intp)
        self.off = context.cast(builder, off, o_ty, types.intp)
        self.builder = builder
        self.L = lanes(X_ty.dtype.bitwidth // 8)
        self.fty = context.get_value_type(X_ty.dtype)
        self.vec = ir.VectorType(self.fty, self.L)
        self.intp = context.get_value_type(types.intp)
        self.align = X_ty.dtype.bitwidth // 8
        self.suffix = f"v{self.L}f{X_ty.dtype.bitwidth}"
        self.xa = context.make_array(X_ty)(context, builder, x)
        self.ca = context.make_array(Cp_ty)(context, builder, cp)
        self.d = cgutils.unpack_tuple(builder, self.xa.shape, 2)[1]
        self.row, self.pan = row, pan

    def n(self, value):
        return ir.Constant(self.intp, value)

    def function(self, name, n_args, returns_vector=True):
        ret = self.vec if returns_vector else self.fty
        fnty = ir.FunctionType(ret, [self.vec] * n_args)
        return cgutils.get_or_insert_function(self.builder.module, fnty, f"{name}.{self.suffix}")

    def vload(self, ptr):
        b = self.builder
        return b.load(b.bitcast(ptr, self.vec.as_pointer()), align=self.align)

    def vstore(self, value, ptr):
        b = self.builder
        b.store(value, b.bitcast(ptr, self.vec.as_pointer()), align=self.align)

    def splat(self, scalar):
        b, i32, L = self.builder, ir.IntType(32), self.L
        one = b.insert_element(ir.Constant(self.vec, ir.Undefined), scalar, ir.Constant(i32, 0))
        zeros = ir.Constant(ir.VectorType(i32, L), [0] * L)
        return b.shuffle_vector(one, ir.Constant(self.vec, ir.Undefined), zeros)

    def products(self, R, T):
        """``acc[r][t]``: for f in range(d), ``acc[r][t] += X[row + r, f] *
        Cp[p, f, t*L:(t+1)*L]``, one fused multiply-add each, in feature order."""
        b, n, L, W = self.builder, self.n, self.L, self.L * T
        fma = self.function("llvm.fma", 3)
        entry = b.block
        loop = b.append_basic_block("panel_features")
        done = b.append_basic_block("panel_done")
        b.branch(loop)
        b.position_at_end(loop)
        f = b.phi(self.intp)
        f.add_incoming(n(0), entry)
        acc = [[b.phi(self.vec) for _ in range(T)] for _ in range(R)]
        zero = ir.Constant(self.vec, [0.0] * L)
        for phis in acc:
            for phi in phis:
                phi.add_incoming(zero, entry)
        base = b.mul(b.add(b.mul(self.pan, self.d), f), n(W))
        cvec = [self.vload(b.gep(self.ca.data, [b.add(base, n(t * L))])) for t in range(T)]
        new = []
        for r in range(R):
            at = b.add(b.mul(b.add(self.row, n(r)), self.d), f)
            xr = self.splat(b.load(b.gep(self.xa.data, [at])))
            new.append([b.call(fma, [xr, cvec[t], acc[r][t]]) for t in range(T)])
        f_next = b.add(f, n(1))
        end = b.block
        f.add_incoming(f_next, end)
        for r in range(R):
            for t in range(T):
                acc[r][t].add_incoming(new[r][t], end)
        b.cbranch(b.icmp_signed("<", f_next, self.d), loop, done)
        b.position_at_end(done)
        return new


def _typing_ok(nrows, tiles, X, Cp, row, p, o, out_arrays):
    if not (isinstance(nrows, types.IntegerLiteral) and isinstance(tiles, types.IntegerLiteral)):
        return False
    arrays = (X, Cp, *out_arrays)
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in arrays):
        return False
    if X.dtype not in (types.float32, types.float64) or (X.ndim, Cp.ndim) != (2, 3):
        return False
    if Cp.dtype != X.dtype or not all(a.mutable for a in out_arrays):
        return False
    return all(isinstance(i, types.Integer) for i in (row, p, o))


@intrinsic
def _panel(typingctx, X, row, nrows, tiles, Cp, p, csq, best, lab, o):
    """Rows ``row : row + nrows`` of ``X`` against panel ``p``: where a row's
    smallest ``csq - 2 x . c`` is below ``best[o + r]``, it replaces it and
    ``lab[o + r]`` becomes that centre's index (the first of equal values).

    ``nrows`` and ``tiles`` (vectors per panel) are literal integers. ``X``
    (float32 or float64, C-contiguous, at least one feature), ``Cp``
    (``(panels, d, tiles * L)``) and ``csq`` (``(panels, tiles * L)``) of X's
    dtype, ``best`` of X's dtype and ``lab`` int32, C-contiguous, the last two
    writable: the typing checks. Nothing is bounds-checked.
    """
    if not _typing_ok(nrows, tiles, X, Cp, row, p, o, (best, lab)):
        return None
    if not isinstance(csq, types.Array) or csq.layout != "C" or csq.ndim != 2:
        return None
    if csq.dtype != X.dtype or best.dtype != X.dtype or lab.dtype != types.int32:
        return None
    if (best.ndim, lab.ndim) != (1, 1):
        return None
    R, T = nrows.literal_value, tiles.literal_value
    sig = types.void(X, row, nrows, tiles, Cp, p, csq, best, lab, o)

    def codegen(context, builder, signature, args):
        csq_ty, best_ty, lab_ty = signature.args[6:9]
        cs, bst, lb = args[6:9]
        P = _Panel(context, builder, signature, args)
        acc, pan, off = P.products(R, T), P.pan, P.off
        b, n, L, W = builder, P.n, P.L, P.L * T
        i32, i64 = ir.IntType(32), ir.IntType(64)
        sa = context.make_array(csq_ty)(context, builder, cs)
        ba = context.make_array(best_ty)(context, builder, bst)
        la = context.make_array(lab_ty)(context, builder, lb)
        fma, vmin = P.function("llvm.fma", 3), P.function("llvm.minnum", 2)
        hmin = P.function("llvm.vector.reduce.fmin", 1, returns_vector=False)
        # v = csq - 2 x.c (one rounding, as the BLAS path's c - 2 * p); its minimum;
        # the first lane that holds it
        minus2 = P.splat(ir.Constant(P.fty, -2.0))
        first = b.mul(pan, n(W))
        cs_vec = [P.vload(b.gep(sa.data, [b.add(first, n(t * L))])) for t in range(T)]
        for r in range(R):
            v = [b.call(fma, [acc[r][t], minus2, cs_vec[t]]) for t in range(T)]
            level = v
            while len(level) > 1:
                level = [b.call(vmin, [level[i], level[i + 1]]) for i in range(0, len(level), 2)]
            low = b.call(hmin, [level[0]])
            low_vec = P.splat(low)
            mask = ir.Constant(i64, 0)
            for t in range(T):
                equal = b.bitcast(b.fcmp_ordered("==", v[t], low_vec), ir.IntType(L))
                mask = b.or_(mask, b.shl(b.zext(equal, i64), ir.Constant(i64, t * L)))
            lane = b.cttz(mask, ir.Constant(ir.IntType(1), 1))
            at = b.add(off, n(r))
            best_ptr = b.gep(ba.data, [at])
            with b.if_then(b.fcmp_ordered("<", low, b.load(best_ptr))):
                b.store(low, best_ptr)
                index = b.add(b.trunc(lane, i32), b.trunc(first, i32))
                b.store(index, b.gep(la.data, [at]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _panel_store(typingctx, X, row, nrows, tiles, Cp, p, out, o):
    """``out[o + r, p * W : (p + 1) * W] = X[row + r] . Cp[p]`` for the
    ``nrows`` rows (``W = tiles * L`` centres): the products :func:`_panel`
    compares, for the bounded kernels. ``out`` (X's dtype, C-contiguous,
    writable, 2-D with ``panels * W`` columns) as the typing checks; nothing
    is bounds-checked."""
    if not _typing_ok(nrows, tiles, X, Cp, row, p, o, (out,)):
        return None
    if out.dtype != X.dtype or out.ndim != 2:
        return None
    R, T = nrows.literal_value, tiles.literal_value
    sig = types.void(X, row, nrows, tiles, Cp, p, out, o)

    def codegen(context, builder, signature, args):
        out_ty, ot = signature.args[6], args[6]
        P = _Panel(context, builder, signature, args)
        acc, pan, off = P.products(R, T), P.pan, P.off
        b, n, L, W = builder, P.n, P.L, P.L * T
        oa = context.make_array(out_ty)(context, builder, ot)
        width = cgutils.unpack_tuple(builder, oa.shape, 2)[1]
        first = b.mul(pan, n(W))
        for r in range(R):
            base = b.add(b.mul(b.add(off, n(r)), width), first)
            for t in range(T):
                P.vstore(acc[r][t], b.gep(oa.data, [b.add(base, n(t * L))]))
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, inline="always")
def _rows_against_panels(X, row, Cp, csq, best, lab, o, tiles):  # pragma: no cover - compiled
    for p in range(Cp.shape[0]):
        if tiles == 4:
            _panel(X, row, 6, 4, Cp, p, csq, best, lab, o)
        elif tiles == 2:
            _panel(X, row, 8, 2, Cp, p, csq, best, lab, o)
        else:
            _panel(X, row, 12, 1, Cp, p, csq, best, lab, o)


@njit(nogil=True, cache=True, inline="always")
def _rows_into(X, row, Cp, out, o, tiles):  # pragma: no cover - compiled
    for p in range(Cp.shape[0]):
        if tiles == 4:
            _panel_store(X, row, 6, 4, Cp, p, out, o)
        elif tiles == 2:
            _panel_store(X, row, 8, 2, Cp, p, out, o)
        else:
            _panel_store(X, row, 12, 1, Cp, p, out, o)


@njit(nogil=True, cache=True, inline="always")
def _shape(X, Cp):  # pragma: no cover - compiled
    """``(tiles, rows)``: vectors per panel and rows per panel call."""
    tiles = Cp.shape[2] // (64 // X.itemsize)
    if Cp.shape[2] != tiles * (64 // X.itemsize) or tiles not in (1, 2, 4):
        raise ValueError("panels hold 1, 2 or 4 vectors of centres")
    if X.shape[1] == 0 or X.shape[1] != Cp.shape[1]:
        raise ValueError("rows and packed centres need the same, non-zero, number of features")
    return tiles, 6 if tiles == 4 else 8 if tiles == 2 else 12


@njit(nogil=True, cache=True, inline="always")
def _fill_pad(X, start, r, m, rows, pad):  # pragma: no cover - compiled
    """``pad[:rows]`` = rows ``start + r : start + m`` of X, then zeros."""
    for q in range(rows):
        for f in range(X.shape[1]):
            pad[q, f] = X[start + r + q, f] if r + q < m else 0


@njit(nogil=True, cache=True)
def nearest_panels(
    X, Cp, csq, start, stop, labels, best, lab, pad
):  # pragma: no cover - compiled; covered through the kernels' tests
    """``labels[start:stop]`` (and ``best``, ``lab`` as :func:`._numba_kernels._nearest`
    fills them) from the packed centres. ``best`` and ``lab`` hold at least
    ``stop - start + PANEL_ROWS_MAX`` values; ``pad`` is a
    ``(PANEL_ROWS_MAX, d)`` buffer of X's dtype for the last rows (zeros past
    them: their results land past ``stop - start`` and are not read)."""
    m = stop - start
    tiles, rows = _shape(X, Cp)
    if best.shape[0] < m + PANEL_ROWS_MAX or lab.shape[0] < m + PANEL_ROWS_MAX:
        raise ValueError("best and lab must hold stop - start + PANEL_ROWS_MAX values")
    if pad.shape[0] < PANEL_ROWS_MAX or pad.shape[1] != X.shape[1]:
        raise ValueError("pad must be a (PANEL_ROWS_MAX, d) buffer")
    for i in range(m):  # (past m, the padded rows' results are never read)
        best[i] = np.inf
        lab[i] = 0
    r = 0
    while r + rows <= m:
        _rows_against_panels(X, start + r, Cp, csq, best, lab, r, tiles)
        r += rows
    if r < m:
        _fill_pad(X, start, r, m, rows, pad)
        _rows_against_panels(pad, 0, Cp, csq, best, lab, r, tiles)
    out = labels[start:stop]
    for i in range(m):
        out[i] = lab[i]


@njit(nogil=True, cache=True)
def panel_rows(
    X, start, stop, Cp, pad
):  # pragma: no cover - compiled; covered through the kernels' tests
    """``P[r, j] = x_(start + r) . c_j`` for every packed centre (padding
    included), shape ``(stop - start + PANEL_ROWS_MAX, panels * W)``: the
    products :func:`nearest_panels` compares (``pad`` as there)."""
    m = stop - start
    tiles, rows = _shape(X, Cp)
    if pad.shape[0] < PANEL_ROWS_MAX or pad.shape[1] != X.shape[1]:
        raise ValueError("pad must be a (PANEL_ROWS_MAX, d) buffer")
    P = np.empty((m + PANEL_ROWS_MAX, Cp.shape[0] * Cp.shape[2]), dtype=X.dtype)
    r = 0
    while r + rows <= m:
        _rows_into(X, start + r, Cp, P, r, tiles)
        r += rows
    if r < m:
        _fill_pad(X, start, r, m, rows, pad)
        _rows_into(pad, 0, Cp, P, r, tiles)
    return P


@njit(nogil=True, cache=True)
def panel_products(
    X, start, stop, Cp, k, pad
):  # pragma: no cover - compiled; covered through the bounded kernels' tests
    """``DT[j, r] = x_(start + r) . c_j``, shape (k, stop - start): the very
    products :func:`nearest_panels` compares (``pad`` as there)."""
    m = stop - start
    P = panel_rows(X, start, stop, Cp, pad)
    DT = np.empty((k, m), dtype=X.dtype)
    for j in range(k):  # row by row of DT: 3.4x faster than row by row of P (k = m = 256)
        out = DT[j]
        for i in range(m):
            out[i] = P[i, j]
    return DT
