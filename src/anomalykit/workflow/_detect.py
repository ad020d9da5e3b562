"""The anomaly workflow of the guide: fit on normal rows, choose epsilon on
validation, evaluate and flag on test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import __version__
from .._utils._validation import check_binary_labels
from ..detectors import GaussianDetector
from ..metrics import ThresholdEvaluation, evaluate_threshold
from ..thresholds import ThresholdResult

__all__ = ["BootstrapInterval", "DetectionReport", "detect_anomalies"]


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap intervals: each replicate resamples validation and
    test rows (stratified), chooses epsilon again on the validation sample and
    scores the test sample with it, so both sources of chance are in the width."""

    level: float
    n_resamples: int
    f1: tuple[float, float]
    log_epsilon: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "n_resamples": self.n_resamples,
            "f1": list(self.f1),
            "log_epsilon": list(self.log_epsilon),
        }


@dataclass(frozen=True, repr=False)
class DetectionReport:
    """Everything :func:`detect_anomalies` found, ready to print or save.

    Attributes
    ----------
    detector : GaussianDetector
        Fitted, with its threshold in ``offset_`` (log-epsilon).
    threshold_source : {"validation", "epsilon", "contamination"}
    validation : ThresholdResult or None
        How epsilon was chosen (optimistic on these rows by construction).
    evaluation : ThresholdEvaluation or None
        Quality on the flagged rows when they are labelled and were not used
        to choose epsilon (the honest number to report).
    flagged_on : {"test", "validation", "train"}
        Which rows ``scores``, ``is_anomaly`` and ``explanations`` describe.
    scores : ndarray
        Log-densities of those rows.
    is_anomaly : ndarray of bool
    labels : ndarray or None
    explanations : list of str
        The top features of each row, e.g. ``"LB=+4.1σ; AC=-3.2σ"``.
    n_train, n_train_dropped : int
        Training rows used, and labelled anomalies removed from training.
    feature_names : list of str
    rows : ndarray of shape (n_rows, n_features)
        The flagged-on rows themselves, in original units (for plots and tables).
    bootstrap : BootstrapInterval or None
        Confidence intervals of the test F1 and of epsilon (``n_bootstrap > 0``
        with labelled validation and test rows).
    """

    detector: GaussianDetector
    threshold_source: str
    validation: ThresholdResult | None
    evaluation: ThresholdEvaluation | None
    flagged_on: str
    scores: np.ndarray
    is_anomaly: np.ndarray
    labels: np.ndarray | None
    explanations: list[str]
    n_train: int
    n_train_dropped: int
    feature_names: list[str] = field(default_factory=list)
    rows: np.ndarray | None = None
    bootstrap: BootstrapInterval | None = None

    @property
    def n_flagged(self) -> int:
        return int(self.is_anomaly.sum())

    def __repr__(self) -> str:
        ev = "" if self.evaluation is None else f", {self.flagged_on} F1={self.evaluation.f1:.4f}"
        return (
            f"DetectionReport(log_epsilon={self.detector.offset_:.6g}, "
            f"threshold_source={self.threshold_source!r}, flagged {self.n_flagged} of "
            f"{len(self.scores)} {self.flagged_on} rows{ev})"
        )

    def top_anomalies(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` lowest-scoring flagged rows (row index, score, explanation)."""
        flagged = np.flatnonzero(self.is_anomaly)
        flagged = flagged[np.argsort(self.scores[flagged], kind="stable")][:k]
        return [
            {
                "row": int(i),
                "log_density": float(self.scores[i]),
                "label": None if self.labels is None else int(self.labels[i]),
                "top_features": self.explanations[i],
            }
            for i in flagged
        ]

    def to_dict(self) -> dict[str, Any]:
        det = self.detector
        return {
            "anomalykit_version": __version__,
            "model": {
                "covariance": det.covariance,
                "ddof": det.ddof,
                "reg_covar": det.reg_covar,
                "shrinkage": getattr(det, "shrinkage_", None),
                "n_features": int(det.n_features_in_),
                "feature_names": self.feature_names,
                "n_train": self.n_train,
                "n_train_dropped_anomalies": self.n_train_dropped,
            },
            "threshold": {
                "source": self.threshold_source,
                "log_epsilon": float(det.offset_),
                "epsilon": float(np.exp(det.offset_)),
                "validation": None if self.validation is None else self.validation.to_dict(),
            },
            "flagged": {
                "rows": self.flagged_on,
                "n_rows": len(self.scores),
                "n_flagged": self.n_flagged,
                "top": self.top_anomalies(),
            },
            "evaluation": None
            if self.evaluation is None
            else {"rows": self.flagged_on, **self.evaluation.to_dict()},
        }


def detect_anomalies(
    X_train: ArrayLike,
    *,
    X_val: ArrayLike | None = None,
    y_val: ArrayLike | None = None,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    y_train: ArrayLike | None = None,
    covariance: str = "diag",
    epsilon: float | None = None,
    contamination: float | str = "auto",
    ddof: int = 0,
    reg_covar: float = 1e-6,
    shrinkage: float | str | None = None,
    metric: str = "f1",
    beta: float = 1.0,
    method: str = "exact",
    n_steps: int = 1000,
    feature_names: list[str] | None = None,
    top_k: int = 3,
) -> DetectionReport:
    """Fit on normal rows, choose epsilon on validation, evaluate and flag on test.

    The threshold comes from, in this order: an explicit ``epsilon``, an
    explicit ``contamination``, or labelled validation rows (F1/F-beta,
    :func:`select_threshold`); with none of them, 1% of the training rows are
    flagged. Performance is evaluated on the test rows only, never on the rows
    epsilon was chosen on.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
        Normal rows. With ``y_train``, labelled anomalies are removed first.
    X_val, y_val : array-like, default=None
        Labelled validation rows for choosing epsilon.
    X_test, y_test : array-like, default=None
        Rows to flag; with labels, the reported evaluation. Without
        ``X_test``, the validation rows (or else the training rows) are flagged.
    covariance, epsilon, contamination, ddof, reg_covar, shrinkage
        Passed to :class:`GaussianDetector`.
    metric, beta, method, n_steps
        Passed to :func:`select_threshold`.
    feature_names : list of str, default=None
        Names for explanations; default ``x0, x1, ...``.
    top_k : int, default=3
        Features named in each row's explanation.

    Returns
    -------
    DetectionReport

    Examples
    --------
    >>> from anomalykit.datasets import load_cardio
    >>> from anomalykit.workflow import anomaly_split, detect_anomalies
    >>> data = load_cardio()
    >>> s = anomaly_split(data.X, data.y, random_state=0)
    >>> report = detect_anomalies(s.X_train, X_val=s.X_val, y_val=s.y_val,
    ...                           X_test=s.X_test, y_test=s.y_test, covariance="full")
    >>> report.threshold_source, report.flagged_on
    ('validation', 'test')
    >>> report.evaluation.roc_auc > 0.8
    True
    """
    X_train = np.asarray(X_train)
    n_dropped = 0
    if y_train is not None:
        y_tr = check_binary_labels(y_train, name="y_train")
        if y_tr.shape[0] != X_train.shape[0]:
            raise ValueError(
                f"y_train has {y_tr.shape[0]} labels for {X_train.shape[0]} training rows."
            )
        n_dropped = int(y_tr.sum())
        X_train = X_train[y_tr == 0]
        if X_train.shape[0] < 2:
            raise ValueError(
                f"Only {X_train.shape[0]} normal training row(s) are left after leaving out "
                f"{n_dropped} labelled anomalies; the density needs at least 2."
            )
    if (X_val is None) != (y_val is None):
        raise ValueError("Give X_val and y_val together: validation rows need their labels.")
    if y_test is not None and X_test is None:
        raise ValueError("y_test was given without X_test.")

    detector = GaussianDetector(
        covariance,
        epsilon=epsilon,
        contamination=contamination,
        ddof=ddof,
        reg_covar=reg_covar,
        shrinkage=shrinkage,
    )
    if feature_names is not None:
        if len(feature_names) != X_train.shape[1]:
            raise ValueError(f"{len(feature_names)} feature names for {X_train.shape[1]} features.")
        # Arrays carry no column names: lend them to warnings and explanations.
        detector._feature_names = [str(n) for n in feature_names]
    detector.fit(X_train)
    validation = None
    if epsilon is not None:
        source = "epsilon"
    elif contamination != "auto" or X_val is None:
        source = "contamination"
    else:
        detector.tune_threshold(
            X_val, y_val, metric=metric, beta=beta, method=method, n_steps=n_steps
        )
        validation = detector.threshold_result_
        source = "validation"

    if X_test is not None:
        rows, labels, flagged_on = X_test, y_test, "test"
    elif X_val is not None:
        rows, labels, flagged_on = X_val, y_val, "validation"
    else:
        rows, labels, flagged_on = X_train, None, "train"
    scores = detector.score_samples(rows)
    labels = None if labels is None else check_binary_labels(labels, name=f"y_{flagged_on}")
    if labels is not None and labels.shape[0] != scores.shape[0]:
        raise ValueError(
            f"{labels.shape[0]} labels for {scores.shape[0]} {flagged_on} rows: give one per row."
        )
    chosen_here = flagged_on == "validation" and source == "validation"
    evaluation = None
    if labels is not None and not chosen_here:  # never report on the rows epsilon was tuned on
        evaluation = evaluate_threshold(labels, scores, detector.offset_)
    explanation = detector.explain(rows)
    return DetectionReport(
        detector=detector,
        threshold_source=source,
        validation=validation,
        evaluation=evaluation,
        flagged_on=flagged_on,
        scores=scores,
        is_anomaly=scores < detector.offset_,
        labels=labels,
        explanations=explanation.to_strings(top_k),
        n_train=int(X_train.shape[0]),
        n_train_dropped=n_dropped,
        feature_names=explanation.feature_names,
        rows=np.asarray(rows),
    )
