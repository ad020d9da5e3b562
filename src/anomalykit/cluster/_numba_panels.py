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

Up to ``L / 2`` centres (k-means++'s 7 or 8 candidates in float32) go in the
*pairs* layout: each lane pair holds two features of one centre, each
multiply-add takes two features of a row broadcast as a pair, so half the
multiply-adds of one centre a lane (2e5 x 128 float32 against 8 centres, one
core, in cache: 5.6 -> 3.2 ms). Rows are prefetched two panel calls ahead, a
cache line or two at each step of the feature loop (:meth:`_Panel.prefetch`),
and :func:`panel_rows` can subtract a shift from the
rows as it reads them (k-means++ on uncentred data, without a centred copy).

Where ``k`` is a little over ``L / 2`` (9-12 float32 or 5-6 float64 centres:
one vector of centre lanes would leave a quarter to a half of them idle), the
*grouped* layout takes 4 features of a row at once (a 128- or 256-bit
broadcast) against 3 vectors of ``L / 4`` centres x 4 features, then adds
each centre's 4 partial sums pairwise and merges the 3 vectors into one
(:meth:`_Panel.products`, :meth:`_Panel.fold`): three quarters of the
multiply-adds (one core, 1e5 x 64 float32, 10 centres: 1.32 -> 1.15 ms; at
128 features 2.67 -> 1.93 ms). It needs ``d`` a multiple of 4, from 40
features on (at 32 it gains nothing).

The panels use 512-bit vectors and are chosen only on a CPU with AVX-512
(:func:`panel_width`); elsewhere the compiler would split each vector and
spill the accumulators.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._utils._numba_cache import salt_kernel_caches

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = [
    "nearest_panels",
    "pack_panels",
    "panel_products",
    "panel_rows",
    "panel_width",
    "panels_for",
]

#: The most rows of one panel call (6, 8 or 12 for panels of 4, 2 or 1 vectors:
#: 24, 16 or 12 accumulators of the 32 vector registers, enough independent sums
#: to keep both FMA units busy); buffers of :func:`nearest_panels` hold this many extra.
PANEL_ROWS_MAX = 12
#: Rows are prefetched this many panel calls ahead of the one that reads them
#: (:meth:`_Panel.prefetch`; one core, 2e5 x 128 float32 against 8 centres: 1 ahead
#: 7.5 ms, 2, 4 and 8 6.2 ms).
AHEAD = 2
#: Panels from this many features up (measured: fewer go faster through BLAS).
MIN_FEATURES = 16
#: ... while all packed centres stay within this many bytes (in L2 beside the rows).
MAX_PACKED_BYTES = 2**18
#: The grouped layout from this many features (one core, 1e5 rows, 10 centres
#: float32 or 6 float64, against one vector of 16 or 8 lanes: d = 32 alike, 40-48
#: 7-10% faster, 64 13-18%, 128-256 24-32%).
GROUPED_MIN_FEATURES = 40


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


def panel_width(k: int, d: int, itemsize: int) -> int:
    """Centres per panel for ``k`` centres of ``d`` features, or 0 where the BLAS
    path is used: half a vector (the pairs layout) for at most ``L / 2``
    centres; ``3 L / 4`` (the grouped layout, :func:`pack_grouped`) for up to
    that many where ``d`` is a multiple of 4 from :data:`GROUPED_MIN_FEATURES`
    on; else the fewest of 1, 2 or 4 vectors that hold ``k`` (4 beyond:
    several panels), the least padding (measured best at every k from 8 to
    256)."""
    L = lanes(itemsize)
    width = L // 2 if k <= L // 2 else L if k <= L else 2 * L if k <= 2 * L else 4 * L
    if L // 2 < k <= 3 * L // 4 and d % 4 == 0 and d >= GROUPED_MIN_FEATURES:
        width = 3 * L // 4
    groups = -(-d // 2) if width == L // 2 else d  # (pairs: L values per pair of features)
    packed = -(-k // width) * max(width, L) * groups * itemsize
    if not HAS_AVX512 or d < MIN_FEATURES or packed > MAX_PACKED_BYTES:
        return 0
    return width


def panels_for(centers: np.ndarray, c_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Cp, csq)`` of :func:`pack_panels` for these centres (C-contiguous, X's
    dtype), or empty ones (no panel: the BLAS path) where :func:`panel_width`
    says 0."""
    (k, d), itemsize = centers.shape, centers.dtype.itemsize
    width = panel_width(k, d, itemsize)
    if width == 0:
        return np.zeros((0, d, 1), dtype=centers.dtype), np.zeros((0, 1), dtype=centers.dtype)
    return pack_panels(centers, c_sq, width)


def pack_grouped(
    centers: np.ndarray, c_sq: np.ndarray, g: int, V: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(Cp, csq)`` of the grouped layout (:meth:`_Panel.products`): panels of
    ``W = V L / g`` centres, ``Cp[p, s, v L + q g + e] = centers[p W + v L / g
    + q, s g + e]`` (zero past the last centre), ``csq[p, j]`` the matching
    ``||c||^2`` for ``j < W`` and +inf past the last centre and in the lanes
    ``W <= j < L`` (never the minimum); ``d`` must be a multiple of ``g``."""
    k, d = centers.shape
    L = lanes(centers.dtype.itemsize)
    if d % g or not 1 <= V <= g or L % g:
        raise ValueError(
            f"a grouped layout needs d a multiple of g and 1 <= V <= g; got {d}, {g}, {V}"
        )
    W = V * L // g
    n_panels = -(-k // W)
    padded = np.zeros((n_panels * W, d), dtype=centers.dtype)
    padded[:k] = centers
    grouped = padded.reshape(n_panels, V, L // g, d // g, g).transpose(0, 3, 1, 2, 4)
    Cp = np.ascontiguousarray(grouped).reshape(n_panels, d // g, V * L)
    csq = np.full((n_panels, L), np.inf, dtype=centers.dtype)
    flat = np.full(n_panels * W, np.inf, dtype=centers.dtype)
    flat[:k] = c_sq
    csq[:, :W] = flat.reshape(n_panels, W)
    return Cp, csq


def pack_panels(centers: np.ndarray, c_sq: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``Cp[p, f, q] = centers[p * width + q, f]`` (zero past the last centre) and
    ``csq[p, q]`` the matching ``||c||^2`` (+inf past the last centre: never the
    minimum), C-contiguous, in the centres' dtype.

    ``width`` is 1, 2 or 4 vectors of lanes, or half a vector: then the
    *pairs* layout, ``Cp[p, g, 2q + e] = centers[p * width + q, 2g + e]``
    (shape ``(panels, ceil(d / 2), L)``; zero past the last feature), whose
    panels take a row's features two at a time."""
    k, d = centers.shape
    L = lanes(centers.dtype.itemsize)
    if width == 3 * L // 4:
        return pack_grouped(centers, c_sq, 4, 3)
    if width not in (L // 2, L, 2 * L, 4 * L):
        raise ValueError(
            f"a panel holds {L // 2}, {3 * L // 4}, {L}, {2 * L} or {4 * L} centres, not {width}"
        )
    n_panels = -(-k // width)
    pairs = width < L
    if pairs and d < 2:
        raise ValueError("the pairs layout needs at least two features")
    cols = d + d % 2 if pairs else d
    padded = np.zeros((n_panels * width, cols), dtype=centers.dtype)
    padded[:k, :d] = centers
    if pairs:
        grouped = padded.reshape(n_panels, width, cols // 2, 2).transpose(0, 2, 1, 3)
        Cp = np.ascontiguousarray(grouped).reshape(n_panels, cols // 2, 2 * width)
    else:
        Cp = np.ascontiguousarray(padded.reshape(n_panels, width, d).transpose(0, 2, 1))
    csq = np.full(n_panels * width, np.inf, dtype=centers.dtype)
    csq[:k] = c_sq
    return Cp, csq.reshape(n_panels, width)


def grouped_code(g: int, V: int) -> int:
    """The ``tiles`` code of a grouped layout (:meth:`_Panel.products`): negative."""
    return -(10 * g + V)


#: The one grouped layout the kernels use: 4 features side by side, 3 vectors
#: (``3 L / 4`` centres: 12 float32 or 6 float64).
_G43 = grouped_code(4, 3)


def grouped_layout(code: int) -> tuple[int, int]:
    """``(g, V)`` of a grouped layout's ``tiles`` code."""
    return divmod(-code, 10)


def splat(builder, scalar, vec):
    """IR: ``scalar`` in every lane of a vector of type ``vec``."""
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vec, ir.Undefined), scalar, ir.Constant(i32, 0))
    zeros = ir.Constant(ir.VectorType(i32, vec.count), [0] * vec.count)
    return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), zeros)


class _Panel:
    """The code both intrinsics share: the IR types and helpers of one call, and
    the loop over the features that forms ``acc[r][t]``, the products of row
    ``row + r`` with the panel's ``t``-th vector of centres."""

    def __init__(self, context, builder, signature, args, o=-1, shift=None):
        """From an intrinsic's arguments ``(X, row, nrows, tiles, Cp, p, ...)``
        with ``o`` at position ``o``: ``row``, ``p`` and ``o`` become intp
        values (``self.row``, ``self.pan``, ``self.off``). ``shift``: the
        position of an array of X's dtype subtracted from every row's values
        before their products (absent, or None there: nothing subtracted)."""
        X_ty, row_ty, Cp_ty, p_ty, o_ty = (signature.args[i] for i in (0, 1, 4, 5, o))
        x, row, cp, pan, off = (args[i] for i in (0, 1, 4, 5, o))
        self.sa = None
        if shift is not None and isinstance(signature.args[shift], types.Array):
            self.sa = context.make_array(signature.args[shift])(context, builder, args[shift])
        row = context.cast(builder, row, row_ty, types.intp)
        pan = context.cast(builder, pan, p_ty, types.intp)
        self.off = context.cast(builder, off, o_ty, types.intp)
        self.builder = builder
        self.L = lanes(X_ty.dtype.bitwidth // 8)
        self.fty = context.get_value_type(X_ty.dtype)
        self.vec = ir.VectorType(self.fty, self.L)
        self.intp = context.get_value_type(types.intp)
        self.align = X_ty.dtype.bitwidth // 8
        self.xa = context.make_array(X_ty)(context, builder, x)
        self.ca = context.make_array(Cp_ty)(context, builder, cp)
        self.d = cgutils.unpack_tuple(builder, self.xa.shape, 2)[1]
        self.row, self.pan = row, pan

    def n(self, value):
        return ir.Constant(self.intp, value)

    def function(self, name, n_args, returns_vector=True, vec=None):
        vec = vec or self.vec
        ret = vec if returns_vector else self.fty
        fnty = ir.FunctionType(ret, [vec] * n_args)
        suffix = f"v{vec.count}f{self.fty.intrinsic_name[1:]}"
        return cgutils.get_or_insert_function(self.builder.module, fnty, f"{name}.{suffix}")

    def vload(self, ptr, vec=None):
        b = self.builder
        return b.load(b.bitcast(ptr, (vec or self.vec).as_pointer()), align=self.align)

    def vstore(self, value, ptr):
        b = self.builder
        b.store(value, b.bitcast(ptr, value.type.as_pointer()), align=self.align)

    def masked_store(self, value, ptr, count):
        """Store the first ``count`` lanes of ``value`` at ``ptr``."""
        b, vec = self.builder, value.type
        i1v = ir.VectorType(ir.IntType(1), vec.count)
        fnty = ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), ir.IntType(32), i1v])
        name = f"llvm.masked.store.v{vec.count}f{self.fty.intrinsic_name[1:]}.p0v{vec.count}f{self.fty.intrinsic_name[1:]}"
        fn = cgutils.get_or_insert_function(b.module, fnty, name)
        mask = ir.Constant(i1v, [i < count for i in range(vec.count)])
        b.call(
            fn,
            [
                value,
                b.bitcast(ptr, vec.as_pointer()),
                ir.Constant(ir.IntType(32), self.align),
                mask,
            ],
        )

    def prefetch(self, at):
        """Ask the CPU to bring the cache line of ``X.flat[at]`` into its level-2
        cache (``prefetcht1``): a hint that never faults, wherever it points.

        The products of a dozen rows read a few cache lines of each at every
        step: streams too short for the CPU's own prefetcher, so each panel call
        asks for the rows of the call :data:`AHEAD` of it, a line or two at each
        step of its feature loop. Measured on one core of a Zen 4 host, 2e5 x
        128 float32 rows against 8 centres (k-means++'s candidates), blocks of
        1024 rows: 6.5 ms in cache, 21 ms from memory without hints, as with
        all of a call's lines asked for at once before it into level 1 (the
        first version); 12 ms with those into level 2 (``prefetcht0`` 21 ms,
        ``prefetchnta`` 22 ms); 6.2 ms with the lines spread over the loop."""
        b = self.builder
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        ptr = b.bitcast(b.gep(self.xa.data, [at]), i8p)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(b.module, fnty, "llvm.prefetch.p0i8")
        # read, locality 2 (level 2 and beyond), data
        b.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])

    def splat(self, scalar, vec=None):
        return splat(self.builder, scalar, vec or self.vec)

    def row_values(self, at, g, array=None):
        """``X.flat[at : at + g]`` (or ``array``'s) repeated across the vector: one
        broadcast load (of a value, or a 64-, 128- or 256-bit group of them)."""
        b, L = self.builder, self.L
        if g == 1:
            return self.splat(b.load(b.gep((array or self.xa).data, [at])))
        part = ir.VectorType(self.fty, g)
        ptr = b.bitcast(b.gep((array or self.xa).data, [at]), part.as_pointer())
        value = b.load(ptr, align=self.align)
        return b.shuffle_vector(value, value, ir.Constant(self.i32v(L), list(range(g)) * (L // g)))

    def fold(self, vectors, g):
        """One vector of single sums from ``vectors`` of ``L / g`` centres with
        ``g`` partial sums each (the grouped layout): halve the partial sums
        ``log2(g)`` times, two vectors into one each time."""
        b, L = self.builder, self.L
        h = g
        while h > 1:
            m, half = L // h, h // 2
            lo = []
            for i in range(L):
                c, e = divmod(i, half)
                lo.append((c * h if c < m else L + (c - m) * h) + e)
            lo_idx = ir.Constant(self.i32v(L), lo)
            hi_idx = ir.Constant(self.i32v(L), [x + half for x in lo])
            merged = []
            for i in range(0, len(vectors), 2):
                a = vectors[i]
                c = vectors[i + 1] if i + 1 < len(vectors) else a
                merged.append(
                    b.fadd(b.shuffle_vector(a, c, lo_idx), b.shuffle_vector(a, c, hi_idx))
                )
            vectors, h = merged, half
        return vectors[0]

    def products(self, R, T):
        """``acc[r][t]``: for f in range(d), ``acc[r][t] += X[row + r, f] *
        Cp[p, f, t*L:(t+1)*L]``, one fused multiply-add each, in feature order.

        ``T == 0``, the *pairs* layout (``Cp[p, g, 2q + e] = c_q[2g + e]``, at
        most ``L / 2`` centres): each multiply-add takes two features of a
        row at once (broadcast as a pair), lane ``2q + e`` summing the
        products of the even (``e = 0``) or odd features in order, an odd
        last feature alone; then ``acc[r][0]`` (``L / 2`` values) is the even
        sum plus the odd one. Half the multiply-adds of one vector a centre
        lane for up to ``L / 2`` centres.

        ``T < 0``, the *grouped* layout (:func:`grouped_code`: ``g`` = 4 or 8
        features of a centre side by side, ``L / g`` centres a vector, ``V <=
        g`` vectors; ``d`` a multiple of ``g``): each multiply-add takes ``g``
        features of a row at once, lane ``q g + e`` of vector ``v`` summing,
        in order, the products of the features ``e, e + g, e + 2g, ...`` with
        centre ``v L / g + q``. Then the ``g`` partial sums of each centre are
        added pairwise, ``e`` with ``e + g / 2`` first (:meth:`fold`), the
        vectors merged two at a time on the way (an odd last one with itself),
        so that ``acc[r][0]`` holds centre ``j`` in lane ``j`` (lanes past the
        panel's centres repeat some): fewer multiply-adds than one vector a
        centre lane where ``k`` is far from a multiple of ``L`` (10 centres of
        64 features, float32, 4 features at a time: 48 a row against 64)."""
        b, n, L = self.builder, self.n, self.L
        pairs = T == 0
        g, V = grouped_layout(T) if T < 0 else (2, 1) if pairs else (1, T)
        rounds = b.sdiv(self.d, n(g))  # (pairs: d >= 2)
        groups = b.sdiv(b.add(self.d, n(1)), n(2)) if pairs else rounds  # Cp.shape[1]
        fma = self.function("llvm.fma", 3)
        entry = b.block
        loop = b.append_basic_block("panel_features")
        done = b.append_basic_block("panel_done")
        b.branch(loop)
        b.position_at_end(loop)
        f = b.phi(self.intp)
        f.add_incoming(n(0), entry)
        acc = [[b.phi(self.vec) for _ in range(V)] for _ in range(R)]
        zero = ir.Constant(self.vec, [0.0] * L)
        for phis in acc:
            for phi in phis:
                phi.add_incoming(zero, entry)
        cvec = self.centres(groups, f, V)
        fs = b.mul(f, n(g))
        if self.sa is not None:
            sv = self.row_values(fs, g, self.sa)
        # the rows AHEAD calls on, R g values a step: every line once by the loop's end
        ahead = b.add(b.mul(b.add(self.row, n(AHEAD * R)), self.d), b.mul(f, n(R * g)))
        per_line = 64 // self.align
        for j in range(-(-R * g // per_line)):
            self.prefetch(b.add(ahead, n(j * per_line)))
        new = []
        for r in range(R):
            at = b.add(b.mul(b.add(self.row, n(r)), self.d), fs)
            xr = self.row_values(at, g)
            if self.sa is not None:
                xr = b.fsub(xr, sv)
            new.append([b.call(fma, [xr, cvec[v], acc[r][v]]) for v in range(V)])
        f_next = b.add(f, n(1))
        end = b.block
        f.add_incoming(f_next, end)
        for r in range(R):
            for v in range(V):
                acc[r][v].add_incoming(new[r][v], end)
        b.cbranch(b.icmp_signed("<", f_next, rounds), loop, done)
        b.position_at_end(done)
        if T < 0:
            return [[self.fold(vectors, g)] for vectors in new]
        if not pairs:
            return new
        with b.if_then(b.icmp_signed("!=", groups, rounds)):  # an odd last feature
            cvec = self.centres(groups, rounds, 1)
            last = []
            for r in range(R):
                at = b.add(b.mul(b.add(self.row, n(r)), self.d), b.sub(self.d, n(1)))
                x = b.load(b.gep(self.xa.data, [at]))
                if self.sa is not None:
                    x = b.fsub(x, b.load(b.gep(self.sa.data, [b.sub(self.d, n(1))])))
                xr = self.splat(x)
                last.append(b.call(fma, [xr, cvec[0], new[r][0]]))
            tail = b.block
        phis = [b.phi(self.vec) for _ in range(R)]
        folded = []
        for r, phi in enumerate(phis):
            phi.add_incoming(new[r][0], done)
            phi.add_incoming(last[r], tail)
            even = b.shuffle_vector(phi, phi, ir.Constant(self.i32v(L // 2), list(range(0, L, 2))))
            odd = b.shuffle_vector(phi, phi, ir.Constant(self.i32v(L // 2), list(range(1, L, 2))))
            folded.append([b.fadd(even, odd)])
        return folded

    def epilogue(self, T):
        """The vector type and count of ``acc[r]`` after :meth:`products`, and the
        centres of a panel."""
        if T < 0:
            g, V = grouped_layout(T)
            return self.vec, 1, V * self.L // g
        if T == 0:
            return ir.VectorType(self.fty, self.L // 2), 1, self.L // 2
        return self.vec, T, T * self.L

    def centres(self, groups, f, T):
        """The ``T`` vectors ``Cp[p, f, t*L:(t+1)*L]`` (``groups = Cp.shape[1]``)."""
        b, n, L = self.builder, self.n, self.L
        base = b.mul(b.add(b.mul(self.pan, groups), f), n(L * T))
        return [self.vload(b.gep(self.ca.data, [b.add(base, n(t * L))])) for t in range(T)]

    @staticmethod
    def i32v(count):
        return ir.VectorType(ir.IntType(32), count)


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


def _shift_ok(shift, X) -> bool:
    """``shift``: None, or a 1-D C-contiguous array of X's dtype."""
    return isinstance(shift, types.NoneType) or (
        isinstance(shift, types.Array) and shift.layout == "C" and shift.ndim == 1
        and shift.dtype == X.dtype
    )  # fmt: skip


@intrinsic
def _panel(typingctx, X, row, nrows, tiles, Cp, p, csq, best, lab, o, shift):
    """Rows ``row : row + nrows`` of ``X`` (less ``shift``) against panel ``p``:
    where a row's smallest ``csq - 2 x . c`` is below ``best[o + r]``, it
    replaces it and ``lab[o + r]`` becomes that centre's index (the first of
    equal values).

    ``nrows`` and ``tiles`` (vectors per panel) are literal integers. ``X``
    (float32 or float64, C-contiguous, at least one feature), ``Cp``
    (``(panels, d, tiles * L)``) and ``csq`` (``(panels, tiles * L)``) of X's
    dtype, ``best`` of X's dtype and ``lab`` int32, C-contiguous, the last two
    writable; ``shift`` as :func:`_panel_store`'s: the typing checks. Nothing
    is bounds-checked.
    """
    if not _typing_ok(nrows, tiles, X, Cp, row, p, o, (best, lab)) or not _shift_ok(shift, X):
        return None
    if not isinstance(csq, types.Array) or csq.layout != "C" or csq.ndim != 2:
        return None
    if csq.dtype != X.dtype or best.dtype != X.dtype or lab.dtype != types.int32:
        return None
    if (best.ndim, lab.ndim) != (1, 1):
        return None
    R, T = nrows.literal_value, tiles.literal_value
    sig = types.void(X, row, nrows, tiles, Cp, p, csq, best, lab, o, shift)

    def codegen(context, builder, signature, args):
        csq_ty, best_ty, lab_ty = signature.args[6:9]
        cs, bst, lb = args[6:9]
        P = _Panel(context, builder, signature, args, o=9, shift=10)
        acc, pan, off = P.products(R, T), P.pan, P.off
        vec, tiles, W = P.epilogue(T)
        b, n, L = builder, P.n, vec.count
        i32, i64 = ir.IntType(32), ir.IntType(64)
        sa = context.make_array(csq_ty)(context, builder, cs)
        ba = context.make_array(best_ty)(context, builder, bst)
        la = context.make_array(lab_ty)(context, builder, lb)
        fma, vmin = P.function("llvm.fma", 3, vec=vec), P.function("llvm.minnum", 2, vec=vec)
        hmin = P.function("llvm.vector.reduce.fmin", 1, returns_vector=False, vec=vec)
        # v = csq - 2 x.c (one rounding, as the BLAS path's c - 2 * p); its minimum;
        # the first lane that holds it
        minus2 = P.splat(ir.Constant(P.fty, -2.0), vec)
        first = b.mul(pan, n(W))
        at_csq = b.mul(pan, n(L * tiles))  # (grouped panels: csq padded to whole vectors)
        cs_vec = [P.vload(b.gep(sa.data, [b.add(at_csq, n(t * L))]), vec) for t in range(tiles)]
        inf = P.splat(ir.Constant(P.fty, float("inf")), vec)
        for r in range(R):
            v = [b.call(fma, [acc[r][t], minus2, cs_vec[t]]) for t in range(tiles)]
            # NaN (from products that overflowed) as +inf, which never wins: then
            # the minima need no NaN handling, which took a third of a step at
            # 1e5 x 64, k = 10 (1.8 -> 1.1 ms, one core, in cache)
            v = [b.select(b.fcmp_unordered("uno", x, x), inf, x) for x in v]
            level = v
            while len(level) > 1:
                level = [
                    b.call(vmin, [level[i], level[i + 1]], fastmath=("nnan",))
                    for i in range(0, len(level), 2)
                ]
            low = b.call(hmin, [level[0]], fastmath=("nnan",))
            low_vec = P.splat(low, vec)
            mask = ir.Constant(i64, 0)
            for t in range(tiles):
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
def _panel_store(typingctx, X, row, nrows, tiles, Cp, p, out, o, shift):
    """``out[o + r, p * W : (p + 1) * W] = (X[row + r] - shift) . Cp[p]`` for
    the ``nrows`` rows (``W`` centres): the products :func:`_panel` compares,
    for the bounded kernels and k-means++. ``shift``: None, or a 1-D
    C-contiguous array of X's dtype, subtracted in X's dtype (the values of
    a shifted copy of X). ``out`` (X's dtype, C-contiguous, writable, 2-D
    with ``panels * W`` columns) as the typing checks; nothing is
    bounds-checked."""
    if not _typing_ok(nrows, tiles, X, Cp, row, p, o, (out,)):
        return None
    if out.dtype != X.dtype or out.ndim != 2 or not _shift_ok(shift, X):
        return None
    R, T = nrows.literal_value, tiles.literal_value
    sig = types.void(X, row, nrows, tiles, Cp, p, out, o, shift)

    def codegen(context, builder, signature, args):
        out_ty, ot = signature.args[6], args[6]
        P = _Panel(context, builder, signature, args, o=7, shift=8)
        acc, pan, off = P.products(R, T), P.pan, P.off
        vec, tiles, W = P.epilogue(T)
        b, n, L = builder, P.n, vec.count
        oa = context.make_array(out_ty)(context, builder, ot)
        width = cgutils.unpack_tuple(builder, oa.shape, 2)[1]
        first = b.mul(pan, n(W))
        for r in range(R):
            base = b.add(b.mul(b.add(off, n(r)), width), first)
            for t in range(tiles):
                ptr = b.gep(oa.data, [b.add(base, n(t * L))])
                if W < L * tiles:  # (grouped: the lanes past the panel's centres stay out)
                    P.masked_store(acc[r][t], ptr, W)
                else:
                    P.vstore(acc[r][t], ptr)
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, inline="always")
def _rows_against_panels(
    X, row, Cp, csq, best, lab, o, tiles, shift
):  # pragma: no cover - compiled
    for p in range(Cp.shape[0]):
        if tiles == _G43:
            _panel(X, row, 8, _G43, Cp, p, csq, best, lab, o, shift)
        elif tiles == 4:
            _panel(X, row, 6, 4, Cp, p, csq, best, lab, o, shift)
        elif tiles == 2:
            _panel(X, row, 8, 2, Cp, p, csq, best, lab, o, shift)
        elif tiles == 0:
            _panel(X, row, 12, 0, Cp, p, csq, best, lab, o, shift)
        else:
            _panel(X, row, 12, 1, Cp, p, csq, best, lab, o, shift)


@njit(nogil=True, cache=True, inline="always")
def _rows_into(X, row, Cp, out, o, tiles, shift):  # pragma: no cover - compiled
    for p in range(Cp.shape[0]):
        if tiles == _G43:
            _panel_store(X, row, 8, _G43, Cp, p, out, o, shift)
        elif tiles == 4:
            _panel_store(X, row, 6, 4, Cp, p, out, o, shift)
        elif tiles == 2:
            _panel_store(X, row, 8, 2, Cp, p, out, o, shift)
        elif tiles == 0:
            _panel_store(X, row, 12, 0, Cp, p, out, o, shift)
        else:
            _panel_store(X, row, 12, 1, Cp, p, out, o, shift)


@njit(nogil=True, cache=True, inline="always")
def _shape(X, Cp):  # pragma: no cover - compiled
    """``(tiles, rows, width)``: vectors per panel (0: the pairs layout, see
    :func:`pack_panels`), rows per panel call and centres per panel."""
    L, d = 64 // X.itemsize, X.shape[1]
    if d == 0:
        raise ValueError("rows need at least one feature")
    if Cp.shape[1] != d and Cp.shape[1] * 4 == d and Cp.shape[2] == 3 * L:
        return _G43, 8, 3 * L // 4
    if Cp.shape[1] != d:
        if d < 2 or Cp.shape[1] != (d + 1) // 2 or Cp.shape[2] != L:
            raise ValueError("packed centres must have the rows' features (or pairs of them)")
        return 0, 12, L // 2
    tiles = Cp.shape[2] // L
    if Cp.shape[2] != tiles * L or tiles not in (1, 2, 4):
        raise ValueError("panels hold 1, 2 or 4 vectors of centres")
    return tiles, 6 if tiles == 4 else 8 if tiles == 2 else 12, Cp.shape[2]


@njit(nogil=True, cache=True, inline="always")
def _fill_pad(X, start, r, m, rows, pad):  # pragma: no cover - compiled
    """``pad[:rows]`` = rows ``start + r : start + m`` of X, then zeros."""
    for q in range(rows):
        for f in range(X.shape[1]):
            pad[q, f] = X[start + r + q, f] if r + q < m else 0


@njit(nogil=True, cache=True)
def nearest_panels(
    X, Cp, csq, start, stop, labels, best, lab, pad, shift
):  # pragma: no cover - compiled; covered through the kernels' tests
    """``labels[start:stop]`` (and ``best``, ``lab`` as :func:`._numba_kernels._nearest`
    fills them) from the packed centres. ``best`` and ``lab`` hold at least
    ``stop - start + PANEL_ROWS_MAX`` values; ``pad`` is a
    ``(PANEL_ROWS_MAX, d)`` buffer of X's dtype for the last rows (zeros past
    them: their results land past ``stop - start`` and are not read).
    ``shift`` as :func:`panel_rows`'s: the rows are ``X - shift``, rounded
    to X's dtype, without a copy (zeros: X itself, the same values)."""
    m = stop - start
    tiles, rows, _ = _shape(X, Cp)
    if best.shape[0] < m + PANEL_ROWS_MAX or lab.shape[0] < m + PANEL_ROWS_MAX:
        raise ValueError("best and lab must hold stop - start + PANEL_ROWS_MAX values")
    if pad.shape[0] < PANEL_ROWS_MAX or pad.shape[1] != X.shape[1]:
        raise ValueError("pad must be a (PANEL_ROWS_MAX, d) buffer")
    if shift is not None and shift.shape[0] != X.shape[1]:
        raise ValueError("shift needs one value per feature")
    for i in range(m):  # (past m, the padded rows' results are never read)
        best[i] = np.inf
        lab[i] = 0
    r = 0
    while r + rows <= m:
        _rows_against_panels(X, start + r, Cp, csq, best, lab, r, tiles, shift)
        r += rows
    if r < m:
        _fill_pad(X, start, r, m, rows, pad)
        _rows_against_panels(pad, 0, Cp, csq, best, lab, r, tiles, shift)
    out = labels[start:stop]
    for i in range(m):
        out[i] = lab[i]


@njit(nogil=True, cache=True)
def panel_rows(
    X, start, stop, Cp, pad, shift
):  # pragma: no cover - compiled; covered through the kernels' tests
    """``P[r, j] = x_(start + r) . c_j`` for every packed centre (padding
    included), shape ``(stop - start + PANEL_ROWS_MAX, panels * W)``: the
    products :func:`nearest_panels` compares (``pad`` as there). ``shift``
    (None, or X's dtype, one value per feature): the rows are ``X - shift``,
    each difference rounded to X's dtype as a shifted copy of X would hold
    it, without the copy."""
    m = stop - start
    tiles, rows, width = _shape(X, Cp)
    if pad.shape[0] < PANEL_ROWS_MAX or pad.shape[1] != X.shape[1]:
        raise ValueError("pad must be a (PANEL_ROWS_MAX, d) buffer")
    if shift is not None and shift.shape[0] != X.shape[1]:
        raise ValueError("shift needs one value per feature")
    P = np.empty((m + PANEL_ROWS_MAX, Cp.shape[0] * width), dtype=X.dtype)
    r = 0
    while r + rows <= m:
        _rows_into(X, start + r, Cp, P, r, tiles, shift)
        r += rows
    if r < m:
        _fill_pad(X, start, r, m, rows, pad)
        _rows_into(pad, 0, Cp, P, r, tiles, shift)
    return P


@njit(nogil=True, cache=True)
def panel_products(
    X, start, stop, Cp, k, pad
):  # pragma: no cover - compiled; covered through the bounded kernels' tests
    """``DT[j, r] = x_(start + r) . c_j``, shape (k, stop - start): the very
    products :func:`nearest_panels` compares (``pad`` as there)."""
    m = stop - start
    P = panel_rows(X, start, stop, Cp, pad, None)
    DT = np.empty((k, m), dtype=X.dtype)
    for j in range(k):  # row by row of DT: 3.4x faster than row by row of P (k = m = 256)
        out = DT[j]
        for i in range(m):
            out[i] = P[i, j]
    return DT
