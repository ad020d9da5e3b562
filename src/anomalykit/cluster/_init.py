"""Initial centres: greedy k-means++ and the guide's K distinct random rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._utils._random import as_generator
from .._utils._validation import check_real, check_sample_weight
from ._lloyd import row_norms_sq

__all__ = ["kmeans_plusplus", "random_rows"]


def _rows(X: np.ndarray | sp.csr_matrix, idx: np.ndarray) -> np.ndarray:
    out = X[idx]
    return out.toarray() if sp.issparse(out) else np.array(out)


def _sq_dist_to(X: np.ndarray | sp.csr_matrix, x_sq: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared distances (len(points), n) from each point to every row, clipped at 0."""
    D = np.asarray(X @ points.T).T
    D *= -2
    D += x_sq
    D += np.einsum("ij,ij->i", points, points)[:, np.newaxis]
    np.maximum(D, 0, out=D)
    return D


def greedy_kmeans_plusplus(
    X: np.ndarray | sp.csr_matrix,
    n_clusters: int,
    sample_weight: np.ndarray,
    rng: np.random.Generator,
    x_sq_norms: np.ndarray,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, as in scikit-learn).

    Each new centre is the best of ``n_local_trials`` (default ``2 + log k``)
    rows drawn with probability proportional to weight x squared distance to
    the nearest chosen centre: the one that lowers the total most. Prior
    validation is assumed.
    """
    n = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = rng.choice(n, p=sample_weight / sample_weight.sum())
    closest = _sq_dist_to(X, x_sq_norms, _rows(X, indices[:1]))[0]
    potential = closest @ sample_weight
    for c in range(1, n_clusters):
        cum = np.cumsum(sample_weight * closest)
        draws = rng.uniform(size=n_local_trials) * potential
        candidates = np.minimum(np.searchsorted(cum, draws), n - 1)
        trial = _sq_dist_to(X, x_sq_norms, _rows(X, candidates))
        np.minimum(closest, trial, out=trial)
        pots = trial @ sample_weight
        best = int(np.argmin(pots))
        potential, closest = pots[best], trial[best]
        indices[c] = candidates[best]
    return _rows(X, indices), indices


def random_rows(
    X: np.ndarray | sp.csr_matrix,
    n_clusters: int,
    sample_weight: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The guide's initialisation: ``n_clusters`` distinct rows drawn at random
    (with probability proportional to weight)."""
    p = sample_weight / sample_weight.sum()
    indices = rng.choice(X.shape[0], size=n_clusters, replace=False, p=p)
    return _rows(X, indices), indices


def kmeans_plusplus(
    X: ArrayLike,
    n_clusters: int,
    *,
    sample_weight: ArrayLike | None = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose initial centres by greedy k-means++.

    Parameters
    ----------
    X : array-like or CSR matrix of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), default=None
    random_state : None, int or numpy.random.Generator, default=None
    n_local_trials : int, default=None
        Candidates tried per centre; ``2 + int(log(n_clusters))`` by default.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
        ``X[indices] == centers``.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.cluster import kmeans_plusplus
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> centers, idx = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(int(i) // 2 for i in idx)  # one centre in each pair
    [0, 1]
    """
    from sklearn.utils import check_array

    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    check_real(n_clusters, name="n_clusters", owner="kmeans_plusplus", low=1, integer=True)
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if n_local_trials is not None:
        check_real(
            n_local_trials, name="n_local_trials", owner="kmeans_plusplus", low=1, integer=True
        )
    w = check_sample_weight(sample_weight, X.shape[0])
    w = np.ones(X.shape[0]) if w is None else w
    check_enough_weighted_rows(w, n_clusters)
    # Distances by ||x||^2 - 2 x.c + ||c||^2 lose digits far from the origin: centre first.
    Xc = X if sp.issparse(X) else X - X.mean(axis=0)
    _, indices = greedy_kmeans_plusplus(
        Xc, n_clusters, w, as_generator(random_state), row_norms_sq(Xc), n_local_trials
    )
    return _rows(X, indices), indices


def check_enough_weighted_rows(sample_weight: np.ndarray, n_clusters: int) -> None:
    """Initial centres are drawn from rows of positive weight: there must be enough."""
    positive = int(np.count_nonzero(sample_weight > 0))
    if positive < n_clusters:
        raise ValueError(
            f"Only {positive} rows have a positive sample_weight; n_clusters={n_clusters} "
            "initial centres cannot be drawn from them. Lower n_clusters or give more rows weight."
        )
