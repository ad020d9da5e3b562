"""The Lloyd step and nearest-centre assignment, in bounded-memory blocks.

This module is the engine boundary: :func:`lloyd_step` takes (X, centres,
weights) and nothing else of the estimator, so a compiled or GPU engine can
replace it without touching :class:`KMeans`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["LloydStep", "assign", "lloyd_step", "row_norms_sq", "update_centers"]

#: Bytes of the (block x k) distance matrix computed at once.
_BLOCK_BYTES = 8 * 2**20


def row_norms_sq(X: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """Squared Euclidean norm of each row (dense or CSR)."""
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel().astype(X.dtype, copy=False)
    return np.einsum("ij,ij->i", X, X)


def _block_rows(n_centers: int, itemsize: int) -> int:
    return max(64, _BLOCK_BYTES // (itemsize * max(n_centers, 1)))


def assign(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    x_sq_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row and the squared distance to it.

    Uses ``||x||^2 - 2 x.c + ||c||^2`` with one matrix product per block of
    rows (never an n x k matrix); distances are clipped at 0 against rounding.
    """
    n = X.shape[0]
    if x_sq_norms is None:
        x_sq_norms = row_norms_sq(X)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=centers.dtype)
    block = _block_rows(centers.shape[0], centers.dtype.itemsize)
    for start in range(0, n, block):
        stop = min(start + block, n)
        D = X[start:stop] @ centers.T
        D = np.asarray(D)
        D *= -2
        D += c_sq
        lab = np.argmin(D, axis=1)
        labels[start:stop] = lab
        dist[start:stop] = D[np.arange(stop - start), lab] + x_sq_norms[start:stop]
    np.maximum(dist, 0, out=dist)
    return labels, dist


def update_centers(
    X: np.ndarray | sp.csr_matrix,
    labels: np.ndarray,
    sample_weight: np.ndarray,
    n_clusters: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of the rows of each cluster, and each cluster's weight."""
    n = X.shape[0]
    onehot = sp.csr_matrix(
        (sample_weight.astype(X.dtype, copy=False), (labels, np.arange(n))),
        shape=(n_clusters, n),
    )
    sums = onehot @ X
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    weights = np.bincount(labels, weights=sample_weight, minlength=n_clusters)
    return sums.astype(X.dtype, copy=False), weights


@dataclass(frozen=True)
class LloydStep:
    """One Lloyd iteration: ``labels`` w.r.t. the old centres, the ``centers``
    they imply, each cluster's weight, and the clusters that were empty (and
    re-seeded)."""

    labels: np.ndarray
    centers: np.ndarray
    cluster_weights: np.ndarray
    relocated: np.ndarray


def lloyd_step(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    sample_weight: np.ndarray,
    *,
    x_sq_norms: np.ndarray | None = None,
    spherical: bool = False,
) -> LloydStep:
    """Assign every row to its nearest centre, then move each centre to the
    weighted mean of its rows.

    An empty cluster is re-seeded with the row farthest from its own centre
    (the next farthest for a second empty cluster, and so on); that row's
    weight moves with it, as scikit-learn does. With ``spherical``, centres
    are normalised to unit length (rows are assumed unit length).

    Prior validation of data is assumed.
    """
    k = centers.shape[0]
    labels, dist = assign(X, centers, x_sq_norms)
    sums, weights = update_centers(X, labels, sample_weight, k)
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        far = np.argsort(-dist, kind="stable")[: empty.size]
        for cluster, row in zip(empty, far, strict=False):
            x = X[row].toarray().ravel() if sp.issparse(X) else X[row]
            w = sample_weight[row]
            old = labels[row]
            sums[old] -= x * w
            weights[old] -= w
            sums[cluster] = x * w
            weights[cluster] = w
    with np.errstate(invalid="ignore", divide="ignore"):
        new = sums / weights[:, np.newaxis].astype(sums.dtype)
    # Clusters whose weight is still 0 (all their rows have zero weight) keep their centre.
    zero = weights <= 0
    if zero.any():
        new[zero] = centers[zero]
    if spherical:
        norms = np.sqrt(np.einsum("ij,ij->i", new, new))
        norms[norms == 0] = 1
        new /= norms[:, np.newaxis]
    return LloydStep(labels, new.astype(centers.dtype, copy=False), weights, empty)
