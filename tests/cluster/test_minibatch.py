import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from anomalykit import KMeans, MiniBatchKMeans
from anomalykit.cluster._lloyd import lloyd_step
from anomalykit.cluster._minibatch import minibatch_step


@pytest.fixture
def blobs():
    return make_blobs(20000, 5, centers=6, cluster_std=1.0, random_state=0)


def test_one_batch_of_all_rows_is_a_lloyd_step(blobs):
    X, _ = blobs
    centers = X[:6].copy()
    w = np.random.default_rng(0).uniform(0.5, 2, size=len(X))
    new, counts, inertia = minibatch_step(X, centers, np.zeros(6), w)
    step = lloyd_step(X, centers, w)
    np.testing.assert_allclose(new, step.centers, atol=1e-10)
    np.testing.assert_allclose(counts, step.cluster_weights)
    d = np.min(((X[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    assert inertia == pytest.approx(d @ w)


def test_centres_are_running_means_of_all_rows_seen():
    X = np.array([[0.0], [2.0], [4.0], [10.0], [12.0]])
    centers, counts = np.array([[1.0], [11.0]]), np.zeros(2)
    for chunk in (X[:2], X[2:4], X[4:]):
        centers, counts, _ = minibatch_step(chunk, centers, counts, np.ones(len(chunk)))
    np.testing.assert_allclose(centers.ravel(), [2.0, 11.0])
    np.testing.assert_array_equal(counts, [3, 2])


def test_fit_finds_the_blobs_and_stops_early(blobs):
    X, y = blobs
    mb = MiniBatchKMeans(6, batch_size=512, random_state=0).fit(X)
    assert adjusted_rand_score(y, mb.labels_) == 1.0
    full = KMeans(6, random_state=0).fit(X)
    assert mb.inertia_ == pytest.approx(full.inertia_, rel=1e-3)
    assert mb.n_steps_ < 100 * len(X) / 512  # early stopping
    np.testing.assert_array_equal(mb.predict(X), mb.labels_)


def test_partial_fit_on_chunks(blobs):
    X, y = blobs
    mb = MiniBatchKMeans(6, random_state=0)
    for chunk in np.array_split(X, 40):
        mb.partial_fit(chunk)
    assert mb.n_steps_ == 40 and mb.counts_.sum() == pytest.approx(len(X))
    assert adjusted_rand_score(y, mb.predict(X)) == 1.0


def test_float32_sparse_and_cosine(blobs):
    X, y = blobs
    mb = MiniBatchKMeans(6, random_state=0).fit(X.astype(np.float32))
    assert mb.cluster_centers_.dtype == np.float32
    assert adjusted_rand_score(y, mb.labels_) == 1.0
    Xp = np.abs(X)
    Xp[Xp < 2] = 0
    mbs = MiniBatchKMeans(6, random_state=0).fit(sp.csr_matrix(Xp))
    assert mbs.labels_.shape == (len(X),)
    mbc = MiniBatchKMeans(3, metric="cosine", random_state=0).fit(np.abs(X) + 0.1)
    np.testing.assert_allclose(np.linalg.norm(mbc.cluster_centers_, axis=1), 1.0, rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        MiniBatchKMeans(5).partial_fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        MiniBatchKMeans(2, batch_size=0).fit(np.arange(12.0).reshape(6, 2))
    mb = MiniBatchKMeans(2, random_state=0).partial_fit(np.arange(12.0).reshape(6, 2))
    with pytest.raises(ValueError, match="features"):
        mb.partial_fit(np.ones((3, 3)))


@pytest.mark.parametrize("sparse", [False, True])
def test_a_float32_batch_does_not_round_a_float64_model(sparse):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3000, 5)) + 1000.0
    B = (rng.normal(size=(3000, 5)) + 1000.0).astype(np.float32)
    if sparse:
        A, B = sp.csr_matrix(A - 1000.0), sp.csr_matrix(B - np.float32(1000.0))
    m32 = MiniBatchKMeans(3, random_state=0).partial_fit(A).partial_fit(B)
    m64 = MiniBatchKMeans(3, random_state=0).partial_fit(A).partial_fit(B.astype(np.float64))
    assert m32.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(m32.cluster_centers_, m64.cluster_centers_)
