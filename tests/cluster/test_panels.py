"""Register panels for the nearest centre (:mod:`anomalykit.cluster._numba_panels`).

Integer-valued rows and centres make every product exact in float32 and float64,
so the panels' labels must equal ``np.argmin`` of the exact values, ties (which
such data has in plenty) included: the first of equal values, across lanes,
vectors and panels.
"""

import numpy as np
import pytest
from numba.core.errors import TypingError

pytest.importorskip("numba")

from anomalykit.cluster import _lloyd, _numba_panels
from anomalykit.cluster._lloyd import BoundedLloyd, lloyd_step
from anomalykit.cluster._numba_panels import (
    _G43,
    PANEL_ROWS_MAX,
    lanes,
    nearest_panels,
    pack_panels,
    panel_products,
    panel_width,
)


def integer_data(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(dtype)
    C = rng.integers(-3, 4, size=(k, d)).astype(dtype)
    C[k // 2] = C[0]  # an exact duplicate: always a tie, the first must win
    return X, C


def width_of(tiles, X):
    """Centres per panel: ``tiles`` vectors of lanes, half a vector (the pairs
    layout) for ``tiles == 0``, three quarters (the grouped layout) for ``_G43``."""
    L = lanes(X.itemsize)
    return L // 2 if tiles == 0 else 3 * L // 4 if tiles == _G43 else tiles * L


def run_panels(X, C, tiles, start=0, stop=None, shift=None):
    stop = len(X) if stop is None else stop
    shift = np.zeros(X.shape[1], dtype=X.dtype) if shift is None else shift
    c_sq = np.einsum("ij,ij->i", C, C)
    Cp, csq = pack_panels(C, c_sq, width_of(tiles, X))
    labels = np.full(len(X), -1, dtype=np.intp)
    m = stop - start
    best = np.empty(m + PANEL_ROWS_MAX, dtype=X.dtype)
    lab = np.empty(m + PANEL_ROWS_MAX, dtype=np.int32)
    pad = np.zeros((PANEL_ROWS_MAX, X.shape[1]), dtype=X.dtype)
    nearest_panels(X, Cp, csq, start, stop, labels, best, lab, pad, shift)
    return labels, best[:m], Cp


def exact_values(X, C):
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    return np.einsum("ij,ij->i", C64, C64) - 2 * X64 @ C64.T


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tiles", [0, 1, 2, 4, _G43])
@pytest.mark.parametrize(
    ("n", "d", "k"),
    [
        (61, 16, 5), (100, 17, 16), (37, 3, 33), (250, 40, 64), (97, 1, 130), (13, 24, 200),
        (50, 2, 4), (41, 33, 3), (29, 18, 9), (75, 64, 10), (19, 8, 12), (30, 4, 13),
    ],
)  # fmt: skip
def test_labels_and_values_are_the_exact_argmin_ties_to_the_first(dtype, tiles, n, d, k):
    # n not a multiple of 6, 8 or 12 (the padded last rows), k below, at and
    # beyond one panel of each width (several panels, padded centres); for the
    # pairs (tiles 0), even and odd numbers of features; the grouped layout
    # takes multiples of 4.
    if tiles == 0 and d == 1:
        pytest.skip("pairs need two features")
    if tiles == _G43 and d % 4:
        pytest.skip("the grouped layout takes features four at a time")
    X, C = integer_data(n, d, k, dtype)
    labels, best, _ = run_panels(X, C, tiles)
    values = exact_values(X, C)
    np.testing.assert_array_equal(labels, np.argmin(values, axis=1))
    np.testing.assert_array_equal(best, values.min(axis=1))
    assert (labels != k // 2).all()  # the duplicate of centre 0 never wins its tie


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sub_range_of_rows_writes_only_its_labels(dtype):
    X, C = integer_data(90, 20, 9, dtype)
    labels, _, _ = run_panels(X, C, 1, start=7, stop=50)
    assert (labels[:7] == -1).all() and (labels[50:] == -1).all()
    np.testing.assert_array_equal(labels[7:50], np.argmin(exact_values(X[7:50], C), axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tiles", [0, 1, 2, 4, _G43])
def test_stored_products_are_the_ones_compared(dtype, tiles):
    # Real-valued rows: the products round, and the bounded kernels must see the
    # very values nearest_panels compared (c - 2 p, first smallest).
    rng = np.random.default_rng(3)
    d = 32 if tiles == _G43 else 33
    X = rng.normal(size=(103, d)).astype(dtype)
    C = rng.normal(size=(70, d)).astype(dtype)
    labels, best, Cp = run_panels(X, C, tiles, start=5, stop=100)
    pad = np.zeros((PANEL_ROWS_MAX, d), dtype=dtype)
    DT = panel_products(X, 5, 100, Cp, len(C), pad)
    assert DT.shape == (70, 95) and DT.dtype == dtype
    c_sq = np.einsum("ij,ij->i", C, C)
    v = c_sq[:, None] - dtype(2) * DT
    np.testing.assert_array_equal(np.argmin(v, axis=0), labels[5:100])
    np.testing.assert_array_equal(v.min(axis=0), best)
    np.testing.assert_allclose(DT, C @ X[5:100].T, atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("tiles", [0, 1, 2, 4, _G43])
def test_a_nan_from_overflowed_products_never_wins(tiles):
    # Centre 3 is so far out that ||c||^2 is inf; for the rows as far out, its
    # product is inf too, and c - 2 p is inf - inf = NaN. That value must lose to
    # every number, as a NaN-ignoring minimum (llvm.minnum) makes it, in every
    # lane and vector; the other rows see +inf there, which loses anyway.
    # The far rows' other values are far apart (their centres' sums differ by 1 in
    # 31-42): rounding in any summation order leaves them in the same order.
    rng = np.random.default_rng(5)
    n, d, k = 40, 16, 12
    C = np.full((k, d), 2, dtype=np.float32)
    C[:, 0] = np.arange(1, k + 1)
    C[3] = 1e20
    X = rng.integers(1, 4, size=(n, d)).astype(np.float32)
    X[::2] = 1e20
    labels, best, _ = run_panels(X, C, tiles)
    with np.errstate(over="ignore", invalid="ignore"):
        c_sq = np.einsum("ij,ij->i", C, C)
        values = c_sq - np.float32(2) * (X @ C.T)
    assert np.isnan(values[::2, 3]).all() and np.isinf(values[1::2, 3]).all()
    np.testing.assert_array_equal(labels, np.nanargmin(values, axis=1))
    assert np.isfinite(best).all() and (labels != 3).all()


def test_short_buffers_are_refused_and_the_kernels_give_long_enough_ones():
    from anomalykit.cluster._numba_kernels import _buffers

    X, C = integer_data(40, 16, 5, np.float32)
    c_sq = np.einsum("ij,ij->i", C, C)
    Cp, csq = pack_panels(C, c_sq, 16)
    labels = np.empty(40, dtype=np.intp)
    pad = np.zeros((PANEL_ROWS_MAX, 16), dtype=np.float32)
    zero = np.zeros(16, dtype=np.float32)
    short = np.empty(40 + PANEL_ROWS_MAX - 1, dtype=np.float32)
    with pytest.raises(ValueError, match="PANEL_ROWS_MAX"):
        nearest_panels(X, Cp, csq, 0, 40, labels, short, np.empty(60, np.int32), pad, zero)
    with pytest.raises(ValueError, match="pad"):
        narrow = np.zeros((PANEL_ROWS_MAX, 8), dtype=np.float32)
        long_best, long_lab = np.empty(60, np.float32), np.empty(60, np.int32)
        nearest_panels(X, Cp, csq, 0, 40, labels, long_best, long_lab, narrow, zero)
    best, lab, (_, _, kernel_pad) = _buffers(X, Cp, csq, 40)
    assert len(best) >= 40 + PANEL_ROWS_MAX and len(lab) >= 40 + PANEL_ROWS_MAX
    assert kernel_pad.shape == (PANEL_ROWS_MAX, 16)


def test_avx512_is_read_from_what_numba_compiles_for(monkeypatch):
    from numba import config

    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+avx512fp16,-avx512f")
    assert not _numba_panels._host_has_avx512()  # avx512fp16 is not avx512f
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+avx512f")
    assert _numba_panels._host_has_avx512()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("tiles", "d"), [(1, 40), (0, 40), (0, 41), (_G43, 40)])
def test_panel_rows_are_the_exact_products_in_row_order(dtype, tiles, d):
    from anomalykit.cluster._numba_panels import panel_rows

    X, C = integer_data(29, d, 3, dtype)  # 29 rows: two calls of 12 and a padded one
    width = width_of(tiles, X)
    Cp, _ = pack_panels(C, np.einsum("ij,ij->i", C, C), width)
    pad = np.zeros((PANEL_ROWS_MAX, d), dtype=dtype)
    P = panel_rows(X, 3, 29, Cp, pad, None)
    assert P.shape == (26 + PANEL_ROWS_MAX, width)
    np.testing.assert_array_equal(P[:26, :3], X[3:29] @ C.T)
    np.testing.assert_array_equal(P[:26, 3:], 0)  # padded centres are zero


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairs_hold_two_features_of_a_centre_side_by_side(dtype):
    C = np.arange(3 * 5, dtype=dtype).reshape(3, 5)  # 5 features: the last pair is padded
    L = lanes(C.itemsize)
    Cp, csq = pack_panels(C, np.arange(3, dtype=dtype), L // 2)
    assert Cp.shape == (1, 3, L) and csq.shape == (1, L // 2)
    np.testing.assert_array_equal(
        Cp[0, 1, :6], [C[0, 2], C[0, 3], C[1, 2], C[1, 3], C[2, 2], C[2, 3]]
    )
    np.testing.assert_array_equal(Cp[0, 2, :6], [C[0, 4], 0, C[1, 4], 0, C[2, 4], 0])
    np.testing.assert_array_equal(Cp[0, :, 6:], 0)  # padded centres
    assert np.isinf(csq[0, 3:]).all()
    with pytest.raises(ValueError, match="not 3"):
        pack_panels(C, np.arange(3, dtype=dtype), 3)
    with pytest.raises(ValueError, match="two features"):
        pack_panels(C[:, :1].copy(), np.arange(3, dtype=dtype), L // 2)


def test_widths_follow_the_shape(monkeypatch):
    monkeypatch.setattr(_numba_panels, "HAS_AVX512", True)
    assert panel_width(8, 64, 4) == 8  # half of 16 float32 lanes: pairs
    assert panel_width(4, 17, 8) == 4  # half of 8 float64 lanes
    assert panel_width(10, 64, 4) == 12  # grouped: 3 vectors of 4 centres x 4 features
    assert panel_width(10, 36, 4) == 16  # (too few features): 16 lanes hold 10 centres
    assert panel_width(10, 42, 4) == 16  # (not a multiple of 4)
    assert panel_width(13, 64, 4) == 16
    assert panel_width(6, 40, 8) == 6  # grouped float64: 3 vectors of 2 centres
    assert panel_width(17, 64, 4) == 32
    assert panel_width(64, 32, 4) == 64
    assert panel_width(256, 128, 4) == 64  # several panels of 64
    assert panel_width(9, 16, 8) == 16  # 8 float64 lanes
    assert panel_width(64, 15, 4) == 0  # few features: BLAS
    assert panel_width(1024, 128, 4) == 0  # 512 KiB of centres: BLAS
    assert panel_width(8, 8192, 4) == 8  # pairs: 4096 x 16 float32 = 256 KiB
    assert panel_width(8, 8194, 4) == 0
    monkeypatch.setattr(_numba_panels, "HAS_AVX512", False)
    assert panel_width(64, 32, 4) == 0


def test_the_intrinsic_refuses_what_it_cannot_index():
    from numba import njit

    @njit
    def call(X, rows, Cp, csq, best, lab):
        _numba_panels._panel(X, 0, rows, 1, Cp, 0, csq, best, lab, 0, None)

    X = np.ones((16, 16), dtype=np.float32)
    Cp, csq = pack_panels(X[:4].copy(), np.ones(4, dtype=np.float32), 16)
    best, lab = np.empty(16, np.float32), np.empty(16, np.int32)
    with pytest.raises(TypingError):  # the number of rows must be a literal
        call(X, 6, Cp, csq, best, lab)

    @njit
    def strided(X, Cp, csq, best, lab):
        _numba_panels._panel(X[:, ::2], 0, 6, 1, Cp, 0, csq, best, lab, 0, None)

    with pytest.raises(TypingError):  # rows must be C-contiguous
        strided(X, Cp, csq, best, lab)

    @njit
    def wrong_labels(X, Cp, csq, best):
        _numba_panels._panel(X, 0, 6, 1, Cp, 0, csq, best, np.empty(16, np.int64), 0, None)

    with pytest.raises(TypingError):  # labels are int32
        wrong_labels(X, Cp, csq, best)

    @njit
    def shifted(X, Cp, csq, best, lab, shift):
        _numba_panels._panel(X, 0, 6, 1, Cp, 0, csq, best, lab, 0, shift)

    shifted(X, Cp, csq, best, lab, np.zeros(16, np.float32))  # (the call itself types)
    with pytest.raises(TypingError):  # a shift in X's dtype
        shifted(X, Cp, csq, best, lab, np.zeros(16))
    with pytest.raises(TypingError):  # ... one-dimensional
        shifted(X, Cp, csq, best, lab, np.zeros((1, 16), np.float32))


@pytest.fixture(params=[True, False], ids=["panels", "blas"])
def panels(request, monkeypatch):
    monkeypatch.setattr(_numba_panels, "HAS_AVX512", request.param)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_steps_with_and_without_panels_agree(dtype, panels):
    X, C = integer_data(3001, 20, 70, dtype, seed=1)  # exact products: no rounding to differ
    C = C[np.unique(C, axis=0, return_index=True)[1]]
    w = np.ones(len(X))
    step = lloyd_step(X, C, w)
    ref = lloyd_step(X, C, w, engine="numpy")
    np.testing.assert_array_equal(step.labels, ref.labels)
    np.testing.assert_array_equal(step.labels, np.argmin(exact_values(X, C), axis=1))
    np.testing.assert_allclose(step.centers, ref.centers, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("k", "d"), [(24, 32), (10, 48)])  # (float32 10 x 48: grouped)
def test_one_and_two_threads_and_the_bounds_agree_with_panels(dtype, panels, k, d):
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=4.0, size=(k, d))
    X = (centres[rng.integers(0, k, 30000)] + rng.normal(size=(30000, d))).astype(dtype)
    X -= X.mean(axis=0)
    C = X[rng.choice(len(X), k, replace=False)].copy()
    w = np.ones(len(X))
    assert (panel_width(k, d, X.itemsize) > 0) == panels
    one = lloyd_step(X, C, w, threads=1)
    two = lloyd_step(X, C, w, threads=2)
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_array_equal(one.centers, two.centers)
    engine = BoundedLloyd(X, w, k, n_groups=3)
    plain = bounded = C
    for _ in range(6):  # the bounded passes renew rows from the same products
        ref = lloyd_step(X, plain, w)
        got = engine.step(bounded)
        np.testing.assert_array_equal(got.labels, ref.labels)
        plain, bounded = ref.centers, got.centers
    assert engine.evaluations < 6 * len(X) * k  # rows were skipped
    assert _lloyd.use_bounds(X, k, spherical=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("tiles", "d"), [(0, 40), (0, 41), (1, 40), (2, 17), (4, 33), (_G43, 40)])
def test_a_shift_gives_the_products_of_a_shifted_copy(dtype, tiles, d):
    from anomalykit.cluster._numba_panels import panel_rows

    rng = np.random.default_rng(5)
    X = rng.normal(40.0, 3.0, size=(53, d)).astype(dtype)  # 53 rows: a padded last call
    C = rng.normal(size=(3 if tiles == 0 else 9 if tiles == _G43 else 20, d)).astype(dtype)
    shift = X.mean(axis=0)
    Cp, _ = pack_panels(C, np.einsum("ij,ij->i", C, C), width_of(tiles, X))
    pad = np.zeros((PANEL_ROWS_MAX, d), dtype=dtype)
    got = panel_rows(X, 2, 53, Cp, pad, shift)
    ref = panel_rows(X - shift, 2, 53, Cp, pad, None)
    np.testing.assert_array_equal(got[:51], ref[:51])
    with pytest.raises(ValueError, match="one value per feature"):
        panel_rows(X, 2, 53, Cp, pad, shift[:-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("tiles", "d"), [(0, 40), (0, 41), (1, 40), (2, 17), (4, 33), (_G43, 40)])
def test_nearest_centres_of_shifted_rows_are_those_of_the_shifted_copy(dtype, tiles, d):
    rng = np.random.default_rng(6)
    X = rng.normal(40.0, 3.0, size=(53, d)).astype(dtype)  # (a padded last call)
    k = 3 if tiles == 0 else 9 if tiles == _G43 else 20 if tiles < 4 else 80  # (80: 2 panels)
    C = rng.normal(size=(k, d)).astype(dtype)
    shift = X.mean(axis=0)
    got = run_panels(X, C, tiles, start=2, stop=53, shift=shift)
    ref = run_panels(X - shift, C, tiles, start=2, stop=53)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert len(np.unique(got[0][2:])) > 1  # (the rows do not all go to one centre)
    with pytest.raises(ValueError, match="one value per feature"):
        run_panels(X, C, tiles, shift=shift[:-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_grouped_layout_holds_four_features_of_a_centre_side_by_side(dtype):
    L = lanes(np.dtype(dtype).itemsize)
    W = 3 * L // 4
    k, d = W + 2, 8  # two panels, the second padded
    C = np.arange(k * d, dtype=dtype).reshape(k, d)
    c_sq = np.arange(k, dtype=dtype)
    Cp, csq = pack_panels(C, c_sq, W)
    assert Cp.shape == (2, d // 4, 3 * L) and csq.shape == (2, L)
    per = L // 4  # centres a vector
    for p, s, v, q, e in [(0, 0, 0, 0, 0), (0, 1, 2, per - 1, 3), (1, 1, 0, 1, 2), (0, 0, 1, 0, 1)]:
        assert Cp[p, s, v * L + q * 4 + e] == C[p * W + v * per + q, 4 * s + e]
    np.testing.assert_array_equal(Cp[1, :, 2 * 4 :], 0)  # the second panel's padded centres
    np.testing.assert_array_equal(csq[0, :W], c_sq[:W])
    np.testing.assert_array_equal(csq[1, :2], c_sq[W:])
    assert np.isinf(csq[0, W:]).all() and np.isinf(csq[1, 2:]).all()
    with pytest.raises(ValueError, match="multiple of g"):
        pack_panels(C[:, :6].copy(), c_sq, W)
