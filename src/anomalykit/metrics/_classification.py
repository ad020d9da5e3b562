"""How well a threshold separates labelled rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

from .._utils._validation import check_binary_labels, check_scores
from ..thresholds._select import fbeta_from_counts

__all__ = ["ThresholdEvaluation", "evaluate_threshold"]


@dataclass(frozen=True)
class ThresholdEvaluation:
    """Precision, recall and F1 of ``score < threshold`` on labelled rows, plus
    the threshold-free ROC-AUC and average precision (PR-AUC) of the scores.
    ``roc_auc`` and ``average_precision`` are None when only one class is present."""

    threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int
    roc_auc: float | None
    average_precision: float | None

    @property
    def n_flagged(self) -> int:
        return self.tp + self.fp

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "n_flagged": self.n_flagged}


def evaluate_threshold(
    y_true: ArrayLike, scores: ArrayLike, threshold: float
) -> ThresholdEvaluation:
    """Evaluate the rule ``score < threshold`` (lower score = more anomalous).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 = anomaly, 0 = normal.
    scores : array-like of shape (n_samples,)
        Densities or log-densities, in the units of ``threshold``.
    threshold : float

    Returns
    -------
    ThresholdEvaluation
        Precision is 0 when nothing is flagged; recall is 0 without anomalies.

    Examples
    --------
    >>> from anomalykit.metrics import evaluate_threshold
    >>> ev = evaluate_threshold([0, 0, 1, 1], [-1.0, -2.0, -9.0, -1.5], threshold=-3.0)
    >>> ev.precision, ev.recall, ev.f1
    (1.0, 0.5, 0.6666666666666666)
    """
    y = check_binary_labels(y_true, name="y_true")
    s = check_scores(scores, name="scores")
    if y.shape != s.shape:
        raise ValueError(
            f"y_true and scores have different lengths: {y.shape[0]} labels for {s.shape[0]} scores."
        )
    flagged = s < threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(y.shape[0] - tp - fp - fn)
    both = 0 < tp + fn < y.shape[0]
    f1 = float(fbeta_from_counts(np.array([tp], float), np.array([fp]), np.array([fn]), 1.0)[0])
    return ThresholdEvaluation(
        threshold=float(threshold),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        f1=f1,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        roc_auc=float(roc_auc_score(y, -s)) if both else None,
        average_precision=float(average_precision_score(y, -s)) if both else None,
    )
