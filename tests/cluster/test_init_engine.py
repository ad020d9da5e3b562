"""Greedy k-means++: the compiled engine (one pass per step for all candidates,
rows skipped by the triangle inequality) against the NumPy reference and scikit-learn."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import make_blobs

from anomalykit import kmeans_plusplus
from anomalykit.cluster._init import _GATHER_ROWS, _draw, greedy_kmeans_plusplus

pytest.importorskip("numba")


def data(n=4000, d=6, centers=12, dtype=np.float64, seed=0):
    X = make_blobs(n, d, centers=centers, cluster_std=1.5, random_state=seed)[0]
    return np.ascontiguousarray(X - X.mean(axis=0), dtype=dtype)


def run(X, k, seed, engine, threads=None, w=None, trials=None):
    w = np.ones(len(X)) if w is None else w
    x_sq = np.einsum("ij,ij->i", X, X)
    rng = np.random.default_rng(seed)
    return greedy_kmeans_plusplus(X, k, w, rng, x_sq, trials, engine=engine, threads=threads)


def inertia(X, centers):
    D = (X**2).sum(1)[:, None] - 2 * X @ centers.T + (centers**2).sum(1)
    return float(np.maximum(D, 0).min(axis=1).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 2, 12, 40])
def test_compiled_picks_the_numpy_references_rows(seed, k):
    # The same random draws give the same candidates and the same choices (float64
    # data: rounding does not move a draw across a row's boundary here).
    X = data()
    fast = run(X, k, seed, "numba")
    ref = run(X, k, seed, "numpy")
    np.testing.assert_array_equal(fast[1], ref[1])
    np.testing.assert_array_equal(fast[0], X[fast[1]])


def test_one_and_two_threads_pick_the_same_rows():
    X = data(n=30000, d=8, centers=20, dtype=np.float32)  # several chunks
    one = run(X, 30, 0, "numba", threads=1)
    two = run(X, 30, 0, "numba", threads=2)
    np.testing.assert_array_equal(one[1], two[1])


def test_float32_gives_the_float64_choices():
    X = data()
    np.testing.assert_array_equal(
        run(X.astype(np.float32), 12, 0, "numba")[1], run(X, 12, 0, "numba")[1]
    )


def test_rows_without_weight_are_never_chosen():
    X = data()
    w = np.ones(len(X))
    w[::2] = 0
    _, idx = run(X, 30, 0, "numba", w=w)
    assert (w[idx] > 0).all()
    assert len(set(idx.tolist())) == 30


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_picks_sklearns_rows_from_the_same_random_stream(engine, seed, dtype):
    # scikit-learn's greedy k-means++ draws from a RandomState: given one in the same
    # state, both paths draw the same candidates and keep the same best of each step.
    X = make_blobs(5000, 6, centers=12, cluster_std=1.5, random_state=seed)[0]
    X = np.ascontiguousarray(X - X.mean(axis=0), dtype=dtype)
    _, ref = sk_kmeans_plusplus(X, 20, random_state=seed)
    w, x_sq = np.ones(len(X)), np.einsum("ij,ij->i", X, X)
    rng = np.random.RandomState(seed)
    _, idx = greedy_kmeans_plusplus(X, 20, w, rng, x_sq, engine=engine)
    np.testing.assert_array_equal(idx, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_register_panels_pick_the_blas_and_numpy_rows(dtype, monkeypatch):
    # 32 features: with AVX-512 the candidates' products come from register panels.
    from anomalykit.cluster import _numba_panels

    X = data(n=6000, d=32, centers=15, dtype=dtype, seed=2)
    picks = {}
    for panels in (True, False):
        monkeypatch.setattr(_numba_panels, "HAS_AVX512", panels)
        assert (_numba_panels.panel_width(8, 32, X.itemsize) > 0) == panels
        picks[panels] = run(X, 25, 3, "numba")[1]
    np.testing.assert_array_equal(picks[True], picks[False])
    np.testing.assert_array_equal(picks[True], run(X, 25, 3, "numpy")[1])


def test_same_inertia_as_sklearn_in_distribution():
    X = data(n=3000, d=5, centers=10)
    ours = [inertia(X, kmeans_plusplus(X, 10, random_state=s)[0]) for s in range(20)]
    ref = [inertia(X, sk_kmeans_plusplus(X, 10, random_state=s)[0]) for s in range(20)]
    assert np.mean(ours) == pytest.approx(np.mean(ref), rel=0.1)


def test_sparse_rows_take_the_numpy_path():
    X = np.abs(data())
    X[X < 2] = 0
    dense = run(X, 8, 0, "numpy")
    sparse = greedy_kmeans_plusplus(
        sp.csr_matrix(X), 8, np.ones(len(X)), np.random.default_rng(0),
        np.einsum("ij,ij->i", X, X),
    )  # fmt: skip
    np.testing.assert_array_equal(sparse[1], dense[1])


def test_unknown_engine_is_an_error():
    X = data(n=100)
    with pytest.raises(ValueError, match="engine"):
        run(X, 3, 0, "cuda")


def test_rows_a_candidate_cannot_improve_are_skipped():
    from anomalykit.cluster import _numba_init

    rng = np.random.default_rng(0)
    # Two far-apart groups; the one chosen centre is row 0 (group A), the candidate a
    # row of group B. Rows of B are computed (the candidate may bring them closer);
    # rows of A, 0.1 from their centre and 100 from the candidate, are skipped.
    A = rng.normal(0, 0.1, (600, 4))
    B = rng.normal(50, 0.1, (600, 4))
    X = np.vstack([A, B])
    x_sq = np.einsum("ij,ij->i", X, X)
    w = np.ones(len(X))
    closest = ((X - X[0]) ** 2).sum(1)
    near = np.zeros(len(X), dtype=np.int64)
    far_cand = np.array([1000])  # a row of B: 50 * sqrt(4) = 100 from the centre
    cands = X[far_cand].copy()
    cdT = ((cands[None, :, :] - X[0][None, None, :]) ** 2).sum(-1)  # (centres, candidates)
    mins = np.full((1, len(X)), -1.0)
    gains = np.zeros(1)
    no_panels = np.zeros((0, 4, 1))  # d = 4: the BLAS product
    better = np.full(len(X), 7, dtype=np.uint8)
    computed = _numba_init.trial_chunk(
        X, np.zeros(0), x_sq, w, closest, near, cands, no_panels, x_sq[far_cand], cdT, cdT.min(axis=1),
        mins, better, gains, 0, len(X), _GATHER_ROWS,
    )  # fmt: skip
    assert computed == 600
    assert (better[:600] == 0).all() and (better[600:] == 255).all()  # one candidate: every bit
    assert (mins[0, :600] == -1).all()
    assert (mins[0, 600:] >= 0).all()
    expected = w[600:] @ (
        closest[600:] - np.minimum(closest[600:], ((X[600:] - cands[0]) ** 2).sum(1))
    )
    assert gains[0] == pytest.approx(expected, rel=1e-9)


def test_draws_from_block_sums_pick_the_rows_of_one_running_sum():
    rng = np.random.default_rng(0)
    n, block = 10_000, 1024
    w = rng.random(n)
    w[2048:3072] = 0.0  # a whole block without weight
    w[rng.random(n) < 0.2] = 0.0
    closest = rng.random(n) ** 4
    closest[::7] = 0.0  # rows at a chosen centre
    starts = np.arange(0, n, block)
    stops = np.append(starts[1:], n)
    sums = np.array(
        [np.cumsum(w[a:b] * closest[a:b])[-1] for a, b in zip(starts, stops, strict=True)]
    )
    rows = _draw(np.random.default_rng(5), 5000, w, closest, sums, starts, stops)
    cum = np.cumsum(w * closest)
    expected = np.searchsorted(cum, np.random.default_rng(5).uniform(size=5000) * cum[-1])
    np.testing.assert_array_equal(rows, expected)
    assert (w[rows] * closest[rows] > 0).all()  # never a row without probability


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_picks_the_numpy_references_rows_over_several_chunks(seed):
    # 40,000 rows: four chunks of 10,000 rows (not a whole number of the draws'
    # 1024-row blocks), so the draws read block sums written by every chunk.
    X = data(n=40_000, d=2, centers=30, seed=seed)
    fast = run(X, 30, seed, "numba", threads=2)
    ref = run(X, 30, seed, "numpy")
    np.testing.assert_array_equal(fast[1], ref[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [4, 32, 33])  # BLAS with a shifted copy; panels (pairs, odd)
@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_a_shift_picks_the_rows_of_a_centred_copy(dtype, d, engine):
    # Far from the origin: the shift must be applied (the rows' own distances by
    # ||x||^2 - 2 x.c + ||c||^2 would lose digits), as a centred copy holds it.
    X = (data(n=5000, d=d, centers=14, seed=4) + 300.0).astype(dtype)
    shift = X.mean(axis=0)
    Xc = X - shift
    w = np.ones(len(X))
    got = greedy_kmeans_plusplus(
        X, 20, w, np.random.default_rng(1), None, None, engine=engine, shift=shift
    )
    ref = greedy_kmeans_plusplus(Xc, 20, w, np.random.default_rng(1), None, None, engine=engine)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[0], X[got[1]])  # rows of X, not of the copy


def test_shifted_norms_are_those_of_the_centred_copy():
    from anomalykit.cluster import _numba_init

    rng = np.random.default_rng(0)
    X = rng.normal(50.0, 2.0, size=(301, 17)).astype(np.float32)
    shift = X.mean(axis=0)
    out = np.full(301, -1.0)
    _numba_init.shifted_sq_norms_chunk(X, shift, out, 10, 200)
    Xc = (X - shift).astype(np.float64)
    np.testing.assert_allclose(out[10:200], (Xc[10:200] ** 2).sum(1), rtol=1e-12)
    assert (out[:10] == -1).all() and (out[200:] == -1).all()
    _numba_init.shifted_sq_norms_chunk(X, shift[:0], out, 0, 301)  # no shift
    np.testing.assert_allclose(out, (X.astype(np.float64) ** 2).sum(1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gains_by_vector_lanes_equal_the_scalar_loop(dtype):
    # Eight candidates go through one vector of lanes (_gain_lanes); padded to 16
    # they go through the scalar loop: the same operations, the same bits.
    from anomalykit.cluster import _numba_init

    rng = np.random.default_rng(7)
    n, d, c = 3000, 5, 4  # 5 features: BLAS products, the same for both widths
    X = rng.normal(size=(n, d)).astype(dtype)
    x_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    w = rng.random(n)
    w[::11] = 0.0
    closest = rng.random(n) * 4
    closest[::13] = 0.0  # rows at a centre
    near = rng.integers(0, c, n)
    results = []
    for lanes in (8, 16):
        cands = np.zeros((lanes, d), dtype=dtype)
        cands[:7] = X[:7]
        c_sq = np.full(lanes, np.inf)
        c_sq[:7] = x_sq[:7]
        cdT = np.zeros((c, lanes))
        cdT[:, :7] = rng.random((c, 7)) * 30 if lanes == 8 else results[0][3][:, :7]
        cdT[0, 0] = 1000.0
        # rows within the skip test's margin of the bound: computed, not skipped
        edge = np.flatnonzero(near == 0)[:50]
        closest[edge] = 1000.0 / (4 * (1 + 0.5 * _numba_init.SKIP_MARGIN))
        mins = np.full((lanes, n), -1.0)
        better = np.full(n, 77, dtype=np.uint8)
        gains = np.zeros(lanes)
        nearest2 = cdT[:, :7].min(axis=1)
        no_panels = np.zeros((0, d, 1), dtype=dtype)
        _numba_init.trial_chunk(
            X, np.zeros(0, dtype), x_sq, w, closest, near, cands, no_panels, c_sq, cdT,
            nearest2, mins, better, gains, 0, n, _GATHER_ROWS,
        )  # fmt: skip
        results.append((mins[:7].T, gains[:7], better, cdT))
    far = results[0][3][near, :7] > 4 * closest[:, None] * (1 + _numba_init.SKIP_MARGIN)
    assert 0.1 < far.mean() < 0.9  # both sides of the skip test are exercised
    # eight lanes: bit q where candidate q brings the row closer, the row's minima
    # written where any does; sixteen (the scalar loop): every row computed
    lower = results[1][0] < closest[:, None]
    bits = (lower * (1 << np.arange(7))).sum(axis=1)
    computed = results[1][2] == 255
    np.testing.assert_array_equal(results[0][2][computed], bits[computed])
    assert (results[0][2][~computed] == 0).all()
    written = results[0][2] != 0
    assert 0.02 < written.mean() < 0.9
    assert (results[0][0][~written] == -1).all()
    assert (results[0][0][edge, 0] < closest[edge]).all()  # the margin's rows improved
    np.testing.assert_array_equal(results[0][0][written], results[1][0][written])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    expected = np.minimum(closest[:, None], np.maximum(
        x_sq[:, None] + x_sq[None, :7] - 2 * (X @ X[:7].T).astype(np.float64), 0
    ))  # fmt: skip
    expected = np.where(far, closest[:, None], expected)
    np.testing.assert_allclose(results[0][0][written], expected[written], rtol=1e-5, atol=1e-5)
