"""Thresholds that need no labels."""

from __future__ import annotations

import numpy as np

from ._select import cut_between

__all__ = ["contamination_threshold"]


def contamination_threshold(
    scores: np.ndarray, contamination: float, sample_weight: np.ndarray | None = None
) -> float:
    """Threshold that flags the lowest-scoring ``contamination`` share of the rows.

    Rows are flagged by ``score < threshold``. The flagged rows are the
    smallest set of lowest scores whose count (or weight) reaches
    ``contamination`` of the total: ``ceil(contamination * n)`` rows when there
    are no ties. Rows tied with the last flagged score are flagged too, so
    integer weights and repeated rows give the same threshold. The threshold
    sits between the last flagged and the next higher score.

    Prior validation is assumed: finite 1-D ``scores``, ``0 < contamination <= 0.5``.
    """
    if sample_weight is None:
        # k-th smallest score by selection, O(n): no sort is needed.
        k = min(
            max(int(np.ceil(contamination * scores.shape[0] * (1 - 1e-12))), 1), scores.shape[0]
        )
        last = np.partition(scores, k - 1)[k - 1]
    else:
        keep = sample_weight > 0  # rows of zero weight carry no mass: as if removed
        scores, weights = scores[keep], sample_weight[keep]
        order = np.argsort(scores, kind="stable")
        cum = np.cumsum(weights[order], dtype=np.float64)
        k = int(np.searchsorted(cum, contamination * cum[-1] * (1 - 1e-12), side="left")) + 1
        last = scores[order[min(k, scores.shape[0]) - 1]]
    above = scores[scores > last]  # rows tied with the last flagged one are flagged too
    if above.size == 0:
        return float(np.nextafter(last, np.inf))
    return float(cut_between(last, above.min()))
