"""The elbow of a convex, decreasing curve by Kneedle (Satopää et al., 2011)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._utils._validation import check_real

__all__ = ["find_elbow"]

_MIN_POINTS = 3  # two points define a straight line: no elbow is possible


def find_elbow(x: ArrayLike, y: ArrayLike, *, sensitivity: float = 1.0) -> int | float | None:
    """The elbow of a convex, decreasing curve such as the K-means WCSS, or None.

    Kneedle (Satopää et al., 2011) fixed to the one shape a WCSS-against-K
    curve has, so there is no ``curve=`` or ``direction=`` argument to guess.

    Parameters
    ----------
    x : array-like of shape (n_points,)
        Strictly increasing abscissae (the values of K).
    y : array-like of shape (n_points,)
        The curve at ``x``; expected convex and non-increasing. Pass a running
        minimum (``np.minimum.accumulate(y)``) when noise makes it rise
        somewhere (:func:`select_k` does).
    sensitivity : float, default=1.0
        Kneedle's ``S``: how far (in units of the mean normalised spacing of
        ``x``) the difference curve must fall after a local maximum for that
        maximum to count as an elbow; must be positive. Larger is more
        conservative.

    Returns
    -------
    elbow : int, float or None
        The element of ``x`` at the elbow (its Python scalar), or ``None``
        when there is none: fewer than 3 points, a flat curve (all ``y``
        equal), a straight line, or a bend too weak for ``sensitivity``.

    See Also
    --------
    select_k : Elbow, silhouette and gap statistic together.

    Notes
    -----
    With ``n`` points, both axes are scaled to ``[0, 1]``,

    .. math::

        \\hat x_i = \\frac{x_i - x_1}{x_n - x_1}, \\qquad
        \\hat y_i = \\frac{y_i - \\min y}{\\max y - \\min y},

    and, for a convex decreasing curve, the difference curve is the distance
    above the chord from ``(0, 1)`` to ``(1, 0)`` after flipping ``y``:

    .. math::

        d_i = (1 - \\hat y_i) - \\hat x_i .

    ``d`` is 0 at both ends of a monotone curve, identically 0 for a straight
    line and largest where the curve bends most relative to its chord. Each
    local maximum ``m`` of ``d`` (``d_{m-1} < d_m >= d_{m+1}``) gets the
    threshold

    .. math::

        T_m = d_m - S \\cdot \\overline{\\Delta \\hat x},

    where the mean spacing :math:`\\overline{\\Delta \\hat x}` is always
    ``1 / (n - 1)``, since ``\\hat x`` runs from 0 to 1. The maximum is
    confirmed when ``d`` falls below ``T_m`` before the next local maximum
    (or the end of the curve). Of the confirmed maxima, the one with the
    largest ``d_m`` is the elbow (the smallest ``x`` on a tie): the most
    pronounced bend rather than the first one, which is what a WCSS curve
    with a small early kink needs.

    On a convex curve ``0 <= d_i <= 1 - \\hat x_i``, so a bend can only be
    confirmed when ``S < (n - 1) (1 - \\hat x_m)``: with ``S = 1`` three
    points are never enough, four can be.

    References
    ----------
    V. Satopää, J. Albrecht, D. Irwin and B. Raghavan, "Finding a 'Kneedle' in a
    Haystack: Detecting Knee Points in System Behavior", 31st ICDCS Workshops, 2011.

    Examples
    --------
    >>> from anomalykit.cluster._kneedle import find_elbow
    >>> find_elbow([1, 2, 3, 4, 5, 6], [100, 40, 10, 8, 6, 4])
    3
    >>> find_elbow([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0]) is None
    True
    """
    check_real(sensitivity, name="sensitivity", owner="find_elbow", low=0.0, low_open=True)
    x_arr = _as_curve(x, "x")
    y_arr = _as_curve(y, "y")
    if x_arr.shape != y_arr.shape:
        raise ValueError(
            f"x and y must have the same length: got {x_arr.shape[0]} x values and "
            f"{y_arr.shape[0]} y values."
        )
    if x_arr.shape[0] > 1 and not (np.diff(x_arr) > 0).all():
        raise ValueError("x must be strictly increasing (sort the points by x first).")
    index = _elbow_index(x_arr, y_arr, float(sensitivity))
    if index is None:
        return None
    return np.asarray(x)[index].item()


def _as_curve(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}.")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def difference_curve(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Kneedle's difference curve of a convex decreasing curve; None when flat.

    Prior validation is assumed (finite, strictly increasing ``x``, ``len >= 2``).
    """
    y_range = y.max() - y.min()
    if y_range == 0:
        return None
    x_hat = (x - x[0]) / (x[-1] - x[0])
    y_hat = (y - y.min()) / y_range
    return (1.0 - y_hat) - x_hat


def _elbow_index(x: np.ndarray, y: np.ndarray, sensitivity: float) -> int | None:
    """Guts of :func:`find_elbow`: the index of the elbow, or None."""
    n = x.shape[0]
    if n < _MIN_POINTS:
        return None
    d = difference_curve(x, y)
    if d is None:
        return None
    step = 1.0 / (n - 1)  # mean spacing of x_hat, which runs from 0 to 1
    interior = np.arange(1, n - 1)
    is_max = (d[interior] > d[interior - 1]) & (d[interior] >= d[interior + 1])
    maxima = interior[is_max]
    best = None
    for pos, m in enumerate(maxima):
        stop = maxima[pos + 1] if pos + 1 < maxima.size else n
        threshold = d[m] - sensitivity * step
        if (d[m + 1 : stop] < threshold).any() and (best is None or d[m] > d[best]):
            best = int(m)
    return best
