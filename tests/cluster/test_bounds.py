"""The bounded Lloyd engine (Hamerly / Yinyang / Elkan-like bounds) against plain steps.

Bounds are exact: every iteration must give the plain step's labels, bit for bit,
and its centres up to the rounding of the incrementally updated sums.
"""

import numpy as np
import pytest
from lloyd_cases import CENTRE_TOL, blobs, rows
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from anomalykit import KMeans
from anomalykit.cluster import _kmeans, _lloyd
from anomalykit.cluster._lloyd import BoundedLloyd, lloyd_bounded, lloyd_step, use_bounds

pytest.importorskip("numba")

# (n_groups, max_candidates): Hamerly, Yinyang, one group per centre (Elkan's bounds);
# candidates never one by one (every unsettled row through BLAS), the cost model's
# default, and always one by one.
VARIANTS = [(1, None), (4, None), (4, 0), (4, 10**6), (12, None), (12, 10**6)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_groups", "max_candidates"), VARIANTS)
def test_every_iteration_equals_the_plain_step(dtype, n_groups, max_candidates):
    X = blobs(dtype=dtype)
    k = 12
    w = np.ones(len(X))
    engine = BoundedLloyd(X, w, k, n_groups=n_groups, max_candidates=max_candidates, threads=2)
    plain = bounded = rows(X, k)
    for _ in range(15):
        ref = lloyd_step(X, plain, w)
        numpy_ref = lloyd_step(X, plain, w, engine="numpy")
        got = engine.step(bounded)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_array_equal(got.labels, numpy_ref.labels)
        np.testing.assert_allclose(got.centers, ref.centers, rtol=0, atol=CENTRE_TOL[dtype])
        np.testing.assert_allclose(got.cluster_weights, ref.cluster_weights)
        plain, bounded = ref.centers, got.centers


@pytest.mark.parametrize(
    ("n_groups", "max_candidates"), [(1, None), (4, 0), (4, 10**6), (12, None), (12, 10**6)]
)
def test_every_path_is_taken_and_most_distances_are_skipped(n_groups, max_candidates):
    X = blobs(n=8000, std=1.0)
    k = 12
    engine = BoundedLloyd(X, np.ones(len(X)), k, n_groups=n_groups, max_candidates=max_candidates)
    centers = rows(X, k)
    seen = np.zeros(4, dtype=np.int64)
    for _ in range(10):
        centers = engine.step(centers).centers
        seen += engine.last_stats
    _, n_full, n_tightened, n_singles = seen
    plain_evaluations = 10 * len(X) * k
    assert engine.evaluations < 0.5 * plain_evaluations  # the bounds skip
    assert n_full >= len(X)  # the first pass computes every row
    assert n_tightened > 0
    if max_candidates == 0:  # every unsettled row through the BLAS product
        assert n_singles == 0
        assert n_full > len(X)
    elif max_candidates is not None:  # every unsettled row by its candidates
        assert n_singles > 0
    # Settled rows: neither computed in full nor through candidates.
    assert n_full + n_tightened < 10 * len(X)


def test_the_last_passes_skip_almost_every_row():
    X = blobs(n=8000, std=0.5)
    engine = BoundedLloyd(X, np.ones(len(X)), 6)
    centers = rows(X, 6, seed=3)
    for _ in range(30):
        step = engine.step(centers)
        if np.array_equal(step.centers, centers):
            break
        centers = step.centers
    before = engine.evaluations
    engine.step(centers)  # the same centres: nothing moved, nothing to compute
    assert engine.evaluations - before == 0


@pytest.mark.parametrize("share", [None, 1.0, 0.05])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tol", [0.0, 1e-3])
def test_the_bounded_loop_equals_the_plain_loop_and_sklearn(dtype, tol, share, monkeypatch):
    # share: the default switch to the bounds (the probe), bounds from the first
    # step, an early switch; k x d = 1920: enough work per row for the probe to
    # take them up
    X = blobs(n=10000, d=48, centers=40, std=2.0, dtype=dtype)
    k = 40
    init = rows(X, k)
    w = np.ones(len(X))
    tol_abs = tol * float(np.mean(np.var(X, axis=0)))  # scikit-learn's tol is relative
    started = []
    real = _lloyd.BoundedLloyd
    monkeypatch.setattr(
        _lloyd, "BoundedLloyd", lambda *a, **kw: started.append(1) or real(*a, **kw)
    )
    labels, centers, n_iter, _ = lloyd_bounded(X, init, w, 100, tol_abs, settled_share=share)
    assert started  # every setting reaches the bounds on these blobs
    ref_labels, ref_centers, ref_iter, _ = _kmeans._lloyd_plain(
        X, init, w, np.einsum("ij,ij->i", X, X), 100, tol_abs, False
    )
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(centers, ref_centers, rtol=0, atol=CENTRE_TOL[dtype])
    assert n_iter == ref_iter
    sk = SkKMeans(k, init=init, n_init=1, max_iter=100, tol=tol, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(labels, sk.labels_)
    np.testing.assert_allclose(centers, sk.cluster_centers_, rtol=0, atol=CENTRE_TOL[dtype])
    assert n_iter == sk.n_iter_


def test_kmeans_fit_uses_the_bounds_and_equals_sklearn(monkeypatch):
    X = blobs(n=12000, d=16, centers=20, std=2.0)
    k = 24
    assert use_bounds(X, k, spherical=False)
    calls = []
    real = _kmeans.lloyd_bounded
    monkeypatch.setattr(
        _kmeans, "lloyd_bounded", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    init = rows(X, k)
    ours = KMeans(k, init=init).fit(X)
    assert calls
    sk = SkKMeans(k, init=init, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=0, atol=1e-10)
    assert ours.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)
    assert ours.n_iter_ == sk.n_iter_


def test_small_or_sparse_or_cosine_data_takes_plain_steps():
    import scipy.sparse as sp

    X = blobs(n=10000, d=16)
    assert use_bounds(X, 20, spherical=False)
    assert not use_bounds(X[:1000], 20, spherical=False)  # few rows
    assert not use_bounds(X[:, :2], 8, spherical=False)  # little work per row
    assert not use_bounds(sp.csr_matrix(X), 20, spherical=False)
    assert not use_bounds(X, 20, spherical=True)


@pytest.mark.parametrize("n_groups", [1, 4])  # Hamerly, Yinyang
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_give_identical_results(dtype, n_groups):
    X = blobs(n=40000, d=8, centers=10, std=2.0, dtype=dtype)  # several chunks
    k = 16
    init = rows(X, k)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    kw = {"n_groups": n_groups, "settled_share": 1.0}
    one = lloyd_bounded(X, init, w, 30, 0.0, threads=1, **kw)
    two = lloyd_bounded(X, init, w, 30, 0.0, threads=2, **kw)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])  # bit for bit
    assert one[2] == two[2]


def test_weights_including_zero_equal_the_plain_step():
    X = blobs(n=6000)
    w = np.random.default_rng(1).uniform(0, 3, len(X))
    w[::7] = 0
    k = 8
    engine = BoundedLloyd(X, w, k, n_groups=2)
    plain = bounded = rows(X, k)
    for _ in range(10):
        ref = lloyd_step(X, plain, w)
        got = engine.step(bounded)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_allclose(got.centers, ref.centers, rtol=0, atol=1e-10)
        plain, bounded = ref.centers, got.centers


def test_an_empty_cluster_is_reseeded_as_by_the_plain_step():
    X = blobs(n=6000, d=4, centers=3, std=0.5)
    k = 5
    init = rows(X, k)
    init[-1] = 1e3  # far from every row: empty after the first assignment
    w = np.ones(len(X))
    engine = BoundedLloyd(X, w, k)
    plain = bounded = init
    for i in range(6):
        ref = lloyd_step(X, plain, w)
        got = engine.step(bounded)
        if i == 0:
            assert ref.relocated.tolist() == [k - 1]
        np.testing.assert_array_equal(got.relocated, ref.relocated)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_allclose(got.centers, ref.centers, rtol=0, atol=1e-10)
        plain, bounded = ref.centers, got.centers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_ties_are_broken_as_the_plain_step_breaks_them(dtype):
    # Integer grid points and integer centres: many rows are exactly as far from two
    # or more centres. The bounds must leave every such row to the plain arithmetic.
    g = np.arange(-20, 21, dtype=dtype)
    X = np.stack(np.meshgrid(g, g, g), axis=-1).reshape(-1, 3)
    k = 27
    c = np.array([-10.0, 0.0, 10.0], dtype=dtype)
    init = np.stack(np.meshgrid(c, c, c), axis=-1).reshape(-1, 3)
    w = np.ones(len(X))
    for n_groups, max_candidates in [(1, None), (9, 10**6), (27, 10**6)]:
        engine = BoundedLloyd(X, w, k, n_groups=n_groups, max_candidates=max_candidates)
        plain = bounded = init
        for _ in range(6):
            ref = lloyd_step(X, plain, w)
            got = engine.step(bounded)
            np.testing.assert_array_equal(got.labels, ref.labels)
            plain, bounded = ref.centers, got.centers


def test_uniform_data_falls_back_to_plain_steps_with_the_same_result():
    rng = np.random.default_rng(0)
    X = rng.random((20000, 24), dtype=np.float32)
    X -= X.mean(axis=0)
    k = 40
    init = rows(X, k)
    w = np.ones(len(X))
    engine = BoundedLloyd(X, w, k)
    centers = init
    for _ in range(4):
        centers = engine.step(centers).centers
    assert not engine.profitable  # the rows sit near many centres: the bounds cost more
    labels, centers, n_iter, _ = lloyd_bounded(X, init, w, 25, 0.0, settled_share=1.0)
    ref = _kmeans._lloyd_plain(X, init, w, np.einsum("ij,ij->i", X, X), 25, 0.0, False)
    np.testing.assert_array_equal(labels, ref[0])
    np.testing.assert_allclose(centers, ref[1], rtol=0, atol=1e-4)
    assert n_iter == ref[2]


def probe_data(kind, d, k, n=20000):
    """float32 rows: U[0, 1) or k Gaussian blobs (unit spread), and k distinct rows."""
    if kind == "uniform":
        X = np.random.default_rng(0).random((n, d), dtype=np.float32)
    else:
        X = np.ascontiguousarray(make_blobs(n, d, centers=k, random_state=0)[0], np.float32)
    return X, rows(X, k)


def pass_cost(X, k, group, previous, centers):
    """A bounded pass's cost at ``centers`` after a first pass at ``previous``, in
    plain steps (the cost model, from the pass's own counts)."""
    engine = BoundedLloyd(X, np.ones(len(X)), k, group=group)
    engine._pass(previous, True)
    engine._pass(centers, True)
    _, full, tightened, singles = (int(x) for x in engine.last_stats)
    costs = _lloyd._Costs.of(k, X.shape[1], X.dtype.itemsize, int(group.max()) + 1)
    return costs.bounded_pass(len(X), tightened, singles, full) / (len(X) * costs.plain_row)


@pytest.mark.parametrize(("kind", "d", "k"), [("uniform", 128, 128), ("blobs", 128, 128),
                                              ("uniform", 64, 64), ("blobs", 64, 64)])  # fmt: skip
def test_the_probe_predicts_whether_a_bounded_pass_pays(kind, d, k):
    # On a sample of 256 rows, the probe must call each of the first steps as the
    # pass over all rows turns out, where that is clear (cost model: uniform rows
    # cost 2.2-4.6 plain steps a pass, blobs 1.7-4.0 on the first two steps, then
    # less, 0.3 and 0.7 after eight; within 0.1 of the threshold a sample may
    # call it either way).
    X, C = probe_data(kind, d, k)
    w = np.ones(len(X))
    group = _lloyd._center_groups(C, _lloyd.default_groups(len(X), k))
    calls = []
    for _ in range(8):
        new = lloyd_step(X, C, w).centers
        predicted = _lloyd.bounds_would_pay(X, C, new, group)
        calls.append(predicted)
        cost = pass_cost(X, k, group, C, new)
        if abs(cost - _lloyd._PROBE_GAIN) > 0.1:
            assert predicted == (cost <= _lloyd._PROBE_GAIN)
        C = new
    assert any(calls) == (kind == "blobs")


def test_bounds_start_at_once_only_on_clustered_rows_with_much_work():
    X, C = probe_data("blobs", 128, 128)  # k * d = 2**14: rows 5x nearer one centre
    assert _lloyd.bounds_pay_at_once(X, C)
    assert not _lloyd.bounds_pay_at_once(*probe_data("uniform", 128, 128))  # ratios near 1
    assert not _lloyd.bounds_pay_at_once(*probe_data("blobs", 64, 64))  # k * d = 4096


@pytest.mark.parametrize(
    ("kind", "d", "k", "taken_up"),
    [("blobs", 128, 128, [1]), ("blobs", 64, 64, list(range(2, 12))), ("uniform", 128, 128, [])],
)
def test_a_run_takes_up_the_bounds_where_they_pay(kind, d, k, taken_up, monkeypatch):
    # At once (clustered, much work per row), after the probe's first yes (after
    # a few plain steps), or never (uniform); the labels are the plain loop's.
    X, C = probe_data(kind, d, k)
    w = np.ones(len(X))
    steps = []
    real_step, real_engine = _lloyd.PlainLloyd._step, _lloyd.BoundedLloyd
    monkeypatch.setattr(
        _lloyd.PlainLloyd, "_step", lambda *a, **kw: steps.append(1) or real_step(*a, **kw)
    )
    started = []
    monkeypatch.setattr(
        _lloyd,
        "BoundedLloyd",
        lambda *a, **kw: started.append(len(steps) + 1) or real_engine(*a, **kw),
    )
    labels, centers, n_iter, _ = lloyd_bounded(X, C, w, 12, 0.0)
    assert len(started) == min(1, len(taken_up)) and set(started) <= set(taken_up)
    ref = _kmeans._lloyd_plain(X, C, w, None, 12, 0.0, False)
    np.testing.assert_array_equal(labels, ref[0])
    np.testing.assert_allclose(centers, ref[1], rtol=0, atol=1e-4)
    assert n_iter == ref[2]


@pytest.mark.parametrize(("d", "k", "probed"), [(64, 10, False), (8, 32, False), (64, 64, True)])
def test_a_run_probes_only_where_the_bounds_could_pay(d, k, probed, monkeypatch):
    # Where even a pass that settles every row by its bounds would cost over
    # _PROBE_HOPE plain steps (the cost model: few products per row), the run
    # never probes, and its result is the plain loop's.
    X, C = probe_data("blobs", d, k)
    costs = _lloyd._Costs.of(k, d, X.itemsize, _lloyd.default_groups(len(X), k))
    assert (costs.bound_row <= _lloyd._PROBE_HOPE * costs.plain_row) == probed
    calls = []
    real = _lloyd.bounds_would_pay
    monkeypatch.setattr(_lloyd, "bounds_would_pay", lambda *a: calls.append(1) or real(*a))
    w = np.ones(len(X))
    labels, centers, n_iter, _ = lloyd_bounded(X, C, w, 12, 0.0)
    assert bool(calls) == probed
    ref = _kmeans._lloyd_plain(X, C, w, None, 12, 0.0, False)
    np.testing.assert_array_equal(labels, ref[0])
    np.testing.assert_allclose(centers, ref[1], rtol=0, atol=1e-4)
    assert n_iter == ref[2]


def test_bounds_from_the_first_step_outlast_their_costly_first_passes():
    # Blobs: passes cost 2.2, 1.8, 1.6 plain steps, then 0.5 and less (cost
    # model). Falling costs are not counted against the bounds; two rising or
    # level ones would be.
    X, C = probe_data("blobs", 128, 128)
    engine = BoundedLloyd(X, np.ones(len(X)), 128)
    for _ in range(6):
        C = engine.step(C).centers
        assert engine.profitable


def test_given_groups_are_used_and_any_grouping_is_exact():
    X = blobs(n=8000, std=1.0)
    k = 12
    w = np.ones(len(X))
    group = np.arange(k) % 3  # centres grouped by index: no geometry at all
    engine = BoundedLloyd(X, w, k, group=group)
    assert engine.n_groups == 3
    plain = bounded = rows(X, k)
    for _ in range(8):
        ref = lloyd_step(X, plain, w)
        got = engine.step(bounded)
        np.testing.assert_array_equal(engine.group, group)
        np.testing.assert_array_equal(got.labels, ref.labels)
        plain, bounded = ref.centers, got.centers


def test_default_groups_follow_yinyang_and_memory():
    assert _lloyd.default_groups(10**5, 8) == 1  # Hamerly below 20 centres
    assert _lloyd.default_groups(10**5, 64) == 6
    assert _lloyd.default_groups(10**5, 1000) == 32
    assert _lloyd.default_groups(10**8, 1000) == 1  # n x t float32 within 256 MiB


@pytest.mark.parametrize(("n", "d", "k"), [(8192, 128, 128), (20000, 3, 9), (20000, 16, 6)])
def test_near_tied_float32_centres_get_the_plain_kernels_labels(n, d, k):
    # Pairs of centres one float32 ulp apart in half their coordinates: rows tie
    # within rounding. The plain kernel compares four centres at a time, the
    # bounded one one at a time; both must compute the same float32 values.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, d)).astype(np.float32)
    C = X[rng.choice(n, k, replace=False)].copy()
    for j in range(1, k, 2):
        C[j] = C[j - 1]
        C[j, ::2] = np.nextafter(C[j - 1, ::2], np.float32(9))
    w = np.ones(n)
    plain = lloyd_step(X, C, w)
    np.testing.assert_array_equal(BoundedLloyd(X, w, k).step(C).labels, plain.labels)


def test_a_run_through_near_ties_equals_the_plain_loop():
    rng = np.random.default_rng(1)
    n, d, k = 20000, 64, 5
    X = rng.normal(size=(n, d)).astype(np.float32)
    C = rng.normal(size=(k, d)).astype(np.float32)
    C[2] = np.nextafter(C[1], np.float32(9))
    C[2, ::2] = C[1, ::2]
    w = np.ones(n)
    ref = _kmeans._lloyd_plain(X, C.copy(), w, None, 300, 0.0, False)
    for share in (1.0, None):
        labels, centers, n_iter, _ = lloyd_bounded(X, C.copy(), w, 300, 0.0, settled_share=share)
        np.testing.assert_array_equal(labels, ref[0])
        assert n_iter == ref[2]
        np.testing.assert_allclose(centers, ref[1], rtol=0, atol=1e-4)


@pytest.mark.parametrize(("n", "d", "k"), [(12000, 16, 6), (12000, 48, 8), (6000, 96, 32)])
def test_later_passes_differ_from_the_plain_kernel_only_within_rounding(n, d, k):
    # After the first pass, rows go through gathered blocks whose BLAS products
    # may round otherwise than the plain kernel's sub-blocks (see _numba_bounds):
    # a label may differ only where the two centres are within 4 delta of each
    # other (float64 values). Both product orientations: rows first for the
    # first two shapes.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, d)).astype(np.float32)
    C = X[rng.choice(n, k, replace=False)].copy()
    w = np.ones(n)
    engine = BoundedLloyd(X, w, k)
    X64 = X.astype(np.float64)
    x_norm = np.sqrt(np.einsum("ij,ij->i", X64, X64))
    gathered = 0
    for p in range(5):
        C[1] = C[0]  # one pair one ulp apart in half its coordinates: its rows tie
        C[1, ::2] = np.nextafter(C[0, ::2], np.float32(9))
        step = engine.step(C)
        plain = lloyd_step(X, C, w).labels
        C64 = C.astype(np.float64)
        values = np.einsum("ij,ij->i", C64, C64) - 2 * X64 @ C64.T
        cmax = np.sqrt(np.max(np.einsum("ij,ij->i", C64, C64)))
        delta = (d + 8) * np.finfo(np.float32).eps * (cmax**2 + 2 * x_norm * cmax)
        rows = np.flatnonzero(step.labels != plain)
        assert rows.size <= n // 1000
        gap = np.abs(values[rows, step.labels[rows]] - values[rows, plain[rows]])
        assert (gap <= 4 * delta[rows]).all()
        if p == 0:
            assert rows.size == 0  # the first pass: the plain kernel's own blocks
        full = int(engine.last_stats[1])
        gathered += p > 0 and 0 < full < n  # some rows renewed, others settled
        C = step.centers.astype(np.float32)
    assert gathered  # the later passes renewed gathered rows
