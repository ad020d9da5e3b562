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
    if sample_weight is not None:  # rows of zero weight carry no mass: as if removed
        keep = sample_weight > 0
        scores, sample_weight = scores[keep], sample_weight[keep]
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    n = s.shape[0]
    if sample_weight is None:
        k = int(np.ceil(contamination * n * (1 - 1e-12)))
    else:
        cum = np.cumsum(sample_weight[order], dtype=np.float64)
        k = int(np.searchsorted(cum, contamination * cum[-1] * (1 - 1e-12), side="left")) + 1
    last = s[min(max(k, 1), n) - 1]
    above = int(np.searchsorted(s, last, side="right"))
    if above == n:
        return float(np.nextafter(last, np.inf))
    return float(cut_between(last, s[above]))
