"""Gaussian density anomaly detection, in log space.

``diag`` models each feature by its own mean and variance (the guide's
"univariate" model); ``full`` models the joint density with a covariance matrix,
scored through its Cholesky factor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import lapack
from scipy.stats import chi2
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils._fingerprint import fingerprint
from .._utils._stats import Moments, merge_all, moments_of
from .._utils._threads import engine_threads, one_blas_thread, run_chunks
from .._utils._validation import (
    check_in,
    check_real,
    check_sample_weight,
    feature_names,
    raise_if_not_finite,
    snapshot_n_features,
)
from ..thresholds import ThresholdResult, contamination_threshold, select_threshold
from ._explanation import Explanation

__all__ = ["ConstantFeatureWarning", "GaussianDetector"]

_LOG_2PI = math.log(2.0 * math.pi)
#: The share of training rows flagged when neither epsilon nor a contamination is given.
DEFAULT_CONTAMINATION = 0.01
#: Rows scored per block: bounds the temporary memory of scoring at ~8 MiB.
_SCORE_BLOCK_BYTES = 8 * 2**20

#: Which code computes the moments (``fit``, ``partial_fit``) and the scores:
#: ``"auto"`` -- the compiled engine (:mod:`._gaussian_kernels`, Numba) when
#: Numba imports, else NumPy; ``"numba"``; or ``"numpy"``, the reference the
#: engine is tested against. A private switch (tests, benchmarks), not an API.
_ENGINE = "auto"
#: Threads of the compiled engine; None: the cores this process may use, capped
#: by any thread limit set on the BLAS or OpenMP pools (``threadpoolctl``'s
#: ``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1`` run it on one thread).
_N_THREADS: int | None = None
#: Rows per chunk of the compiled engine, the work of one thread at a time.
#: Chunks are fixed by the data's shape (never by the number of threads) and
#: their moments are merged in chunk order, so results do not depend on threads.
_CHUNK_ROWS = 32768
#: At most this many chunks: little Python (and thread hand-over) per call.
_MAX_CHUNKS = 16
#: Up to this many features, the covariance's Cholesky factor and its inverse
#: are computed without limiting OpenBLAS's threads, which it does not use at
#: that size: over 300 calls each of d = 2 to 16, no CPU time on its threads
#: (/proc); from d = 128 on, 8-20 ms calls where they spin up.
_LAPACK_UNTHREADED = 16
#: A robust fit that has not reached its fixed point after this many refits
#: stops there, with a ConvergenceWarning.
_ROBUST_MAX_ITER = 100


class ConstantFeatureWarning(UserWarning):
    """A feature has zero variance in the training data."""


def _partial_fit_available(detector: GaussianDetector) -> bool:
    # Ledoit-Wolf needs fourth moments about the final mean, and a robust fit
    # revisits every row: both need all rows at once.
    return detector.shrinkage != "ledoit-wolf" and not detector.robust


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
    robust : bool, default=False
        Fit on the rows that the model itself finds typical, so that
        anomalies left in the training data do not widen it: after a fit on
        all rows, refit on the rows whose squared Mahalanobis distance is at
        most ``chi2.ppf(robust_quantile, d) / chi2.ppf(0.5, d)`` times its
        median, and repeat until the kept rows no longer change (see Notes).
        Use it when the training rows are unlabelled and may hold anomalies.
    robust_quantile : float in (0.5, 1), default=0.975
        ``robust=True`` only: the chi-square quantile of the cut. Lower keeps
        fewer rows.

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
    support_ : ndarray of bool of shape (n_samples,)
        ``robust=True`` only: the training rows the final model was fitted on.
    n_robust_iter_ : int
        ``robust=True`` only: refits after the first fit on all rows.
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

    ``robust=True`` iterates the reweighting step of the minimum covariance
    determinant estimator (Rousseeuw & Van Driessen, 1999) to a fixed point:
    a row is kept when ``D2 <= chi2.ppf(q, d) * median(D2) / chi2.ppf(0.5, d)``,
    ``D2`` its squared Mahalanobis distance under the current fit (the
    median rescales ``D2`` as if the kept rows were Gaussian). At least half
    of the rows (by weight) are always kept. With ``shrinkage`` the
    shrinkage is re-estimated on each kept set. When more than half of the
    rows share one value of a feature (a count that is mostly 0, an
    indicator), the kept rows may all hold it; such a feature, once constant
    on the kept rows but not on all of them, keeps the variance of all the
    rows and no covariance with the others from then on, so that its other
    values are not scored as extreme anomalies (a zero variance would make
    them so). A feature constant on all rows gets a
    :class:`ConstantFeatureWarning`, as without ``robust``.

    The iterations start from the fit on all rows, so they remove the
    anomalies that this fit already finds unusual; a compact group of
    anomalies large enough to pull that first fit over itself (masking) can
    stay in. scikit-learn's ``MinCovDet``, with its many random starts, is
    the tool for that case, at far higher cost. On clean training rows with
    heavy-tailed features the cut also drops genuine tails: use ``robust``
    for unlabelled rows that may hold anomalies, not for rows known to be
    normal. On the benchmarks (``benchmarks/odds_dev.py``,
    ``benchmarks/odds.py``) it raised the mean ROC-AUC of ``full`` +
    Ledoit-Wolf from 0.730 to 0.768 on 24 ADBench data sets and from 0.809
    to 0.825 on the 17 ODDS files.

    The moments (``fit``, ``partial_fit``) and the scores are computed by
    compiled kernels (Numba; compiled on the first call and cached on disk) in
    one pass over ``X`` each, on all the cores this process may use -- fewer
    under a thread limit on the BLAS/OpenMP pools, such as threadpoolctl's
    ``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1``. Results are
    identical on any number of threads. Without Numba, NumPy computes the
    same values (to 1e-12 relative in float64); float32 input is accumulated
    in float64 on both paths.

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
        robust: bool = False,
        robust_quantile: float = 0.975,
    ) -> None:
        self.covariance = covariance
        self.epsilon = epsilon
        self.contamination = contamination
        self.ddof = ddof
        self.reg_covar = reg_covar
        self.shrinkage = shrinkage
        self.robust = robust
        self.robust_quantile = robust_quantile

    # ------------------------------------------------------------------ params
    def _validate_params(self) -> None:
        owner = type(self).__name__
        check_in(self.covariance, ("diag", "full"), name="covariance", owner=owner)
        check_in(self.ddof, (0, 1), name="ddof", owner=owner)
        check_real(self.reg_covar, name="reg_covar", owner=owner, low=0.0)
        if not isinstance(self.robust, (bool, np.bool_)):
            raise ValueError(
                f"The 'robust' parameter of {owner} must be True or False. "
                f"Got {self.robust!r} instead."
            )
        check_real(
            self.robust_quantile, name="robust_quantile", owner=owner,
            low=0.5, high=1.0, low_open=True, high_open=True,
        )  # fmt: skip
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
        full = self.covariance == "full"
        kernels = _kernels()
        if kernels is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
            self.data_fingerprint_ = fingerprint(X)
            w = check_sample_weight(sample_weight, X.shape[0])
            moments = moments_of(X, w, full=full)
        else:
            # The engine's sums are finite exactly when X is: they replace
            # validate_data's own pass over X (X.sum()) for NaN and infinity.
            before = snapshot_n_features(self)
            if _plain_rows(X, None) and X.shape[0] >= 2:
                # validate_data's whole work for such rows (tested): 0.3 ms after a rest
                self.n_features_in_ = X.shape[1]
                self.__dict__.pop("feature_names_in_", None)
            else:
                X = validate_data(
                    self, X, dtype=[np.float64, np.float32], ensure_min_samples=2,
                    ensure_all_finite=False,
                )  # fmt: skip
            try:
                w = check_sample_weight(sample_weight, X.shape[0])
            except ValueError:
                raise_if_not_finite(self, X, before)  # a bad X is reported first, as before
                self.data_fingerprint_ = fingerprint(X)
                raise
            moments = _engine_moments(kernels, X, w, full)
            if not (np.isfinite(moments.mean).all() and np.isfinite(moments.scatter).all()):
                raise_if_not_finite(self, X, before)
                moments = moments_of(X, w, full=full)  # finite rows that overflow: as NumPy
            self.data_fingerprint_ = fingerprint(X)
        self.n_samples_seen_ = X.shape[0]
        for stale in ("support_", "n_robust_iter_"):
            self.__dict__.pop(stale, None)
        if self.robust:
            self._fit_robust(X, w, moments, kernels)
        else:
            self._set_parameters(moments, X, w)
        self._set_offset(X, w)
        return self

    def _fit_robust(
        self, X: np.ndarray, w: np.ndarray | None, moments: Moments, kernels: Any
    ) -> None:
        """Refit on the rows within the scaled chi-square cut until they stop changing."""
        full = self.covariance == "full"
        d = X.shape[1]
        ratio = chi2.ppf(self.robust_quantile, d) / chi2.ppf(0.5, d)
        support = np.ones(X.shape[0], dtype=bool)
        all_rows = moments
        shared = np.zeros(d, dtype=bool)  # features modelled with the spread of all rows
        # Only the final fit's warnings (e.g. a feature constant on all rows) are shown.
        pending = self._set_parameters(moments, X, w, warn=False)
        for n_iter in range(_ROBUST_MAX_ITER + 1):
            d2 = self._sq_mahalanobis(X)
            kept = d2 <= ratio * _weighted_median(d2, w)
            if np.array_equal(kept, support):
                break
            if n_iter == _ROBUST_MAX_ITER:
                warnings.warn(
                    f"The robust fit did not reach a fixed point in {_ROBUST_MAX_ITER} refits "
                    f"({np.count_nonzero(kept != support)} rows still change sides); the last "
                    "fit is kept. Lower robust_quantile or clean the training data.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
                break
            support = kept
            X_kept = X[support]
            w_kept = None if w is None else w[support]
            if kernels is None:
                moments = moments_of(X_kept, w_kept, full=full)
            else:
                moments = _engine_moments(kernels, X_kept, w_kept, full)
            moments, shared = _keep_shared_value_spread(moments, all_rows, self.ddof, shared)
            try:
                pending = self._set_parameters(moments, X_kept, w_kept, warn=False)
            except ValueError as exc:
                raise ValueError(
                    f"robust=True: the refit on the {X_kept.shape[0]} of {X.shape[0]} training "
                    f"rows kept failed: {exc}"
                ) from None
        for message, category in pending:
            warnings.warn(message, category, stacklevel=3)
        self.support_ = support
        self.n_robust_iter_ = n_iter

    @available_if(_partial_fit_available)
    def partial_fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Update the fit with one more chunk of rows.

        The mean and (co)variance are merged exactly (Chan et al.), so any
        split into chunks gives the batch fit to rounding. The contamination
        threshold, which needs the scores of all training rows, is estimated
        from the latest chunk; for a definitive one use ``epsilon`` or
        :meth:`tune_threshold`. Not available with ``shrinkage="ledoit-wolf"``
        or ``robust=True``, which need all rows at once (use a fixed shrinkage),
        nor after a robust fit.

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
        elif hasattr(self, "support_"):
            raise ValueError(
                "The last fit was robust: its statistics hold only the rows it kept "
                f"({np.count_nonzero(self.support_)} of {self.support_.size}), so more chunks "
                "cannot be merged into them. Call fit() to start again."
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
        kernels = _kernels()
        if kernels is None:
            moments = moments_of(X, w, full=self.covariance == "full")
        else:
            moments = _engine_moments(kernels, X, w, self.covariance == "full")
        if not first:
            moments = self._moments.merge(moments)
        self.n_samples_seen_ = (0 if first else self.n_samples_seen_) + X.shape[0]
        self._set_parameters(moments, X, w)
        self._set_offset(X, w)
        return self

    def _set_parameters(
        self,
        moments: Moments,
        X: np.ndarray,
        w: np.ndarray | None,
        *,
        warn: bool = True,
    ) -> list[tuple[str, type[Warning]]]:
        """Turn merged moments into mean, (co)variance and the scoring factors.

        ``X`` and ``w`` are the rows the moments came from. Warnings are shown
        (``warn=True``) or returned as ``(message, category)`` pairs: a robust
        fit shows only its final fit's, without catching anybody else's.
        """
        pending: list[tuple[str, type[Warning]]] = []
        try:
            self._set_parameters_of(moments, X, w, pending)
        finally:
            if warn:
                for message, category in pending:
                    warnings.warn(message, category, stacklevel=3)
        return pending

    def _set_parameters_of(
        self,
        moments: Moments,
        X: np.ndarray,
        w: np.ndarray | None,
        pending: list[tuple[str, type[Warning]]],
    ) -> None:
        self._moments = moments
        denom = moments.weight - self.ddof
        if denom <= 0:
            raise ValueError(
                f"The total sample weight {moments.weight:g} must exceed ddof={self.ddof} "
                "to estimate a variance. Pass more rows or larger weights."
            )
        d = moments.mean.shape[0]
        raw_var = _variances(moments, self.ddof)
        constant = np.flatnonzero(_constant(moments, raw_var))
        if constant.size:
            names = feature_names(self, d)
            listed = ", ".join(f"{names[j]!r} (column {j})" for j in constant[:10])
            if self.reg_covar == 0:
                raise ValueError(
                    f"Constant feature(s) {listed}: zero variance gives an infinite density. "
                    "Drop the column(s) or set reg_covar > 0."
                )
            floor = f"reg_covar={self.reg_covar:g}" + (
                " (plus the shrinkage's share of the mean variance)"
                if self.covariance == "full" and self.shrinkage not in (None, 0)
                else ""
            )
            pending.append((
                f"Constant feature(s) {listed} in the training rows: variance set to "
                f"{floor}. Any other value of it will score as an extreme anomaly; drop the "
                "column if that is not wanted.",
                ConstantFeatureWarning,
            ))  # fmt: skip
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
            # the rows behind the moments: those a robust fit kept, else all chunks so far
            n_rows = X.shape[0] if self.robust else self.n_samples_seen_
            if n_rows <= d:
                pending.append((
                    f"n_samples={n_rows} <= n_features={d}: the covariance is singular and "
                    "only reg_covar keeps it invertible. Use shrinkage='ledoit-wolf' or "
                    "covariance='diag'.",
                    UserWarning,
                ))  # fmt: skip
        elif self.shrinkage == "ledoit-wolf":
            shrink = _ledoit_wolf_shrinkage(X, w, moments)
        else:
            shrink = float(self.shrinkage)
        if shrink > 0:
            mu = np.trace(cov) / d
            cov = (1.0 - shrink) * cov
            cov.flat[:: d + 1] += shrink * mu
        cov.flat[:: d + 1] += self.reg_covar
        factors = _cholesky_and_inverse(cov)
        if factors is None:
            raise ValueError(
                "The covariance is not positive definite (constant, duplicated or collinear "
                "features?). Increase reg_covar, use shrinkage='ledoit-wolf', drop redundant "
                "columns, or use covariance='diag'."
            )
        chol, inv_chol = factors
        self.covariance_ = cov
        self.var_ = np.diag(cov).copy()
        self.shrinkage_ = shrink
        self.precision_cholesky_ = inv_chol.T
        self._log_norm = -0.5 * d * _LOG_2PI - np.log(np.diag(chol)).sum()

    def _set_offset(self, X: np.ndarray, w: np.ndarray | None) -> None:
        if self.epsilon is not None:
            self.offset_ = float(np.log(self.epsilon))
            return
        rate = DEFAULT_CONTAMINATION if self.contamination == "auto" else self.contamination
        self.offset_ = contamination_threshold(self._score(X), rate, w)

    # ----------------------------------------------------------------- scoring
    def _score(self, X: np.ndarray) -> np.ndarray:
        """Log-densities of validated rows."""
        kernels = _kernels()
        if kernels is None:
            return self._score_numpy(X)
        return self._score_engine(kernels, X)[0]

    def _score_numpy(self, X: np.ndarray) -> np.ndarray:
        """The reference: log-densities in blocks of bounded memory."""
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

    def _score_engine(self, kernels: Any, X: np.ndarray) -> tuple[np.ndarray, bool]:
        """Log-densities by the compiled kernels, and whether they are all finite."""
        n, d = X.shape
        out = np.empty(n, dtype=np.float64)
        log_norm = float(self._log_norm)
        mean = np.ascontiguousarray(self.mean_, dtype=np.float64)
        full = self._moments.full
        if 8 % d == 0:  # rows in lanes (full d = 8: 3.76 -> 3.05 ms for 2e6 rows, 2 threads,
            # then 0.48-0.60 -> 0.30-0.36 ms for 2e5 rows in cache, transposed in registers)
            mv, coef = _lane_coefficients(self, mean, d, full)

            def kernel(Xc: np.ndarray, o: np.ndarray, a: int, b: int) -> float:
                return kernels.score_lanes(Xc, mv, coef, log_norm, o, a, b)
        elif full:
            dp = _padded(d)
            PT = np.zeros((dp, dp))
            PT[:d, :d] = self.precision_cholesky_.T
            rows = _full_rows(dp)

            def kernel(Xc: np.ndarray, o: np.ndarray, a: int, b: int) -> float:
                return kernels.score_full(Xc, mean, PT, log_norm, o, a, b, rows)
        else:
            inv_std = 1.0 / np.sqrt(self.var_)

            def kernel(Xc: np.ndarray, o: np.ndarray, a: int, b: int) -> float:
                return kernels.score_diag(Xc, mean, inv_std, log_norm, o, a, b, _DIAG_SCORE_ROWS)

        contiguous = X.flags.c_contiguous

        def work(a: int, b: int) -> float:
            if contiguous:
                return kernel(X, out, a, b)
            return kernel(np.ascontiguousarray(X[a:b]), out[a:b], 0, b - a)

        sums = _run_chunks(work, n)
        return out, all(math.isfinite(total) for total in sums)

    def _check_X(self, X: ArrayLike, *, finite: bool = True) -> np.ndarray:
        check_is_fitted(self)
        if (
            not finite
            and _plain_rows(X, self.n_features_in_)
            and "feature_names_in_" not in vars(self)
        ):
            return X  # what validate_data returns for them, 12x sooner (tested)
        return validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite=finite
        )

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
        kernels = _kernels()
        if kernels is None:
            return self._score_numpy(self._check_X(X))
        # A non-finite row gives a non-finite score: the kernels' sums replace
        # validate_data's own pass over X for NaN and infinity.
        X = self._check_X(X, finite=False)
        scores, finite = self._score_engine(kernels, X)
        if not finite:
            raise_if_not_finite(self, X)
        return scores

    def mahalanobis(self, X: ArrayLike) -> np.ndarray:
        """Squared Mahalanobis distance ``D2`` of each row from the fitted mean.

        ``D2 = (x - mean)' inv(cov) (x - mean)`` (for ``diag``, the sum of the
        squared z-scores), computed from centred rows in blocks. Under the
        fitted Gaussian, ``D2`` of a normal row follows chi-square with
        ``n_features`` degrees of freedom, which
        :func:`anomalykit.thresholds.mahalanobis_pvalues` turns into p-values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64

        Examples
        --------
        >>> import numpy as np
        >>> from anomalykit import GaussianDetector
        >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
        >>> GaussianDetector(reg_covar=0.0).fit(X).mahalanobis([[1.0, 1.0], [3.0, 1.0]])
        array([0., 4.])
        """
        return self._sq_mahalanobis(self._check_X(X))

    def _sq_mahalanobis(self, X: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances of validated rows, in blocks."""
        n, d = X.shape
        out = np.empty(n, dtype=np.float64)
        block = max(256, _SCORE_BLOCK_BYTES // (8 * max(d, 1)))
        P = getattr(self, "precision_cholesky_", None)
        inv_std = None if P is not None else 1.0 / np.sqrt(self.var_)
        for start in range(0, n, block):
            Z = np.asarray(X[start : start + block], dtype=np.float64) - self.mean_
            if P is not None:
                Z = Z @ P
            else:
                Z *= inv_std
            out[start : start + block] = np.einsum("ij,ij->i", Z, Z)
        return out

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


#: Rows per sub-block of the diag score kernel.
_DIAG_SCORE_ROWS = 1024


def _lane_coefficients(
    detector: GaussianDetector, mean: np.ndarray, d: int, full: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each of 8 lanes (lane ``l`` holds feature ``l % d``) and the
    coefficients of :func:`._gaussian_kernels.score_lanes`: for ``diag`` the
    inverse standard deviations; for ``full``, rotation ``s`` of lane ``l``
    multiplies feature ``(j + s) % d`` by ``P[(j + s) % d, j]`` (``P`` the
    precision's Cholesky factor, upper triangular: ``z_j = sum_(k <= j) P[k, j]
    (x_k - m_k)``)."""
    lanes = np.arange(8) % d
    mv = mean[lanes]
    if not full:
        return mv, (1.0 / np.sqrt(detector.var_))[lanes]
    P = detector.precision_cholesky_
    others = (lanes + np.arange(d)[:, np.newaxis]) % d  # (rotation, lane)
    return mv, np.ascontiguousarray(P[others, lanes], dtype=np.float64).reshape(-1)


def _cholesky_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(L, L^-1)`` with ``cov = L L^T``, ``L`` lower triangular; None where
    ``cov`` is not positive definite.

    LAPACK's own routines (``potrf``, ``trtri``), called directly: SciPy's
    ``cholesky`` and ``solve_triangular`` add their checks and copies, 0.35 ms of
    a fit after a pause against 0.09. Up to :data:`_LAPACK_UNTHREADED` features
    OpenBLAS runs them on the calling thread; wider ones run inside
    :func:`one_blas_thread`, as OpenBLAS's threads took 2-6 ms instead of 0.15
    in one call out of four (a triangular solve, d = 2, before this).
    """
    if cov.shape[0] > _LAPACK_UNTHREADED:
        with one_blas_thread():
            return _lapack_cholesky_and_inverse(cov)
    return _lapack_cholesky_and_inverse(cov)


def _lapack_cholesky_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    chol, info = lapack.dpotrf(cov, lower=1, clean=1)
    if info != 0:  # > 0: the leading minor of that order is not positive definite
        return None
    inv_chol, info = lapack.dtrtri(chol, lower=1)
    return None if info != 0 else (chol, inv_chol)


def _variances(moments: Moments, ddof: int) -> np.ndarray:
    """Per-feature variances of merged moments (divisor ``weight - ddof``)."""
    scatter = np.diag(moments.scatter) if moments.full else moments.scatter
    return scatter / (moments.weight - ddof)


def _constant(moments: Moments, variances: np.ndarray) -> np.ndarray:
    """Features whose spread is at the rounding level of their magnitude."""
    return variances <= (np.finfo(np.float64).eps * np.maximum(np.abs(moments.mean), 1.0)) ** 2


def _keep_shared_value_spread(
    kept: Moments, all_rows: Moments, ddof: int, shared: np.ndarray
) -> tuple[Moments, np.ndarray]:
    """A robust refit's moments, where every feature that is -- or once was --
    constant on the kept rows but not on all rows gets the variance of all rows
    and no covariance; and the updated mask of those features.

    When more than half of the rows share one value of a feature (a count that
    is mostly 0, an indicator), the kept rows may all hold it: the feature would
    collapse to a zero variance and any other value of it would score as an
    extreme anomaly. The kept rows carry no information on its spread; all the
    rows do. The mask only grows ("once was"): a feature let go again as soon
    as a few other values re-enter the kept rows would make the refits swing
    between the two states and never settle.
    """
    if kept.weight - ddof <= 0:
        return kept, shared  # too few rows: _set_parameters says so
    var_all = _variances(all_rows, ddof)
    shared = shared | (_constant(kept, _variances(kept, ddof)) & ~_constant(all_rows, var_all))
    if not shared.any():
        return kept, shared
    scatter = kept.scatter.copy()
    spread = var_all[shared] * (kept.weight - ddof)
    if kept.full:
        scatter[shared, :] = 0.0
        scatter[:, shared] = 0.0
        idx = np.flatnonzero(shared)
        scatter[idx, idx] = spread
    else:
        scatter[shared] = spread
    return Moments(kept.weight, kept.mean, scatter), shared


def _weighted_median(values: np.ndarray, w: np.ndarray | None) -> float:
    """The median of ``values``, rows weighted by ``w``; integer weights equal repeated rows."""
    if w is None:
        return float(np.median(values))
    mass = w > 0
    values, w = values[mass], w[mass]
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order], dtype=np.float64)
    half = 0.5 * cum[-1]
    # A tolerance on the half-way mark: weights 0.1 each must give the median of
    # weights 1 each, whatever the rounding of their cumulative sum.
    tol = 1e-9 * cum[-1]
    low = values[order[min(np.searchsorted(cum, half - tol, side="left"), cum.size - 1)]]
    high = values[order[min(np.searchsorted(cum, half + tol, side="right"), cum.size - 1)]]
    return 0.5 * (float(low) + float(high))


def _plain_rows(X: Any, n_features: int | None) -> bool:
    """Whether ``X`` is a plain float64 or float32 ndarray of at least one row
    and ``n_features`` columns (None: at least one): scikit-learn's
    ``validate_data`` (no finiteness check) returns such an array itself, and
    on a fit only records its width and that it has no feature names, after
    46 us of checks (warm; 340 us after 0.3 s of rest), most of the time of
    scoring a few hundred rows. Subclasses (``np.memmap``, masked arrays) are
    left to it."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] >= 1
        and X.shape[1] >= 1
        and (n_features is None or X.shape[1] == n_features)
    )


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _kernels() -> Any:
    """The compiled kernel module, or None for the NumPy reference (see ``_ENGINE``).

    Imported on first use, never with anomalykit: Numba and the first call's
    compilation (cached on disk) cost only those who score or fit.
    """
    check_in(_ENGINE, ("auto", "numba", "numpy"), name="_ENGINE", owner="GaussianDetector")
    if _ENGINE == "numpy":
        return None
    try:
        from . import _gaussian_kernels
    except ImportError:
        if _ENGINE == "numba":
            raise ImportError(
                "The compiled engine needs numba: pip install numba (a dependency of anomalykit)."
            ) from None
        return None
    return _gaussian_kernels


def _engine_threads() -> int:
    """Threads for the compiled engine: ``_N_THREADS``, else the usable cores
    capped by the thread limits of the BLAS/OpenMP pools (0.5 us per pool)."""
    if _N_THREADS is not None:
        return max(1, int(_N_THREADS))
    return engine_threads()


def _chunks(n: int) -> list[tuple[int, int]]:
    rows = max(_CHUNK_ROWS, -(-n // _MAX_CHUNKS))
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def _run_chunks(func: Callable[[int, int], Any], n: int) -> list:
    """``func(start, stop)`` for every chunk of ``n`` rows, results in chunk order."""
    return run_chunks(func, _chunks(n), _engine_threads())


def _padded(d: int) -> int:
    """``d`` rounded up to a multiple of 4: the full kernels work on 4 x 4 tiles."""
    return -(-d // 4) * 4


def _full_rows(dp: int) -> int:
    """Rows per sub-block of the full kernels: the (dp x rows) buffer stays in
    L1 (measured best: 128 rows up to d = 8, 64 up to 64, then 32)."""
    return 128 if dp <= 8 else 64 if dp <= 64 else 32


def _lane_gram_rows(d: int) -> int:
    """Most rows per sub-block (and Chan merge) of the full moments of unweighted
    rows of 1, 2, 4 or 8 features, which are read without a transposed copy
    (:func:`._gaussian_kernels._grams_by_lanes`): 2**17 values, as the diag
    kernel's sub-blocks, a whole number of its blocks of 2048 values (a chunk's
    first sub-blocks are smaller: see ``moments_full``)."""
    return 2**17 // d


def _diag_lanes(d: int) -> tuple[int, int]:
    """``(lanes, rows)`` of the diag moments kernel: ``lanes`` (a multiple of both
    ``d`` and 8) per segment; ``rows`` (a whole number of segments, ~128 Ki
    values) per sub-block and Chan merge.

    Where ``lcm(d, 8)`` is at most 64 values, the segment is 4 to 8 vectors of
    8, whose sums stay in registers (:func:`._gaussian_kernels._lane_sums`: at
    least 4 vectors, 8 independent sums, to keep both adders busy); wider
    ones take ~256 values, summed through memory."""
    unit = math.lcm(d, 8)
    lanes = unit * (-(-32 // unit) if unit <= 64 else max(1, 256 // unit))
    rows_per_lane = lanes // d
    return lanes, rows_per_lane * max(1, 2**17 // lanes)


def _engine_moments(kernels: Any, X: np.ndarray, w: np.ndarray | None, full: bool) -> Moments:
    """:func:`moments_of` by the compiled kernels, chunk by chunk, merged in order.

    The kernels work about a fixed shift (the mean of the first rows), so that
    the chunks' means are small numbers and their merge keeps full precision
    when the data sit far from the origin.
    """
    n, d = X.shape
    # The mean of the first rows, from a C-ordered copy: the same rounding whatever
    # the layout of X (NumPy's mean would be the same bits, with 40 us more
    # Python after a pause).
    head = np.ascontiguousarray(X[:64], dtype=np.float64)
    shift = np.add.reduce(head, axis=0) / head.shape[0]
    if w is not None:
        w = np.ascontiguousarray(w, dtype=np.float64)
    if full:
        dp = _padded(d)
        rows = _full_rows(dp) if w is not None or 8 % d else _lane_gram_rows(d)

        def kernel(Xc: np.ndarray, wc: np.ndarray | None, a: int, b: int) -> tuple:
            return kernels.moments_full(Xc, wc, shift, a, b, rows, dp)
    else:
        lanes, rows = _diag_lanes(d)

        def kernel(Xc: np.ndarray, wc: np.ndarray | None, a: int, b: int) -> tuple:
            return kernels.moments_diag(Xc, wc, shift, a, b, rows, lanes)

    contiguous = X.flags.c_contiguous

    def work(a: int, b: int) -> tuple:
        if contiguous:
            return kernel(X, w, a, b)
        return kernel(np.ascontiguousarray(X[a:b]), None if w is None else w[a:b], 0, b - a)

    with np.errstate(invalid="ignore", over="ignore"):  # non-finite X: the caller reports it
        result = merge_all(_run_chunks(work, n))
        return Moments(result.weight, result.mean + shift, result.scatter)


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
        # (a C-ordered block: NumPy's row sums round the same whatever the layout of X)
        Xb = np.ascontiguousarray(X[start : start + block])
        sq = ((Xb - moments.mean) ** 2).sum(axis=1)
        wb = 1.0 if w is None else w[start : start + block]
        fourth += float(np.sum(wb * sq * sq))
    trace = np.trace(S)
    mu = trace / d
    frob = float(np.sum(S * S))
    beta = (fourth / n - frob) / (d * n)
    delta = (frob - 2.0 * mu * trace + d * mu * mu) / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)
