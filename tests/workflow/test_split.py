import numpy as np
import pytest

from anomalykit.workflow import anomaly_split


def data(n_normal=100, n_anom=10):
    X = np.arange(float(n_normal + n_anom))[:, None] * np.ones((1, 3))
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anom, int)]
    return X, y


def test_train_is_normal_and_parts_partition_the_rows():
    X, y = data()
    s = anomaly_split(X, y, random_state=0)
    assert (y[s.train_index] == 0).all() and len(s.train_index) == 60
    all_idx = np.concatenate([s.train_index, s.val_index, s.test_index])
    np.testing.assert_array_equal(np.sort(all_idx), np.arange(len(y)))
    assert s.y_val.sum() == 5 and s.y_test.sum() == 5
    np.testing.assert_array_equal(s.X_val, X[s.val_index])
    np.testing.assert_array_equal(s.y_test, y[s.test_index])


def test_seeded_and_different_seeds_differ():
    X, y = data()
    a, b = anomaly_split(X, y, random_state=3), anomaly_split(X, y, random_state=3)
    np.testing.assert_array_equal(a.val_index, b.val_index)
    c = anomaly_split(X, y, random_state=4)
    assert not np.array_equal(a.val_index, c.val_index)
    rng = np.random.default_rng(1)
    assert len(anomaly_split(X, y, random_state=rng).train_index) == 60


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.r_[np.zeros(10), np.ones(1)], "at least 2 anomalies"),
        (np.r_[np.zeros(3), np.ones(8)], "4 normal rows"),
        (np.r_[np.zeros(9), [2, 1]], "only 0"),
    ],
)
def test_degenerate_labels(y, match):
    with pytest.raises(ValueError, match=match):
        anomaly_split(np.ones((11, 2)), y)


def test_bad_train_size_and_shapes():
    X, y = data()
    with pytest.raises(ValueError, match="'train_size' parameter"):
        anomaly_split(X, y, train_size=1.0)
    with pytest.raises(ValueError, match="one row per label"):
        anomaly_split(X[:5], y)
    with pytest.raises(ValueError, match="random_state must be"):
        anomaly_split(X, y, random_state=np.random.RandomState(0))
