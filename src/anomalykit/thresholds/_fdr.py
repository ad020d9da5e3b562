"""Thresholds with a false-discovery-rate guarantee and no labels.

A p-value per row (small = unlikely under the model of normal rows) from the
chi-square law of squared Mahalanobis distances, or a distribution-free one
from held-out normal rows (conformal); then the Benjamini-Hochberg step-up
procedure flags rows so that, in expectation, at most a share ``q`` of the
flagged rows are normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from .._utils._validation import check_in, check_real, check_scores

__all__ = ["FDRResult", "conformal_pvalues", "fdr_threshold", "mahalanobis_pvalues"]

_FDR_METHODS = ("bh", "by")


@dataclass(frozen=True, repr=False)
class FDRResult:
    """Which rows the Benjamini-Hochberg procedure flags, and at what p-value.

    Attributes
    ----------
    q : float
        The false discovery rate asked for.
    method : {"bh", "by"}
        Benjamini-Hochberg, or Benjamini-Yekutieli (valid under any dependence).
    n_tests : int
        Number of p-values.
    n_rejected : int
        Rows flagged.
    pvalue_threshold : float
        Rows with ``pvalue <= pvalue_threshold`` are flagged: ``k q / m``
        (divided by ``sum_{i<=m} 1/i`` for ``"by"``) with ``k = n_rejected``
        and ``m = n_tests``; 0.0 when nothing is flagged.
    rejected : ndarray of bool of shape (n_tests,)
        True for a flagged row (1 = anomaly convention).
    adjusted : ndarray of shape (n_tests,)
        Adjusted p-values (q-values): a row is flagged at level ``q`` exactly
        when ``adjusted <= q``. Equal to ``scipy.stats.false_discovery_control``.
    """

    q: float
    method: str
    n_tests: int
    n_rejected: int
    pvalue_threshold: float
    rejected: NDArray[np.bool_]
    adjusted: NDArray[np.floating]

    def __repr__(self) -> str:
        return (
            f"FDRResult(q={self.q:g}, method={self.method!r}, flagged {self.n_rejected} of "
            f"{self.n_tests}, pvalue_threshold={self.pvalue_threshold:.6g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "method": self.method,
            "n_tests": self.n_tests,
            "n_rejected": self.n_rejected,
            "pvalue_threshold": self.pvalue_threshold,
        }


def fdr_threshold(pvalues: ArrayLike, q: float = 0.05, *, method: str = "bh") -> FDRResult:
    """Flag rows by the Benjamini-Hochberg step-up procedure at false discovery rate ``q``.

    Parameters
    ----------
    pvalues : array-like of shape (n_tests,)
        One p-value per row, in ``[0, 1]``: small means unlikely for a normal
        row (:func:`mahalanobis_pvalues`, :func:`conformal_pvalues`).
    q : float in (0, 1), default=0.05
        Target false discovery rate: the expected share of normal rows among
        the flagged ones. Fix it before looking at the results.
    method : {"bh", "by"}, default="bh"
        ``"bh"``: Benjamini-Hochberg, valid for independent p-values (rows
        scored by a fixed model) or positively dependent ones (conformal
        p-values). ``"by"``: Benjamini-Yekutieli, valid under any dependence,
        more conservative by ``sum_{i<=m} 1/i``.

    Returns
    -------
    FDRResult

    See Also
    --------
    mahalanobis_pvalues : p-values of new rows under a fitted Gaussian.
    conformal_pvalues : distribution-free p-values from held-out normal rows.
    select_threshold : the labelled alternative (best F1 on validation rows).

    Notes
    -----
    With the p-values sorted, ``p_(1) <= ... <= p_(m)``, let ``k`` be the
    largest ``i`` with ``p_(i) <= i q / m`` (``i q / (m c_m)`` for ``"by"``,
    ``c_m = sum_{i<=m} 1/i``); the rows with the ``k`` smallest p-values are
    flagged (ties at the cut are all flagged). When the p-values of normal
    rows are uniform (or stochastically larger) and independent, the expected
    share of normal rows among the flagged ones is at most ``q m_0 / m <= q``
    (``m_0`` normal rows). The guarantee holds only as far as the p-values
    are right: p-values from a model that does not fit the normal rows
    (heavy tails under a Gaussian) void it. O(m log m).

    References
    ----------
    Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate: a
    practical and powerful approach to multiple testing", J. R. Stat. Soc. B
    57(1), 1995. Y. Benjamini and D. Yekutieli, "The control of the false
    discovery rate in multiple testing under dependency", Ann. Stat. 29(4), 2001.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.thresholds import fdr_threshold
    >>> p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    >>> result = fdr_threshold(p, q=0.05)
    >>> result
    FDRResult(q=0.05, method='bh', flagged 2 of 8, pvalue_threshold=0.0125)
    >>> result.rejected
    array([ True,  True, False, False, False, False, False, False])
    """
    check_in(method, _FDR_METHODS, name="method", owner="fdr_threshold")
    check_real(q, name="q", owner="fdr_threshold", low=0.0, high=1.0, low_open=True, high_open=True)
    p = check_scores(pvalues, name="pvalues")
    if np.any((p < 0) | (p > 1)):
        bad = p[(p < 0) | (p > 1)]
        raise ValueError(
            f"pvalues must lie in [0, 1]; found {bad.size} outside (e.g. {bad[0]!r}). "
            "Pass p-values, not scores or log-densities."
        )
    return _fdr_threshold(p, float(q), method)


def _fdr_threshold(p: np.ndarray, q: float, method: str) -> FDRResult:
    """Guts of :func:`fdr_threshold`; no input validation."""
    m = p.shape[0]
    ranks = np.arange(1, m + 1, dtype=np.float64)
    c_m = 1.0 if method == "bh" else float(np.sum(1.0 / ranks))
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    critical = q * ranks / (m * c_m)  # non-decreasing, so the cut below is consistent
    below = np.flatnonzero(p_sorted <= critical)
    k = int(below[-1]) + 1 if below.size else 0
    cut = float(critical[k - 1]) if k else 0.0
    # With k = 0 no p-value is <= q / (m c_m), so none is <= 0: nothing is flagged.
    rejected = p <= cut if k else np.zeros(m, dtype=bool)
    adjusted_sorted = np.minimum.accumulate((p_sorted * (m * c_m) / ranks)[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return FDRResult(q, method, m, int(rejected.sum()), cut, rejected, adjusted)


def mahalanobis_pvalues(detector: Any, X: ArrayLike) -> NDArray[np.floating]:
    """Chi-square p-values of rows under a fitted Gaussian: ``chi2.sf(D2, n_features)``.

    Parameters
    ----------
    detector : GaussianDetector
        Fitted, ``covariance="full"`` or ``"diag"``. For a pipeline (scaler,
        detector), pass its last step and the rows transformed by the others.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples,)
        The probability that a row drawn from the fitted Gaussian lies at
        least as far (in Mahalanobis distance) from the mean: uniform on
        ``[0, 1]`` for normal rows when the model is right.

    See Also
    --------
    fdr_threshold : flag rows at a false discovery rate from these p-values.
    conformal_pvalues : p-values that need no Gaussian assumption.

    Notes
    -----
    ``D2 = (x - mean_)' C^{-1} (x - mean_)``, computed as
    ``||(x - mean_) @ precision_cholesky_||**2`` (``full``) or
    ``sum_j (x_j - mean_j)**2 / var_j`` (``diag``); it equals
    ``2 (log p(mean_) - log p(x))``. Under a d-dimensional Gaussian, ``D2``
    follows chi-square with ``d`` degrees of freedom. The law is exact for the
    true mean and covariance; with estimated ones it holds as the number of
    training rows per feature grows (for few rows, the distances of new rows
    are larger, Hotelling's T-squared, and these p-values too small), and not
    at all when the normal rows are not Gaussian (heavy tails, point masses,
    several modes): check before trusting a guarantee built on them.
    Shrinkage and ``reg_covar`` change the covariance, and so the law, too.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit import GaussianDetector
    >>> from anomalykit.thresholds import mahalanobis_pvalues
    >>> X = np.array([[1.0, 2.0], [1.2, 1.9], [0.8, 2.1], [1.1, 2.2], [0.9, 1.8], [1.0, 2.0]])
    >>> det = GaussianDetector("full").fit(X)
    >>> mahalanobis_pvalues(det, [[1.0, 2.0], [1.3, 1.7]]).round(4)
    array([1.    , 0.0045])
    """
    if not callable(getattr(detector, "mahalanobis", None)):
        raise TypeError(
            "mahalanobis_pvalues needs a fitted GaussianDetector (it has .mahalanobis); "
            f"got {type(detector).__name__}."
        )
    check_is_fitted(detector)
    d2 = detector.mahalanobis(X)  # validates X against the fitted detector
    return stats.chi2.sf(d2, detector.n_features_in_)


def conformal_pvalues(calibration_scores: ArrayLike, scores: ArrayLike) -> NDArray[np.floating]:
    """Distribution-free p-values of rows from the scores of held-out normal rows.

    ``p_j = (1 + #{i : calibration_i <= score_j}) / (n_calibration + 1)``.

    Parameters
    ----------
    calibration_scores : array-like of shape (n_calibration,)
        Scores (higher = more normal, e.g. ``score_samples``) of normal rows
        that the model was *not* fitted on.
    scores : array-like of shape (n_samples,)
        Scores of the rows to test, by the same model.

    Returns
    -------
    ndarray of shape (n_samples,)
        In ``[1 / (n_calibration + 1), 1]``.

    See Also
    --------
    fdr_threshold : flag rows at a false discovery rate from these p-values.
    mahalanobis_pvalues : parametric p-values, right only for Gaussian rows.

    Notes
    -----
    When a normal test row and the calibration rows are exchangeable (drawn
    alike, none used to fit), ``P(p <= t) <= t`` for every ``t``, whatever
    the distribution and however poor the model: a poor model only costs
    power. The p-values of different test rows share the calibration rows and
    are positively dependent; Benjamini-Hochberg still controls the false
    discovery rate on them (Bates et al., 2023). The smallest p-value is
    ``1 / (n_calibration + 1)``: flagging ``k`` of ``m`` rows at level ``q``
    needs ``n_calibration + 1 >= m / (k q)``. Ties count against the tested
    row (conservative).

    References
    ----------
    S. Bates, E. Candes, L. Lei, Y. Romano and M. Sesia, "Testing for outliers
    with conformal p-values", Ann. Stat. 51(1), 2023.

    Examples
    --------
    >>> from anomalykit.thresholds import conformal_pvalues
    >>> conformal_pvalues([-1.0, -2.0, -3.0, -4.0], [-0.5, -2.0, -9.0])
    array([1. , 0.8, 0.2])
    """
    cal = np.sort(check_scores(calibration_scores, name="calibration_scores"))
    s = check_scores(scores, name="scores")
    return (1.0 + np.searchsorted(cal, s, side="right")) / (cal.shape[0] + 1.0)
