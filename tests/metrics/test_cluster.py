import time
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.cluster import KMeans as SkKMeans

from anomalykit.metrics import (
    _cluster,
    calinski_harabasz_score,
    davies_bouldin_score,
    inertia,
    silhouette_samples,
    silhouette_score,
)

# Largest differences from scikit-learn 1.9 measured on these data sets: silhouette 2e-13
# (wine, cosine; Euclidean 7e-15), Davies-Bouldin 3e-15, Calinski-Harabasz 1e-15 relative.
# Both sides use the dot-product expansion for silhouette distances (ours on centred data),
# so 1e-12 is strict and still leaves room for BLAS summation order.
TOL = 1e-12
DATASETS = {"iris": 3, "wine": 3, "digits": 10}
TOY = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [5.0, 6.0], [6.0, 5.0]])


def _load(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    km = SkKMeans(n_clusters=DATASETS[name], random_state=0, n_init=1).fit_predict(X)
    return X, {"kmeans": km, "classes": y}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def dataset(request):
    return _load(request.param)


@pytest.fixture(scope="module")
def digits():
    return _load("digits")


def _blobs(n, k, d=10, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    return rng.normal(scale=4.0, size=(k, d))[labels] + rng.normal(size=(n, d)), labels


# ------------------------------------------------------------ equal to scikit-learn


@pytest.mark.parametrize("which", ["kmeans", "classes"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_silhouette_equals_sklearn(dataset, which, metric):
    X, labels = dataset
    y = labels[which]
    ours = silhouette_samples(X, y, metric=metric)
    np.testing.assert_allclose(ours, skm.silhouette_samples(X, y, metric=metric), rtol=0, atol=TOL)
    assert silhouette_score(X, y, metric=metric) == pytest.approx(
        skm.silhouette_score(X, y, metric=metric), rel=0, abs=TOL
    )


@pytest.mark.parametrize("which", ["kmeans", "classes"])
def test_davies_bouldin_and_calinski_harabasz_equal_sklearn(dataset, which):
    X, labels = dataset
    y = labels[which]
    assert davies_bouldin_score(X, y) == pytest.approx(
        skm.davies_bouldin_score(X, y), rel=0, abs=TOL
    )
    assert calinski_harabasz_score(X, y) == pytest.approx(
        skm.calinski_harabasz_score(X, y), rel=TOL
    )


def test_davies_bouldin_reference_value():
    assert davies_bouldin_score([[0, 1], [1, 1], [3, 4]], [0, 0, 1]) == pytest.approx(
        0.128036879933, rel=0, abs=1e-12
    )


def test_silhouette_by_hand():
    # a(0) = 1, b(0) = (4 + 5) / 2; a(1) = 1, b(1) = (3 + 4) / 2; the rest mirror these.
    s = silhouette_samples([[0.0], [1.0], [4.0], [5.0]], [0, 0, 1, 1])
    np.testing.assert_allclose(s, [1 - 1 / 4.5, 1 - 1 / 3.5, 1 - 1 / 3.5, 1 - 1 / 4.5])
    # Cosine: rows at 0 and 90 degrees; each row's only same-cluster neighbour is parallel.
    X = [[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]]
    np.testing.assert_allclose(silhouette_samples(X, [0, 0, 1, 1], metric="cosine"), 1.0)


def test_calinski_harabasz_by_hand():
    # B = 2 * 3 * (2.5^2 + 2.5^2) = 75, W = 2 * 4/3, CH = (75 / 1) / (8/3 / 4).
    assert calinski_harabasz_score(TOY, [0, 0, 0, 1, 1, 1]) == pytest.approx(112.5, rel=1e-14)


# ----------------------------------------------------------- blocks, paths, sparse


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 10_000])
def test_chunk_size_does_not_change_the_result(metric, chunk_size):
    X, y = datasets.load_iris(return_X_y=True)
    np.testing.assert_allclose(
        silhouette_samples(X, y, metric=metric, chunk_size=chunk_size),
        skm.silhouette_samples(X, y, metric=metric),
        rtol=0,
        atol=TOL,
    )


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [None, 50])
def test_many_clusters_path_equals_sklearn(digits, monkeypatch, metric, chunk_size):
    # Past _SUMS_BYTES the rows are swept a few at a time against all columns.
    X, _ = digits
    y = np.random.default_rng(0).integers(0, 700, X.shape[0])  # many small clusters
    expected = skm.silhouette_samples(X, y, metric=metric)
    symmetric = silhouette_samples(X, y, metric=metric, chunk_size=chunk_size)
    monkeypatch.setattr(_cluster, "_SUMS_BYTES", 8 * 700 * 40)  # sums of 40 rows at a time
    by_rows = silhouette_samples(X, y, metric=metric, chunk_size=chunk_size)
    np.testing.assert_allclose(symmetric, expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(by_rows, expected, rtol=0, atol=TOL)
    sparse = silhouette_samples(sp.csr_matrix(X), y, metric=metric, chunk_size=chunk_size)
    np.testing.assert_allclose(sparse, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_sparse_silhouette_equals_dense_and_sklearn(digits, metric):
    X, labels = digits
    y = labels["kmeans"]
    Xs = sp.csr_matrix(X)
    expected = skm.silhouette_samples(Xs, y, metric=metric)
    np.testing.assert_allclose(silhouette_samples(Xs, y, metric=metric), expected, atol=TOL)
    np.testing.assert_allclose(
        silhouette_samples(sp.csc_matrix(X), y, metric=metric, chunk_size=64), expected, atol=TOL
    )


def test_sparse_tfidf_like_cosine_equals_sklearn():
    rng = np.random.default_rng(1)
    X = sp.random(300, 2000, density=0.01, format="csr", random_state=1)
    X.data = rng.random(X.nnz)
    X.data[X.indptr[5] : X.indptr[6]] = 0.0  # an empty document: distance 1 from the others
    X.eliminate_zeros()
    assert X[5].nnz == 0
    y = rng.integers(0, 4, 300)
    ours = silhouette_samples(X, y, metric="cosine", chunk_size=64)
    expected = skm.silhouette_samples(X, y, metric="cosine")
    # scikit-learn's blocked path counts the empty row's distance to itself as 1 (its
    # cosine similarity to itself is 0); here it is 0, which changes only its own cluster.
    same = y != y[5]
    np.testing.assert_allclose(ours[same], expected[same], rtol=0, atol=TOL)
    assert silhouette_samples(X.toarray(), y, metric="cosine") == pytest.approx(ours, abs=TOL)


def test_sparse_centroid_indices_equal_dense(digits):
    X, labels = digits
    y = labels["kmeans"]
    Xs = sp.csr_matrix(X)
    assert davies_bouldin_score(Xs, y) == pytest.approx(davies_bouldin_score(X, y), rel=TOL)
    assert calinski_harabasz_score(Xs, y) == pytest.approx(calinski_harabasz_score(X, y), rel=TOL)


# --------------------------------------------------------- definitions at the edges


def test_singletons_score_zero_like_sklearn():
    X = [[0.0], [0.1], [0.2], [5.0], [9.0]]
    y = [0, 0, 0, 1, 2]
    s = silhouette_samples(X, y)
    assert s[3] == 0.0 and s[4] == 0.0
    np.testing.assert_allclose(s, skm.silhouette_samples(X, y), atol=TOL)


def test_zero_distances_everywhere_score_zero():
    # a = b = 0: scikit-learn turns 0/0 into 0; so do we, without a RuntimeWarning.
    assert silhouette_samples([[1.0], [1.0], [1.0], [1.0]], [0, 0, 1, 1]).tolist() == [0.0] * 4


def test_centring_keeps_precision_far_from_the_origin():
    X, y = datasets.load_iris(return_X_y=True)
    base = silhouette_samples(X, y)
    # Without centring the expansion loses ~1e-4 here (scikit-learn's does: 1e-4 at 1e6).
    np.testing.assert_allclose(silhouette_samples(X + 1e6, y), base, atol=1e-9)
    np.testing.assert_allclose(silhouette_samples(X + 1e8, y), base, atol=1e-7)


def test_cosine_ignores_row_scale():
    X, y = datasets.load_wine(return_X_y=True)
    scale = np.random.default_rng(0).uniform(0.1, 10.0, size=(X.shape[0], 1))
    np.testing.assert_allclose(
        silhouette_samples(X * scale, y, metric="cosine"),
        silhouette_samples(X, y, metric="cosine"),
        atol=1e-12,
    )


def test_davies_bouldin_coincident_centroids_contribute_zero():
    # Clusters 0 and 1 share the centroid (0, 0): their pair counts 0, as in scikit-learn.
    # Every spread is 1, so each cluster's worst ratio is (1 + 1) / 11 against cluster 2.
    X = [[-1, 0], [1, 0], [0, -1], [0, 1], [10, 0], [12, 0]]
    y = [0, 0, 1, 1, 2, 2]
    assert davies_bouldin_score(X, y) == pytest.approx(2 / 11, rel=1e-14)
    assert davies_bouldin_score(X, y) == pytest.approx(skm.davies_bouldin_score(X, y), rel=1e-14)
    # All centroids equal: every pair counts 0.
    assert davies_bouldin_score([[-1], [1], [-2], [2]], [0, 0, 1, 1]) == 0.0


def test_davies_bouldin_does_not_depend_on_units():
    # scikit-learn returns 0.0 here: it treats spreads below 1e-8 as zero.
    X, y = datasets.load_iris(return_X_y=True)
    assert davies_bouldin_score(X * 1e-9, y) == pytest.approx(davies_bouldin_score(X, y), rel=1e-12)


def test_calinski_harabasz_zero_within_dispersion_is_one():
    X = [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]
    assert (
        calinski_harabasz_score(X, [0, 0, 1, 1])
        == 1.0
        == skm.calinski_harabasz_score(X, [0, 0, 1, 1])
    )
    # Repeated 0.1s do not average back to exactly 0.1; shifted means keep W exactly 0
    # (scikit-learn returns about 1e31 here).
    X = [[0.1, 0.7]] * 3 + [[0.3, 0.9]] * 3
    assert calinski_harabasz_score(X, [0, 0, 0, 1, 1, 1]) == 1.0


# -------------------------------------------------------------- labels and inputs


def test_labels_of_any_sortable_type():
    X, y = datasets.load_iris(return_X_y=True)
    expected = silhouette_samples(X, y)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    for labels in (names, y - 1, y.astype(float) * 10, y.reshape(-1, 1), list(names)):
        np.testing.assert_array_equal(silhouette_samples(X, labels), expected)
        assert davies_bouldin_score(X, labels) == davies_bouldin_score(X, y)
        assert calinski_harabasz_score(X, labels) == calinski_harabasz_score(X, y)


def test_containers_dtypes_and_no_mutation():
    pd = pytest.importorskip("pandas")
    X, y = datasets.load_wine(return_X_y=True)
    X32 = X.astype(np.float32)
    expected = silhouette_samples(X32.astype(np.float64), y)  # computed in float64
    np.testing.assert_array_equal(silhouette_samples(X32, y), expected)
    np.testing.assert_array_equal(
        silhouette_samples(X.tolist(), y.tolist()), silhouette_samples(X, y)
    )
    frame = pd.DataFrame(X)
    np.testing.assert_array_equal(silhouette_samples(frame, pd.Series(y)), silhouette_samples(X, y))
    Xs = sp.csr_matrix(X)
    before, before_sparse = X.copy(), Xs.copy()
    for f in (silhouette_samples, davies_bouldin_score, calinski_harabasz_score):
        f(X, y)
        f(Xs, y)
    silhouette_samples(X, y, metric="cosine")
    silhouette_samples(Xs, y, metric="cosine")
    np.testing.assert_array_equal(X, before)
    assert (Xs != before_sparse).nnz == 0


# --------------------------------------------------------------------- sample_size


def test_sample_size_scores_the_documented_subset():
    X, y = datasets.load_iris(return_X_y=True)
    rows = np.random.default_rng(0).choice(150, size=60, replace=False)
    expected = skm.silhouette_score(X[rows], y[rows])
    assert silhouette_score(X, y, sample_size=60, random_state=0) == pytest.approx(
        expected, abs=TOL
    )
    assert silhouette_score(
        X, y, sample_size=60, random_state=np.random.default_rng(0)
    ) == pytest.approx(expected, abs=TOL)
    assert silhouette_score(
        sp.csr_matrix(X), y, sample_size=60, random_state=0, metric="cosine"
    ) == pytest.approx(skm.silhouette_score(X[rows], y[rows], metric="cosine"), abs=TOL)
    assert silhouette_score(X, y, sample_size=150, random_state=3) == pytest.approx(
        silhouette_score(X, y), abs=TOL
    )
    rng = np.random.default_rng(5)
    assert silhouette_score(X, y, sample_size=40, random_state=rng) != silhouette_score(
        X, y, sample_size=40, random_state=rng
    )  # a shared Generator moves on


def test_sample_size_errors():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="sample_size=500 should be <= n_samples=150"):
        silhouette_score(X, y, sample_size=500)
    with pytest.raises(ValueError, match="'sample_size' parameter of silhouette_score"):
        silhouette_score(X, y, sample_size=1)
    with pytest.raises(ValueError, match="'sample_size' parameter"):
        silhouette_score(X, y, sample_size=10.5)
    with pytest.raises(ValueError, match="random_state must be"):
        silhouette_score(X, y, sample_size=10, random_state="0")
    # Clusters are counted within the subset: 2 rows of the big cluster are 1 label.
    y2 = np.r_[np.zeros(149, int), 1]
    with pytest.raises(ValueError, match=r"All 2 rows of the random subset \(sample_size=2\)"):
        silhouette_score(X, y2, sample_size=2, random_state=0)


# -------------------------------------------------------------------------- errors

ALL = [silhouette_samples, silhouette_score, davies_bouldin_score, calinski_harabasz_score]


@pytest.mark.parametrize("f", ALL)
def test_number_of_labels_errors(f):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(
        ValueError,
        match=r"Number of labels is 1\. Valid values are 2 to n_samples - 1 \(inclusive\), "
        r"here 2 to 4 for n_samples=5\. All 5 rows carry the same label",
    ):
        f(X, [7] * 5)
    with pytest.raises(ValueError, match=r"Number of labels is 5\. .*own label"):
        f(X, ["a", "b", "c", "d", "e"])


@pytest.mark.parametrize("f", ALL)
def test_input_errors(f):
    y = [0, 0, 1, 1]
    X = np.arange(8.0).reshape(4, 2)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(
        ValueError, match=r"1 NaN or infinite value\(s\) \(first at row 2, column 1"
    ):
        f(bad, y)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="Impute or drop"):
        f(sp.csr_matrix(bad), y)
    with pytest.raises(ValueError, match="different lengths: 4 rows in X, 3 labels"):
        f(X, y[:3])
    with pytest.raises(ValueError, match=r"empty \(shape \(0, 2\)\)"):
        f(np.empty((0, 2)), [])
    with pytest.raises(ValueError, match="must be 2-D"):
        f([1.0, 2.0, 3.0, 4.0], y)
    with pytest.raises(ValueError, match="must be numeric"):
        f([["a", "b"]] * 4, y)
    with pytest.raises(ValueError, match="labels contain 1 NaN"):
        f(X, [0.0, 0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="cannot be sorted together"):
        f(X, np.array([0, "a", 1, "b"], dtype=object))
    with pytest.raises(ValueError, match="labels must be 1-D"):
        f(X, np.zeros((2, 2)))


@pytest.mark.parametrize("f", [silhouette_samples, silhouette_score])
def test_parameter_errors(f):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match=r"'metric' parameter of .* must be one of 'euclidean'"):
        f(X, [0, 0, 1, 1], metric="manhattan")
    with pytest.raises(ValueError, match=r"'chunk_size' parameter .* must be an integer"):
        f(X, [0, 0, 1, 1], chunk_size=0)


# ------------------------------------------------------------------------- inertia


def test_inertia_by_hand():
    X = [[0.0, 0.0], [0.0, 2.0], [4.0, 4.0], [6.0, 4.0]]
    C = [[0.0, 1.0], [5.0, 4.0]]
    assert inertia(X, [0, 0, 1, 1], C) == 4.0  # 1 + 1 + 1 + 1
    assert inertia(X, [0, 0, 1, 1], C, sample_weight=[2, 0, 1, 3]) == 6.0
    assert inertia(X, [1, 1, 0, 0], C) == 41 + 29 + 25 + 45  # swapped centres


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_inertia_equals_sklearn_kmeans(name):
    X, _ = getattr(datasets, f"load_{name}")(return_X_y=True)
    w = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    for weights in (None, w):
        km = SkKMeans(n_clusters=4, random_state=0, n_init=1).fit(X, sample_weight=weights)
        got = inertia(X, km.labels_, km.cluster_centers_, sample_weight=weights)
        assert got == pytest.approx(km.inertia_, rel=1e-12)
        sparse = inertia(sp.csr_matrix(X), km.labels_, km.cluster_centers_, weights)
        assert sparse == pytest.approx(got, rel=1e-12)


def test_inertia_weights_equal_repeats():
    X, y = _blobs(200, 3, d=4)
    C = np.random.default_rng(1).normal(size=(3, 4))
    reps = np.random.default_rng(2).integers(0, 4, 200)
    assert inertia(X, y, C, sample_weight=reps) == pytest.approx(
        inertia(np.repeat(X, reps, axis=0), np.repeat(y, reps), C), rel=1e-12
    )


def test_inertia_errors():
    X = np.arange(8.0).reshape(4, 2)
    C = [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match=r"found \[2\] in 1 row"):
        inertia(X, [0, 1, 2, 0], C)
    with pytest.raises(ValueError, match="integer indices of rows of centers"):
        inertia(X, [0, 0.5, 1, 1], C)
    with pytest.raises(ValueError, match="integer indices"):
        inertia(X, ["a", "a", "b", "b"], C)
    with pytest.raises(ValueError, match=r"shape \(n_clusters, 2\)"):
        inertia(X, [0, 0, 1, 1], [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        inertia(X, [0, 0, 1], C)
    with pytest.raises(ValueError, match="centers contain NaN"):
        inertia(X, [0, 0, 1, 1], [[0.0, np.nan], [1.0, 1.0]])
    with pytest.raises(ValueError, match="sample_weight must have one entry per row"):
        inertia(X, [0, 0, 1, 1], C, sample_weight=[1.0, 2.0])
    assert inertia(X, np.array([0.0, 0.0, 1.0, 1.0]), C) == inertia(X, [0, 0, 1, 1], C)


# ------------------------------------------------------------------- bounded memory


def test_exact_silhouette_of_100k_rows_in_bounded_memory():
    # n = 100,000 would be an 80 GB distance matrix. Measured: peak 37.4 MiB traced (the
    # data alone are 7.6 MiB) and 10-13 s on 2 cores shared with other processes.
    X, y = _blobs(100_000, 5)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        s = silhouette_samples(X, y)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 30, f"peak {peak / 2**20:.0f} MiB"
    assert s.shape == (100_000,) and np.all((s >= -1) & (s <= 1))
    # A few rows checked against distances computed directly from differences.
    counts = np.bincount(y)
    for i in np.random.default_rng(0).choice(100_000, size=5, replace=False):
        d = np.sqrt(((X - X[i]) ** 2).sum(axis=1))
        means = np.bincount(y, weights=d) / counts
        a = d[y == y[i]].sum() / (counts[y[i]] - 1)
        b = np.min(np.delete(means, y[i]))
        assert s[i] == pytest.approx((b - a) / max(a, b), abs=1e-10)
    print(f"n=100,000: {elapsed:.1f} s, peak {peak / 2**20:.1f} MiB")
