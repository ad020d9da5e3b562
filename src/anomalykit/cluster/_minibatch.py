"""Mini-batch K-means: for data that arrives in chunks or does not fit in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._utils._fingerprint import fingerprint
from .._utils._random import as_generator
from .._utils._threads import dot_unthreaded
from .._utils._validation import check_real, check_sample_weight
from ._kmeans import _BaseKMeans, _objective
from ._lloyd import assign, row_norms_sq, update_centers

__all__ = ["MiniBatchKMeans", "minibatch_step"]


def minibatch_step(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    counts: np.ndarray,
    sample_weight: np.ndarray,
    *,
    spherical: bool = False,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Move each centre towards the mean of its rows in this batch.

    Every centre stays the weighted mean of all rows ever assigned to it
    (``c <- c + (sum_batch - w_batch c) / count``), so with one batch holding
    all rows the step is a Lloyd step. Returns the new centres, the updated
    cumulative weights and the batch inertia (before the move). Prior
    validation of data is assumed.
    """
    labels, dist = assign(X, centers)
    sums, weights = update_centers(X, labels, sample_weight, centers.shape[0])
    counts = counts + weights
    new = centers.copy()
    hit = weights > 0
    new[hit] += (sums[hit] - weights[hit, np.newaxis] * centers[hit]) / counts[hit, np.newaxis]
    if spherical:
        norms = np.sqrt(np.einsum("ij,ij->i", new, new))
        norms[norms == 0] = 1
        new /= norms[:, np.newaxis]
    return new.astype(centers.dtype, copy=False), counts, dot_unthreaded(dist, sample_weight)


class MiniBatchKMeans(_BaseKMeans):
    """K-means on mini-batches, with ``partial_fit`` for streams and data
    larger than memory.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features), default="k-means++"
        Initial centres, chosen on the first ``init_size`` rows seen.
    batch_size : int, default=1024
    max_iter : int, default=100
        Passes over the data in ``fit``.
    tol : float, default=0.0
        Stop when a batch moves the centres by at most ``tol`` times the mean
        feature variance (summed squared shift); 0 disables it.
    max_no_improvement : int or None, default=10
        Stop when the smoothed batch inertia has not improved for this many
        consecutive batches; None disables it.
    init_size : int, default=None
        Rows used to choose the initial centres in ``fit`` (``3 * batch_size``
        by default, at least ``3 * n_clusters``).
    metric : {"euclidean", "cosine"}, default="euclidean"
    random_state : None, int or numpy.random.Generator, default=None

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    counts_ : ndarray of shape (n_clusters,)
        Total weight of the rows each centre has absorbed.
    labels_, inertia_ : ndarray, float
        After ``fit``: every row's centre and the total inertia (one full pass
        at the end). ``partial_fit`` leaves them for the last batch.
    n_steps_ : int
        Mini-batch steps taken.
    n_iter_ : int
        After ``fit``: passes over the data started (the last may be partial).
    data_fingerprint_ : dict
        Identifies the validated training rows (unit length for
        ``metric="cosine"``; chained over ``partial_fit`` batches): shape,
        dtype and a sha256 of up to 4096 evenly spaced rows. It identifies the
        data set, it does not prove every byte.
    n_features_in_ : int

    Notes
    -----
    A centre that no row has reached yet keeps its initial position. The
    result approximates full K-means (Sculley, 2010): on well-separated data
    it finds the same clusters far faster on large ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit import MiniBatchKMeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> mbk = MiniBatchKMeans(2, batch_size=2, random_state=0)
    >>> mbk = mbk.partial_fit(X[[0, 2]]).partial_fit(X[[1, 3]])
    >>> sorted(mbk.cluster_centers_.round(2).tolist())
    [[0.0, 0.5], [10.0, 0.5]]
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | ArrayLike = "k-means++",
        batch_size: int = 1024,
        max_iter: int = 100,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        init_size: int | None = None,
        metric: str = "euclidean",
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.metric = metric
        self.random_state = random_state

    def _validate_params(self) -> None:
        self._validate_common()
        owner = type(self).__name__
        check_real(self.batch_size, name="batch_size", owner=owner, low=1, integer=True)
        if self.max_no_improvement is not None:
            check_real(
                self.max_no_improvement, name="max_no_improvement", owner=owner, low=1, integer=True
            )
        if self.init_size is not None:
            check_real(self.init_size, name="init_size", owner=owner, low=1, integer=True)

    def _start(self, X, w, rng) -> None:
        """Initial centres from (a sample of) the first rows seen, chosen on centred rows."""
        dense = not sp.issparse(X) and self.metric != "cosine"
        self._shift = X.mean(axis=0) if dense else None  # see _BaseKMeans._centred
        self._dtype = X.dtype
        Xc = X if self._shift is None else X - self._shift
        centers = self._initial_centers(Xc, w, rng, row_norms_sq(Xc))
        if self._shift is not None and isinstance(self.init, str):
            centers = centers + self._shift
        self.cluster_centers_ = centers.astype(X.dtype, copy=False)
        self.counts_ = np.zeros(self.n_clusters, dtype=np.float64)
        self.n_steps_ = 0

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Cluster ``X`` by passes of mini-batches, then label every row.

        Returns
        -------
        self : MiniBatchKMeans
        """
        self._validate_params()
        X = self._check_data(X, reset=True)
        self.data_fingerprint_ = fingerprint(X)
        n = X.shape[0]
        w = check_sample_weight(sample_weight, n)
        w = np.ones(n) if w is None else w
        rng = as_generator(self.random_state)
        init_size = self.init_size or max(3 * self.batch_size, 3 * self.n_clusters)
        candidates = np.flatnonzero(w > 0)  # initial centres come from rows with weight
        size = min(candidates.size, max(init_size, self.n_clusters))
        init_rows = rng.choice(candidates, size=size, replace=False)
        variances = self._check_fit_data(X)
        self._start(X[np.sort(init_rows)], w[np.sort(init_rows)], rng)
        tol = self.tol * float(np.mean(variances)) if self.tol else 0.0
        batch = min(self.batch_size, n)
        smooth = None
        best, stale = np.inf, 0
        alpha = min(1.0, 2.0 * batch / (n + 1))
        done = False
        for epoch in range(1, self.max_iter + 1):  # noqa: B007 (kept as n_iter_)
            order = rng.permutation(n)
            for start in range(0, n, batch):
                idx = np.sort(order[start : start + batch])
                old = self.cluster_centers_
                self._step(X[idx], w[idx])
                if tol > 0 and float(np.sum((self.cluster_centers_ - old) ** 2)) <= tol:
                    done = True
                    break
                per_row = self._last_inertia / max(float(w[idx].sum()), 1e-300)
                smooth = per_row if smooth is None else (1 - alpha) * smooth + alpha * per_row
                if smooth < best:
                    best, stale = smooth, 0
                else:
                    stale += 1
                if self.max_no_improvement is not None and stale >= self.max_no_improvement:
                    done = True
                    break
            if done:
                break
        self.n_iter_ = epoch
        labels, dist = assign(*self._centred(X))
        self.labels_ = labels
        self.inertia_ = _objective(dist, w, self.metric)
        return self

    def partial_fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Update the centres with one batch (the first batch also initialises them).

        Returns
        -------
        self : MiniBatchKMeans
        """
        first = not hasattr(self, "cluster_centers_")
        if first:
            self._validate_params()
        X = self._check_data(X, reset=first)
        self.data_fingerprint_ = fingerprint(X, None if first else self.data_fingerprint_)
        w = check_sample_weight(sample_weight, X.shape[0])
        w = np.ones(X.shape[0]) if w is None else w
        if first:
            self._check_fit_data(X)
            self._start(X, w, as_generator(self.random_state))
        self._step(X, w)
        self.labels_, dist = assign(*self._centred(X))
        self.inertia_ = _objective(dist, w, self.metric)
        return self

    def _step(self, X, w) -> None:
        Xc, Cc = self._centred(X)
        centers, self.counts_, inertia = minibatch_step(
            Xc, Cc, self.counts_, w, spherical=self.metric == "cosine"
        )
        if self._shift is not None and not sp.issparse(X):
            centers = centers + self._shift
        self.cluster_centers_ = centers.astype(self._dtype, copy=False)  # the model's dtype
        self._last_inertia = inertia
        self.n_steps_ += 1
