"""Features over short trailing windows for the SKAB recipe.

Every feature of row ``t`` is computed from rows ``<= t`` only (trailing,
causal windows), so a row is scored with what a monitor would have seen at
that moment. The channels are treated by kind, a choice fixed from the
anomaly-free run and the training rows, never from labels (see
``docs/recipes/skab.md``):

- fast channels (``Current``, ``Pressure``, ``Voltage``) are white noise about a
  level (lag-1 autocorrelation 0.07, 0.11 and 0.01 in the anomaly-free run):
  their mean over ``window`` rows keeps the level and divides the noise's
  standard deviation by about ``sqrt(window)``;
- slow channels (the two accelerometers and the flow rate, lag-1
  autocorrelation about 0.9) are kept as they are: averaging removes little
  noise from them and makes their slow wander look like a shift;
- the two temperatures are heat integrators that drift as the rig warms up
  (up to 11 standard deviations between the two halves of a run's first 400
  rows): they enter as their change over ``window`` rows, which a steady drift
  leaves constant and a sudden heating or cooling moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FAST",
    "SENSORS",
    "SLOW",
    "TEMPERATURES",
    "WINDOW",
    "trailing_change",
    "trailing_mean",
    "window_features",
]

#: The eight sensor columns of a SKAB file, in file order.
SENSORS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
#: White-noise channels: averaged over the window.
FAST = ("Current", "Pressure", "Voltage")
#: Slowly varying channels: kept as they are.
SLOW = ("Accelerometer1RMS", "Accelerometer2RMS", "Volume Flow RateRMS")
#: Drifting channels: their change over the window.
TEMPERATURES = ("Temperature", "Thermocouple")
#: Rows per window (SKAB samples about once a second): 10 s divides the noise of
#: the fast channels by about 3 and delays the response to a fault by at most 10
#: rows of the roughly 400 that a SKAB fault lasts.
WINDOW = 10


def trailing_mean(X: ArrayLike, window: int) -> NDArray[np.float64]:
    """Mean of the last ``window`` rows up to and including each row.

    The first ``window - 1`` rows average the rows there are (1, 2, ...).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    window : int
        Rows per window, ``>= 1``.

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> trailing_mean([[1.0], [3.0], [5.0], [7.0]], 2).ravel().tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    X = np.asarray(X, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window={window} should be >= 1.")
    # Centre first so the running sum stays small (no loss of digits on 230 V readings).
    shift = X[:1] if X.shape[0] else 0.0
    csum = np.cumsum(X - shift, axis=0)
    out = csum.copy()
    out[window:] -= csum[:-window]
    counts = np.minimum(np.arange(1, X.shape[0] + 1), window)[:, None]
    return out / counts + shift


def trailing_change(X: ArrayLike, window: int) -> NDArray[np.float64]:
    """Change of the trailing mean over ``window`` rows: ``m[t] - m[t - window]``.

    ``m`` is :func:`trailing_mean`; rows ``t < window`` compare with ``m[0]``.
    A linear drift of slope ``a`` per row gives the constant ``a * window``
    once ``t >= 2 * window - 1``.

    Examples
    --------
    >>> trailing_change([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]], 2).ravel().tolist()
    [0.0, 0.5, 1.5, 2.0, 2.0, 2.0]
    """
    m = trailing_mean(X, window)
    before = m[np.maximum(np.arange(m.shape[0]) - window, 0)]
    return m - before


def window_features(
    X: ArrayLike, columns: Sequence[str] = SENSORS, *, window: int = WINDOW
) -> tuple[NDArray[np.float64], list[str]]:
    """The recipe's features of every row of one run, in time order.

    Parameters
    ----------
    X : array-like of shape (n_samples, len(columns))
        One run's sensor readings, oldest row first.
    columns : sequence of str, default=SENSORS
        The name of each column of ``X``; must include every sensor of
        :data:`FAST`, :data:`SLOW` and :data:`TEMPERATURES`.
    window : int, default=WINDOW

    Returns
    -------
    features : ndarray of shape (n_samples, 8)
        Trailing means of the fast channels, the slow channels as they are,
        and the change of each temperature over the window.
    names : list of str
        ``mean10(Current)``, ..., ``Accelerometer1RMS``, ...,
        ``change10(Temperature)``, ...

    Examples
    --------
    >>> X = np.arange(16.0).reshape(2, 8)
    >>> F, names = window_features(X, window=2)
    >>> names[0], names[-1]
    ('mean2(Current)', 'change2(Thermocouple)')
    >>> F[1].tolist()
    [6.0, 7.0, 10.0, 8.0, 9.0, 15.0, 4.0, 4.0]
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise ValueError(
            f"X has shape {X.shape}; expected (n_samples, {len(columns)}), one column per name."
        )
    missing = [c for c in (*FAST, *SLOW, *TEMPERATURES) if c not in columns]
    if missing:
        raise ValueError(f"Columns {missing} are missing; the recipe needs all of {SENSORS}.")
    where = {c: j for j, c in enumerate(columns)}

    def cols(names: Sequence[str]) -> NDArray[np.float64]:
        return X[:, [where[c] for c in names]]

    features = np.hstack(
        [
            trailing_mean(cols(FAST), window),
            cols(SLOW),
            trailing_change(cols(TEMPERATURES), window),
        ]
    )
    names = [
        *(f"mean{window}({c})" for c in FAST),
        *SLOW,
        *(f"change{window}({c})" for c in TEMPERATURES),
    ]
    return features, names
