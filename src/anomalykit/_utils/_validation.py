"""Validation at the boundary: labels, scores and parameters, with messages that
name the problem and the fix. Workers behind these checks assume valid input."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "check_binary_labels",
    "check_in",
    "check_real",
    "check_sample_weight",
    "check_scores",
    "feature_names",
    "raise_if_not_finite",
    "snapshot_n_features",
]

_ABSENT = object()


def snapshot_n_features(estimator: Any) -> Any:
    """``estimator.n_features_in_`` before a fit's ``validate_data``, for
    :func:`raise_if_not_finite` (a marker where it has none)."""
    return estimator.__dict__.get("n_features_in_", _ABSENT)


def raise_if_not_finite(estimator: Any, X: np.ndarray, n_features_before: Any = None) -> None:
    """Raise ``validate_data``'s error for NaN or infinity in ``X``, if any.

    For a fit that skipped that check in ``validate_data`` (a compiled pass
    over X finds non-finite values for free: its sums are finite exactly when
    the data is): ``n_features_in_`` goes back to ``n_features_before`` (from
    :func:`snapshot_n_features`), as that error leaves it; None: left as is.
    """
    from sklearn.utils import assert_all_finite

    try:
        assert_all_finite(X, estimator_name=type(estimator).__name__, input_name="X")
    except ValueError:
        if n_features_before is _ABSENT:
            estimator.__dict__.pop("n_features_in_", None)
        elif n_features_before is not None:
            estimator.n_features_in_ = n_features_before
        raise


def check_binary_labels(y: Any, *, name: str = "y_true") -> np.ndarray:
    """Return ``y`` as a 1-D int8 array of 0 (normal) and 1 (anomaly).

    Accepts booleans, integers and floats that are exactly 0 or 1. Anything else
    (NaN, 2, -1, strings) is an error: labelled anomaly data sets use 1 for an
    anomaly, and guessing another convention silently would invert the result.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of 0/1 labels; got an array of shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one labelled row is needed.")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold 0 (normal) and 1 (anomaly); got values of type "
            f"{arr.dtype} such as {arr[:3].tolist()!r}. Map your labels to 0/1 first."
        )
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        examples = np.unique(arr[bad])[:5].tolist()
        raise ValueError(
            f"{name} must hold only 0 (normal) and 1 (anomaly); found {examples!r} "
            f"in {int(bad.sum())} row(s). Map your labels to 0/1 first (e.g. y == 'anomaly')."
        )
    return arr.astype(np.int8)


def check_scores(scores: Any, *, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a finite 1-D float64 array."""
    arr = np.asarray(scores)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if arr.dtype.kind not in "iuf" and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at "
            f"index {first}: {arr[first]!r}). Score with log-densities "
            "(score_samples), which stay finite where densities underflow."
        )
    return arr


def check_in(value: Any, allowed: tuple, *, name: str, owner: str) -> None:
    """Raise the house-style message when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"The {name!r} parameter of {owner} must be one of "
            f"{', '.join(repr(a) for a in allowed)}. Got {value!r} instead."
        )


def check_real(
    value: Any,
    *,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Check that ``value`` is a real (or integer) number inside an interval."""
    kind = Integral if integer else Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and not integer:
        try:
            # (math, not NumPy: a fit checks a few parameters, and np.isfinite
            # on a Python number took 20-30 us each after a pause)
            ok = math.isfinite(value)
        except OverflowError:  # an int too large for a float is finite all the same
            ok = True
        if not ok and isinstance(value, np.floating):  # e.g. a long double beyond float64
            ok = bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        what = "an integer" if integer else "a real number"
        raise ValueError(
            f"The {name!r} parameter of {owner} must be {what} in {left}{lo}, {hi}{right}. "
            f"Got {value!r} instead."
        )


def feature_names(estimator: Any, n_features: int) -> list[str]:
    """Names of the columns: the fitted ``feature_names_in_`` (from a table),
    else names given to the workflow for array input, else ``x0 .. x{d-1}``."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = getattr(estimator, "_feature_names", None)
    if names is not None and len(names) == n_features:
        return [str(n) for n in names]
    return [f"x{j}" for j in range(n_features)]


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """None, a scalar or one non-negative weight per row -> float64 array (or None)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have one entry per row: shape ({n},); got {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    if w.sum() <= 0:
        raise ValueError(
            "All sample weights are zero: at least one row must have a positive weight."
        )
    return w
