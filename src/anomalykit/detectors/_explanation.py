"""Per-feature explanations of anomaly scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Explanation"]


@dataclass(frozen=True, repr=False)
class Explanation:
    """Which features pushed each row out, ranked.

    Attributes
    ----------
    feature_names : list of str
    z : ndarray of shape (n_samples, n_features)
        Signed z-score of each feature: ``(x_j - mean_j) / std_j`` for a
        ``diag`` model; for a ``full`` model the *conditional* z-score of
        ``x_j`` given all other features of the row, which exposes a value
        that is ordinary on its own but impossible given its correlates.
    contributions : ndarray of shape (n_samples, n_features)
        ``-z**2 / 2``: the log-density each feature costs the row (0 at the
        mean, more negative further out). For ``diag`` these add up to
        ``score_samples`` minus the log-density at the mean; for ``full`` they
        are conditional and do not add up to the joint score.
    kind : {"marginal", "conditional", "centroid"}
        ``"centroid"``: from :class:`CentroidOutlierDetector`, where ``z`` is
        the difference to the row's own centre over that cluster's spread and
        the contributions are each feature's share of the squared distance.
    """

    feature_names: list[str]
    z: np.ndarray
    contributions: np.ndarray
    kind: str

    def __len__(self) -> int:
        return self.z.shape[0]

    def __repr__(self) -> str:
        n, d = self.z.shape
        return f"Explanation(n_samples={n}, n_features={d}, kind={self.kind!r})"

    @property
    def ranking(self) -> np.ndarray:
        """Column indices per row, the most responsible feature first (stable on ties)."""
        return np.argsort(self.contributions, axis=1, kind="stable")

    def top(self, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most responsible features of each row as ``(name, z)`` pairs."""
        k = min(int(k), self.z.shape[1])
        rank = self.ranking[:, :k]
        return [
            [(self.feature_names[j], float(self.z[i, j])) for j in rank[i]]
            for i in range(self.z.shape[0])
        ]

    def to_strings(self, k: int = 3) -> list[str]:
        """One line per row, such as ``"latency=+4.21σ; throughput=-3.02σ"``."""
        return ["; ".join(f"{name}={z:+.2f}σ" for name, z in row) for row in self.top(k)]

    def to_dict(self, k: int = 3) -> list[dict[str, Any]]:
        return [{"features": [{"feature": name, "z": z} for name, z in row]} for row in self.top(k)]
