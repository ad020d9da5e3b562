"""GaussianDetector's compiled engine (Numba) against the NumPy reference: moments,
parameters and scores for diag/full x float32/float64 x weights, data far from the
origin, 1 vs 2 threads, chunk and sub-block edges, non-contiguous input, non-finite
input and the engine switch."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import anomalykit.detectors
from anomalykit import GaussianDetector
from anomalykit._utils._threads import n_threads
from anomalykit.detectors import _gaussian

pytest.importorskip("numba")

COVARIANCES = ["diag", "full"]
DTYPES = [np.float64, np.float32]
#: float64 parameters and scores equal the reference to this (relative to max(|ref|, 1)).
RTOL64 = 1e-12
#: float32 input: both paths compute in float64 on the same values; the fitted
#: parameters differ by rounding, which the scores amplify a little.
RTOL32 = 1e-9


@pytest.fixture
def rng():
    return np.random.default_rng(20250101)


@pytest.fixture
def engine(monkeypatch):
    """Set the engine for one test: ``engine("numba")``, ``engine("numpy")``."""

    def set_engine(name: str, threads: int | None = None) -> None:
        monkeypatch.setattr(_gaussian, "_ENGINE", name)
        monkeypatch.setattr(_gaussian, "_N_THREADS", threads)

    return set_engine


def make_X(rng, n, d, dtype=np.float64, offset=5.0):
    """Correlated rows with per-feature scales and an offset."""
    A = np.eye(d) + rng.standard_normal((d, d)) / np.sqrt(d)
    X = rng.standard_normal((n, d)) @ A * rng.uniform(0.5, 3.0, d) + offset
    return X.astype(dtype)


def max_rel(a, ref):
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1.0)))


def fitted(engine, name, covariance, X, w=None, threads=None, **params):
    engine(name, threads)
    return GaussianDetector(covariance, **params).fit(X, sample_weight=w)


def assert_same_model(a, b, rtol):
    assert max_rel(a.mean_, b.mean_) <= rtol
    assert max_rel(a.var_, b.var_) <= rtol * np.max(b.var_)
    if b.covariance == "full":
        scale = np.sqrt(np.outer(b.var_, b.var_))
        assert np.max(np.abs(a.covariance_ - b.covariance_) / scale) <= rtol
        assert max_rel(a.precision_cholesky_, b.precision_cholesky_) <= rtol * 100
    assert a.n_samples_seen_ == b.n_samples_seen_


# ------------------------------------------------------------- vs NumPy reference
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8, 13])
def test_engine_equals_numpy_reference(engine, rng, covariance, dtype, weighted, d):
    n = 70_000  # several chunks, sub-blocks and a ragged tail
    X = make_X(rng, n, d, dtype)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    rtol = RTOL64 if dtype == np.float64 else RTOL32
    ref = fitted(engine, "numpy", covariance, X, w)
    ref_scores = ref.score_samples(X)
    fast = fitted(engine, "numba", covariance, X, w)
    assert_same_model(fast, ref, rtol)
    assert max_rel(fast.offset_, ref.offset_) <= rtol
    assert max_rel(fast.score_samples(X), ref_scores) <= rtol
    # the same model scored by both paths: only the kernels differ
    assert max_rel(ref.score_samples(X), ref_scores) <= RTOL64


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8, 13])
def test_equal_rows_score_equal_wherever_they_are(engine, rng, covariance, d):
    """A row's score does not depend on its place in the batch (in a group of 8 or
    a chunk's last rows) or on the batch: repeated rows tie exactly at the
    threshold, as the threshold's rules expect."""
    engine("numba")
    X = rng.normal(size=(70_001, d)) * 3
    detector = GaussianDetector(covariance, epsilon=1e-3).fit(X)
    scores = detector.score_samples(X)
    np.testing.assert_array_equal(detector.score_samples(X[::-1].copy())[::-1], scores)
    np.testing.assert_array_equal(detector.score_samples(X[3:]), scores[3:])
    for start in range(0, 40, 3):  # rows alone and in short batches
        np.testing.assert_array_equal(detector.score_samples(X[start : start + 1]), scores[start])
        np.testing.assert_array_equal(
            detector.score_samples(X[start : start + 5]), scores[start : start + 5]
        )


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_wide_rows(engine, rng, covariance):
    X = make_X(rng, 2_000, 300)
    ref = fitted(engine, "numpy", covariance, X, shrinkage=0.1 if covariance == "full" else None)
    fast = fitted(engine, "numba", covariance, X, shrinkage=0.1 if covariance == "full" else None)
    assert_same_model(fast, ref, RTOL64)
    assert max_rel(fast.score_samples(X), ref.score_samples(X)) <= RTOL64


@pytest.mark.filterwarnings("ignore:n_samples=.* <= n_features")
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("n", [2, 3, 31, 257, 32_768, 32_769, 32_768 * 3 + 7])
def test_ragged_chunks_and_blocks(engine, rng, covariance, n):
    """Row counts around the chunk (32768 rows), sub-block and lane sizes."""
    for d in (2, 3, 4, 8, 9):
        X = make_X(rng, n, d)
        ref = fitted(engine, "numpy", covariance, X, reg_covar=1e-3, epsilon=1e-3)
        fast = fitted(engine, "numba", covariance, X, reg_covar=1e-3, epsilon=1e-3)
        assert_same_model(fast, ref, RTOL64)
        assert max_rel(fast.score_samples(X), ref.score_samples(X)) <= RTOL64


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_float32_accumulates_in_float64(engine, rng, covariance):
    """float32 rows give the model and scores of the same values in float64."""
    X32 = make_X(rng, 50_000, 6, np.float32, offset=1e4)
    engine("numba")
    a = GaussianDetector(covariance).fit(X32)
    b = GaussianDetector(covariance).fit(X32.astype(np.float64))
    assert_same_model(a, b, RTOL64)
    assert max_rel(a.score_samples(X32), b.score_samples(X32.astype(np.float64))) <= RTOL64


# ------------------------------------------------------------ far from the origin
def exact_moments(X):
    """Mean and per-feature scatter with correctly rounded sums (math.fsum)."""
    cols = [X[:, j].tolist() for j in range(X.shape[1])]
    mean = np.array([math.fsum(c) / len(c) for c in cols])
    Xc = X - mean  # exact: every value is within a factor 2 of the mean
    return mean, Xc


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("d", [1, 2, 3, 8])
def test_atypical_first_rows_cost_no_precision(engine, rng, covariance, d):
    """The kernels take rows about a shift, the mean of X's first rows: where those
    are far from the rest (a warm-up, a glitch), the moments must stay as exact
    (each chunk starts about its own first row, and its first sub-blocks are
    small). Against long double: 1e-12 before, now ~5e-15."""
    engine("numba")
    X = rng.normal(size=(200_000, d))
    X[:64] -= 1e4
    XL = X.astype(np.longdouble)
    Xc = XL - XL.mean(axis=0)
    cov = (Xc.T @ Xc) / X.shape[0]
    det = GaussianDetector(covariance, reg_covar=0.0).fit(X)
    if covariance == "full":
        scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        assert float(np.max(np.abs(det.covariance_ - cov) / scale)) < 5e-14
    else:
        assert float(np.max(np.abs(det.var_ - np.diag(cov)) / np.diag(cov))) < 5e-14


@pytest.mark.parametrize("weighted", [False, True])
def test_large_offset_diag_is_exact(engine, rng, weighted):
    n, d = 60_000, 3
    X = 1e6 + rng.standard_normal((n, d)) * np.array([1.0, 0.1, 3.0])
    w = rng.integers(0, 3, n).astype(np.float64) if weighted else None
    fast = fitted(engine, "numba", "diag", X, w, reg_covar=0.0)
    Xw = X if w is None else np.repeat(X, w.astype(int), axis=0)
    mean, Xc = exact_moments(Xw)
    var = np.array([math.fsum((Xc[:, j] ** 2).tolist()) for j in range(d)]) / Xw.shape[0]
    assert np.max(np.abs(fast.mean_ - mean) / mean) <= 1e-15
    assert max_rel(fast.var_, var) <= 1e-13
    ref = fitted(engine, "numpy", "diag", X, w, reg_covar=0.0)
    assert max_rel(fast.var_, ref.var_) <= RTOL64


def test_large_offset_full_is_exact(engine, rng):
    n, d = 60_000, 4
    X = 1e6 + make_X(rng, n, d, offset=0.0)
    fast = fitted(engine, "numba", "full", X, reg_covar=0.0)
    _, Xc = exact_moments(X)
    cov = (
        np.array([[math.fsum((Xc[:, j] * Xc[:, k]).tolist()) for k in range(d)] for j in range(d)])
        / n
    )
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.max(np.abs(fast.covariance_ - cov) / scale) <= 1e-13
    ref = fitted(engine, "numpy", "full", X, reg_covar=0.0)
    assert np.max(np.abs(fast.covariance_ - ref.covariance_) / scale) <= RTOL64
    # Scores: the engine centres each row before the product; compare with the
    # same maths in NumPy (the reference's X @ P - mean @ P cancels: 6e-11 here).
    engine("numba")
    scores = fast.score_samples(X)
    z = (X - fast.mean_) @ fast.precision_cholesky_
    expected = fast._log_norm - 0.5 * np.einsum("ij,ij->i", z, z)
    assert max_rel(scores, expected) <= RTOL64


# ----------------------------------------------------------------------- threads
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [2, 7, 8])  # 2 and 8: the paths that read rows in lanes
def test_one_and_two_threads_are_bit_identical(engine, rng, covariance, dtype, weighted, d):
    n = 100_003  # 4 chunks, the last one ragged
    X = make_X(rng, n, d, dtype)
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    one = fitted(engine, "numba", covariance, X, w, threads=1)
    s1 = one.score_samples(X)
    two = fitted(engine, "numba", covariance, X, w, threads=2)
    s2 = two.score_samples(X)
    np.testing.assert_array_equal(one.mean_, two.mean_)
    np.testing.assert_array_equal(one.var_, two.var_)
    if covariance == "full":
        np.testing.assert_array_equal(one.covariance_, two.covariance_)
    assert one.offset_ == two.offset_
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(one.score_samples(X), s2)  # scored on 2 threads


def test_threadpool_limits_are_honoured(engine):
    engine("numba")
    with threadpool_limits(limits=1):
        assert _gaussian._engine_threads() == 1
    _gaussian._N_THREADS = 3
    assert _gaussian._engine_threads() == 3
    _gaussian._N_THREADS = None
    assert 1 <= _gaussian._engine_threads() <= n_threads()


# -------------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_partial_fit_is_unaffected(engine, rng, covariance):
    X = make_X(rng, 30_000, 5)
    chunks = np.array_split(X, [7_000, 7_001, 20_000])
    models = {}
    for name in ("numpy", "numba"):
        engine(name)
        det = GaussianDetector(covariance, epsilon=1e-4)
        for part in chunks:
            det.partial_fit(part)
        models[name] = det
    batch = fitted(engine, "numba", covariance, X, epsilon=1e-4)
    assert_same_model(models["numba"], models["numpy"], RTOL64)
    assert_same_model(models["numba"], batch, RTOL64)
    assert max_rel(models["numba"].score_samples(X), batch.score_samples(X)) <= RTOL64


# ------------------------------------------------------------------ input layouts
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [4, 6, 8])  # 4 and 8: the paths that read rows in lanes
def test_non_contiguous_input_gives_identical_results(engine, rng, covariance, weighted, d):
    X = make_X(rng, 40_000, d)
    w = rng.uniform(0.0, 2.0, 40_000) if weighted else None
    wide = np.repeat(X, 2, axis=1)
    readonly = X.copy()
    readonly.flags.writeable = False
    offset = np.ndarray(X.shape, np.float64, np.zeros(X.size * 8 + 1, np.uint8).data, offset=1)
    offset[...] = X  # not aligned on 8 bytes
    for other in (np.asfortranarray(X), wide[:, ::2], readonly, offset):
        assert not (other.flags.c_contiguous and other.flags.writeable and other.flags.aligned)
        a = fitted(engine, "numba", covariance, X, w)
        b = fitted(engine, "numba", covariance, other, w)
        np.testing.assert_array_equal(a.mean_, b.mean_)
        np.testing.assert_array_equal(a.var_, b.var_)
        np.testing.assert_array_equal(a.score_samples(X), a.score_samples(other))


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises_as_the_reference(engine, rng, covariance, bad):
    X = make_X(rng, 20_000, 3)
    X_bad = X.copy()
    X_bad[12_345, 1] = bad
    messages = []
    for name in ("numpy", "numba"):
        det = fitted(engine, name, covariance, X)
        with pytest.raises(ValueError) as score_error:
            det.score_samples(X_bad)
        fresh = GaussianDetector(covariance)
        with pytest.raises(ValueError) as fit_error:
            fresh.fit(X_bad)
        assert not hasattr(fresh, "n_features_in_")
        with pytest.raises(ValueError) as refit_error:
            det.fit(X_bad[:, :2])  # a failed refit leaves n_features_in_ as it was
        assert det.n_features_in_ == 3
        with pytest.raises(ValueError) as weight_error:
            GaussianDetector(covariance).fit(X_bad, sample_weight=-np.ones(20_000))
        messages.append([str(e.value) for e in (score_error, fit_error, refit_error, weight_error)])
    assert messages[0] == messages[1]
    assert "NaN" in messages[1][0] or "infinity" in messages[1][0]


def test_bad_weights_with_finite_input_raise_the_weight_error(engine, rng):
    engine("numba")
    with pytest.raises(ValueError, match="non-negative"):
        GaussianDetector().fit(make_X(rng, 100, 2), sample_weight=-np.ones(100))


@pytest.mark.filterwarnings("ignore::anomalykit.ConstantFeatureWarning")
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_overflow_of_finite_input_behaves_as_numpy(engine, covariance):
    """Finite rows whose sums overflow: the engine hands over to the reference."""
    X = np.array([[1e200, 1.0], [-1e200, 2.0], [3e200, 0.0], [0.0, 1.5]])
    outcomes = []
    for name in ("numpy", "numba"):
        engine(name)
        with np.errstate(all="ignore"):
            try:
                det = GaussianDetector(covariance, epsilon=1e-3).fit(X)
            except ValueError as error:
                outcomes.append(str(error))
            else:
                outcomes.append((det.mean_.tolist(), det.var_.tolist()))
    assert outcomes[0] == outcomes[1]
    # a finite row whose score overflows gives -inf on both paths
    ok = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 0.5], [0.5, 1.5]])
    with np.errstate(all="ignore"):
        scores = [
            fitted(engine, name, covariance, ok, epsilon=1e-3).score_samples([[1e300, 0.0]])
            for name in ("numpy", "numba")
        ]
    assert scores[0][0] == scores[1][0] == -np.inf


# ------------------------------------------------------------------ engine switch
def test_engine_switch(engine, rng, monkeypatch):
    X = make_X(rng, 500, 3)
    engine("cuda")
    with pytest.raises(ValueError, match="_ENGINE"):
        GaussianDetector().fit(X)
    # without the compiled module: "auto" falls back to NumPy, "numba" says why
    monkeypatch.setitem(sys.modules, "anomalykit.detectors._gaussian_kernels", None)
    monkeypatch.delattr(anomalykit.detectors, "_gaussian_kernels", raising=False)
    ref = fitted(engine, "numpy", "full", X)
    auto = fitted(engine, "auto", "full", X)
    np.testing.assert_array_equal(auto.covariance_, ref.covariance_)
    np.testing.assert_array_equal(auto.score_samples(X), ref.score_samples(X))
    engine("numba")
    with pytest.raises(ImportError, match="pip install numba"):
        GaussianDetector().fit(X)


def test_kernels_are_not_imported_with_anomalykit():
    code = (
        "import sys, anomalykit; from anomalykit import GaussianDetector; "
        "assert 'anomalykit.detectors._gaussian_kernels' not in sys.modules; "
        "assert 'numba' not in sys.modules, 'numba imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("d", [3, _gaussian._LAPACK_UNTHREADED, _gaussian._LAPACK_UNTHREADED + 1])
def test_fit_factors_wide_covariances_on_one_blas_thread(rng, monkeypatch, d):
    """OpenBLAS's threads took milliseconds on small matrices where they spun up:
    wide covariances are factored with BLAS held to one thread; narrow ones,
    which OpenBLAS factors on the calling thread anyway, skip the limiter's cost."""
    from threadpoolctl import threadpool_info

    seen = []
    real = _gaussian.lapack.dtrtri

    def recording(*args, **kwargs):
        seen.extend(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(_gaussian.lapack, "dtrtri", recording)
    X = rng.normal(size=(500, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)))
    with threadpool_limits(2, user_api="blas"):  # (else the test could pass for nothing)
        detector = GaussianDetector("full").fit(X)
    assert seen and set(seen) == ({1} if d > _gaussian._LAPACK_UNTHREADED else {2})
    chol = np.linalg.cholesky(detector.covariance_)
    np.testing.assert_allclose(
        detector.precision_cholesky_, np.linalg.inv(chol).T, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        detector.precision_cholesky_ @ detector.precision_cholesky_.T,
        np.linalg.inv(detector.covariance_),
        rtol=1e-8,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_ledoit_wolf_shrinkage_does_not_depend_on_the_layout(rng, weighted):
    """The ECG recipe fits the same rows once from a view and once from a copy: both
    fits must give the same model, to the bit."""
    X = rng.normal(size=(175, 140)).cumsum(axis=1)  # random walks: heartbeats' shape
    w = rng.uniform(0.5, 2.0, 175) if weighted else None
    a = GaussianDetector("full", shrinkage="ledoit-wolf").fit(X, sample_weight=w)
    for other in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2]):
        b = GaussianDetector("full", shrinkage="ledoit-wolf").fit(other, sample_weight=w)
        assert 0 < a.shrinkage_ < 1
        assert b.shrinkage_ == a.shrinkage_
        np.testing.assert_array_equal(b.precision_cholesky_, a.precision_cholesky_)
        assert b.offset_ == a.offset_


# ------------------------------------------------------------- kernel helpers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 4, 5, 7, 8, 12, 13, 17, 33])
def test_transposed_load_of_a_sub_block(rng, dtype, d):
    """The full kernels' sub-block load, ``C[j, r] = X[r, j] - shift[j]``: 4 x 4 vector
    transposes plus the last ``d % 4`` features and ``m % 4`` rows one by one; the
    buffer's padding (feature rows >= d, columns >= m) is left as it was."""
    from anomalykit.detectors import _gaussian_kernels as kernels

    X = rng.normal(size=(23, d)).astype(dtype)
    shift = rng.normal(size=d)
    for a, b in [(0, 23), (3, 11), (5, 6), (7, 7), (0, 4)]:
        C = np.full((d + 3, 27), np.nan)
        kernels._load_transposed(X[a:b], shift, C)
        expected = (X[a:b].astype(np.float64) - shift).T
        np.testing.assert_array_equal(C[:d, : b - a], expected)
        assert np.isnan(C[d:]).all() and np.isnan(C[:, b - a :]).all()


def test_transposed_load_refuses_a_strided_sub_block(rng):
    """The vector loads assume C-contiguous rows: another layout is a compile error,
    never a read of the wrong values (the engine copies such chunks first); so is
    a read-only buffer."""
    from numba import njit
    from numba.core.errors import TypingError

    from anomalykit.detectors import _gaussian_kernels as kernels

    X = rng.normal(size=(8, 16))[:, ::2]
    with pytest.raises(TypingError):
        kernels._load_transposed(X, np.zeros(8), np.zeros((8, 8)))

    @njit
    def transpose4(Xb, shift, C):
        kernels._transpose4(Xb, 0, 0, shift, C)

    C = np.zeros((8, 8))
    transpose4(np.ascontiguousarray(X), np.zeros(8), C)
    np.testing.assert_array_equal(C[:4, :4], X[:4, :4].T)
    C.flags.writeable = False
    with pytest.raises(TypingError):
        transpose4(np.ascontiguousarray(X), np.zeros(8), C)


def _caller_with_literal(kernel, params, *literals):
    """A compiled caller of ``_gaussian_kernels.<kernel>(params)`` with ``literals``
    written in from its third argument on (the intrinsics take them as literals)."""
    from numba import njit

    from anomalykit.detectors import _gaussian_kernels as kernels

    names = params.split(", ")
    args = ", ".join([*names[:2], *map(str, literals), *names[2:]])
    namespace = {"kernels": kernels}
    exec(f"def call({params}):\n    kernels.{kernel}({args})\n", namespace)
    return njit(namespace["call"])


def _lane_sums_caller(vectors):
    return _caller_with_literal("_lane_sums", "flat, count, cl, acc1, acc2", vectors)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vectors", [1, 4, 5, 6, 7, 8])
def test_lane_sums_equal_the_loop_they_replace(rng, dtype, vectors):
    """The diag moments' register sums: lane ``l`` adds ``c = x - cl[l]`` and ``c * c``
    (fused) segment after segment, as the compiled loop over the lanes (the path of
    wider segments) does, bit for bit; the sums passed in are carried on, the
    values past ``count`` never read."""
    from anomalykit.detectors._gaussian_kernels import _lane_sums_loop as loop

    lanes = 8 * vectors
    call = _lane_sums_caller(vectors)
    flat = (rng.normal(size=lanes * 37 + 5) * 3 + 1e4).astype(dtype)
    cl = 1e4 + rng.normal(size=lanes)
    for count in (0, lanes, lanes * 37):
        start = rng.normal(size=(2, lanes))
        got, ref = start.copy(), start.copy()
        call(flat, count, cl, got[0], got[1])
        loop(flat, count, lanes, cl, ref[0], ref[1])
        np.testing.assert_array_equal(got, ref)
    flat[lanes:] = np.nan  # past count: never read
    got = np.zeros((2, lanes))
    call(flat, lanes, cl, got[0], got[1])
    assert np.isfinite(got).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 2, 4, 8])
def test_grams_by_lanes_equal_exact_sums(rng, dtype, d):
    """The full moments of unweighted rows of 1, 2, 4 or 8 features, read without the
    transposed copy: every lane and rotation lands on its product of the Gram matrix
    (the lower triangle; the d/2 rotation, which meets each pair twice, counted
    once), over whole blocks, a last partial block and the last rows one by one.
    Integer values make every sum exact: the result must equal NumPy's to the bit,
    added to what ``S`` held, its upper triangle untouched."""
    from anomalykit.detectors import _gaussian_kernels as kernels

    L = 8 * kernels._GRAM_VECTORS
    block = kernels._GRAM_BLOCK
    centre = rng.integers(-3, 4, d).astype(np.float64)
    for m in (0, 1, 3, L // d - 1, L // d + 1, block // d, 3 * block // d + 5):
        X = rng.integers(-50, 50, (m, d)).astype(dtype)
        start = rng.integers(-5, 5, (d, d)).astype(np.float64)
        S = start.copy()
        sums = np.full(d, np.nan)
        acc1, acc2 = np.full(L, np.nan), np.full((d // 2 + 1) * L, np.nan)
        pairs, cl = kernels._lane_pairs(d), np.full(8, np.nan)
        kernels._grams_by_lanes(X, centre, pairs, cl, acc1, acc2, sums, S)
        C = X.astype(np.float64) - centre
        np.testing.assert_array_equal(sums, C.sum(axis=0))
        np.testing.assert_array_equal(np.tril(S - start), np.tril(C.T @ C))
        np.testing.assert_array_equal(np.triu(S, 1), np.triu(start, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("d", "rotations"), [(1, 1), (2, 1), (4, 1), (8, 1), (2, 2), (4, 4), (8, 8)]
)
def test_lane_scores_eight_rows_at_a_time(rng, dtype, d, rotations):
    """Rows in lanes: ``z = (x - m) P`` from rotations within each row (one, P
    diagonal: diag; ``d``, P upper triangular: full), each row's squares summed
    by pairs of neighbouring lanes, or (full, d = 8) from the 8 rows transposed
    in registers: every score lands on its own row, in order,
    and the lanes' totals add up to the scores' sum; nothing past ``count`` rows
    is read or written. Small integers and powers of two keep every sum exact:
    equal to NumPy's to the bit."""
    call = _caller_with_literal(
        "_lane_scores", "flat, count, mv, coef, log_norm, out, total", d, rotations
    )
    mean = rng.integers(-3, 4, d).astype(np.float64)
    if rotations == 1:
        P = np.diag(2.0 ** rng.integers(-2, 3, d))
    else:
        P = np.triu(rng.integers(-3, 4, (d, d))).astype(np.float64)
    lanes = np.arange(8) % d
    others = (lanes + np.arange(rotations)[:, np.newaxis]) % d
    mv, coef = mean[lanes], np.ascontiguousarray(P[others, lanes]).reshape(-1)
    for count in (0, 8, 64, 8 * 37):
        X = rng.integers(-40, 40, (count + 5, d)).astype(dtype)
        X[count:] = np.nan  # past count: never read
        out = np.full(count + 3, -7.0)
        total = rng.integers(-5, 5, 8).astype(np.float64)
        start = total.copy()
        call(X.reshape(-1), count, mv, coef, -2.5, out, total)
        expected = -2.5 - 0.5 * (((X[:count].astype(np.float64) - mean) @ P) ** 2).sum(axis=1)
        np.testing.assert_array_equal(out[:count], expected)
        np.testing.assert_array_equal(out[count:], -7.0)
        np.testing.assert_array_equal(total - start, expected.reshape(-1, 8).sum(axis=0))


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8, 13])
def test_score_full_of_any_width(rng, d):
    """``score_full`` for every width, also those the estimator scores in lanes
    (1, 2, 4, 8: the transposed tiles, or rows one by one at 3), against NumPy."""
    from anomalykit.detectors import _gaussian_kernels as kernels

    dp = -(-d // 4) * 4
    PT = np.zeros((dp, dp))
    PT[:d, :d] = np.tril(rng.normal(size=(d, d))) + 3 * np.eye(d)
    X, mean = rng.normal(size=(1037, d)), rng.normal(size=d)
    out = np.full(1037, np.nan)
    total = kernels.score_full(X, mean, PT, -1.5, out, 0, 1037, 64)
    expected = -1.5 - 0.5 * (((X - mean) @ PT[:d, :d].T) ** 2).sum(axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert total == pytest.approx(expected.sum(), rel=1e-12)


def test_lane_grams_refuse_other_widths_and_layouts(rng):
    """Only rows of 1, 2, 4 or 8 features fill whole vectors, and the vector loads
    assume C-contiguous values: anything else is a compile error, never a wrong sum."""
    from numba import njit
    from numba.core.errors import TypingError

    from anomalykit.detectors import _gaussian_kernels as kernels

    @njit
    def three(flat, cl, acc1, acc2):
        kernels._lane_grams(flat, flat.shape[0], 3, cl, acc1, acc2)

    @njit
    def eight(flat, cl, acc1, acc2):
        kernels._lane_grams(flat, flat.shape[0], 8, cl, acc1, acc2)

    L = 8 * kernels._GRAM_VECTORS
    flat = rng.normal(size=2 * L)
    with pytest.raises(TypingError):
        three(flat, np.zeros(8), np.zeros(L), np.zeros(2 * L))
    with pytest.raises(TypingError):
        eight(rng.normal(size=4 * L)[::2], np.zeros(8), np.zeros(L), np.zeros(5 * L))
    acc1, acc2 = np.zeros(L), np.zeros(5 * L)
    eight(flat, np.zeros(8), acc1, acc2)
    assert acc1.sum() == pytest.approx(flat.sum())
    assert acc2[:L].sum() == pytest.approx((flat**2).sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [3, 6, 7, 16, 24, 40, 56, 64, 100])
def test_diag_moments_of_every_segment_width(engine, rng, dtype, d):
    """Widths of 4 to 8 vectors (d = 16 and 64: 4 and 8; 40: 5; 3, 6, 24: 6; 7 and
    56: 7) and the loop through memory (d = 100) against the NumPy reference."""
    X = make_X(rng, 20_000, d, dtype)
    ref = fitted(engine, "numpy", "diag", X)
    fast = fitted(engine, "numba", "diag", X)
    assert_same_model(fast, ref, RTOL64 if dtype == np.float64 else RTOL32)
