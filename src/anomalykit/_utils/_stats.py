"""Mergeable first and second moments (weighted Welford / Chan et al.).

One implementation serves the batch ``fit`` (a single chunk, or the blocks of a
large array), ``partial_fit`` (chunks that arrive over time) and, later, Dask
block reductions: every path builds :class:`Moments` from arrays and merges them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Moments", "merge_all", "moments_of"]

#: Rows per block when reading a large array; keeps the centred copy of one
#: block near 4 MiB whatever the width, so it stays in cache for the second pass.
_BLOCK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of weighted rows: total weight, mean and scatter.

    ``scatter`` is ``sum_i w_i (x_i - mean)(x_i - mean)^T`` of shape
    ``(d, d)`` when ``full`` and its diagonal ``sum_i w_i (x_i - mean)**2`` of
    shape ``(d,)`` otherwise. Merging two of them is exact in real arithmetic
    and numerically stable (Chan, Golub & LeVeque, 1979), unlike running sums
    of squares.
    """

    weight: float
    mean: np.ndarray
    scatter: np.ndarray

    @property
    def full(self) -> bool:
        return self.scatter.ndim == 2

    def merge(self, other: Moments) -> Moments:
        """Return the moments of the union of both sets of rows."""
        if other.weight == 0:
            return self
        if self.weight == 0:
            return other
        total = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / total)
        factor = self.weight * other.weight / total
        if self.full:
            correction = np.outer(delta, delta) * factor
        else:
            correction = delta * delta * factor
        return Moments(total, mean, self.scatter + other.scatter + correction)


def merge_all(parts: Sequence[tuple[float, np.ndarray, np.ndarray]]) -> Moments:
    """The moments of the union of several sets of rows, each given as ``(weight,
    mean, scatter)`` (at least one).

    At once rather than merge by merge: the scatters' sum plus that of the means
    about the overall mean, ``sum_i w_i (m_i - m)(m_i - m)^T``, exact in real
    arithmetic as Chan's pairwise merges and as stable (the deviations are
    taken from the final mean), in a few NumPy calls whatever the number of
    parts (the compiled engine's 16 chunks: 15 merges took 0.1 ms of a fit
    after a pause). The result depends on the parts and their order only. A
    part of no weight adds nothing but its scatter, which is zero for any such
    part that moments come from (pairwise merges drop it whole).
    """
    weights = np.array([part[0] for part in parts], dtype=np.float64)
    means = np.array([part[1] for part in parts], dtype=np.float64)
    scatters = np.array([part[2] for part in parts], dtype=np.float64)
    total = weights.sum()
    if total == 0:  # no mass anywhere: as merging them pairwise
        return Moments(0.0, means[0], scatters[0])
    mean = (weights @ means) / total
    deviations = means - mean
    weighted = deviations * weights[:, np.newaxis]
    if scatters.ndim == 3:
        between = weighted.T @ deviations
    else:
        between = (weighted * deviations).sum(axis=0)
    return Moments(float(total), mean, scatters.sum(axis=0) + between)


def _block_moments(X: np.ndarray, w: np.ndarray | None, full: bool) -> Moments:
    """Two-pass moments of one block (centre first, then accumulate)."""
    X = np.asarray(X, dtype=np.float64)
    if w is None:
        weight = float(X.shape[0])
        mean = X.mean(axis=0)
        Xc = X - mean
    else:
        weight = float(w.sum())
        if weight == 0:
            d = X.shape[1]
            return Moments(0.0, np.zeros(d), np.zeros((d, d) if full else d))
        mean = (w @ X) / weight
        Xc = (X - mean) * np.sqrt(w)[:, np.newaxis]
    if full:
        scatter = Xc.T @ Xc
    else:
        scatter = np.einsum("ij,ij->j", Xc, Xc)
    return Moments(weight, mean, scatter)


def moments_of(X: np.ndarray, sample_weight: np.ndarray | None = None, *, full: bool) -> Moments:
    """Moments of the rows of ``X``, read in cache-sized blocks and merged.

    Prior validation of data is assumed: ``X`` is a finite 2-D array and
    ``sample_weight`` (if given) is non-negative with one entry per row.
    """
    n, d = X.shape
    block = max(256, _BLOCK_BYTES // (8 * max(d, 1)))
    result: Moments | None = None
    for start in range(0, n, block):
        stop = min(start + block, n)
        w = None if sample_weight is None else sample_weight[start:stop]
        part = _block_moments(X[start:stop], w, full)
        result = part if result is None else result.merge(part)
    assert result is not None  # n >= 1 is checked by the caller
    return result
