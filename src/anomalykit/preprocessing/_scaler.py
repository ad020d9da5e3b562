"""Per-feature scaling with an optional log transform, invertible and saveable."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils._fingerprint import fingerprint
from .._utils._validation import check_in, feature_names

__all__ = ["FeatureScaler"]

_METHODS = ("standard", "robust", "none")


class FeatureScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre and scale each feature, optionally after ``log1p``.

    ``transform(X) = (f(X) - center_) / scale_`` with ``f = log1p`` when
    ``log=True`` (for spend, counts and other skewed non-negative data) and
    the identity otherwise. A column with no spread keeps ``scale_ = 1``, so
    it is centred, never divided by zero. Unlike a free function, the fitted
    arrays are plain data: the scaler is saved with its model
    (:func:`anomalykit.save`) and :meth:`inverse_transform` gives centres and
    thresholds back in original units.

    Parameters
    ----------
    method : {"standard", "robust", "none"}, default="standard"
        ``"standard"``: mean and standard deviation (``ddof=0``);
        ``"robust"``: median and interquartile range (a few extreme rows do
        not set the scale); ``"none"``: only ``log1p`` (with ``log=True``).
    log : bool, default=False
        Apply ``log1p`` first; every value must then be ``>= 0``.

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
    scale_ : ndarray of shape (n_features,)
    data_fingerprint_ : dict
        Identifies the validated training rows (after ``log1p`` when
        ``log=True``): shape, dtype and a sha256 of up to 4096 evenly spaced
        rows. It identifies the data set, it does not prove every byte.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.preprocessing import FeatureScaler
    >>> X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    >>> s = FeatureScaler().fit(X)
    >>> s.transform(X)
    array([[-1.22474487,  0.        ],
           [ 0.        ,  0.        ],
           [ 1.22474487,  0.        ]])
    >>> np.allclose(s.inverse_transform(s.transform(X)), X)
    True
    """

    def __init__(self, method: str = "standard", *, log: bool = False) -> None:
        self.method = method
        self.log = log

    def fit(self, X: ArrayLike, y: Any = None) -> FeatureScaler:
        """Learn each feature's centre and scale from ``X``."""
        check_in(self.method, _METHODS, name="method", owner="FeatureScaler")
        X = self._forward(validate_data(self, X, dtype=[np.float64, np.float32], reset=True))
        self.data_fingerprint_ = fingerprint(X)
        if self.method == "standard":
            center, scale = X.mean(axis=0), X.std(axis=0)
        elif self.method == "robust":
            q1, center, q3 = np.percentile(X, [25, 50, 75], axis=0)
            scale = q3 - q1
        else:
            center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        scale = np.where(scale > 0, scale, 1.0)  # a constant column is centred, not divided by 0
        self.center_ = np.asarray(center, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Scaled copy of ``X`` (float32 stays float32)."""
        check_is_fitted(self)
        X = self._forward(validate_data(self, X, dtype=[np.float64, np.float32], reset=False))
        return ((X - self.center_) / self.scale_).astype(X.dtype, copy=False)

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
        """Back to original units: ``expm1`` of the unscaled values when ``log=True``."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"inverse_transform needs rows of {self.n_features_in_} features; got shape "
                f"{X.shape}."
            )
        out = X * self.scale_ + self.center_
        return np.expm1(out) if self.log else out

    def _forward(self, X: np.ndarray) -> np.ndarray:
        if not self.log:
            return X
        negative = (X < 0).any(axis=0)
        if negative.any():
            j = int(np.flatnonzero(negative)[0])
            name = feature_names(self, X.shape[1])[j]
            raise ValueError(
                f"log=True needs values >= 0, but column {name!r} has {X[:, j].min():g}. "
                "Use log=False, or shift that column first."
            )
        return np.log1p(X)
