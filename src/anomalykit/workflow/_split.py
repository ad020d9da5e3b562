"""Split labelled data the way anomaly detection needs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._utils._random import as_generator
from .._utils._validation import check_binary_labels, check_real

__all__ = ["AnomalySplit", "anomaly_split"]


@dataclass(frozen=True, repr=False)
class AnomalySplit:
    """Training rows (normal only), and labelled validation and test rows.

    ``*_index`` give the positions of each part in the data that was split.
    """

    X_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray

    def __repr__(self) -> str:
        return (
            f"AnomalySplit(train={len(self.X_train)} normal, "
            f"val={len(self.X_val)} ({int(self.y_val.sum())} anomalies), "
            f"test={len(self.X_test)} ({int(self.y_test.sum())} anomalies))"
        )


def anomaly_split(
    X: ArrayLike, y: ArrayLike, *, train_size: float = 0.6, random_state: Any = None
) -> AnomalySplit:
    """Split into normal-only training rows and stratified validation/test rows.

    A share ``train_size`` of the normal rows trains the density; the other
    normal rows and all anomalies are shared equally between validation
    (to choose epsilon) and test (to report on), stratified by label. This is
    the course's recommended split (60/20/20 of the normal rows, anomalies
    50/50), and it keeps the choice of epsilon off the rows that are reported.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal; at least 2 anomalies and 4 normal rows.
    train_size : float in (0, 1), default=0.6
        Share of the normal rows used for training.
    random_state : None, int or numpy.random.Generator, default=None

    Returns
    -------
    AnomalySplit

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.workflow import anomaly_split
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = np.array([0] * 16 + [1] * 4)
    >>> anomaly_split(X, y, random_state=0)
    AnomalySplit(train=10 normal, val=5 (2 anomalies), test=5 (2 anomalies))
    """
    check_real(train_size, name="train_size", owner="anomaly_split", low=0.0, high=1.0,
               low_open=True, high_open=True)  # fmt: skip
    X = np.asarray(X)
    y = check_binary_labels(y, name="y")
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X must be 2-D with one row per label; got X of shape {X.shape} and {y.shape[0]} labels."
        )
    normal = np.flatnonzero(y == 0)
    anomalous = np.flatnonzero(y == 1)
    if anomalous.size < 2 or normal.size < 4:
        raise ValueError(
            f"Need at least 2 anomalies and 4 normal rows to split; got {anomalous.size} "
            f"anomalies and {normal.size} normal rows."
        )
    rng = as_generator(random_state)
    normal = rng.permutation(normal)
    anomalous = rng.permutation(anomalous)
    n_train = min(max(round(train_size * normal.size), 2), normal.size - 2)
    rest = normal[n_train:]
    n_val_normal = rest.size // 2
    n_val_anom = anomalous.size // 2
    train = np.sort(normal[:n_train])
    val = np.sort(np.concatenate((rest[:n_val_normal], anomalous[:n_val_anom])))
    test = np.sort(np.concatenate((rest[n_val_normal:], anomalous[n_val_anom:])))
    return AnomalySplit(X[train], X[val], y[val], X[test], y[test], train, val, test)
