"""KMeans against scikit-learn's Lloyd, the course, and every edge case."""

import warnings
from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import load_digits, load_iris, load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning

from anomalykit import KMeans, kmeans_plusplus
from anomalykit._utils._fingerprint import fingerprint
from anomalykit.cluster import _kmeans
from anomalykit.cluster._lloyd import (
    _centre_copies,
    assign,
    assign_own,
    centre_columns,
    lloyd_step,
)


def datasets():
    return {
        "iris": (load_iris().data, 3),
        "wine": (load_wine().data, 3),
        "digits": (load_digits().data.astype(np.float64), 10),
        "blobs": (make_blobs(3000, 6, centers=8, cluster_std=2.0, random_state=0)[0], 8),
    }


#: Centres against scikit-learn's from the same initial centres (issue 6): float32
#: sums round at the data's scale (wine's proline is ~1000: one float32 ulp is 6e-5).
CENTRE_ATOL = {np.float32: 1e-4, np.float64: 1e-10}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["iris", "wine", "digits", "blobs"])
@pytest.mark.parametrize("init_kind", ["k-means++", "random-rows"])
def test_same_answer_as_sklearn_lloyd_from_the_same_centres(name, init_kind, dtype):
    X, k = datasets()[name]
    if init_kind == "k-means++":
        init = kmeans_plusplus(X, k, random_state=0)[0]
    else:
        init = X[np.random.default_rng(1).choice(len(X), k, replace=False)]
    X, init = X.astype(dtype), init.astype(dtype)
    ours = KMeans(k, init=init).fit(X)
    ref = SkKMeans(k, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert ours.cluster_centers_.dtype == dtype
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(
        ours.cluster_centers_, ref.cluster_centers_, rtol=0, atol=CENTRE_ATOL[dtype]
    )
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10 if dtype == np.float64 else 1e-5)
    assert ours.n_iter_ == ref.n_iter_


def test_course_ex7data2(course_data):
    from scipy.io import loadmat

    X = loadmat(course_data / "ex7data2.mat")["X"]
    init = np.array([[3.0, 3.0], [6.0, 2.0], [8.0, 5.0]])
    step = lloyd_step(X, init, np.ones(len(X)))
    assert step.labels[:3].tolist() == [0, 2, 1]  # the course's 1, 3, 2
    published = [[2.428301, 3.157924], [5.813503, 2.633656], [7.119387, 3.616684]]
    np.testing.assert_allclose(step.centers, published, atol=5e-7)
    ten = KMeans(3, init=init, max_iter=10, tol=0).fit(X)
    derived = [[1.953995, 5.025570], [3.043671, 1.015410], [6.033667, 3.000525]]
    np.testing.assert_allclose(ten.cluster_centers_, derived, atol=5e-7)


def blobs(n=600, seed=0):
    return make_blobs(n, 3, centers=4, cluster_std=0.5, random_state=seed)[0]


def test_float32_stays_float32_and_agrees_with_float64():
    X = blobs()
    init = kmeans_plusplus(X, 4, random_state=0)[0]
    a = KMeans(4, init=init).fit(X.astype(np.float32))
    b = KMeans(4, init=init).fit(X)
    assert a.cluster_centers_.dtype == np.float32
    assert a.transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-4)


def test_sparse_csr_equals_dense():
    X = np.abs(blobs())
    X[X < 1.0] = 0.0
    init = X[[0, 100, 200, 300]]
    dense = KMeans(4, init=init).fit(X)
    sparse = KMeans(4, init=init).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(dense.labels_, sparse.labels_)
    np.testing.assert_allclose(dense.cluster_centers_, sparse.cluster_centers_, atol=1e-10)
    assert dense.inertia_ == pytest.approx(sparse.inertia_, rel=1e-9)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X), atol=1e-9)


def test_empty_cluster_is_reseeded_with_the_farthest_point():
    X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 10, [[30.0, 30.0]]]
    X[:20] += np.linspace(0, 0.1, 20)[:, None]
    init = np.array([[0.0, 0.0], [10.0, 10.0], [1000.0, 1000.0]])  # the third stays empty
    step = lloyd_step(X, init, np.ones(len(X)))
    assert step.relocated.tolist() == [2]
    np.testing.assert_array_equal(step.centers[2], [30.0, 30.0])  # the farthest row
    km = KMeans(3, init=init).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    assert np.bincount(km.labels_, minlength=3).min() > 0


def test_weighted_equals_repeated_from_the_same_centres():
    X = blobs(200)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    init = X[[0, 50, 100, 150]]
    a = KMeans(4, init=init).fit(X, sample_weight=w)
    b = KMeans(4, init=init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
    assert a.inertia_ == pytest.approx(b.inertia_)


def spherical_reference(X, centers, n_iter):
    """A plain spherical k-means written out in the test."""
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    for _ in range(n_iter):
        labels = np.argmax(X @ C.T, axis=1)
        C = np.array([X[labels == j].sum(0) for j in range(len(C))])
        C /= np.linalg.norm(C, axis=1, keepdims=True)
    return np.argmax(X @ C.T, axis=1), C


def test_cosine_is_spherical_kmeans():
    rng = np.random.default_rng(0)
    directions = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    X = np.repeat(directions, 50, axis=0) * rng.uniform(0.5, 20, size=(150, 1))
    X += rng.normal(scale=0.2, size=X.shape)
    X = np.abs(X)
    init = X[[0, 60, 120]]
    km = KMeans(3, init=init, metric="cosine", tol=0).fit(X)
    labels, C = spherical_reference(X, init, km.n_iter_)
    np.testing.assert_array_equal(km.labels_, labels)
    np.testing.assert_allclose(km.cluster_centers_, C, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = (Xn * km.cluster_centers_[km.labels_]).sum(1)
    assert km.inertia_ == pytest.approx(np.sum(1 - cos))
    np.testing.assert_allclose(km.transform(X).min(axis=1), 1 - cos, atol=1e-12)
    # Length does not matter for cosine, only direction.
    np.testing.assert_array_equal(km.predict(X * 7.0), km.labels_)


def test_predict_transform_score_fit_predict():
    X = blobs()
    km = KMeans(4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    D = np.linalg.norm(X[:, None, :] - km.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(km.transform(X), D, atol=1e-9)
    assert km.score(X) == pytest.approx(-km.inertia_)
    assert km.inertia_ == pytest.approx(np.sum(D.min(axis=1) ** 2))
    np.testing.assert_array_equal(KMeans(4, random_state=0).fit_predict(X), km.labels_)


def test_reproducible_and_n_init_keeps_the_best():
    X = make_blobs(500, 2, centers=10, cluster_std=1.5, random_state=3)[0]
    a = KMeans(10, init="random", n_init=1, random_state=5).fit(X)
    b = KMeans(10, init="random", n_init=1, random_state=5).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    runs = [KMeans(10, init="random", n_init=1, random_state=s).fit(X).inertia_ for s in range(8)]
    best = KMeans(10, init="random", n_init=8, random_state=np.random.default_rng(0)).fit(X)
    assert best.inertia_ <= np.median(runs)
    # n_init="auto" means 10 runs for random init and 1 for k-means++
    auto = KMeans(10, init="random", random_state=7).fit(X)
    ten = KMeans(10, init="random", n_init=10, random_state=7).fit(X)
    assert auto.inertia_ == ten.inertia_
    np.testing.assert_array_equal(auto.labels_, ten.labels_)
    pp = KMeans(10, random_state=7).fit(X)
    assert pp.inertia_ == KMeans(10, n_init=1, random_state=7).fit(X).inertia_


def test_tolerance_is_relative_to_the_data_scale():
    X = blobs()
    init = X[[0, 1, 2, 3]]
    a = KMeans(4, init=init, tol=1e-2).fit(X)
    b = KMeans(4, init=init * 1000.0, tol=1e-2).fit(X * 1000.0)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_input_not_mutated():
    X = blobs()
    before = X.copy()
    KMeans(4, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "X",
    [
        np.full((1000, 3), 0.1),  # a mean of 0.1s is not exactly 0.1
        np.full((100_000, 2), 0.1, dtype=np.float32),
        np.asfortranarray(np.full((1000, 3), 0.1)),
        np.full((1000, 1), 0.1),
        sp.csr_matrix(np.full((500, 3), 0.1)),
    ],
    ids=["float64", "float32", "F order", "one column", "sparse"],
)
def test_identical_rows_are_refused_even_when_their_mean_is_inexact(X):
    with pytest.raises(ValueError, match=f"All {X.shape[0]} rows are identical"):
        KMeans(2, random_state=0).fit(X)
    varied = X.toarray() if sp.issparse(X) else np.array(X)
    varied[0, -1] = 0.2  # one differing value: there is something to cluster
    assert KMeans(2, random_state=0).fit(varied).inertia_ >= 0


@pytest.mark.parametrize(
    ("X", "params", "match"),
    [
        (
            np.ones((3, 2)) * np.arange(3)[:, None],
            {"n_clusters": 5},
            "n_samples=3 should be >= n_clusters=5",
        ),
        (np.arange(10.0).reshape(5, 2), {"n_clusters": 0}, "'n_clusters' parameter of KMeans"),
        (np.ones((10, 2)), {"n_clusters": 2}, "All 10 rows are identical"),
        (np.array([[1.0, 2.0]]), {"n_clusters": 1}, "minimum of 2 is required"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), {"n_clusters": 1}, "NaN"),
        (np.arange(10.0).reshape(5, 2), {"n_clusters": 2, "init": "kmeans"}, "'init' parameter"),
        (
            np.arange(10.0).reshape(5, 2),
            {"n_clusters": 2, "init": np.zeros((3, 2))},
            "init has shape",
        ),
        (
            np.arange(10.0).reshape(5, 2),
            {"n_clusters": 2, "metric": "manhattan"},
            "'metric' parameter",
        ),
        (
            np.r_[[[0.0, 0.0]], np.eye(2)],
            {"n_clusters": 2, "metric": "cosine"},
            "Row 0 is all zeros",
        ),
        (np.arange(5.0)[:, None], {"n_clusters": 2, "metric": "cosine"}, "n_features=1"),
        (np.arange(10.0).reshape(5, 2), {"n_clusters": 2, "tol": -1.0}, "'tol' parameter"),
    ],
)
def test_bad_input_is_a_clear_error(X, params, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**params).fit(X)


def test_fewer_distinct_points_than_clusters_warns():
    X = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
    with pytest.warns(
        ConvergenceWarning, match=r"distinct clusters \(2\) found smaller than n_clusters \(3\)"
    ):
        KMeans(3, random_state=0).fit(X)


def test_explicit_init_with_n_init_runs_once():
    X = blobs()
    with pytest.warns(RuntimeWarning, match="reduced to 1"):
        KMeans(4, init=X[:4], n_init=5).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(4, init=X[:4]).fit(X)


def test_kmeans_plusplus_spreads_centres_and_is_seeded():
    X = make_blobs(
        400, 2, centers=[[0, 0], [50, 0], [0, 50], [50, 50]], cluster_std=1, random_state=0
    )[0]
    centers, idx = kmeans_plusplus(X, 4, random_state=0)
    np.testing.assert_array_equal(X[idx], centers)
    corners = np.round(centers / 50).astype(int)
    assert len({tuple(c) for c in corners}) == 4  # one seed per blob
    _, idx2 = kmeans_plusplus(X, 4, random_state=0)
    np.testing.assert_array_equal(idx, idx2)
    w = np.zeros(len(X))
    w[:10] = 1.0  # only rows with weight can be drawn
    _, idx3 = kmeans_plusplus(X, 3, sample_weight=w, random_state=0)
    assert set(idx3.tolist()) <= set(range(10))
    with pytest.raises(ValueError, match="n_samples=400 should be >= n_clusters=500"):
        kmeans_plusplus(X, 500)


@pytest.mark.parametrize("cls", ["KMeans", "MiniBatchKMeans"])
def test_distances_stay_accurate_far_from_the_origin(cls):
    import anomalykit

    rng = np.random.default_rng(0)
    X = 1e5 + rng.normal(scale=0.01, size=(400, 3))
    X[200:] += 0.1
    km = getattr(anomalykit, cls)(2, random_state=0).fit(X)
    exact = np.linalg.norm(X[:, None, :] - km.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(km.transform(X), exact, rtol=1e-6, atol=1e-9)
    assert km.score(X) == pytest.approx(-np.sum(exact.min(axis=1) ** 2), rel=1e-6)


ENGINES = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(
            __import__("importlib").util.find_spec("numba") is None, reason="numba not installed"
        ),
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_step_is_the_same_on_one_and_two_threads(dtype, engine):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 8)).astype(dtype)  # several blocks
    centers = X[:16].copy()
    w = rng.uniform(0.5, 2.0, size=len(X))
    one = lloyd_step(X, centers, w, threads=1, engine=engine)
    two = lloyd_step(X, centers, w, threads=2, engine=engine)
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_array_equal(one.centers, two.centers)  # bit-identical: block order


@pytest.mark.parametrize(
    ("n", "work", "sums", "count"),
    [
        (200000, 32768, 32768, 8),  # k x d sums of 2e5 x 128, k = 256: 8 chunks
        (200000, 32768, 0, 25),  # no sums: chunks of 8192 rows
        (10**6, 2048, 2048, 64),  # sums smaller than 8192 rows: as without
        (100000, 640, 640, 4),  # 4 chunks of work
        (5000, 32768, 32768, 1),
    ],
)
def test_chunks_cover_the_rows_in_order_and_hold_their_sums_worth(n, work, sums, count):
    from anomalykit.cluster._lloyd import _chunks

    chunks = _chunks(n, work, sums=sums)
    assert len(chunks) == count
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in pairwise(chunks))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernel_equals_the_numpy_reference(dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30000, 12)).astype(dtype)
    X[:50] = X[50:100]  # duplicate rows
    centers = X[:40].copy()
    centers[39] = 1e3  # an empty cluster to re-seed
    w = rng.uniform(0.0, 2.0, size=len(X))
    ref = lloyd_step(X, centers, w, engine="numpy")
    fast = lloyd_step(X, centers, w, engine="numba")
    np.testing.assert_array_equal(fast.labels, ref.labels)
    np.testing.assert_array_equal(fast.relocated, ref.relocated)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fast.centers, ref.centers, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    ("dtype", "d", "k"),
    [(np.float32, 32, 8), (np.float32, 64, 10), (np.float64, 40, 6), (np.float32, 80, 8)],
)
def test_both_product_orientations_equal_the_numpy_reference(dtype, d, k):
    # rows_first picks Xb @ C.T for the first three shapes, C @ Xb.T for the last;
    # a ragged last sub-block, empty-cluster re-seeding, 1 and 2 threads.
    kernels = pytest.importorskip("anomalykit.cluster._numba_kernels")
    assert [kernels.rows_first(k, d, np.dtype(dtype).itemsize)] == [d <= 64]
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20011, d)).astype(dtype)
    centers = X[rng.choice(len(X), k, replace=False)].copy()
    centers[-1] = 50.0  # empty: re-seeded
    w = rng.uniform(0.5, 2.0, size=len(X))
    ref = lloyd_step(X, centers, w, engine="numpy")
    one = lloyd_step(X, centers, w, engine="numba", threads=1)
    two = lloyd_step(X, centers, w, engine="numba", threads=2)
    np.testing.assert_array_equal(one.labels, ref.labels)
    np.testing.assert_array_equal(one.relocated, ref.relocated)
    np.testing.assert_array_equal(two.labels, one.labels)
    np.testing.assert_array_equal(two.centers, one.centers)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(one.centers, ref.centers, rtol=tol, atol=tol)
    labels, _ = assign(X, one.centers, engine="numba", distances=False)
    ref_labels, _ = assign(X, one.centers, engine="numpy")
    np.testing.assert_array_equal(labels, ref_labels)


@pytest.mark.parametrize(
    ("dtype", "d"), [(np.float32, 2), (np.float64, 2), (np.float32, 3), (np.float64, 24)]
)
def test_unit_weight_steps_equal_weighted_steps_with_ones(dtype, d):
    pytest.importorskip("numba")
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20011, d)).astype(dtype)
    centers = X[rng.choice(len(X), 9, replace=False)].copy()
    centers[-1] = 99.0  # empty: re-seeded
    w = np.ones(len(X))
    unit = lloyd_step(X, centers, w, engine="numba", unit_weight=True)
    weighted = lloyd_step(X, centers, w, engine="numba")
    np.testing.assert_array_equal(unit.labels, weighted.labels)
    np.testing.assert_array_equal(unit.centers, weighted.centers)  # bit for bit
    np.testing.assert_array_equal(unit.cluster_weights, weighted.cluster_weights)
    np.testing.assert_array_equal(unit.relocated, weighted.relocated)
    # and a fit without weights runs the unit path, the same as explicit ones
    a = KMeans(9, init=centers, n_init=1, max_iter=5, tol=0).fit(X)
    b = KMeans(9, init=centers, n_init=1, max_iter=5, tol=0).fit(X, sample_weight=w * 2)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_own_distances_sum_each_row_alone_in_feature_order(dtype):
    kernels = pytest.importorskip("anomalykit.cluster._numba_kernels")
    rng = np.random.default_rng(11)
    X = (rng.normal(size=(40, 7)) * 10.0 ** rng.integers(-3, 4, size=(40, 7))).astype(dtype)
    C = rng.normal(size=(3, 7)).astype(dtype)
    shift = rng.normal(size=7).astype(dtype)
    labels = rng.integers(0, 3, size=40).astype(np.intp)
    out = np.full(40, np.nan, dtype=dtype)
    kernels.own_sq_distances_chunk(X, shift, C, labels, out, 3, 38)  # 4 groups of 8, 3 alone
    expected = np.full(40, np.nan, dtype=dtype)
    for i in range(3, 38):
        s = dtype(0)
        for f in range(7):
            e = (X[i, f] - shift[f]) - C[labels[i], f]
            s = s + e * e
        expected[i] = s
    np.testing.assert_array_equal(out, expected)  # to the bit; rows outside untouched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assign_own_is_assign_and_the_inertia_pass_in_one(dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(6)
    X = rng.normal(size=(30001, 24)).astype(dtype)
    centers = X[rng.choice(len(X), 7, replace=False)].copy()
    labels, own = assign_own(X, centers, threads=2)
    np.testing.assert_array_equal(labels, assign(X, centers, engine="numba", distances=False)[0])
    # the separate pass it replaces, to the bit
    np.testing.assert_array_equal(own, _kmeans._sq_distances_to_own(X, centers, labels, None))
    diff = (X - centers[labels]).astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(own, np.einsum("ij,ij->i", diff, diff), rtol=tol)
    assert own.dtype == dtype
    one_labels, one_own = assign_own(X, centers, threads=1)
    np.testing.assert_array_equal(one_labels, labels)
    np.testing.assert_array_equal(one_own, own)
    assert assign_own(sp.csr_matrix(X), centers) is None  # CSR: two passes
    assert assign_own(X, centers, engine="numpy") is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_assign_equals_the_numpy_reference_over_many_centres(dtype):
    # k = 300: sub-blocks of 128 rows; n = 20003: several chunks and a ragged last one.
    pytest.importorskip("numba")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20003, 6)).astype(dtype)
    centers = X[rng.choice(len(X), 300, replace=False)].copy()
    centers[299] = centers[7]  # a duplicate centre: ties go to the lower index
    ref_labels, ref_dist = assign(X, centers, engine="numpy")
    labels, dist = assign(X, centers, engine="numba", threads=2)
    one_labels, one_dist = assign(X, centers, engine="numba", threads=1)
    np.testing.assert_array_equal(labels, ref_labels)
    assert not (labels == 299).any()
    np.testing.assert_array_equal(labels, one_labels)
    np.testing.assert_array_equal(dist, one_dist)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(dist, ref_dist, rtol=tol, atol=tol)
    assert dist.dtype == dtype and (dist >= 0).all()


def test_centre_copies_name_each_later_copy_and_its_first():
    C = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [4.0, 5.0], [2.0, 3.0], [0.0, 1.0]])
    later, first = _centre_copies(C)
    np.testing.assert_array_equal(later, [2, 4, 5])
    np.testing.assert_array_equal(first, [0, 1, 0])
    assert _centre_copies(C[[0, 1, 3]]) is None
    assert _centre_copies(C[:1]) is None


def test_centre_copies_of_any_layout_and_signed_zeros():
    C = np.asfortranarray([[0.0, -0.0], [1.0, 2.0], [-0.0, 0.0], [1.0, 2.0]], dtype=np.float32)
    later, first = _centre_copies(C)
    np.testing.assert_array_equal(later, [2, 3])
    np.testing.assert_array_equal(first, [0, 1])
    assert _centre_copies(np.zeros((3, 0))) is None


def _copies_and_near_ties(rng, d, k, dtype):
    """Centres with copies early and late (2 and 5 repeat 0 and 3; 299 repeats 7),
    rows nearest to a copied centre and rows halfway between two different
    centres (near ties that the products' rounding decides)."""
    C = rng.normal(size=(k, d)).astype(dtype)
    C[[2, 5, k - 1]] = C[[0, 3, 7]]
    a, b = rng.integers(8, k - 1, (2, 6000))
    mid = (C[a].astype(np.float64) + C[b]) / 2
    near = C[rng.choice([0, 3, 7], 3000)] + rng.normal(scale=0.05, size=(3000, d))
    return np.vstack([mid, near]).astype(dtype), C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [3, 6, 64])
def test_numpy_reference_gives_ties_between_copies_to_the_first(dtype, d):
    # BLAS may round two equal columns apart (OpenBLAS's SkylakeX kernel sent 9
    # rows of 20003 to a later copy): the reference gives later copies their
    # first copy's column and leaves the other columns as they are, so that its
    # assignment and its Lloyd step still agree on rows between two different
    # centres.
    X, C = _copies_and_near_ties(np.random.default_rng(d), d, 300, dtype)
    labels, dist = assign(X, C, engine="numpy")
    assert not np.isin(labels, [2, 5, 299]).any()
    step = lloyd_step(X, C, np.ones(len(X)), engine="numpy")
    np.testing.assert_array_equal(step.labels, labels)
    only, _ = assign(X, C, engine="numpy", distances=False)
    np.testing.assert_array_equal(only, labels)
    exact = ((X[:, None, :].astype(np.float64) - C[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(dist, exact[np.arange(len(X)), labels], rtol=1e-4, atol=1e-4)
    assert (exact[np.arange(len(X)), labels] <= exact.min(axis=1) * (1 + 1e-5) + 1e-5).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("d", "k"), [(6, 40), (12, 40), (6, 300), (64, 300)])
def test_compiled_routes_agree_with_copies_of_a_centre(dtype, d, k):
    # assign, assign_own and the Lloyd step pick labels by the same products (k
    # columns each: leaving the copies out of one of them changed the rounding of
    # the others, at k = 40); in the register panels (16 features or more,
    # AVX-512) copies tie and the first wins.
    pytest.importorskip("numba")
    from anomalykit.cluster._numba_panels import HAS_AVX512

    X, C = _copies_and_near_ties(np.random.default_rng(d), d, k, dtype)
    labels, _ = assign(X, C, engine="numba")
    own, _ = assign_own(X, C, engine="numba")
    step = lloyd_step(X, C, np.ones(len(X)), engine="numba")
    np.testing.assert_array_equal(own, labels)
    np.testing.assert_array_equal(step.labels, labels)
    if d >= 16 and HAS_AVX512:
        assert not np.isin(labels, [2, 5, 299]).any()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("k", [1, 2, 4, 5, 6, 7, 8, 9, 13])
def test_exact_ties_go_to_the_lower_index_for_every_k(engine, k):
    # Integer rows and centres: every distance is exact, so rows equidistant
    # from two centres tie exactly, in the 4-at-a-time compare and its remainder.
    rng = np.random.default_rng(k)
    X = rng.integers(-4, 5, size=(3000, 2)).astype(np.float32)
    centers = rng.integers(-4, 5, size=(k, 2)).astype(np.float32)
    if k > 1:
        centers[-1] = centers[rng.integers(0, k - 1)]  # a duplicate of an earlier centre
    labels, _ = assign(X, centers, engine=engine)
    exact = ((X[:, None, :].astype(np.int64) - centers[None].astype(np.int64)) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, np.argmin(exact, axis=1))  # first minimum
    step = lloyd_step(X, centers, np.ones(len(X)), engine=engine)
    np.testing.assert_array_equal(step.labels, labels)


@pytest.mark.parametrize("engine", ENGINES)
def test_labels_alone_skip_the_distances(engine):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10000, 3))
    centers = X[:9].copy()
    labels, dist = assign(X, centers, engine=engine, distances=False)
    assert dist is None
    np.testing.assert_array_equal(labels, assign(X, centers, engine=engine)[0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(2, 2), (4097, 2), (30001, 3), (3000, 4), (5000, 64), (20000, 1)]
)
def test_centring_uses_numpys_mean_to_the_bit(engine, dtype, shape):
    # scikit-learn centres on X.mean(axis=0): the same shift keeps float32 runs equal.
    rng = np.random.default_rng(6)
    X = (rng.standard_normal(shape) * 10 + 1e3).astype(dtype)
    for data in (X, np.asfortranarray(X)):
        Xc, shift, variances = centre_columns(data, engine=engine)
        np.testing.assert_array_equal(shift, data.mean(axis=0))
        np.testing.assert_array_equal(Xc, data - data.mean(axis=0))
        assert Xc.dtype == dtype and Xc.flags.c_contiguous
        assert variances.dtype == np.float64
        np.testing.assert_allclose(variances, np.var(X.astype(np.float64), axis=0), rtol=1e-4)
        assert not np.shares_memory(Xc, data)


@pytest.mark.parametrize("d", [2, 5])
def test_compiled_centring_gives_constant_columns_zero_variance(d):
    # 0.1 is not a float32 number's exact mean: the centred column is a tiny
    # constant, not 0, yet its variance must be exactly 0.
    pytest.importorskip("numba")
    rng = np.random.default_rng(9)
    X = rng.normal(size=(70000, d)).astype(np.float32)
    X[:, 1] = np.float32(0.1)
    Xc, shift, variances = centre_columns(X, engine="numba")
    assert variances[1] == 0.0
    assert (Xc[:, 1] == np.float32(0.1) - shift[1]).all()  # a constant, maybe not 0
    assert (variances[[0, *range(2, d)]] > 0.5).all()
    np.testing.assert_array_equal(shift, X.mean(axis=0))


def test_unknown_engine_is_an_error():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="engine"):
        lloyd_step(X, X[:3], np.ones(50), engine="cuda")


@pytest.mark.parametrize("engine", ENGINES)
def test_lloyd_step_equals_a_plain_numpy_reference(engine):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 5))
    centers = X[:7].copy()
    w = rng.uniform(0.5, 2.0, size=len(X))
    step = lloyd_step(X, centers, w, engine=engine)
    D = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
    labels = D.argmin(axis=1)
    np.testing.assert_array_equal(step.labels, labels)
    ref = np.array(
        [(w[labels == j, None] * X[labels == j]).sum(0) / w[labels == j].sum() for j in range(7)]
    )
    np.testing.assert_allclose(step.centers, ref, rtol=1e-12, atol=1e-12)


def test_initial_centres_come_from_rows_with_weight():
    X = blobs(1500)
    w = np.zeros(len(X))
    w[-5:] = 1.0
    from anomalykit import MiniBatchKMeans

    mb = MiniBatchKMeans(3, batch_size=10, random_state=0).fit(X, sample_weight=w)
    assert np.isfinite(mb.cluster_centers_).all()
    with pytest.raises(ValueError, match="Only 2 rows have a positive sample_weight"):
        KMeans(3, init="random").fit(X, sample_weight=np.r_[1.0, 1.0, np.zeros(len(X) - 2)])


def test_seeding_far_from_the_origin_finds_every_blob():
    from anomalykit import MiniBatchKMeans

    rng = np.random.default_rng(0)
    X = np.repeat(np.arange(4.0)[:, None], 300, axis=0) + rng.normal(scale=0.1, size=(1200, 1))
    X = np.c_[X, rng.normal(scale=0.1, size=1200)]
    near = KMeans(4, random_state=0).fit(X).inertia_
    far = X + 1e8
    for seed in range(5):
        _, idx = kmeans_plusplus(far, 4, random_state=seed)
        assert len(set(np.round(X[idx, 0]).astype(int))) == 4
    mb = MiniBatchKMeans(4, batch_size=100, random_state=0).fit(far)
    assert mb.inertia_ == pytest.approx(near, rel=0.05)


def test_empty_cluster_is_not_reseeded_with_a_row_without_weight():
    X = np.r_[np.zeros((20, 2)), np.full((21, 2), 5.0), [[50.0, 50.0]]]
    X[:41] += np.random.default_rng(0).normal(scale=0.1, size=(41, 2))
    w = np.r_[np.ones(41), 0.0]
    step = lloyd_step(X, np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]]), w)
    assert step.relocated.tolist() == [2]
    assert not np.array_equal(step.centers[2], [50.0, 50.0])
    assert step.cluster_weights[2] > 0


def test_kmeans_plusplus_needs_a_trial():
    with pytest.raises(ValueError, match="'n_local_trials' parameter"):
        kmeans_plusplus(blobs(), 3, n_local_trials=0)


def test_overflowing_inertia_is_an_error():
    X = np.array([[1e300, 0.0], [-1e300, 0.0], [1e300, 1.0], [-1e300, 1.0]])
    with pytest.raises(ValueError, match="inertia overflowed"):
        KMeans(1, init=np.zeros((1, 2))).fit(X)


@pytest.mark.parametrize("cls", ["KMeans", "MiniBatchKMeans"])
@pytest.mark.parametrize(
    ("fit_dtype", "new_dtype"), [(np.float32, np.float64), (np.float64, np.float32)]
)
@pytest.mark.parametrize("sparse", [False, True])
def test_a_model_takes_rows_of_the_other_float_dtype(cls, fit_dtype, new_dtype, sparse):
    # scikit-learn users meet "Buffer dtype mismatch" here; the compiled kernels
    # need one dtype: the work is done in the new rows' dtype.
    import anomalykit

    X = make_blobs(3000, 8, centers=5, random_state=0)[0]
    fit_X = X.astype(fit_dtype)
    new_X = X.astype(new_dtype)
    if sparse:
        fit_X, new_X = sp.csr_matrix(fit_X), sp.csr_matrix(new_X)
    km = getattr(anomalykit, cls)(5, random_state=0).fit(fit_X)
    np.testing.assert_array_equal(km.predict(new_X), km.predict(fit_X))
    np.testing.assert_allclose(km.transform(new_X), km.transform(fit_X), rtol=1e-4, atol=1e-4)
    assert km.score(new_X) == pytest.approx(km.score(fit_X), rel=1e-4)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sparse", [False, True])
def test_a_cluster_emptied_by_reseeding_keeps_its_centre(engine, sparse):
    # Four clusters are empty and take the rows of positive weight (and one of
    # none) from cluster 2. Its weight was left at 2e-16 by rounding, which made
    # its centre its leftover sums / 2e-16 (1e8 on the NumPy path).
    X = np.zeros((4, 3), dtype=np.float32)
    X[1, 0] = 1.221985
    w = np.array([1.12669112, 0.96891309, 0.0, 0.14682503])
    C = np.array(
        [[-0.728, -1.054, 0.307], [-0.406, 0.946, -1.268], [0.352, 0.773, -0.401],
         [-0.973, -0.924, -0.497], [-0.728, -1.054, 0.307]], dtype=np.float32,
    )  # fmt: skip
    step = lloyd_step(sp.csr_matrix(X) if sparse else X, C, w, engine=engine)
    assert step.relocated.tolist() == [0, 1, 3, 4]
    assert step.cluster_weights[2] == 0 and step.cluster_weights[4] == 0
    np.testing.assert_array_equal(step.centers[2], C[2])  # emptied: keeps its centre
    assert np.abs(step.centers).max() < 2


@pytest.mark.parametrize("n", [50, 40000])  # NumPy's centring, and the compiled one
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_rows_are_refused_by_the_centring_pass(n, bad, dtype):
    # fit finds NaN and infinity through the column means it centres on, not by
    # a pass of its own; the error is validate_data's, and a failed fit leaves
    # no n_features_in_ behind (a refit with other columns must not complain)
    X = np.random.default_rng(0).random((n, 8)).astype(dtype)
    X[n // 2, 3] = bad
    km = KMeans(2, random_state=0)
    message = "NaN" if np.isnan(bad) else "infinity"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no RuntimeWarning from the arithmetic on the bad value)
        with pytest.raises(ValueError, match=f"Input X contains {message}"):
            km.fit(X)
    assert not hasattr(km, "n_features_in_")
    fitted = KMeans(2, random_state=0).fit(X[:, :5][np.isfinite(X).all(axis=1)])
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        fitted.fit(X)
    assert fitted.n_features_in_ == 5
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        KMeans(2).fit(X, sample_weight=-np.ones(n))  # the bad X is reported first


def test_finite_rows_whose_sums_overflow_are_not_called_infinite():
    X = np.full((1000, 2), 3e38, dtype=np.float32)
    X[::2] = -3e38  # finite, but float32 column sums overflow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (overflow on the way)
        with pytest.raises(ValueError, match="The inertia overflowed"):
            KMeans(2, random_state=0).fit(X)


def test_a_dataframe_of_sparse_columns_is_checked_as_csr_rows():
    # validate_data turns it into CSR, which the centring pass (dense rows) never sees
    pd = pytest.importorskip("pandas")
    A = np.random.default_rng(0).random((50, 3))
    A[A < 0.5] = 0
    frame = pd.DataFrame.sparse.from_spmatrix(sp.csr_matrix(A))
    np.testing.assert_allclose(
        KMeans(3, random_state=0).fit(frame).inertia_,
        KMeans(3, random_state=0).fit(sp.csr_matrix(A)).inertia_,
    )
    A[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(3, random_state=0).fit(pd.DataFrame.sparse.from_spmatrix(sp.csr_matrix(A)))


def test_a_refit_with_bad_weights_still_fingerprints_the_new_rows():
    rng = np.random.default_rng(1)
    km = KMeans(2, random_state=0).fit(rng.random((40, 3)))
    X = rng.random((30, 3))
    with pytest.raises(ValueError, match="sample_weight"):
        km.fit(X, sample_weight=-np.ones(30))
    assert km.data_fingerprint_ == fingerprint(X)
