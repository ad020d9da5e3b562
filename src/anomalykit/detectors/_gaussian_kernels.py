"""Compiled kernels (Numba) behind :class:`GaussianDetector`, imported only when first needed.

Compilation happens on the first call for each input dtype (and with or
without sample weights) and is cached on disk (``cache=True``), never at
import time of anomalykit. The NumPy code in :mod:`._gaussian` and
:mod:`.._utils._stats` stays the reference these kernels are tested against.

Each kernel handles one *chunk* of rows (``start:stop``) start to finish,
without the GIL, in sub-blocks of ``rows`` rows. Whatever the input dtype,
every sum is accumulated in float64.

Scores
    Rows of 1, 2, 4 or 8 features, ``diag`` and ``full``: 8 rows at a time in
    vector lanes, ``z`` from rotations within each row, or for ``full`` at d = 8
    from the 8 rows transposed in registers (:func:`score_lanes`).
    Other widths, ``diag``: one pass per row, ``-1/2 sum_j ((x_j - mean_j) /
    std_j)**2``, no n x d temporary. ``full``: each sub-block is centred and copied
    transposed into a (features x rows) buffer that stays in L1, then
    ``z = (x - mean) @ P`` is formed 4 x 4 features at a time (``P`` is upper
    triangular: only its non-zero 4 x 4 tiles are visited, half the work of a
    GEMM) with loops over the rows that the compiler vectorises, and ``|z|**2``
    is accumulated per row; up to 8 (padded) features, a row's ``z`` stays in
    registers instead (:func:`_squares8`). Measured faster than a BLAS product per
    sub-block (``np.dot`` inside Numba) for every d from 2 to 300, one thread.
    Both return the chunk's sum of scores, which is finite exactly when every
    score is: the caller's check for non-finite input.

Moments (``fit``), about a fixed ``shift`` (a rough mean of the data, so that
the means handled here are small numbers even for ``1e6 + N(0, 1)`` data)
    ``diag``: one pass per sub-block, sums of ``x - c`` and ``(x - c)**2``
    about the previous sub-block's mean ``c``, then Chan's merge: never the
    naive ``E[x**2] - E[x]**2``. ``full``: per sub-block the Gram matrix of
    its rows about the previous sub-block's mean, less ``s s^T / m``, then
    Chan's merge; from the transposed L1 buffer in 4 x 4 tiles, or, for
    unweighted rows of 1, 2, 4 or 8 features, from X itself, a row's features
    meeting by rotations within vector registers (:func:`_lane_grams`). The caller merges the chunks' moments in
    chunk order, so results depend on the data's shape only, not on the
    number of threads.

The reductions are written for the compiler's vectoriser (``fastmath`` with
reassociation, in these kernels only): their summation order is fixed by the
code, ``d`` and the sub-block's length, never by the thread that runs a chunk.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._utils._numba_cache import salt_kernel_caches

salt_kernel_caches()  # (before the first @njit: see _numba_cache)

__all__ = ["moments_diag", "moments_full", "score_diag", "score_full", "score_lanes"]

#: FMA contraction and reassociation of sums (for SIMD reductions); no
#: assumptions about NaN or infinity, which must propagate to the caller's check.
_FASTMATH = {"contract", "reassoc"}
#: Up to this many features, sub-blocks are transposed column by column (each
#: column a strided read the compiler vectorises); wider ones 4 x 4 values at a
#: time (:func:`_transpose4`).
_NARROW = 4


# ------------------------------------------------------------------ helpers
@intrinsic
def _transpose4(typingctx, Xb, r, j, shift, C):
    """``C[j:j+4, r:r+4] = (Xb[r:r+4, j:j+4] - shift[j:j+4]).T`` in float64.

    Five vector loads (four rows and the shift), eight shuffles and four vector
    stores, which Numba does not emit for the same loop written with scalars
    (16 separate stores, 45% of the full moments kernel's time at d = 8, one
    core). Fit + score of 1e6 rows on two threads take 7-12% less time at
    d = 8 to 32 and 20% at d = 64, with the same bits.

    ``Xb`` (float32 or float64), ``shift`` and ``C`` (float64, writable) must
    be C-contiguous, which the typing checks. Nothing is bounds-checked: the
    caller keeps ``r + 4 <= Xb.shape[0]``, ``r + 4 <= C.shape[1]``,
    ``j + 4 <= Xb.shape[1]``, ``j + 4 <= C.shape[0]`` and
    ``j + 4 <= shift.shape[0]``.
    """
    arrays = (Xb, shift, C)
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in arrays):
        return None
    if (Xb.ndim, shift.ndim, C.ndim) != (2, 1, 2) or Xb.dtype not in (types.float32, types.float64):
        return None
    if shift.dtype != types.float64 or C.dtype != types.float64 or not C.mutable:
        return None
    if not (isinstance(r, types.Integer) and isinstance(j, types.Integer)):
        return None
    sig = types.void(Xb, r, j, shift, C)

    def codegen(context, builder, signature, args):
        X_ty, r_ty, j_ty, _, _ = signature.args
        x, row, col, sh, c = args
        xa = context.make_array(X_ty)(context, builder, x)
        sha = context.make_array(shift)(context, builder, sh)
        ca = context.make_array(C)(context, builder, c)
        intp = context.get_value_type(types.intp)  # the type of shapes and indices
        row = context.cast(builder, row, r_ty, types.intp)
        col = context.cast(builder, col, j_ty, types.intp)
        in_vec = ir.VectorType(context.get_value_type(X_ty.dtype), 4)
        f64_vec = ir.VectorType(ir.DoubleType(), 4)
        x_stride = cgutils.unpack_tuple(builder, xa.shape, 2)[1]
        c_stride = cgutils.unpack_tuple(builder, ca.shape, 2)[1]

        def load(ptr, vec):
            return builder.load(builder.bitcast(ptr, vec.as_pointer()), align=1)

        k = load(builder.gep(sha.data, [col]), f64_vec)
        rows = []
        for q in range(4):
            at = builder.add(builder.mul(builder.add(row, ir.Constant(intp, q)), x_stride), col)
            v = load(builder.gep(xa.data, [at]), in_vec)
            if X_ty.dtype != types.float64:
                v = builder.fpext(v, f64_vec)
            rows.append(builder.fsub(v, k))

        def shuffle(a, b, mask):
            return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), 4), mask))

        lo01 = shuffle(rows[0], rows[1], [0, 4, 2, 6])  # x00 x10 x02 x12
        hi01 = shuffle(rows[0], rows[1], [1, 5, 3, 7])  # x01 x11 x03 x13
        lo23 = shuffle(rows[2], rows[3], [0, 4, 2, 6])
        hi23 = shuffle(rows[2], rows[3], [1, 5, 3, 7])
        columns = (
            shuffle(lo01, lo23, [0, 1, 4, 5]),  # x00 x10 x20 x30
            shuffle(hi01, hi23, [0, 1, 4, 5]),
            shuffle(lo01, lo23, [2, 3, 6, 7]),
            shuffle(hi01, hi23, [2, 3, 6, 7]),
        )
        for q, v in enumerate(columns):
            at = builder.add(builder.mul(builder.add(col, ir.Constant(intp, q)), c_stride), row)
            builder.store(
                v, builder.bitcast(builder.gep(ca.data, [at]), f64_vec.as_pointer()), align=1
            )
        return context.get_dummy_value()

    return sig, codegen


def _segment_types(flat, count, floats, writable):
    """The typing shared by the segment intrinsics: ``flat`` 1-D float32 or
    float64, ``floats`` 1-D float64, all C-contiguous, ``count`` an integer and
    the ``writable`` arrays mutable."""
    arrays = (flat, *floats)
    if not all(isinstance(a, types.Array) and a.layout == "C" and a.ndim == 1 for a in arrays):
        return False
    if flat.dtype not in (types.float32, types.float64) or not isinstance(count, types.Integer):
        return False
    return all(a.dtype == types.float64 for a in floats) and all(a.mutable for a in writable)


class _Segments:
    """Code generation shared by the segment intrinsics (their arguments: ``flat``,
    ``count``, then the rest): vectors of 8 float64 values, ``flat``'s values
    widened exactly, and a loop over the segments whose sums stay in registers."""

    def __init__(self, context, builder, signature, args):
        self.builder = builder
        self.intp = context.get_value_type(types.intp)
        self.vector = ir.VectorType(ir.DoubleType(), 8)
        self.dtype = signature.args[0].dtype
        # (Numba types an unaligned view apart: its loads promise no alignment)
        self.align = self.dtype.bitwidth // 8 if signature.args[0].aligned else 1
        self.source = ir.VectorType(context.get_value_type(self.dtype), 8)
        self.arrays = [
            context.make_array(ty)(context, builder, arg) if isinstance(ty, types.Array) else None
            for ty, arg in zip(signature.args, args, strict=True)
        ]
        self.count = context.cast(builder, args[1], signature.args[1], types.intp)
        self.fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.vector, [self.vector] * 3), "llvm.fma.v8f64"
        )

    def constant(self, value):
        """An index (int) or 8 equal float64 values (float)."""
        if isinstance(value, int):
            return ir.Constant(self.intp, value)
        return ir.Constant(self.vector, [value] * 8)

    def _pointer(self, position, index, vector):
        ptr = self.builder.gep(self.arrays[position].data, [index])
        return self.builder.bitcast(ptr, vector.as_pointer())

    def scalar(self, position, index):
        """Value ``index`` of float64 argument ``position``."""
        return self.builder.load(self.builder.gep(self.arrays[position].data, [index]))

    def broadcast(self, value):
        """8 lanes of the float64 ``value``."""
        builder = self.builder
        one = builder.insert_element(
            ir.Constant(self.vector, ir.Undefined), value, self.constant(0)
        )
        return builder.shuffle_vector(
            one, one, ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
        )

    def load(self, position, index):
        """8 float64 values of argument ``position`` from ``index`` on."""
        return self.builder.load(self._pointer(position, index, self.vector), align=8)

    def store(self, position, index, value, add=False):
        """Store ``value`` (or add it to what is there) at argument ``position``."""
        ptr = self._pointer(position, index, self.vector)
        if add:
            value = self.builder.fadd(self.builder.load(ptr, align=8), value)
        self.builder.store(value, ptr, align=8)

    def values(self, index):
        """8 values of ``flat`` from ``index`` on, as float64."""
        x = self.builder.load(self._pointer(0, index, self.source), align=self.align)
        return x if self.dtype == types.float64 else self.builder.fpext(x, self.vector)

    def loop(self, name, step, carried, body):
        """``carried = body(e, carried)`` for ``e = 0, step, ... < count``; returns
        the values after the loop (``carried`` itself when ``count <= 0``)."""
        builder = self.builder
        entry = builder.block
        loop = builder.append_basic_block(name)
        done = builder.append_basic_block(name + "_done")
        builder.cbranch(builder.icmp_signed(">", self.count, self.constant(0)), loop, done)
        builder.position_at_end(loop)
        e = builder.phi(self.intp)
        phis = [builder.phi(value.type) for value in carried]
        e.add_incoming(self.constant(0), entry)
        for phi, value in zip(phis, carried, strict=True):
            phi.add_incoming(value, entry)
        new = body(e, phis)
        e_next = builder.add(e, self.constant(step))
        body_end = builder.block
        e.add_incoming(e_next, body_end)
        for phi, value in zip(phis, new, strict=True):
            phi.add_incoming(value, body_end)
        builder.cbranch(builder.icmp_signed("<", e_next, self.count), loop, done)
        builder.position_at_end(done)
        out = [builder.phi(value.type) for value in carried]  # (a block's phis come first)
        for phi, before, after in zip(out, carried, new, strict=True):
            phi.add_incoming(before, entry)
            phi.add_incoming(after, body_end)
        return out


@intrinsic
def _lane_sums(typingctx, flat, count, vectors, cl, acc1, acc2):
    """``acc1[l] += c``, ``acc2[l] += c * c`` with ``c = flat[e + l] - cl[l]``, for
    each segment ``e = 0, L, 2L, ... < count`` of ``L = 8 * vectors`` values,
    lane ``l`` summed in segment order (float64, ``c * c`` fused into the add).

    The sums stay in vector registers for the whole loop, ``2 * vectors`` of
    them (``vectors``, a literal from 1 to 8, is how many), and are read from
    and written back to ``acc1`` and ``acc2`` once: the same loop in Numba
    loaded and stored them for every segment, its loads and stores twice the
    time of a read of the data (one core, 1e5 x 8 float64 in cache: 0.13 ms
    against 0.06 ms for a plain sum). Compiled for Haswell's AVX2 (the eight
    sums then take 16 of its 16 registers), 4 vectors over 8 MB still took
    0.09 ms against the loop's 0.21 ms.

    ``flat`` (float32, widened exactly, or float64) and the float64 arrays
    ``cl``, ``acc1``, ``acc2`` (the last two writable, at least ``L`` values)
    are C-contiguous, which the typing checks; ``count`` must be a multiple of
    ``L`` within ``flat``: nothing is bounds-checked.
    """
    if not _segment_types(flat, count, (cl, acc1, acc2), (acc1, acc2)):
        return None
    if not isinstance(vectors, types.IntegerLiteral) or not 1 <= vectors.literal_value <= 8:
        return None
    V = vectors.literal_value
    sig = types.void(flat, count, vectors, cl, acc1, acc2)

    def codegen(context, builder, signature, args):
        g = _Segments(context, builder, signature, args)
        lanes = [g.constant(8 * v) for v in range(V)]
        centre = [g.load(3, lane) for lane in lanes]
        start = [g.load(4, lane) for lane in lanes] + [g.load(5, lane) for lane in lanes]

        def body(e, sums):
            new1, new2 = [], []
            for v, lane in enumerate(lanes):
                c = builder.fsub(g.values(builder.add(e, lane)), centre[v])
                new1.append(builder.fadd(sums[v], c))
                new2.append(builder.call(g.fma, [c, c, sums[V + v]]))
            return new1 + new2

        sums = g.loop("lane_sums", 8 * V, start, body)
        for v, lane in enumerate(lanes):
            g.store(4, lane, sums[v])
            g.store(5, lane, sums[V + v])
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _lane_sums_loop(flat, count, lanes, cl, acc1, acc2):  # pragma: no cover - compiled
    """:func:`_lane_sums` for any number of lanes, the sums through memory: the
    segments wider than 8 vectors (``lcm(d, 8) > 64``)."""
    for e in range(0, count, lanes):
        seg = flat[e : e + lanes]
        for lane in range(lanes):
            c = seg[lane] - cl[lane]
            acc1[lane] += c
            acc2[lane] += c * c


#: Vectors of 8 values per segment of :func:`_lane_grams`: 2 x (1 + d/2 + 1)
#: independent sums, enough to keep both multiply-add units busy (4 spilled
#: sums to the stack at d = 8).
_GRAM_VECTORS = 2
#: Values per call of :func:`_lane_grams`, whose sums start at 0 in registers
#: and are then added to memory: each lane sums 128 products, then up to
#: 2**17 / 2048 of those per sub-block. One lane summing a whole sub-block (4096 products)
#: lost up to 1e-13 of the scatter, the transposed tiles' 128-row sub-blocks
#: 5e-16.
_GRAM_BLOCK = 2048


def _rotation(d, s):
    """Lane ``i`` of a vector of 8 values takes lane ``g + (i - g + s) % d``, ``g =
    i - i % d``: within each row (``d`` dividing 8), feature ``j`` meets
    feature ``(j + s) % d``."""
    return [i - i % d + (i % d + s) % d for i in range(8)]


@intrinsic
def _lane_grams(typingctx, flat, count, group, cl, acc1, acc2):
    """Sums and cross-products of rows of ``d = group`` features (1, 2, 4 or 8:
    ``8 // d`` whole rows per vector of 8 values), without transposing them.

    Over the segments of ``L = 8 * _GRAM_VECTORS`` values ``e = 0, L, ... <
    count``, with ``c = flat[e + l] - cl[l % 8]``: lane ``l`` sums ``c`` and,
    for ``s = 0 .. d // 2``, ``c * c_rot`` where ``c_rot`` is the value of
    feature ``(j + s) % d`` of the same row (``j = l % d``). Those sums start at
    0 in registers and are then added to ``acc1[l]`` and ``acc2[s * L + l]``:
    rotation ``s`` of lane ``l`` holds ``sum (x_j - c_j)(x_(j+s)%d - c_(j+s)%d)``,
    every product of the Gram matrix at least once (``s = d / 2`` twice, for
    ``j`` and ``j + d / 2``). At d = 8 a row is one vector: 5 multiply-adds and
    4 permutations, where the transposed copy and its 4 x 4 tiles took about 8
    cycles a row on one core.

    ``flat`` (float32, widened exactly, or float64) and the float64 arrays
    ``cl`` (8 values), ``acc1`` (``L``) and ``acc2`` (``(d // 2 + 1) * L``, both
    writable) are C-contiguous, which the typing checks; ``count`` must be a
    multiple of ``L`` within ``flat``: nothing is bounds-checked.
    """
    if not _segment_types(flat, count, (cl, acc1, acc2), (acc1, acc2)):
        return None
    if not isinstance(group, types.IntegerLiteral) or group.literal_value not in (1, 2, 4, 8):
        return None
    d = group.literal_value
    V = _GRAM_VECTORS
    R = d // 2 + 1
    sig = types.void(flat, count, group, cl, acc1, acc2)

    def codegen(context, builder, signature, args):
        g = _Segments(context, builder, signature, args)
        masks = [ir.Constant(ir.VectorType(ir.IntType(32), 8), _rotation(d, s)) for s in range(R)]
        lanes = [g.constant(8 * v) for v in range(V)]
        centre = g.load(3, g.constant(0))

        def body(e, sums):  # sums[v]: lane sums; sums[V * (1 + s) + v]: rotation s
            new = list(sums)
            for v, lane in enumerate(lanes):
                c = builder.fsub(g.values(builder.add(e, lane)), centre)
                new[v] = builder.fadd(sums[v], c)
                for s in range(R):
                    rot = c if s == 0 else builder.shuffle_vector(c, c, masks[s])
                    at = V * (1 + s) + v
                    new[at] = builder.call(g.fma, [c, rot, sums[at]])
            return new

        sums = g.loop("lane_grams", 8 * V, [g.constant(0.0)] * (V * (1 + R)), body)
        for v, lane in enumerate(lanes):
            g.store(4, lane, sums[v], add=True)
            for s in range(R):
                g.store(5, g.constant(8 * (s * V + v)), sums[V * (1 + s) + v], add=True)
        return context.get_dummy_value()

    return sig, codegen


def _pair_sums(builder, u, v):
    """``[u0 + u1, u2 + u3, u4 + u5, u6 + u7, v0 + v1, ..., v6 + v7]``: two vectors'
    neighbouring lanes added, in order (two permutations and an add)."""
    mask = ir.VectorType(ir.IntType(32), 8)
    even = builder.shuffle_vector(u, v, ir.Constant(mask, list(range(0, 16, 2))))
    odd = builder.shuffle_vector(u, v, ir.Constant(mask, list(range(1, 16, 2))))
    return builder.fadd(even, odd)


def _transpose8(builder, rows):
    """The 8 x 8 transpose of 8 vectors: lane ``r`` of vector ``j`` out is lane
    ``j`` of vector ``r`` in. Three rounds of 8 two-vector permutations, each
    swapping the off-diagonal blocks of 1, 2 and then 4 lanes."""
    mask = ir.VectorType(ir.IntType(32), 8)
    out = list(rows)
    for b in (1, 2, 4):
        low = ir.Constant(mask, [i + 8 - b if i & b else i for i in range(8)])
        high = ir.Constant(mask, [i + 8 if i & b else i + b for i in range(8)])
        for r in range(8):
            if not r & b:
                u, v = out[r], out[r + b]
                out[r] = builder.shuffle_vector(u, v, low)
                out[r + b] = builder.shuffle_vector(u, v, high)
    return out


@intrinsic
def _lane_scores(typingctx, flat, count, group, rotations, mv, coef, log_norm, out, total):
    """``out[i] = log_norm - 1/2 |z_i|**2`` for ``count`` rows of ``d = group``
    features (1, 2, 4 or 8), 8 rows at a time, rows in lanes: with ``c = x - m``,
    ``z_j = sum_s coef[s, l] c_((j + s) % d)`` over ``s < rotations`` (lane ``l``
    holding feature ``j = l % d``; ``c_((j + s) % d)`` comes from a rotation
    within the row, :func:`_rotation`): one rotation, ``coef`` the inverse
    standard deviations, for ``diag``; ``d`` of them and the rows of the
    precision's Cholesky factor for ``full``. The ``d`` vectors of squares are
    then summed by ``log2(d)`` rounds of :func:`_pair_sums` (at d = 8, 14
    permutations and 7 adds for 8 rows), where a row at a time summed its own
    vector across lanes (one core, diag 2e6 x 8: 5.57 -> 4.25 ms; a read of X
    and a write of the scores, 4.5 ms). ``total`` (8 values) gets the scores'
    sums, lane ``l`` of every 8 rows' row ``l``.

    ``full`` at d = 8 (8 rotations) takes another way: the 8 rows, centred, are
    transposed in registers (:func:`_transpose8`, 24 permutations), a feature to
    a vector, and ``z_j = P[j, j] c_j + sum_(k < j) P[k, j] c_k`` (the rotations'
    terms in their order; the squares' sum, with the compiler free to contract
    and reassociate, may round 1 ulp apart from theirs) comes from 36 multiply-adds by
    broadcast coefficients, with the rows already in lanes: per row 3
    permutations and about 6 multiply-adds, where the rotations took 9 and 10
    and bound the pass by arithmetic. Two threads: 2e5 x 8 (in cache) 0.48-0.60
    -> 0.30-0.36 ms (diag's 0.18-0.30); 2e6 x 8, ``score_samples`` back to back,
    5.5-5.7 -> 3.9-4.8 ms (diag's 3.6-4.8). Only ``P[k, j]`` with ``k <= j`` is
    read: the factor's lower part must be 0, as a Cholesky factor's is.

    ``flat`` (float32, widened exactly, or float64) holds the rows, ``mv``
    (float64, 8 values) the mean of each lane's feature, ``coef`` (float64,
    ``8 * rotations`` values) the coefficients, ``out`` and ``total`` float64
    and writable; all C-contiguous, which the typing checks. ``count`` must be
    a multiple of 8 with ``count * d`` values in ``flat`` and ``count`` in
    ``out``: nothing is bounds-checked.
    """
    if not _segment_types(flat, count, (mv, coef, out, total), (out, total)):
        return None
    if not isinstance(group, types.IntegerLiteral) or group.literal_value not in (1, 2, 4, 8):
        return None
    d = group.literal_value
    if not isinstance(rotations, types.IntegerLiteral) or not 1 <= rotations.literal_value <= d:
        return None
    if not isinstance(log_norm, types.Float):
        return None
    R = rotations.literal_value
    sig = types.void(flat, count, group, rotations, mv, coef, log_norm, out, total)

    def codegen(context, builder, signature, args):
        g = _Segments(context, builder, signature, args)
        zero = g.constant(0)
        masks = [ir.Constant(ir.VectorType(ir.IntType(32), 8), _rotation(d, s)) for s in range(R)]
        mvec = g.load(4, zero)
        coefs = [g.load(5, g.constant(8 * s)) for s in range(R)]
        norm = g.broadcast(context.cast(builder, args[6], signature.args[6], types.float64))

        if d == 8 and R == 8:  # P[k, j] for k <= j, in 8 lanes (the rest are 0)
            upper = {
                (k, j): g.broadcast(g.scalar(5, g.constant(8 * ((k - j) % 8) + j)))
                for j in range(8)
                for k in range(j + 1)
            }

        def rotated(cs):  # a row per vector: z by rotations, squares by pair sums
            squares = []
            for c in cs:
                z = builder.fmul(c, coefs[0])
                for s in range(1, R):
                    rot = builder.shuffle_vector(c, c, masks[s])
                    z = builder.call(g.fma, [rot, coefs[s], z])
                squares.append(builder.fmul(z, z))
            while len(squares) > 1:
                squares = [
                    _pair_sums(builder, u, v)
                    for u, v in zip(squares[::2], squares[1::2], strict=True)
                ]
            return squares[0]

        def transposed(cs):  # full d = 8: a feature per vector, a row per lane
            ts = _transpose8(builder, cs)
            squares = []
            for j in range(8):  # the rotations' order: P[j, j] c_j, then k = 0 .. j - 1
                z = builder.fmul(ts[j], upper[j, j])
                for k in range(j):
                    z = builder.call(g.fma, [ts[k], upper[k, j], z])
                squares.append(builder.fmul(z, z))
            while len(squares) > 1:
                squares = [
                    builder.fadd(u, v) for u, v in zip(squares[::2], squares[1::2], strict=True)
                ]
            return squares[0]

        def body(i, acc):  # i: the first of 8 rows
            base = builder.mul(i, g.constant(d))
            cs = [
                builder.fsub(g.values(builder.add(base, g.constant(8 * q))), mvec) for q in range(d)
            ]
            sums = transposed(cs) if d == 8 and R == 8 else rotated(cs)
            scores = builder.fsub(norm, builder.fmul(g.constant(0.5), sums))
            g.store(7, i, scores)
            return [builder.fadd(acc[0], scores)]

        (acc,) = g.loop("lane_scores", 8, [g.constant(0.0)], body)
        g.store(8, zero, acc, add=True)
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _load_transposed(Xb, shift, C):  # pragma: no cover - compiled
    """``C[j, r] = Xb[r, j] - shift[j]`` in float64, for the sub-block's rows.

    Column by column for narrow rows (each column a strided read the compiler
    vectorises); for wider ones 4 x 4 blocks (:func:`_transpose4`), then the
    last ``d % 4`` features and ``m % 4`` rows one by one.
    """
    m, d = Xb.shape
    if d <= _NARROW:
        for j in range(d):
            col = Xb[:, j]
            cj = C[j]
            k = shift[j]
            for r in range(m):
                cj[r] = col[r] - k
        return
    blocked = d - d % 4
    r = 0
    while r + 4 <= m:
        for j in range(0, blocked, 4):
            _transpose4(Xb, r, j, shift, C)
        for j in range(blocked, d):
            cj = C[j]
            k = shift[j]
            cj[r] = Xb[r, j] - k
            cj[r + 1] = Xb[r + 1, j] - k
            cj[r + 2] = Xb[r + 2, j] - k
            cj[r + 3] = Xb[r + 3, j] - k
        r += 4
    while r < m:
        xr = Xb[r]
        for j in range(d):
            C[j, r] = xr[j] - shift[j]
        r += 1


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _squares8(C, PT, m, acc):  # pragma: no cover - compiled
    """``acc[r] = |z|**2`` with ``z_k = sum_(j <= k) PT[k, j] C[j, r]`` for 8
    (padded) features: a row's eight ``z_k`` in registers, rows in SIMD lanes,
    where the 4 x 4 tiles write and read them back through memory (20,000 calls
    on 128 rows in cache: 2.4 against 5.1 ms; compiled for Haswell's AVX2, whose
    16 registers hold fewer of the coefficients, 2.3 against 3.7 ms)."""
    p00 = PT[0, 0]
    p10, p11 = PT[1, 0], PT[1, 1]
    p20, p21, p22 = PT[2, 0], PT[2, 1], PT[2, 2]
    p30, p31, p32, p33 = PT[3, 0], PT[3, 1], PT[3, 2], PT[3, 3]
    p40, p41, p42, p43, p44 = PT[4, 0], PT[4, 1], PT[4, 2], PT[4, 3], PT[4, 4]
    p50, p51, p52, p53, p54, p55 = PT[5, 0], PT[5, 1], PT[5, 2], PT[5, 3], PT[5, 4], PT[5, 5]
    p60, p61, p62, p63, p64 = PT[6, 0], PT[6, 1], PT[6, 2], PT[6, 3], PT[6, 4]
    p65, p66 = PT[6, 5], PT[6, 6]
    p70, p71, p72, p73, p74 = PT[7, 0], PT[7, 1], PT[7, 2], PT[7, 3], PT[7, 4]
    p75, p76, p77 = PT[7, 5], PT[7, 6], PT[7, 7]
    c0, c1, c2, c3, c4, c5, c6, c7 = C[0], C[1], C[2], C[3], C[4], C[5], C[6], C[7]
    for r in range(m):
        x0, x1, x2, x3 = c0[r], c1[r], c2[r], c3[r]
        x4, x5, x6, x7 = c4[r], c5[r], c6[r], c7[r]
        z0 = p00 * x0
        z1 = p10 * x0 + p11 * x1
        z2 = p20 * x0 + p21 * x1 + p22 * x2
        z3 = p30 * x0 + p31 * x1 + p32 * x2 + p33 * x3
        z4 = p40 * x0 + p41 * x1 + p42 * x2 + p43 * x3 + p44 * x4
        z5 = p50 * x0 + p51 * x1 + p52 * x2 + p53 * x3 + p54 * x4 + p55 * x5
        z6 = p60 * x0 + p61 * x1 + p62 * x2 + p63 * x3 + p64 * x4 + p65 * x5 + p66 * x6
        z7 = (
            p70 * x0 + p71 * x1 + p72 * x2 + p73 * x3 + p74 * x4 + p75 * x5 + p76 * x6
            + p77 * x7
        )  # fmt: skip
        acc[r] = z0 * z0 + z1 * z1 + z2 * z2 + z3 * z3 + z4 * z4 + z5 * z5 + z6 * z6 + z7 * z7


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _squares_tiles(C, PT, m, Z, acc):  # pragma: no cover - compiled
    """``acc[r] = |z|**2`` as :func:`_squares8`, for any ``dp``: ``z`` formed 4 x 4
    features at a time (only ``PT``'s non-zero tiles), four ``z_k`` at a time
    through ``Z``."""
    dp = PT.shape[0]
    for r in range(m):
        acc[r] = 0.0
    z0, z1, z2, z3 = Z[0], Z[1], Z[2], Z[3]
    for kq in range(0, dp, 4):
        for jq in range(0, kq + 4, 4):  # tiles right of the diagonal are 0
            p00, p01, p02, p03 = PT[kq, jq], PT[kq, jq + 1], PT[kq, jq + 2], PT[kq, jq + 3]
            p10, p11, p12, p13 = (
                PT[kq + 1, jq], PT[kq + 1, jq + 1], PT[kq + 1, jq + 2], PT[kq + 1, jq + 3]
            )  # fmt: skip
            p20, p21, p22, p23 = (
                PT[kq + 2, jq], PT[kq + 2, jq + 1], PT[kq + 2, jq + 2], PT[kq + 2, jq + 3]
            )  # fmt: skip
            p30, p31, p32, p33 = (
                PT[kq + 3, jq], PT[kq + 3, jq + 1], PT[kq + 3, jq + 2], PT[kq + 3, jq + 3]
            )  # fmt: skip
            c0, c1, c2, c3 = C[jq], C[jq + 1], C[jq + 2], C[jq + 3]
            if jq == 0:
                for r in range(m):
                    x0, x1, x2, x3 = c0[r], c1[r], c2[r], c3[r]
                    z0[r] = p00 * x0 + p01 * x1 + p02 * x2 + p03 * x3
                    z1[r] = p10 * x0 + p11 * x1 + p12 * x2 + p13 * x3
                    z2[r] = p20 * x0 + p21 * x1 + p22 * x2 + p23 * x3
                    z3[r] = p30 * x0 + p31 * x1 + p32 * x2 + p33 * x3
            else:
                for r in range(m):
                    x0, x1, x2, x3 = c0[r], c1[r], c2[r], c3[r]
                    z0[r] += p00 * x0 + p01 * x1 + p02 * x2 + p03 * x3
                    z1[r] += p10 * x0 + p11 * x1 + p12 * x2 + p13 * x3
                    z2[r] += p20 * x0 + p21 * x1 + p22 * x2 + p23 * x3
                    z3[r] += p30 * x0 + p31 * x1 + p32 * x2 + p33 * x3
        for r in range(m):
            acc[r] += z0[r] * z0[r] + z1[r] * z1[r] + z2[r] * z2[r] + z3[r] * z3[r]


# ------------------------------------------------------------------- scores
@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def score_diag(
    X, mean, inv_std, log_norm, out, start, stop, rows
):  # pragma: no cover - compiled; covered through the engine tests
    """``out[i] = log_norm - 1/2 sum_j ((X[i, j] - mean[j]) * inv_std[j])**2``
    for rows ``start:stop``, row by row in sub-blocks of ``rows``; returns
    their sum. (Rows of 1, 2, 4 or 8 features: :func:`score_lanes`.)"""
    d = X.shape[1]
    total = 0.0
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        Xb = X[a:b]
        ob = out[a:b]
        for r in range(b - a):
            xr = Xb[r]
            acc = 0.0
            for j in range(d):
                z = (xr[j] - mean[j]) * inv_std[j]
                acc += z * z
            ob[r] = log_norm - 0.5 * acc
        for r in range(b - a):
            total += ob[r]
    return total


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def score_lanes(
    X, mv, coef, log_norm, out, start, stop
):  # pragma: no cover - compiled; covered through the engine tests
    """Log-densities of rows ``start:stop`` of 1, 2, 4 or 8 features by
    :func:`_lane_scores` (``mv`` and ``coef`` as it takes them: one rotation for
    ``diag``, ``d`` for ``full``); returns their sum.

    8 rows at a time, the last ``(stop - start) % 8`` too, copied into 8 rows:
    a row's score is formed in the same order wherever it is (equal rows score
    equal). 2e6 rows of float64, two threads, diag: d = 8 3.48 -> 3.12 ms (a
    read and a write 2.98 ms), d = 2 1.08 -> 0.73 ms; full: d = 8 3.76 -> 3.05
    ms (the transposed copy and :func:`_squares8`; then transposed in registers,
    see :func:`_lane_scores`), d = 2 0.92 -> 0.76 ms.
    """
    d = X.shape[1]
    rotations = coef.shape[0] // 8
    total = 0.0
    totals = np.zeros(8)
    first = stop - (stop - start) % 8
    _lane_scores_of(
        X[start:first].reshape(-1), first - start, d, rotations, mv, coef, log_norm,
        out[start:first], totals,
    )  # fmt: skip
    if first < stop:
        pad = np.zeros(8 * d, dtype=X.dtype)
        last = X[first:stop].reshape(-1)
        pad[: last.shape[0]] = last
        scores = np.empty(8)
        _lane_scores_of(pad, 8, d, rotations, mv, coef, log_norm, scores, np.zeros(8))
        for r in range(stop - first):
            out[first + r] = scores[r]
            total += scores[r]
    for lane in range(8):
        total += totals[lane]
    return total


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _lane_scores_of(
    flat, count, d, rotations, mv, coef, log_norm, out, totals
):  # pragma: no cover - compiled
    """:func:`_lane_scores` for ``d`` = 1, 2, 4 or 8 features and one rotation
    (diag) or ``d`` (full): the intrinsic takes both as literals."""
    if d == 8:
        if rotations == 1:
            _lane_scores(flat, count, 8, 1, mv, coef, log_norm, out, totals)
        else:
            _lane_scores(flat, count, 8, 8, mv, coef, log_norm, out, totals)
    elif d == 4:
        if rotations == 1:
            _lane_scores(flat, count, 4, 1, mv, coef, log_norm, out, totals)
        else:
            _lane_scores(flat, count, 4, 4, mv, coef, log_norm, out, totals)
    elif d == 2:
        if rotations == 1:
            _lane_scores(flat, count, 2, 1, mv, coef, log_norm, out, totals)
        else:
            _lane_scores(flat, count, 2, 2, mv, coef, log_norm, out, totals)
    else:
        _lane_scores(flat, count, 1, 1, mv, coef, log_norm, out, totals)


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def score_full(
    X, mean, PT, log_norm, out, start, stop, rows
):  # pragma: no cover - compiled; covered through the engine tests
    """Full-covariance log-densities of rows ``start:stop``; returns their sum.

    ``PT`` is the transposed precision Cholesky factor (lower triangular),
    zero-padded to ``(dp, dp)`` with ``dp`` a multiple of 4:
    ``z_k = sum_{j <= k} (x_j - mean_j) PT[k, j]``.
    """
    dp = PT.shape[0]
    if X.shape[1] == 3:  # (1, 2, 4 and 8 features: score_lanes)
        return _scores_narrow(X, mean, PT, log_norm, out, start, stop)
    C = np.zeros((dp, rows))  # padded feature rows stay 0
    Z = np.empty((4, rows))
    acc = np.empty(rows)
    total = 0.0
    for a in range(start, stop, rows):
        b = min(a + rows, stop)
        m = b - a
        _load_transposed(X[a:b], mean, C)
        if dp == 8:
            _squares8(C, PT, m, acc)
        else:
            _squares_tiles(C, PT, m, Z, acc)
        ob = out[a:b]
        for r in range(m):
            ob[r] = log_norm - 0.5 * acc[r]
        for r in range(m):
            total += ob[r]
    return total


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _scores_narrow(X, mean, PT, log_norm, out, start, stop):  # pragma: no cover - compiled
    """:func:`score_full` for 3 features, row by row from X itself: the same
    ``z_k`` and sums as the transposed path (whose copy, by strided reads, took
    most of its time: one thread, 1e6 x 2, 1.81 -> 0.74 ms)."""
    p00, p10, p11 = PT[0, 0], PT[1, 0], PT[1, 1]
    p20, p21, p22 = PT[2, 0], PT[2, 1], PT[2, 2]
    m0, m1, m2 = mean[0], mean[1], mean[2]
    total = 0.0
    for i in range(start, stop):
        c0, c1, c2 = X[i, 0] - m0, X[i, 1] - m1, X[i, 2] - m2
        z0 = p00 * c0
        z1 = p10 * c0 + p11 * c1
        z2 = p20 * c0 + p21 * c1 + p22 * c2
        v = log_norm - 0.5 * (z0 * z0 + z1 * z1 + z2 * z2)
        out[i] = v
        total += v
    return total


# ------------------------------------------------------------------ moments
@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def moments_diag(
    X, w, shift, start, stop, rows, lanes
):  # pragma: no cover - compiled; covered through the engine tests
    """Total weight, mean (relative to ``shift``) and per-feature scatter
    ``sum w (x - mean)**2`` of rows ``start:stop`` (``w`` None for unit weights).

    One pass per sub-block of ``rows`` rows: sums of ``x - c`` and
    ``(x - c)**2`` about the previous sub-block's mean ``c``, then Chan's
    merge. Shifted by a nearby mean, the sums lose no precision: the
    rounding error stays below a few ulps of the final scatter (the
    sub-blocks' distances to their predecessors add up to at most four times
    the scatter between sub-blocks), unlike raw ``E[x**2] - E[x]**2``.

    Unit weights read the sub-block as a flat array in segments of ``lanes``
    values (a multiple of ``d``, so lane ``l`` always holds feature
    ``l % d``): long vectorised loops whatever ``d``, their sums in vector
    registers (:func:`_lane_sums`) for segments of 4 to 8 vectors (one core,
    2e6 x 8 float64: 6.1 -> 3.6 ms, a read of the data 3.1 ms).
    """
    d = X.shape[1]
    weight = 0.0
    mean = np.zeros(d)
    scatter = np.zeros(d)
    # the shift of the current sub-block, relative to ``shift``: the previous
    # sub-block's mean; for the first, the chunk's first row (as moments_full)
    centre = np.zeros(d)
    if w is None and stop > start:
        for j in range(d):
            centre[j] = X[start, j] - shift[j]
    s1 = np.empty(d)
    s2 = np.empty(d)
    cw = np.empty(d)  # the sub-block's shift, absolute
    cl = np.empty(lanes)  # the same per lane
    acc1 = np.empty(lanes)
    acc2 = np.empty(lanes)
    tot1 = np.empty(lanes)
    tot2 = np.empty(lanes)
    feature = np.empty(lanes, dtype=np.intp)  # of each lane (no division per block)
    for lane in range(lanes):
        feature[lane] = lane % d
    # sub-blocks of about 2048 values first, twice as many each time up to
    # ``rows`` (as moments_full: few rows about a far centre)
    block = lanes * max(1, 8192 // lanes)  # values per block of lane sums, whole segments
    size = min(rows, lanes * max(1, _GRAM_BLOCK // lanes) // d)
    b = start
    while b < stop:
        a = b
        b = min(a + size, stop)
        size = min(2 * size, rows)
        s1[:] = 0.0
        s2[:] = 0.0
        if w is None:
            wb = float(b - a)
            for lane in range(lanes):
                cl[lane] = shift[lane % d] + centre[lane % d]
            for j in range(d):
                centre[j] = cl[j] - shift[j]  # exactly the shift used (after rounding)
            flat = X[a:b].reshape(-1)
            size = flat.shape[0]
            full = size - size % lanes
            vectors = lanes // 8 if lanes % 8 == 0 else 0
            # blocks of about 8192 values, each lane's sums starting at 0 in each
            # (one lane summing a whole sub-block of float32 values lost up to
            # 1e-13 of the variance, as _GRAM_BLOCK says for the full moments;
            # 2048 cost 10% more time)
            tot1[:] = 0.0
            tot2[:] = 0.0
            for e in range(0, full, block):
                seg = flat[e : min(e + block, full)]
                count = seg.shape[0]
                acc1[:] = 0.0
                acc2[:] = 0.0
                if vectors == 4:
                    _lane_sums(seg, count, 4, cl, acc1, acc2)
                elif vectors == 5:
                    _lane_sums(seg, count, 5, cl, acc1, acc2)
                elif vectors == 6:
                    _lane_sums(seg, count, 6, cl, acc1, acc2)
                elif vectors == 7:
                    _lane_sums(seg, count, 7, cl, acc1, acc2)
                elif vectors == 8:
                    _lane_sums(seg, count, 8, cl, acc1, acc2)
                else:
                    _lane_sums_loop(seg, count, lanes, cl, acc1, acc2)
                for lane in range(lanes):  # (whole vectors: no scalar reloads of them)
                    tot1[lane] += acc1[lane]
                    tot2[lane] += acc2[lane]
            for lane in range(lanes):
                s1[feature[lane]] += tot1[lane]
                s2[feature[lane]] += tot2[lane]
            tail = flat[full:]
            for e in range(size - full):
                c = tail[e] - cl[e % d]
                s1[e % d] += c
                s2[e % d] += c * c
        else:
            Xb = X[a:b]
            wv = w[a:b]
            wb = 0.0
            for r in range(b - a):
                wb += wv[r]
            if wb == 0.0:  # no mass: as if the rows were absent
                continue
            for j in range(d):
                cw[j] = shift[j] + centre[j]
                centre[j] = cw[j] - shift[j]
            for r in range(b - a):
                xr = Xb[r]
                wr = wv[r]
                for j in range(d):
                    c = xr[j] - cw[j]
                    s1[j] += wr * c
                    s2[j] += wr * c * c
        for j in range(d):
            m1 = s1[j] / wb  # mean minus the sub-block's shift
            q = max(s2[j] - m1 * s1[j], 0.0)
            mb = centre[j] + m1
            if weight == 0.0:
                mean[j] = mb
                scatter[j] = q
            else:
                delta = mb - mean[j]
                ratio = wb / (weight + wb)
                mean[j] += delta * ratio
                scatter[j] += q + delta * delta * weight * ratio
            centre[j] = mb
        weight += wb
    return weight, mean, scatter


@njit(nogil=True, cache=True, fastmath=_FASTMATH)
def moments_full(
    X, w, shift, start, stop, rows, dp
):  # pragma: no cover - compiled; covered through the engine tests
    """Total weight, mean (relative to ``shift``) and scatter matrix
    ``sum w (x - mean)(x - mean)^T`` of rows ``start:stop`` (``w`` None for
    unit weights).

    Each sub-block is copied transposed into a (dp x rows) buffer (``dp``:
    ``d`` rounded up to a multiple of 4, zero padding) and its Gram matrix
    added 4 x 4 features at a time (lower triangle), then Chan's correction.
    Unit weights: the rows are taken about the previous sub-block's mean as
    they are copied, and the Gram matrix about the sub-block's own mean is
    that one less ``s s^T / m`` (``s`` the sums about that centre, near 0:
    as exact as centring first). One core, 2e6 x 8: 6.4 ms, 6.7 ms with
    separate passes for the sub-block's mean and its centring. Weighted rows
    are centred on their sub-block's weighted mean and scaled by ``sqrt(w)``.

    Unweighted rows of 1, 2, 4 or 8 features skip the copy: their products
    come from X by :func:`_grams_by_lanes` (pass ``rows`` of 2**17 values, as
    the copy's 128 no longer bound a buffer; a chunk's first sub-blocks are
    smaller). 1e6 x 8 float64, one core: 2.9 -> 2.1-2.3 ms; two: 1.68 -> 1.3 ms;
    1e6 x 2, two: 0.60 -> 0.25-0.38 ms.
    """
    d = X.shape[1]
    lanes = w is None and 8 % d == 0  # rows of 1, 2, 4 or 8 features: _grams_by_lanes
    weight = 0.0
    mean = np.zeros(d)
    S = np.zeros((dp, dp))
    C = np.zeros((dp, 0 if lanes else rows))  # padded feature rows stay 0
    acc1 = np.empty(8 * _GRAM_VECTORS)
    acc2 = np.empty((d // 2 + 1) * 8 * _GRAM_VECTORS)
    cl = np.empty(8)
    pairs = _lane_pairs(d)
    sw = np.empty(0 if lanes else rows)
    sb = np.empty(d)
    # unit weights: the previous sub-block's mean, relative to shift; for the
    # first, the chunk's first row (``shift``, the mean of X's first rows, may
    # be far from this chunk's rows)
    centre = np.zeros(d)
    if w is None and stop > start:
        for j in range(d):
            centre[j] = X[start, j] - shift[j]
    cabs = np.empty(d)  # ... absolute
    # Lanes: sub-blocks of 2048 values first, twice as many each time up to
    # ``rows``, so that the rows taken about a centre far from their mean are few
    # (2**17 values from the start, each about ``shift``: 64 atypical first rows
    # of X cost 1e-12 of the covariance; now 1e-14 or less).
    size = min(rows, max(1, _GRAM_BLOCK // d)) if lanes else rows
    b = start
    while b < stop:
        a = b
        b = min(a + size, stop)
        size = min(2 * size, rows)
        m = b - a
        if w is None:
            for j in range(d):
                cabs[j] = shift[j] + centre[j]
                centre[j] = cabs[j] - shift[j]  # exactly the centre used (after rounding)
            wb = float(m)
            if lanes:
                _grams_by_lanes(X[a:b], cabs, pairs, cl, acc1, acc2, sb, S)
            else:
                _load_transposed(X[a:b], cabs, C)
                for j in range(d):
                    cj = C[j]
                    acc = 0.0
                    for r in range(m):
                        acc += cj[r]
                    sb[j] = acc  # the sum about the centre, for now
                _gram_lower(C, m, dp, S)
            for j in range(d):  # about the sub-block's own mean: minus sum sum^T / m
                for k in range(j + 1):
                    S[j, k] -= sb[j] * sb[k] / wb
            for j in range(d):
                sb[j] = centre[j] + sb[j] / wb  # the sub-block's mean, relative to shift
                centre[j] = sb[j]
        else:
            _load_transposed(X[a:b], shift, C)
            wv = w[a:b]
            wb = 0.0
            for r in range(m):
                wb += wv[r]
                sw[r] = np.sqrt(wv[r])
            if wb == 0.0:
                continue
            for j in range(d):
                cj = C[j]
                acc = 0.0
                for r in range(m):
                    acc += wv[r] * cj[r]
                sb[j] = acc / wb
            for j in range(d):
                cj = C[j]
                mu = sb[j]
                for r in range(m):
                    cj[r] = (cj[r] - mu) * sw[r]
            _gram_lower(C, m, dp, S)
        if weight == 0.0:
            weight = wb
            mean[:] = sb
            continue
        total = weight + wb
        ratio = wb / total
        factor = weight * ratio
        for j in range(d):
            dj = (sb[j] - mean[j]) * factor
            for k in range(j + 1):
                S[j, k] += dj * (sb[k] - mean[k])
        for j in range(d):
            mean[j] += (sb[j] - mean[j]) * ratio
        weight = total
    scatter = np.empty((d, d))
    for j in range(d):
        for k in range(j + 1):
            scatter[j, k] = S[j, k]
            scatter[k, j] = S[j, k]
    return weight, mean, scatter


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _lane_pairs(d):  # pragma: no cover - compiled
    """Where :func:`_lane_grams`' sums go, for rows of ``d`` features: the feature of
    each lane (``l % d``), and the entry ``(j, k)``, ``k <= j``, of the Gram
    matrix that rotation ``s`` of lane ``l`` holds (at ``s * L + l``; ``j = -1``
    for the rotation ``d / 2`` of features ``j >= d / 2``, which repeats the
    products of ``j - d / 2``). Computed once per call, not per sub-block
    (integer divisions and an allocation took about a microsecond a sub-block)."""
    L = 8 * _GRAM_VECTORS
    half = d // 2
    feature = np.empty(L, dtype=np.intp)
    first = np.full((half + 1) * L, -1, dtype=np.intp)
    second = np.zeros((half + 1) * L, dtype=np.intp)
    for lane in range(L):
        feature[lane] = lane % d
    for s in range(half + 1):
        for lane in range(L):
            j = lane % d
            if s == half and s > 0 and d % 2 == 0 and j >= half:
                continue
            k = (j + s) % d
            first[s * L + lane] = max(j, k)
            second[s * L + lane] = min(j, k)
    return feature, first, second


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _grams_by_lanes(Xb, centre, pairs, cl, acc1, acc2, sums, S):  # pragma: no cover - compiled
    """``sums[j] = sum_r c_rj`` and ``S[j, k] += sum_r c_rj c_rk`` (``k <= j``) with
    ``c_rj = Xb[r, j] - centre[j]``, for rows of ``d`` features, ``d`` dividing 8:
    :func:`_lane_grams` over the whole segments of the sub-block, blocks of
    :data:`_GRAM_BLOCK` values at a time, its lanes then added up where
    ``pairs`` (:func:`_lane_pairs`) says, in lane order, and the last rows one
    by one. ``cl`` (8 values) is scratch."""
    d = Xb.shape[1]
    L = 8 * _GRAM_VECTORS
    feature, first, second = pairs
    for lane in range(8):
        cl[lane] = centre[feature[lane]]
    flat = Xb.reshape(-1)
    size = flat.shape[0]
    full = size - size % L
    acc1[:] = 0.0
    acc2[:] = 0.0
    for e in range(0, full, _GRAM_BLOCK):
        block = flat[e : min(e + _GRAM_BLOCK, full)]
        count = block.shape[0]
        if d == 8:
            _lane_grams(block, count, 8, cl, acc1, acc2)
        elif d == 4:
            _lane_grams(block, count, 4, cl, acc1, acc2)
        elif d == 2:
            _lane_grams(block, count, 2, cl, acc1, acc2)
        else:
            _lane_grams(block, count, 1, cl, acc1, acc2)
    for j in range(d):
        sums[j] = 0.0
    for lane in range(L):
        sums[feature[lane]] += acc1[lane]
    for t in range(first.shape[0]):
        if first[t] >= 0:
            S[first[t], second[t]] += acc2[t]
    for r in range(full // d, Xb.shape[0]):
        xr = Xb[r]
        for j in range(d):
            cj = xr[j] - centre[j]
            sums[j] += cj
            for k in range(j + 1):
                S[j, k] += cj * (xr[k] - centre[k])


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _gram_lower(C, m, dp, S):  # pragma: no cover - compiled
    """``S[j, k] += C[j, :m] . C[k, :m]`` for ``k <= j``, 4 x 4 features at a time:
    the tiles below the diagonal whole, those on it by their lower triangle
    (10 products of 16: at d = 8, 36 multiply-adds a row instead of 48)."""
    for jq in range(0, dp, 4):
        for kq in range(0, jq, 4):
            _gram_tile(C, m, jq, kq, S)
        _gram_diagonal(C, m, jq, S)


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _gram_diagonal(C, m, q, S):  # pragma: no cover - compiled
    """``S[q + j, q + k] += C[q + j, :m] . C[q + k, :m]`` for ``k <= j < 4``: 10 dot
    products in one pass over the rows."""
    a0, a1, a2, a3 = C[q], C[q + 1], C[q + 2], C[q + 3]
    s00 = s10 = s11 = s20 = s21 = s22 = s30 = s31 = s32 = s33 = 0.0
    for r in range(m):
        x0, x1, x2, x3 = a0[r], a1[r], a2[r], a3[r]
        s00 += x0 * x0
        s10 += x1 * x0
        s11 += x1 * x1
        s20 += x2 * x0
        s21 += x2 * x1
        s22 += x2 * x2
        s30 += x3 * x0
        s31 += x3 * x1
        s32 += x3 * x2
        s33 += x3 * x3
    S[q, q] += s00
    S[q + 1, q] += s10
    S[q + 1, q + 1] += s11
    S[q + 2, q] += s20
    S[q + 2, q + 1] += s21
    S[q + 2, q + 2] += s22
    S[q + 3, q] += s30
    S[q + 3, q + 1] += s31
    S[q + 3, q + 2] += s32
    S[q + 3, q + 3] += s33


@njit(nogil=True, cache=True, fastmath=_FASTMATH, inline="always")
def _gram_tile(C, m, jq, kq, S):  # pragma: no cover - compiled
    """``S[jq:jq+4, kq:kq+4] += C[jq:jq+4, :m] @ C[kq:kq+4, :m].T``: 16 dot
    products in one pass over the rows (only ``k <= j`` is used later)."""
    a0, a1, a2, a3 = C[jq], C[jq + 1], C[jq + 2], C[jq + 3]
    b0, b1, b2, b3 = C[kq], C[kq + 1], C[kq + 2], C[kq + 3]
    s00 = s01 = s02 = s03 = 0.0
    s10 = s11 = s12 = s13 = 0.0
    s20 = s21 = s22 = s23 = 0.0
    s30 = s31 = s32 = s33 = 0.0
    for r in range(m):
        x0, x1, x2, x3 = a0[r], a1[r], a2[r], a3[r]
        y0, y1, y2, y3 = b0[r], b1[r], b2[r], b3[r]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
        s20 += x2 * y0
        s21 += x2 * y1
        s22 += x2 * y2
        s23 += x2 * y3
        s30 += x3 * y0
        s31 += x3 * y1
        s32 += x3 * y2
        s33 += x3 * y3
    S[jq, kq] += s00
    S[jq, kq + 1] += s01
    S[jq, kq + 2] += s02
    S[jq, kq + 3] += s03
    S[jq + 1, kq] += s10
    S[jq + 1, kq + 1] += s11
    S[jq + 1, kq + 2] += s12
    S[jq + 1, kq + 3] += s13
    S[jq + 2, kq] += s20
    S[jq + 2, kq + 1] += s21
    S[jq + 2, kq + 2] += s22
    S[jq + 2, kq + 3] += s23
    S[jq + 3, kq] += s30
    S[jq + 3, kq + 1] += s31
    S[jq + 3, kq + 2] += s32
    S[jq + 3, kq + 3] += s33
