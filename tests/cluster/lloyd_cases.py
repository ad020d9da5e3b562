"""Data and helpers shared by the Lloyd engines' tests (not a test module)."""

import numpy as np
from sklearn.datasets import make_blobs

#: How close the engines' centres must be to the plain step's, by dtype.
CENTRE_TOL = {np.float32: 1e-4, np.float64: 1e-10}


def blobs(n=6000, d=8, centers=6, std=1.5, dtype=np.float64, seed=0):
    """Gaussian blobs, centred, C-contiguous in ``dtype``."""
    X = make_blobs(n, d, centers=centers, cluster_std=std, random_state=seed)[0]
    return np.ascontiguousarray(X - X.mean(axis=0), dtype=dtype)


def rows(X, k, seed=1):
    """``k`` distinct rows of X (initial centres)."""
    return X[np.random.default_rng(seed).choice(len(X), k, replace=False)].copy()
