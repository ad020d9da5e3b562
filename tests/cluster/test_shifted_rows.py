"""Runs that read X with its column means subtracted on the fly, without a centred copy.

``KMeans`` centres dense rows on their column means. Where the whole run takes
:class:`PlainLloyd`'s steps on register panels (``reads_shifted``), the kernels
subtract the mean as they read each value instead of reading a centred copy.
Every value they compute must be the copy's, so the run must equal, bit for
bit, the same run on the copy.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from lloyd_cases import blobs, rows

pytest.importorskip("numba")

from anomalykit import KMeans
from anomalykit.cluster import _kmeans, _lloyd, _numba_kernels
from anomalykit.cluster._lloyd import (
    PlainLloyd,
    assign_own,
    centre_columns,
    column_moments,
    lloyd_bounded,
    plain_throughout,
    reads_shifted,
)
from anomalykit.cluster._numba_panels import HAS_AVX512

needs_panels = pytest.mark.skipif(not HAS_AVX512, reason="register panels need AVX-512")


def far_data(n=20000, d=24, dtype=np.float32, seed=0):
    """Blobs far from the origin, where centring changes every value (2**18
    values or more from 16 features: runs on them may read shifted rows)."""
    X = blobs(n=n, d=d, centers=8, std=4.0, dtype=np.float64, seed=seed) + 50.0
    return np.ascontiguousarray(X, dtype=dtype)


def fit_both(X, monkeypatch, **params):
    """The fit as it runs, and with ``reads_shifted`` forced off (the copy)."""
    shifted = KMeans(**params).fit(X)
    with monkeypatch.context() as m:
        m.setattr(_kmeans, "reads_shifted", lambda *a: False)
        copied = KMeans(**params).fit(X)
    return shifted, copied


def peak_bytes(func):
    """The most memory (bytes, as tracemalloc sees NumPy's) ``func()`` held at once."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.inertia_ == b.inertia_ and a.n_iter_ == b.n_iter_


# ------------------------------------------------------------------- KMeans
@needs_panels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", ["array", "k-means++", "random"])
def test_a_fit_reading_shifted_rows_equals_the_fit_on_the_copy(monkeypatch, dtype, init):
    X = far_data(dtype=dtype)
    assert reads_shifted(X, 10, np.ones(len(X)), False)
    start = rows(X, 10) if init == "array" else init
    params = dict(n_clusters=10, init=start, n_init=1 if init == "array" else 2, random_state=4)
    a, b = fit_both(X, monkeypatch, **params, tol=1e-4)
    assert_same_fit(a, b)
    assert a.n_iter_ > 3  # (several steps, moving sums among them)


@needs_panels
def test_weighted_rows_read_shifted_equal_the_copy(monkeypatch):
    X = far_data(d=32)
    assert reads_shifted(X, 9, np.ones(len(X)), False) == HAS_AVX512
    for w in (
        np.random.default_rng(1).uniform(0.5, 3.0, len(X)),  # sums that move
        np.where(np.arange(len(X)) % 9 == 0, 1e6, 1.0),  # too far apart: summed afresh
    ):
        a = KMeans(9, init=rows(X, 9), n_init=1, max_iter=30).fit(X, sample_weight=w)
        with monkeypatch.context() as m:
            m.setattr(_kmeans, "reads_shifted", lambda *args: False)
            b = KMeans(9, init=rows(X, 9), n_init=1, max_iter=30).fit(X, sample_weight=w)
        assert_same_fit(a, b)


@needs_panels
def test_an_emptied_cluster_is_reseeded_from_the_rows_centred(monkeypatch):
    X = far_data(d=16)
    assert reads_shifted(X, 6, np.ones(len(X)), False)
    C = rows(X, 6)
    C[3] = X.max(axis=0) + 1e3  # no row is nearest: re-seeded in the first step
    a, b = fit_both(X, monkeypatch, n_clusters=6, init=C, n_init=1)
    assert_same_fit(a, b)
    assert len(np.unique(a.labels_)) == 6


@needs_panels
def test_a_fit_reading_shifted_rows_makes_no_copy_of_x(monkeypatch):
    X = far_data(n=40000, d=32)

    def fit():
        KMeans(10, init=rows(X, 10), n_init=1, max_iter=3).fit(X)

    fit()  # (compiled, warm)
    shifted = peak_bytes(fit)
    monkeypatch.setattr(_kmeans, "reads_shifted", lambda *a: False)
    assert peak_bytes(fit) >= X.nbytes  # (the check sees the copy where one is made)
    assert shifted < X.nbytes / 2


def test_only_runs_of_plain_panel_steps_read_shifted():
    X = far_data(d=24)
    w = np.ones(len(X))
    assert reads_shifted(X, 10, w, False) == HAS_AVX512
    assert not reads_shifted(np.asfortranarray(X), 10, w, False)  # (a C-ordered copy anyway)
    assert not reads_shifted(sp.csr_matrix(X), 10, w, False)
    assert not reads_shifted(X, 10, w, True)  # cosine: normalised rows, no centring
    frozen = X.copy()
    frozen.flags.writeable = False  # (read-only: its own compiled kernels)
    assert not reads_shifted(frozen, 10, w, False) and not _lloyd._panels_serve(frozen, 10)
    raw = np.zeros(X.nbytes + 1, dtype=np.uint8)
    odd = raw[1:].view(X.dtype).reshape(X.shape)  # (unaligned: also typed apart)
    odd[:] = X
    assert not odd.flags.aligned and not reads_shifted(odd, 10, w, False)
    assert not reads_shifted(X[:, :12].copy(), 10, w, False)  # lloyd_step's steps
    wide = np.ascontiguousarray(np.tile(X[:4096], (1, 16)))  # 384 features, k = 64:
    assert not reads_shifted(wide, 64, np.ones(4096), False)  # the bounds may start


def test_small_data_is_centred_into_a_copy():
    # Below 2**18 values centre_columns sums the variances in NumPy's order, not
    # the kernels': a run reading shifted rows would get another tol.
    X = far_data(n=6000, d=32)
    assert X.size < _lloyd._CENTRE_MIN_SIZE
    assert not reads_shifted(X, 10, np.ones(len(X)), False)


def test_shifted_rows_without_panels_are_refused_or_copied():
    X = far_data(n=5000, d=16)
    narrow = np.ascontiguousarray(X[:, :8])  # (no panels for 8 features)
    mean = narrow.mean(axis=0)
    with pytest.raises(ValueError, match="register panels"):
        PlainLloyd(narrow, np.ones(len(X)), 5, shift=mean)
    if HAS_AVX512:
        with pytest.raises(ValueError, match="no row norms"):
            PlainLloyd(X, np.ones(len(X)), 5, shift=X.mean(axis=0), x_sq_norms=np.ones(len(X)))
    C = rows(narrow - mean, 5)
    got, ref = assign_own(narrow, C, shift=mean), assign_own(narrow - mean, C)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_plain_throughout_agrees_with_the_runs_choices():
    X = far_data(d=24)
    unit = np.ones(len(X))
    assert plain_throughout(X, 10, unit)
    wide = np.ascontiguousarray(np.tile(X[:4096], (1, 16)))
    assert not plain_throughout(wide, 64, np.ones(4096))  # 64 x 384 >= eager work
    spread = np.where(np.arange(4096) % 2 == 0, 1e6, 1.0)
    assert plain_throughout(wide, 64, spread)  # weights the bounds cannot take


@needs_panels
def test_a_plain_throughout_run_never_probes_or_takes_up_the_bounds(monkeypatch):
    X = far_data(d=24)
    w = np.ones(len(X))
    assert plain_throughout(X, 10, w)

    def refuse(*args, **kwargs):
        raise AssertionError("a run of plain steps throughout asked about the bounds")

    monkeypatch.setattr(_lloyd, "bounds_would_pay", refuse)
    monkeypatch.setattr(_lloyd, "BoundedLloyd", refuse)
    Xc, shift, _ = centre_columns(X)
    got = lloyd_bounded(X, rows(Xc, 10), w, 40, 0.0, offset=shift)
    ref = lloyd_bounded(Xc, rows(Xc, 10), w, 40, 0.0)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert got[2] == ref[2]


def test_shifted_rows_are_refused_where_the_run_may_take_up_the_bounds():
    X = np.ascontiguousarray(np.tile(far_data(d=24)[:4096], (1, 16)))
    C = rows(X, 64)
    with pytest.raises(ValueError, match="plain steps throughout"):
        lloyd_bounded(X, C, np.ones(len(X)), 5, 0.0, offset=X.mean(axis=0))
    with pytest.raises(ValueError, match="plain steps throughout"):
        lloyd_bounded(X[:, :24].copy(), C[:, :24], np.ones(len(X)), 5, 0.0,
                      offset=X[:, :24].mean(axis=0), settled_share=0.5)  # fmt: skip
    with pytest.raises(ValueError, match="PlainLloyd"):
        _kmeans._lloyd_plain(X[:, :8].copy(), C[:, :8], np.ones(len(X)), None, 5, 0.0, False,
                             X[:, :8].mean(axis=0))  # fmt: skip


# -------------------------------------------------------------- the pieces
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_moments_are_centre_columns_without_the_copy(dtype):
    X = far_data(n=30000, d=20, dtype=dtype)
    X[:, 5] = dtype(0.1)  # constant: variance exactly 0 (its mean need not be 0.1)
    Xc, shift, variances = centre_columns(X, engine="numba")
    mean, var = column_moments(X)
    np.testing.assert_array_equal(mean, shift)
    np.testing.assert_array_equal(var, variances)
    assert var[5] == 0 and mean.dtype == X.dtype
    np.testing.assert_array_equal(Xc, X - mean)  # the copy holds what the kernels subtract
    with pytest.raises(ValueError, match="two columns"):
        column_moments(X[:, :1].copy())


@needs_panels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_steps_on_shifted_rows_equal_steps_on_the_copy(dtype):
    X = far_data(n=9000, d=48, dtype=dtype)
    Xc, shift, _ = centre_columns(X, engine="numba")
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    a = PlainLloyd(X, w, 10, shift=shift)
    b = PlainLloyd(Xc, w, 10)
    Ca = Cb = rows(Xc, 10)
    for _ in range(12):
        sa, sb = a.step(Ca), b.step(Cb)
        np.testing.assert_array_equal(sa.labels, sb.labels)
        np.testing.assert_array_equal(sa.centers, sb.centers)
        np.testing.assert_array_equal(a.sums, b.sums)
        Ca, Cb = sa.centers, sb.centers
    assert a.moved
    la, own_a = assign_own(X, Ca, shift=shift)
    lb, own_b = assign_own(Xc, Cb)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(own_a, own_b)


def test_a_shift_without_panels_is_refused():
    X = far_data(n=500, d=24)
    C = rows(X, 10)
    c_sq = np.einsum("ij,ij->i", C, C)
    Cp, csq = np.zeros((0, 24, 1), np.float32), np.zeros((0, 1), np.float32)  # the BLAS route
    args = (C, c_sq, Cp, csq, np.ones(500), np.empty(500, np.intp), np.empty(0, np.intp),
            np.zeros((10, 24)), np.zeros(10), np.zeros(10, np.int64), 0, 500, 256, True, False)  # fmt: skip
    _numba_kernels.lloyd_chunk(X, np.zeros(24, np.float32), *args)  # zeros: X as it is
    with pytest.raises(ValueError, match="panels"):
        _numba_kernels.lloyd_chunk(X, X.mean(axis=0), *args)


def test_own_distances_of_shifted_rows_are_those_of_the_copy():
    X = far_data(n=3000, d=24)
    Xc, shift, _ = centre_columns(X, engine="numba")
    C = rows(Xc, 7)
    labels = np.random.default_rng(2).integers(0, 7, len(X))
    got = _kmeans._sq_distances_to_own(X, C, labels, None, shift)
    np.testing.assert_array_equal(got, _kmeans._sq_distances_to_own(Xc, C, labels, None))


# ------------------------------------------------------------------ predict
@needs_panels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_reads_shifted_rows_and_gives_the_copys_labels(dtype):
    X = far_data(n=20000, d=32, dtype=dtype)
    km = KMeans(10, init=rows(X, 10), n_init=1, max_iter=5).fit(X)
    new = far_data(n=20000, d=32, dtype=dtype, seed=5)
    shift = km._shift.astype(dtype)
    ref = _lloyd.assign(new - shift, km.cluster_centers_ - shift, distances=False)[0]
    np.testing.assert_array_equal(km.predict(new), ref)
    np.testing.assert_array_equal(km.predict(np.asfortranarray(new)), ref)  # (copied: F order)
    assert peak_bytes(lambda: km.predict(new)) < new.nbytes / 2  # no copy of the rows


def test_assign_with_a_shift_equals_assign_on_the_shifted_rows():
    X = far_data(n=5000, d=24)
    Xc, shift, _ = centre_columns(X, engine="numba")
    C = rows(Xc, 9)
    for kwargs in ({"distances": False}, {"distances": True}):
        got = _lloyd.assign(X, C, shift=shift, **kwargs)
        ref = _lloyd.assign(Xc, C, **kwargs)
        np.testing.assert_array_equal(got[0], ref[0])
        if kwargs["distances"]:  # (distances: from the shifted copy, its rows' norms)
            np.testing.assert_array_equal(got[1], ref[1])
    narrow = np.ascontiguousarray(X[:, :8])  # no panels for 8 features: BLAS, on the copy
    Cn, mean = C[:, :8].copy(), narrow.mean(axis=0)
    assert _lloyd._panels_serve(X, 9) == HAS_AVX512 and not _lloyd._panels_serve(narrow, 9)
    np.testing.assert_array_equal(
        _lloyd.assign(narrow, Cn, shift=mean, distances=False)[0],
        _lloyd.assign(narrow - mean, Cn, distances=False)[0],
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_of_the_training_rows_is_minus_the_inertia_without_a_copy(dtype):
    X = far_data(n=30000, d=32, dtype=dtype)
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(X))
    km = KMeans(10, init=rows(X, 10), n_init=1, max_iter=8).fit(X, sample_weight=w)
    # exact differences, as the fit's; the centres were rounded once more when
    # stored about the origin (float32: 6e-10 relative here)
    assert km.score(X, sample_weight=w) == pytest.approx(-km.inertia_, rel=1e-8)
    no_copy = peak_bytes(lambda: km.score(X)) < X.nbytes / 2
    assert no_copy or not HAS_AVX512  # (no centred copy where panels serve)
