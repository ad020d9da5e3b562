"""Gaussian density anomaly detection, in log space.

``diag`` models each feature by its own mean and variance (the guide's
"univariate" model); ``full`` models the joint density with a covariance matrix,
scored through its Cholesky factor.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils._fingerprint import fingerprint
from .._utils._stats import Moments, moments_of
from .._utils._validation import check_in, check_real, check_sample_weight, feature_names
from ..thresholds import ThresholdResult, contamination_threshold, select_threshold
from ._explanation import Explanation

__all__ = ["ConstantFeatureWarning", "GaussianDetector"]

_LOG_2PI = math.log(2.0 * math.pi)
#: The share of training rows flagged when neither epsilon nor a contamination is given.
DEFAULT_CONTAMINATION = 0.01
#: Rows scored per block: bounds the temporary memory of scoring at ~8 MiB.
_SCORE_BLOCK_BYTES = 8 * 2**20


class ConstantFeatureWarning(UserWarning):
    """A feature has zero variance in the training data."""


def _partial_fit_available(detector: GaussianDetector) -> bool:
    # Ledoit-Wolf needs fourth moments about the final mean: all rows at once.
    return detector.shrinkage != "ledoit-wolf"


class GaussianDetector(OutlierMixin, BaseEstimator):
    """Anomaly detection by a Gaussian density fitted on normal rows.

    A row ``x`` is an anomaly when its density falls below ``epsilon``,
    ``p(x) < epsilon``; everything is computed with ``log p(x)``, which stays
    finite in any dimension where ``p(x)`` underflows to 0.

    Parameters
    ----------
    covariance : {"diag", "full"}, default="diag"
        ``"diag"``: independent features, each with its own mean and variance
        (the product of per-feature densities). ``"full"``: a mean and a
        covariance matrix, for correlated features.
    epsilon : float, default=None
        An explicit density threshold (``> 0``). ``offset_ = log(epsilon)``.
        Leave it ``None`` to set the threshold from ``contamination`` at fit
        time, or later from labelled data with :meth:`tune_threshold`.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Share of the training rows to flag when ``epsilon`` is None
        (``"auto"`` = 1%). Cannot be combined with ``epsilon``.
    ddof : {0, 1}, default=0
        Variance divisor ``n - ddof``: 0 is the maximum-likelihood estimate
        the guide's course uses (``1/m``), 1 the unbiased one.
    reg_covar : float, default=1e-6
        Added to every variance (the covariance diagonal) so that a constant
        feature gives a finite score, with a :class:`ConstantFeatureWarning`
        naming it. It is absolute, in squared feature units: scale features
        whose variance is near or below it. 0 disables it (then a constant
        feature is an error).
    shrinkage : None, "ledoit-wolf" or float in [0, 1], default=None
        ``full`` only: shrink the covariance towards a scaled identity,
        ``(1 - s) C + s tr(C)/d I``; ``"ledoit-wolf"`` picks ``s`` from the
        data. Use it when ``n_samples <= n_features`` or features are
        collinear.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    var_ : ndarray of shape (n_features,)
        Variances including ``reg_covar`` (the diagonal of ``covariance_``
        for ``full``).
    covariance_ : ndarray of shape (n_features, n_features)
        ``full`` only: the (shrunk, regularised) covariance.
    precision_cholesky_ : ndarray of shape (n_features, n_features)
        ``full`` only: ``P`` with ``P @ P.T`` the precision matrix; scores use
        ``||(x - mean) @ P||``. It is the inverse transpose of the Cholesky
        factor of ``covariance_``, computed by a triangular solve.
    shrinkage_ : float
        ``full`` only: the shrinkage used.
    offset_ : float
        ``log(epsilon)``: a row is an anomaly when ``score_samples < offset_``.
    threshold_result_ : ThresholdResult
        Only after :meth:`tune_threshold`.
    n_samples_seen_ : int
        Rows used to fit, over all ``partial_fit`` calls.
    data_fingerprint_ : dict
        Identifies the validated training rows (chained over ``partial_fit``
        chunks): shape, dtype and a sha256 of up to 4096 evenly spaced rows.
        It identifies the data set, it does not prove every byte.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a table with string column names.

    See Also
    --------
    select_threshold : choose epsilon on labelled validation scores.

    Notes
    -----
    ``score_samples(X) = log p(x)`` with, for ``diag``,
    ``-1/2 sum_j [log(2 pi var_j) + (x_j - mean_j)**2 / var_j]`` and, for
    ``full``, ``-1/2 [d log(2 pi) + log det C + ||(x - mean) @ P||**2]`` with
    ``log det C = 2 sum log diag L`` from the Cholesky factor ``L``; no
    inverse or determinant of ``C`` is formed. Densities have units: rescaling
    a feature shifts every log-density by the same constant, so keep the
    preprocessing with the threshold. Scores of a row never depend on the
    other rows scored with it.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit import GaussianDetector
    >>> X = np.array([[1.0, 2.0], [1.2, 1.9], [0.8, 2.1], [1.1, 2.2], [0.9, 1.8]])
    >>> det = GaussianDetector(epsilon=1e-3).fit(X)
    >>> det.predict([[1.0, 2.0], [3.0, 0.0]])
    array([ 1, -1])
    >>> det.is_anomaly([[3.0, 0.0]])
    array([ True])
    >>> det.explain([[3.0, 1.0]]).to_strings(k=2)
    ['x0=+14.14σ; x1=-7.07σ']
    """

    def __init__(
        self,
        covariance: str = "diag",
        *,
        epsilon: float | None = None,
        contamination: float | str = "auto",
        ddof: int = 0,
        reg_covar: float = 1e-6,
        shrinkage: float | str | None = None,
    ) -> None:
        self.covariance = covariance
        self.epsilon = epsilon
        self.contamination = contamination
        self.ddof = ddof
        self.reg_covar = reg_covar
        self.shrinkage = shrinkage

    # ------------------------------------------------------------------ params
    def _validate_params(self) -> None:
        owner = type(self).__name__
        check_in(self.covariance, ("diag", "full"), name="covariance", owner=owner)
        check_in(self.ddof, (0, 1), name="ddof", owner=owner)
        check_real(self.reg_covar, name="reg_covar", owner=owner, low=0.0)
        if self.epsilon is not None:
            check_real(self.epsilon, name="epsilon", owner=owner, low=0.0, low_open=True)
            if self.contamination != "auto":
                raise ValueError(
                    f"{owner} got both epsilon={self.epsilon!r} and "
                    f"contamination={self.contamination!r}; give one threshold only."
                )
        if self.contamination != "auto":
            check_real(
                self.contamination, name="contamination", owner=owner,
                low=0.0, high=0.5, low_open=True,
            )  # fmt: skip
        if self.shrinkage is not None:
            if self.covariance != "full":
                raise ValueError(
                    "shrinkage applies to covariance='full' only; a 'diag' model has no "
                    "off-diagonal terms to shrink."
                )
            if not (isinstance(self.shrinkage, str) and self.shrinkage == "ledoit-wolf"):
                if isinstance(self.shrinkage, str) or not isinstance(self.shrinkage, Real):
                    raise ValueError(
                        f"The 'shrinkage' parameter of {owner} must be None, 'ledoit-wolf' or "
                        f"a float in [0, 1]. Got {self.shrinkage!r} instead."
                    )
                check_real(self.shrinkage, name="shrinkage", owner=owner, low=0.0, high=1.0)

    # --------------------------------------------------------------------- fit
    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Fit the density on normal rows and set the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Normal (or mostly normal) rows. NaN and infinity are rejected.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; integer weights equal repeated rows.

        Returns
        -------
        self : GaussianDetector
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self.data_fingerprint_ = fingerprint(X)
        w = check_sample_weight(sample_weight, X.shape[0])
        full = self.covariance == "full"
        moments = moments_of(X, w, full=full)
        self.n_samples_seen_ = X.shape[0]
        self._set_parameters(moments, X, w)
        self._set_offset(X, w)
        return self

    @available_if(_partial_fit_available)
    def partial_fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Update the fit with one more chunk of rows.

        The mean and (co)variance are merged exactly (Chan et al.), so any
        split into chunks gives the batch fit to rounding. The contamination
        threshold, which needs the scores of all training rows, is estimated
        from the latest chunk; for a definitive one use ``epsilon`` or
        :meth:`tune_threshold`. Not available with ``shrinkage="ledoit-wolf"``,
        which needs all rows at once (use a fixed shrinkage).

        Returns
        -------
        self : GaussianDetector
        """
        first = not hasattr(self, "_moments")
        if first:
            self._validate_params()
        elif self._moments.full != (self.covariance == "full"):
            raise ValueError(
                f"covariance changed to {self.covariance!r} since the last fit; the chunks seen "
                "so far hold the other kind of statistics. Call fit() to start again."
            )
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=first,
            ensure_min_samples=2 if first else 1,
        )
        self.data_fingerprint_ = fingerprint(X, None if first else self.data_fingerprint_)
        w = check_sample_weight(sample_weight, X.shape[0])
        moments = moments_of(X, w, full=self.covariance == "full")
        if not first:
            moments = self._moments.merge(moments)
        self.n_samples_seen_ = (0 if first else self.n_samples_seen_) + X.shape[0]
        self._set_parameters(moments, X, w)
        self._set_offset(X, w)
        return self

    def _set_parameters(self, moments: Moments, X: np.ndarray, w: np.ndarray | None) -> None:
        """Turn merged moments into mean, (co)variance and the scoring factors."""
        self._moments = moments
        denom = moments.weight - self.ddof
        if denom <= 0:
            raise ValueError(
                f"The total sample weight {moments.weight:g} must exceed ddof={self.ddof} "
                "to estimate a variance. Pass more rows or larger weights."
            )
        d = moments.mean.shape[0]
        raw_var = (np.diag(moments.scatter) if moments.full else moments.scatter) / denom
        # A feature is constant when its spread is at rounding level of its magnitude.
        tiny = (np.finfo(np.float64).eps * np.maximum(np.abs(moments.mean), 1.0)) ** 2
        constant = np.flatnonzero(raw_var <= tiny)
        if constant.size:
            names = feature_names(self, d)
            listed = ", ".join(f"{names[j]!r} (column {j})" for j in constant[:10])
            if self.reg_covar == 0:
                raise ValueError(
                    f"Constant feature(s) {listed}: zero variance gives an infinite density. "
                    "Drop the column(s) or set reg_covar > 0."
                )
            warnings.warn(
                f"Constant feature(s) {listed} in the training data: variance set to "
                f"reg_covar={self.reg_covar:g}. Any other value of it will score as an extreme "
                "anomaly; drop the column if that is not wanted.",
                ConstantFeatureWarning,
                stacklevel=3,
            )
        self.mean_ = moments.mean.copy()
        # A refit may change the model: drop what belongs to another one.
        for stale in ("covariance_", "precision_cholesky_", "shrinkage_", "threshold_result_"):
            self.__dict__.pop(stale, None)
        if not moments.full:
            self.var_ = np.maximum(raw_var, 0.0) + self.reg_covar
            self._log_norm = -0.5 * (d * _LOG_2PI + np.log(self.var_).sum())
            return

        cov = moments.scatter / denom
        if self.shrinkage is None:
            shrink = 0.0
            if self.n_samples_seen_ <= d:
                warnings.warn(
                    f"n_samples={self.n_samples_seen_} <= n_features={d}: the covariance is "
                    "singular and only reg_covar keeps it invertible. Use shrinkage='ledoit-wolf' "
                    "or covariance='diag'.",
                    UserWarning,
                    stacklevel=3,
                )
        elif self.shrinkage == "ledoit-wolf":
            shrink = _ledoit_wolf_shrinkage(X, w, moments)
        else:
            shrink = float(self.shrinkage)
        if shrink > 0:
            mu = np.trace(cov) / d
            cov = (1.0 - shrink) * cov
            cov.flat[:: d + 1] += shrink * mu
        cov.flat[:: d + 1] += self.reg_covar
        try:
            chol = linalg.cholesky(cov, lower=True, check_finite=False)
        except linalg.LinAlgError:
            raise ValueError(
                "The covariance is not positive definite (constant, duplicated or collinear "
                "features?). Increase reg_covar, use shrinkage='ledoit-wolf', drop redundant "
                "columns, or use covariance='diag'."
            ) from None
        self.covariance_ = cov
        self.var_ = np.diag(cov).copy()
        self.shrinkage_ = shrink
        self.precision_cholesky_ = linalg.solve_triangular(
            chol, np.eye(d), lower=True, check_finite=False
        ).T
        self._log_norm = -0.5 * d * _LOG_2PI - np.log(np.diag(chol)).sum()

    def _set_offset(self, X: np.ndarray, w: np.ndarray | None) -> None:
        if self.epsilon is not None:
            self.offset_ = float(np.log(self.epsilon))
            return
        rate = DEFAULT_CONTAMINATION if self.contamination == "auto" else self.contamination
        self.offset_ = contamination_threshold(self._score(X), rate, w)

    # ----------------------------------------------------------------- scoring
    def _score(self, X: np.ndarray) -> np.ndarray:
        """Log-densities of validated rows, in blocks of bounded memory."""
        n, d = X.shape
        out = np.empty(n, dtype=np.float64)
        block = max(256, _SCORE_BLOCK_BYTES // (8 * d))
        full = self._moments.full
        if full:
            P = self.precision_cholesky_
            shift = self.mean_ @ P
        else:
            inv_std = 1.0 / np.sqrt(self.var_)
        for start in range(0, n, block):
            Xb = X[start : start + block]
            if full:
                Z = Xb @ P
                Z -= shift
            else:
                Z = Xb - self.mean_
                Z *= inv_std
            out[start : start + block] = np.einsum("ij,ij->i", Z, Z)
        out *= -0.5
        out += self._log_norm
        return out

    def _check_X(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log-density ``log p(x)`` of each row (higher is more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Finite for any finite row, in any dimension.
        """
        return self._score(self._check_X(X))

    def density(self, X: ArrayLike) -> np.ndarray:
        """The density ``p(x)`` itself, for parity with the guide.

        It underflows to 0 in high dimensions (``log p < -745``); compare
        :meth:`score_samples` with ``offset_`` instead.
        """
        return np.exp(self.score_samples(X))

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """+1 for a normal row, -1 for an anomaly (``p(x) < epsilon``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def is_anomaly(self, X: ArrayLike) -> np.ndarray:
        """True where ``p(x) < epsilon``: the 1 = anomaly convention of labelled data."""
        return self.decision_function(X) < 0

    @property
    def epsilon_(self) -> float:
        """The density threshold ``exp(offset_)``; 0.0 where it underflows (use ``offset_``)."""
        check_is_fitted(self)
        return float(np.exp(self.offset_))

    # --------------------------------------------------------------- threshold
    def tune_threshold(
        self,
        X_val: ArrayLike,
        y_val: ArrayLike,
        *,
        metric: str = "f1",
        beta: float = 1.0,
        method: str = "exact",
        n_steps: int = 1000,
    ) -> GaussianDetector:
        """Set ``offset_`` to the log-epsilon that maximises F1 on labelled rows.

        Runs :func:`select_threshold` on ``score_samples(X_val)``
        (log-densities: a ``"grid"`` here is equally spaced in log space) and
        keeps its result in ``threshold_result_``. Report performance on other
        rows than ``X_val``: the F1 found here is optimistic.

        Returns
        -------
        self : GaussianDetector
        """
        result = select_threshold(
            y_val, self.score_samples(X_val),
            metric=metric, beta=beta, method=method, n_steps=n_steps,
        )  # fmt: skip
        self.offset_ = result.threshold
        self.threshold_result_: ThresholdResult = result
        return self

    def set_threshold(
        self, *, epsilon: float | None = None, log_epsilon: float | None = None
    ) -> GaussianDetector:
        """Set the threshold by hand, as a density or (for tiny ones) a log-density."""
        check_is_fitted(self)
        if (epsilon is None) == (log_epsilon is None):
            raise ValueError("Give exactly one of epsilon or log_epsilon.")
        self.__dict__.pop("threshold_result_", None)  # it no longer describes offset_
        if epsilon is not None:
            check_real(epsilon, name="epsilon", owner="set_threshold", low=0.0, low_open=True)
            self.offset_ = float(np.log(epsilon))
        else:
            check_real(log_epsilon, name="log_epsilon", owner="set_threshold")
            self.offset_ = float(log_epsilon)
        return self

    # ----------------------------------------------------------------- explain
    def explain(self, X: ArrayLike) -> Explanation:
        """Rank the features that pushed each row out.

        For ``diag``, the z-score of each feature and the log-density it costs.
        For ``full``, the conditional z-score of ``x_j`` given the row's other
        features, ``(Lambda (x - mean))_j / sqrt(Lambda_jj)`` with the
        precision matrix ``Lambda``. Works on new rows.

        Returns
        -------
        Explanation
        """
        X = self._check_X(X)
        Xc = X - self.mean_
        if self._moments.full:
            P = self.precision_cholesky_
            precision = P @ P.T
            z = (Xc @ precision) / np.sqrt(np.diag(precision))
            kind = "conditional"
        else:
            z = Xc / np.sqrt(self.var_)
            kind = "marginal"
        return Explanation(
            feature_names=feature_names(self, X.shape[1]),
            z=z,
            contributions=-0.5 * z * z,
            kind=kind,
        )


def _ledoit_wolf_shrinkage(X: np.ndarray, w: np.ndarray | None, moments: Moments) -> float:
    """Ledoit-Wolf (2004) shrinkage towards ``mu I``, with row weights.

    Equals ``sklearn.covariance.ledoit_wolf_shrinkage`` for unit weights; an
    integer weight counts as repeated rows.
    """
    n = moments.weight
    d = moments.mean.shape[0]
    S = moments.scatter / n
    fourth = 0.0
    block = max(256, 4 * 2**20 // (8 * d))
    for start in range(0, X.shape[0], block):
        sq = ((X[start : start + block] - moments.mean) ** 2).sum(axis=1)
        wb = 1.0 if w is None else w[start : start + block]
        fourth += float(np.sum(wb * sq * sq))
    trace = np.trace(S)
    mu = trace / d
    frob = float(np.sum(S * S))
    beta = (fourth / n - frob) / (d * n)
    delta = (frob - 2.0 * mu * trace + d * mu * mu) / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)
