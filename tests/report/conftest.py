"""Workflow reports to write: cardio (21 features) and a small 2-D Gaussian with planted anomalies."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from anomalykit.datasets import load_cardio
from anomalykit.workflow import anomaly_split, cluster_data, detect_anomalies

#: Bootstrap resamples in the fixtures: enough for an interval, cheap on 2 cores.
N_BOOTSTRAP = 100


@pytest.fixture(scope="session")
def cardio():
    return load_cardio()


@pytest.fixture(scope="session")
def cardio_detection(cardio):
    s = anomaly_split(cardio.X, cardio.y, random_state=0)
    return detect_anomalies(
        s.X_train, X_val=s.X_val, y_val=s.y_val, X_test=s.X_test, y_test=s.y_test,
        covariance="full", feature_names=cardio.feature_names, n_bootstrap=N_BOOTSTRAP,
    )  # fmt: skip


@pytest.fixture(scope="session")
def cardio_clustering(cardio):
    return cluster_data(cardio.X, k=3, n_sigma=3.0, feature_names=cardio.feature_names)


def planted_2d(seed=0):
    """300 normal rows around (14, 15), correlated, and 12 anomalies spread far around them."""
    rng = np.random.default_rng(seed)
    normal = rng.multivariate_normal([14.0, 15.0], [[1.5, 0.6], [0.6, 1.8]], size=300)
    angle = rng.uniform(0, 2 * np.pi, 12)
    radius = rng.uniform(5, 9, 12)
    anomalies = np.c_[14 + radius * np.cos(angle), 15 + radius * np.sin(angle)]
    return np.r_[normal, anomalies], np.r_[np.zeros(300, int), np.ones(12, int)]


@pytest.fixture(scope="session")
def planted():
    return planted_2d


@pytest.fixture(scope="session")
def detection_2d():
    X, y = planted_2d()
    s = anomaly_split(X, y, random_state=0)
    return detect_anomalies(
        s.X_train, X_val=s.X_val, y_val=s.y_val, X_test=s.X_test, y_test=s.y_test,
        covariance="full", feature_names=["latency (ms)", "throughput (MB/s)"],
        n_bootstrap=N_BOOTSTRAP,
    )  # fmt: skip


@pytest.fixture(scope="session")
def clustering_2d():
    """Three clear blobs and two far rows: K is chosen (selection is set) and outliers flagged."""
    rng = np.random.default_rng(0)
    X = np.r_[
        rng.normal(0, 1, (150, 2)),
        rng.normal(6, 1, (150, 2)),
        rng.normal([0, 8], 1, (150, 2)),
        [[9.5, 9.5], [-4.5, -4.0]],
    ]
    return cluster_data(X, ks=range(1, 7), n_sigma=3.0, feature_names=["x", "y"])
