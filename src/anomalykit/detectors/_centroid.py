"""Anomaly detection by the distance to the row's own K-means centre.

The guide flags a row when its distance to a centre exceeds ``3 * X.std()``:
one global yardstick for every cluster, taken from the spread of the raw
features rather than of the distances. Here each cluster gets its own
threshold, learned from the distances of its own training rows.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils._fingerprint import fingerprint
from .._utils._validation import check_in, check_real, feature_names
from ..cluster import KMeans
from ._explanation import Explanation

__all__ = ["CentroidOutlierDetector", "DegenerateClusterWarning"]

_RULES = ("sigma", "mad", "chi2")
#: ``1 / Phi^-1(3/4)``: makes the MAD estimate the standard deviation of normal data.
MAD_TO_SD = 1.4826
#: ``sqrt(pi / 2)``: makes the mean absolute deviation estimate a normal standard
#: deviation; the ``"mad"`` fallback when more than half the distances tie (MAD = 0).
MEAN_AD_TO_SD = math.sqrt(math.pi / 2.0)
#: A cluster needs at least this many rows for statistics of its own ...
MIN_CLUSTER_ROWS = 5
#: ... and at least this share of the average cluster size (default min_cluster_size).
MIN_CLUSTER_SHARE = 0.1
#: Rows scored per block: bounds the temporary memory of scoring at ~8 MiB.
_BLOCK_BYTES = 8 * 2**20


class DegenerateClusterWarning(UserWarning):
    """All training rows of a cluster lie at the same distance from its centre."""


class CentroidOutlierDetector(OutlierMixin, BaseEstimator):
    """Flag rows that lie too far from their own K-means centre.

    A K-means model is fitted, every row is assigned to its nearest centre,
    and a row is an anomaly when its distance to that centre exceeds the
    threshold of that cluster, learned from the distances of the cluster's
    own training rows. A tight cluster and a wide one each get a threshold of
    their own, which one global cut-off (the guide's ``3 * X.std()``) cannot
    give.

    Parameters
    ----------
    n_clusters : int, default=8
        Clusters of the K-means built when ``clusterer`` is None. Ignored
        when ``clusterer`` is given (its own ``n_clusters`` is used).
    n_sigma : float, default=3.0
        How far out a row must be, in standard deviations (see ``rule``).
    rule : {"sigma", "mad", "chi2"}, default="sigma"
        How a cluster's threshold is set from the distances ``d`` of its
        training rows to its centre:

        - ``"sigma"``: ``mean(d) + n_sigma * std(d)``, the guide's rule made
          per cluster.
        - ``"mad"``: ``median(d) + n_sigma * 1.4826 * MAD(d)``; robust to the
          outliers inside the training rows.
        - ``"chi2"``: treats the cluster as an isotropic Gaussian with
          per-feature standard deviation ``cluster_std_`` and flags a row when
          ``d**2 / cluster_std_**2`` exceeds the chi-square quantile with
          ``n_features`` degrees of freedom at the tail probability
          ``2 * norm.sf(n_sigma)`` (see Notes).
    clusterer : estimator, default=None
        An unfitted KMeans-like estimator (``fit`` and, once fitted,
        ``cluster_centers_``), such as :class:`anomalykit.KMeans` or
        :class:`sklearn.cluster.KMeans` with its own settings. It is cloned
        (:func:`sklearn.base.clone`) and the clone is fitted; the object
        passed in is never modified. None builds
        ``KMeans(n_clusters, random_state=random_state)``. Euclidean
        distances only: a clusterer with ``metric="cosine"`` is refused.
    min_cluster_size : int, default=None
        Clusters with fewer training rows are too small for statistics and
        are dissolved (see Notes). None means
        ``max(5, ceil(0.1 * n_samples / n_clusters))``: five rows, and a tenth
        of the average cluster size.
    random_state : None, int or numpy.random.Generator, default=None
        Seeds the K-means built when ``clusterer`` is None; a given
        ``clusterer`` keeps its own ``random_state``.

    Attributes
    ----------
    clusterer_ : estimator
        The fitted clone of ``clusterer`` (or the K-means built).
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The clusterer's centres, as float64.
    cluster_sizes_ : ndarray of shape (n_clusters,)
        Training rows nearest to each centre.
    small_clusters_ : ndarray of bool of shape (n_clusters,)
        True for the dissolved clusters (fewer than ``min_cluster_size_`` rows).
    min_cluster_size_ : int
        The size used (``min_cluster_size`` or the default above).
    locations_ : ndarray of shape (n_clusters,)
        Where each cluster's normalised distance is 0: the mean (``"sigma"``),
        the median (``"mad"``) or 0 (``"chi2"``) of its training distances.
        NaN for dissolved clusters, as in the next three attributes.
    scales_ : ndarray of shape (n_clusters,)
        The unit of each cluster's normalised distance: the standard deviation
        of its training distances (``"sigma"``), ``1.4826 * MAD`` (``"mad"``)
        or ``cluster_std_`` (``"chi2"``).
    thresholds_ : ndarray of shape (n_clusters,)
        ``locations_ + critical_value_ * scales_``: a row is an anomaly when
        its distance to its centre exceeds its cluster's threshold. Frozen at
        fit time.
    cluster_std_ : ndarray of shape (n_clusters,)
        Per-feature standard deviation of each cluster around its centre,
        ``sqrt(sum ||x - c||**2 / (n_c * n_features))``; the unit of the
        z-scores of :meth:`explain`.
    critical_value_ : float
        ``n_sigma`` for ``"sigma"`` and ``"mad"``;
        ``sqrt(chi2.isf(2 * norm.sf(n_sigma), n_features))`` for ``"chi2"``.
    offset_ : float
        ``-critical_value_``: a row is an anomaly when ``score_samples < offset_``.
    labels_ : ndarray of shape (n_samples,)
        The centre each training row is scored against: its nearest centre,
        or the nearest kept centre for rows of dissolved clusters (these may
        differ from ``clusterer_.labels_``).
    distances_ : ndarray of shape (n_samples,)
        Euclidean distance of each training row to the centre ``labels_``.
    data_fingerprint_ : dict
        Identifies the validated training rows: shape, dtype and a sha256 of
        up to 4096 evenly spaced rows. It identifies the data set, it does not
        prove every byte.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a table with string column names.

    See Also
    --------
    GaussianDetector : one Gaussian density over all the rows.

    Notes
    -----
    *Score.* ``score_samples(x) = -(d - locations_[c]) / scales_[c]`` with
    ``d`` the distance of ``x`` to its centre ``c``: minus the distance in
    its cluster's own units, higher is more normal, comparable between
    clusters. ``decision_function = score_samples - offset_`` is negative
    exactly when ``d > thresholds_[c]`` (up to rounding). Each row is scored
    on its own with the fit-time statistics, so a batch scores as its rows
    one by one.

    *chi2 mapping.* If the rows of a cluster are ``N(c, s**2 I)``, then
    ``d**2 / s**2`` follows a chi-square law with ``n_features`` degrees of
    freedom. Its threshold is taken at the same tail probability as
    ``|z| > n_sigma`` for a normal ``z``, ``p = 2 * norm.sf(n_sigma)``
    (0.27% for 3), so that with one feature the rule is exactly
    ``|x - c| > n_sigma * s``. ``s`` is estimated by ``cluster_std_``
    (divisor ``n_c * n_features``, no degrees-of-freedom correction).

    *Small clusters* (fewer than ``min_cluster_size_`` training rows) have
    too few rows for a mean and a spread, and K-means often gives a few
    far-away outliers a cluster of their own, where their distance is small.
    So such clusters are dissolved, as CBLOF does: their centres are not
    used for scoring, their rows (and any new row) are scored against the
    nearest centre of a cluster that is large enough, and the statistics of
    a kept cluster come from its own rows only. A lone group of rows far
    from every large cluster is therefore flagged. Lower ``min_cluster_size``
    to keep small clusters that are genuine. When no cluster is large
    enough, fit raises a ValueError.

    All spreads are maximum-likelihood (divisor ``n``), like ``X.std()``. A
    scale of exactly 0 (every training row of a cluster at the same
    distance) is floored at rounding level, with a
    :class:`DegenerateClusterWarning`. For ``"mad"``, when more than half the
    distances tie (MAD = 0) the scale falls back to
    ``sqrt(pi / 2) * mean(|d - median(d)|)``.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit import CentroidOutlierDetector
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5],
    ...               [9.0, 9.0], [9.0, 11.0], [11.0, 9.0], [11.0, 11.0], [10.0, 10.0]])
    >>> det = CentroidOutlierDetector(n_clusters=2, random_state=0).fit(X)
    >>> det.predict([[0.5, 0.4], [0.5, 3.0], [10.0, 12.0]])
    array([ 1, -1,  1])
    >>> det.thresholds_.round(2).tolist()
    [2.83, 1.41]
    >>> det.explain([[0.5, 3.0]]).to_strings(k=2)
    ['x1=+5.59σ; x0=+0.00σ']
    """

    def __init__(
        self,
        n_clusters: int = 8,
        n_sigma: float = 3.0,
        rule: str = "sigma",
        *,
        clusterer: Any = None,
        min_cluster_size: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_sigma = n_sigma
        self.rule = rule
        self.clusterer = clusterer
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state

    # ------------------------------------------------------------------ params
    def _validate_params(self) -> None:
        owner = type(self).__name__
        if self.clusterer is None:
            check_real(self.n_clusters, name="n_clusters", owner=owner, low=1, integer=True)
        elif isinstance(self.clusterer, type) or not (
            hasattr(self.clusterer, "fit") and hasattr(self.clusterer, "get_params")
        ):
            raise ValueError(
                f"The 'clusterer' parameter of {owner} must be None or an unfitted KMeans-like "
                f"estimator (with fit and get_params). Got {self.clusterer!r} instead."
            )
        check_real(self.n_sigma, name="n_sigma", owner=owner, low=0.0, low_open=True)
        check_in(self.rule, _RULES, name="rule", owner=owner)
        if self.min_cluster_size is not None:
            check_real(
                self.min_cluster_size, name="min_cluster_size", owner=owner, low=1, integer=True
            )

    def _make_clusterer(self) -> Any:
        if self.clusterer is None:
            return KMeans(n_clusters=self.n_clusters, random_state=self.random_state)
        clusterer = clone(self.clusterer)
        metric = getattr(clusterer, "metric", "euclidean")
        if metric != "euclidean":
            raise ValueError(
                f"{type(self).__name__} measures Euclidean distances to the centres; the "
                f"clusterer has metric={metric!r}. Use metric='euclidean' (normalise the rows "
                "first for a cosine-like geometry)."
            )
        return clusterer

    # --------------------------------------------------------------------- fit
    def fit(self, X: ArrayLike, y: Any = None) -> CentroidOutlierDetector:
        """Cluster the rows and learn each cluster's threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Mostly normal rows. NaN and infinity are rejected.
        y : ignored

        Returns
        -------
        self : CentroidOutlierDetector
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self.data_fingerprint_ = fingerprint(X)
        n, d = X.shape
        clusterer = self._make_clusterer().fit(X)
        centers = getattr(clusterer, "cluster_centers_", None)
        if centers is None:
            raise ValueError(
                f"The clusterer {type(clusterer).__name__} has no cluster_centers_ after fit; "
                f"{type(self).__name__} needs a KMeans-like estimator."
            )
        centers = np.array(centers, dtype=np.float64)
        k = centers.shape[0]

        sq = _sq_distances(X, centers)
        nearest = np.argmin(sq, axis=1)
        sizes = np.bincount(nearest, minlength=k)
        if self.min_cluster_size is None:
            min_size = max(MIN_CLUSTER_ROWS, math.ceil(MIN_CLUSTER_SHARE * n / k))
        else:
            min_size = int(self.min_cluster_size)
        small = sizes < min_size
        if small.all():
            raise ValueError(
                f"No cluster has min_cluster_size={min_size} rows (the largest has "
                f"{int(sizes.max())} of n_samples={n}): there is nothing to learn a threshold "
                "from. Lower n_clusters or min_cluster_size, or pass more rows."
            )
        kept = np.flatnonzero(~small)
        own = kept[np.argmin(sq[:, kept], axis=1)]
        dist = np.sqrt(sq[np.arange(n), own])

        locations = np.full(k, np.nan)
        scales = np.full(k, np.nan)
        cluster_std = np.full(k, np.nan)
        for c in kept:
            dc = dist[nearest == c]
            cluster_std[c] = math.sqrt(float(np.mean(dc * dc)) / d)
            locations[c], scales[c] = self._location_scale(dc, cluster_std[c])
        tiny = np.finfo(np.float64).eps * max(1.0, float(np.abs(centers).max()), float(dist.max()))
        flat = kept[scales[kept] <= tiny]
        if flat.size:
            warnings.warn(
                f"Cluster(s) {flat.tolist()} have all their training rows at the same distance "
                f"from their centre (zero spread): their scale is floored at {tiny:.3g}, so any "
                "other distance scores as an extreme anomaly. Check for duplicated rows or "
                "lower n_clusters.",
                DegenerateClusterWarning,
                stacklevel=2,
            )
            scales[flat] = tiny
            cluster_std[flat] = np.maximum(cluster_std[flat], tiny)

        critical = self._critical_value(d)
        self.clusterer_ = clusterer
        self.cluster_centers_ = centers
        self.cluster_sizes_ = sizes
        self.small_clusters_ = small
        self.min_cluster_size_ = min_size
        self.locations_ = locations
        self.scales_ = scales
        self.thresholds_ = locations + critical * scales
        self.cluster_std_ = cluster_std
        self.critical_value_ = critical
        self.offset_ = -critical
        self.labels_ = own
        self.distances_ = dist
        self._kept = kept
        return self

    def _location_scale(self, dc: np.ndarray, cluster_std: float) -> tuple[float, float]:
        """Location and scale of one cluster's training distances, by ``rule``."""
        if self.rule == "sigma":
            return float(np.mean(dc)), float(np.std(dc))
        if self.rule == "mad":
            median = float(np.median(dc))
            dev = np.abs(dc - median)
            mad = float(np.median(dev))
            scale = MAD_TO_SD * mad if mad > 0 else MEAN_AD_TO_SD * float(np.mean(dev))
            return median, scale
        return 0.0, cluster_std

    def _critical_value(self, n_features: int) -> float:
        """The threshold on the normalised distance."""
        if self.rule != "chi2":
            return float(self.n_sigma)
        tail = 2.0 * stats.norm.sf(self.n_sigma)
        q = stats.chi2.isf(tail, n_features) if tail > 0 else math.inf
        if not np.isfinite(q):
            raise ValueError(
                f"n_sigma={self.n_sigma!r} is too large for rule='chi2': its tail probability "
                "underflows to 0. Use n_sigma <= 37."
            )
        return math.sqrt(float(q))

    # ----------------------------------------------------------------- scoring
    def _check_X(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre each validated row is scored against, and its distance to it."""
        kept = self._kept
        sq = _sq_distances(X, self.cluster_centers_[kept])
        pick = np.argmin(sq, axis=1)
        return kept[pick], np.sqrt(sq[np.arange(X.shape[0]), pick])

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Minus each row's distance to its centre, in its cluster's units.

        ``-(d - locations_[c]) / scales_[c]`` (higher is more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        labels, dist = self._assign(self._check_X(X))
        return (self.locations_[labels] - dist) / self.scales_[labels]

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """``score_samples(X) - offset_``: negative where the distance exceeds the threshold."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """+1 for a normal row, -1 for an anomaly (beyond its cluster's threshold)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def is_anomaly(self, X: ArrayLike) -> np.ndarray:
        """True where a row is beyond its cluster's threshold (1 = anomaly convention)."""
        return self.decision_function(X) < 0

    def predict_cluster(self, X: ArrayLike) -> np.ndarray:
        """Index of the centre each row is scored against (never a dissolved cluster)."""
        return self._assign(self._check_X(X))[0]

    # ----------------------------------------------------------------- explain
    def explain(self, X: ArrayLike) -> Explanation:
        """Rank the features that carry each row away from its centre.

        ``z_j = (x_j - c_j) / cluster_std_[c]`` is the signed offset from the
        row's centre ``c`` in the cluster's per-feature standard deviations;
        ``contributions = -z**2 / 2``. Each contribution is proportional to
        the feature's share of the squared distance ``d**2``, and they add up
        to ``-d**2 / (2 cluster_std_[c]**2)``, the log-density of the row
        under an isotropic Gaussian cluster less its value at the centre (minus
        half the ``"chi2"`` statistic). Works on new rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Explanation
            With ``kind="centroid"``.
        """
        X = self._check_X(X)
        labels, _ = self._assign(X)
        z = (X - self.cluster_centers_[labels]) / self.cluster_std_[labels, np.newaxis]
        return Explanation(
            feature_names=feature_names(self, X.shape[1]),
            z=z,
            contributions=-0.5 * z * z,
            kind="centroid",
        )


def _sq_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row to every centre, shape (n, k).

    Computed as ``sum((x - c)**2)`` in float64, one centre and one block of
    rows at a time: exact for nearby points (no ``||x||^2 - 2 x.c + ||c||^2``
    cancellation), and a row's value never depends on the other rows.
    """
    n, d = X.shape
    out = np.empty((n, centers.shape[0]), dtype=np.float64)
    block = max(256, _BLOCK_BYTES // (8 * max(d, 1)))
    for start in range(0, n, block):
        Xb = X[start : start + block].astype(np.float64, copy=False)
        for j, c in enumerate(centers):
            diff = Xb - c
            out[start : start + block, j] = np.einsum("ij,ij->i", diff, diff)
    return out
