import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from anomalykit import CentroidOutlierDetector, GaussianDetector, KMeans, MiniBatchKMeans
from anomalykit._utils._fingerprint import MAX_HASHED_ROWS, fingerprint
from anomalykit.preprocessing import FeatureScaler

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 3))


def test_keys_and_values():
    fp = fingerprint(X)
    assert fp == {
        "n_rows": 200,
        "n_columns": 3,
        "dtype": "float64",
        "rows_hashed": 200,
        "n_chunks": 1,
        "sha256": fp["sha256"],
    }
    assert len(fp["sha256"]) == 64 and int(fp["sha256"], 16) >= 0


def test_same_values_same_fingerprint_whatever_the_layout_or_byte_order():
    fp = fingerprint(X)
    assert fingerprint(X.copy()) == fp
    assert fingerprint(np.asfortranarray(X)) == fp
    assert fingerprint(X.astype(">f8")) == fp
    assert fingerprint(X.tolist()) == fp


def test_shape_dtype_and_values_change_it():
    sha = fingerprint(X)["sha256"]
    assert fingerprint(X.astype(np.float32))["sha256"] != sha
    assert fingerprint(X.reshape(300, 2))["sha256"] != sha  # same bytes, other shape
    Y = X.copy()
    Y[117, 2] = np.nextafter(Y[117, 2], np.inf)  # one ulp in one value
    assert fingerprint(Y)["sha256"] != sha


def test_large_arrays_hash_evenly_spaced_rows_only():
    n = 3 * MAX_HASHED_ROWS + 5
    big = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    fp = fingerprint(big)
    assert fp["n_rows"] == n and fp["rows_hashed"] == MAX_HASHED_ROWS
    sampled = (np.arange(MAX_HASHED_ROWS) * (n - 1)) // (MAX_HASHED_ROWS - 1)
    assert sampled[0] == 0 and sampled[-1] == n - 1
    for row, changes in ((0, True), (n - 1, True), (int(sampled[1234]), True), (1, False)):
        changed = big.copy()
        changed[row, 0] += 1
        assert (fingerprint(changed)["sha256"] != fp["sha256"]) is changes, row
    # The documented limit: a change in a row that is not hashed goes unnoticed.
    assert 1 not in set(sampled.tolist())


def test_the_hash_is_stable_across_releases():
    """Saved models carry fingerprints that users compare with fingerprint(X) of
    their data: the bytes hashed must not change (digests from version 0.1.0)."""
    small = np.arange(12.0).reshape(4, 3)
    assert fingerprint(small)["sha256"] == (
        "fd707760a66feb6349d8190f4df3aa7e5533c1efb9f68fa7a5896e93e6eaa989"
    )
    assert fingerprint(small.astype(">f8"))["sha256"] == fingerprint(small)["sha256"]
    assert fingerprint(np.arange(10_000, dtype=np.float32).reshape(5000, 2))["sha256"] == (
        "ed2677647ddbe53a0becf8726c8fcec59882d28169f892e349f07b00ee7dfefa"
    )
    assert fingerprint(sp.csr_matrix(np.eye(5000)[:, :3]))["sha256"] == (
        "b7b8bc1d4d5d60c576414b0f8761629a98c69aa768025b3ab45ee95274fb521e"
    )


def test_hashed_rows_are_shared_read_only():
    """The row indices of a size are kept for the next fit: nobody may change them."""
    from anomalykit._utils._fingerprint import _hashed_rows

    rows = _hashed_rows(10_000)
    assert _hashed_rows(10_000) is rows
    assert not rows.flags.writeable
    np.testing.assert_array_equal(rows, (np.arange(4096) * 9999) // 4095)


def test_sparse_matrices():
    S = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))
    fp = fingerprint(S)
    assert fp["n_rows"] == 200 and fp["n_columns"] == 3
    assert fingerprint(S.copy()) == fp
    assert fingerprint(sp.csr_array(S)) == fp
    T = S.copy()
    T.data[5] += 1
    assert fingerprint(T)["sha256"] != fp["sha256"]
    big = sp.random(10_000, 4, density=0.1, format="csr", random_state=0)
    assert fingerprint(big)["rows_hashed"] == MAX_HASHED_ROWS


def test_chaining_describes_all_chunks_in_order():
    first, second = fingerprint(X[:120]), fingerprint(X[120:])
    chained = fingerprint(X[120:], first)
    assert chained["n_rows"] == 200 and chained["n_chunks"] == 2 and chained["rows_hashed"] == 200
    assert chained["sha256"] not in (first["sha256"], second["sha256"], fingerprint(X)["sha256"])
    assert fingerprint(X[:120], second)["sha256"] != chained["sha256"]  # order matters
    assert fingerprint(X[120:], first) == chained  # deterministic
    mixed = fingerprint(X[120:].astype(np.float32), first)
    assert mixed["dtype"] == "mixed"


@pytest.mark.parametrize("bad", [np.zeros(3), np.array([["a", None]], dtype=object)])
def test_rejects_what_it_cannot_hash(bad):
    with pytest.raises(ValueError, match="2-D numeric array"):
        fingerprint(bad)


@pytest.mark.parametrize(
    "estimator",
    [
        GaussianDetector(),
        GaussianDetector("full"),
        KMeans(3, random_state=0),
        MiniBatchKMeans(3, batch_size=32, random_state=0),
        CentroidOutlierDetector(2, random_state=0),
        FeatureScaler(),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_records_the_fingerprint_of_the_training_rows(estimator, dtype):
    data = X.astype(dtype)
    fp = estimator.fit(data).data_fingerprint_
    assert fp == fingerprint(data)
    assert fp["dtype"] == np.dtype(dtype).name
    # list input is validated to float64 first
    assert estimator.fit(data.tolist()).data_fingerprint_ == fingerprint(data.astype(np.float64))


def test_fit_fingerprints_the_rows_as_fitted():
    assert KMeans(2, metric="cosine", random_state=0).fit(X).data_fingerprint_ == fingerprint(
        normalize(X)
    )
    S = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))
    assert KMeans(2, random_state=0).fit(S).data_fingerprint_ == fingerprint(S)
    A = np.abs(X)
    assert FeatureScaler(log=True).fit(A).data_fingerprint_ == fingerprint(np.log1p(A))


@pytest.mark.parametrize(
    "estimator",
    [GaussianDetector(), MiniBatchKMeans(3, random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_partial_fit_chains_and_fit_starts_again(estimator):
    estimator.partial_fit(X[:100]).partial_fit(X[100:150]).partial_fit(X[150:])
    expected = fingerprint(X[150:], fingerprint(X[100:150], fingerprint(X[:100])))
    assert estimator.data_fingerprint_ == expected
    assert estimator.data_fingerprint_["n_chunks"] == 3
    assert estimator.fit(X).data_fingerprint_ == fingerprint(X)
    # partial_fit after fit continues from fit's rows
    estimator.partial_fit(X[:10])
    assert estimator.data_fingerprint_ == fingerprint(X[:10], fingerprint(X))
