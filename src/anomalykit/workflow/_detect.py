"""The anomaly workflow of the guide: fit on normal rows, choose epsilon on
validation, evaluate and flag on test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.pipeline import Pipeline

from .. import __version__
from .._utils._validation import check_binary_labels, check_in
from ..detectors import GaussianDetector
from ..metrics import ThresholdEvaluation, evaluate_threshold
from ..preprocessing import FeatureScaler
from ..thresholds import ThresholdResult
from ._bootstrap import BootstrapInterval, bootstrap_interval
from ._split import anomaly_split

__all__ = ["DetectionReport", "detect_anomalies"]


@dataclass(frozen=True, repr=False)
class DetectionReport:
    """Everything :func:`detect_anomalies` found, ready to print or save.

    Attributes
    ----------
    detector : GaussianDetector
        Fitted, with its threshold in ``offset_`` (log-epsilon), on scaled
        rows when the workflow scaled them.
    model : GaussianDetector or sklearn.pipeline.Pipeline
        What to apply to new rows in original units: the detector, or the
        scaler followed by the detector. Save this one.
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
    source_rows : ndarray of int
        Position of each flagged-on row in the data the workflow was given
        (after a split, the test rows' positions in ``X_train``).
    bootstrap : BootstrapInterval or None
        Confidence intervals of the test F1 and of epsilon (``n_bootstrap > 0``
        with labelled validation and test rows).
    """

    detector: GaussianDetector
    model: Any
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
    source_rows: np.ndarray | None = None

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
        """The ``k`` lowest-scoring flagged rows: ``row`` (position among the
        flagged-on rows), ``source_row`` (position in the data given to the
        workflow), score, label and explanation."""
        flagged = np.flatnonzero(self.is_anomaly)
        flagged = flagged[np.argsort(self.scores[flagged], kind="stable")][:k]
        return [
            {
                "row": int(i),
                "source_row": int(i if self.source_rows is None else self.source_rows[i]),
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
                "scaler": None
                if self.model is det
                else {"method": self.model[0].method, "log": self.model[0].log},
                "covariance": det.covariance,
                "ddof": det.ddof,
                "reg_covar": det.reg_covar,
                "shrinkage": getattr(det, "shrinkage_", None),
                "robust": bool(det.robust),
                "n_train_robust_support": None
                if not det.robust
                else int(np.count_nonzero(det.support_)),
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
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(),
        }


def detect_anomalies(
    X_train: ArrayLike,
    *,
    y_train: ArrayLike | None = None,
    X_val: ArrayLike | None = None,
    y_val: ArrayLike | None = None,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    covariance: str = "diag",
    epsilon: float | None = None,
    contamination: float | str = "auto",
    ddof: int = 0,
    reg_covar: float = 1e-6,
    shrinkage: float | str | None = None,
    robust: bool = False,
    scale: str | None = None,
    log: bool = False,
    metric: str = "f1",
    beta: float = 1.0,
    method: str = "exact",
    n_steps: int = 1000,
    split: bool | str = "auto",
    train_size: float = 0.6,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: Any = 0,
    feature_names: list[str] | None = None,
    top_k: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> DetectionReport:
    """Split, fit on normal rows, choose epsilon on validation, evaluate and flag on test.

    The threshold comes from, in this order: an explicit ``epsilon``, an
    explicit ``contamination``, or labelled validation rows (F1/F-beta,
    :func:`select_threshold`); with none of them, 1% of the training rows are
    flagged. Performance is evaluated on the test rows only, never on the rows
    epsilon was chosen on.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
        Normal rows. With ``y_train``, labelled anomalies are removed first;
        or all labelled data when the workflow splits it (``split``).
    y_train : array-like of shape (n_train,), default=None
        0/1 labels of ``X_train`` (1 = anomaly).
    X_val, y_val : array-like, default=None
        Labelled validation rows for choosing epsilon.
    X_test, y_test : array-like, default=None
        Rows to flag; with labels, the reported evaluation. Without
        ``X_test``, the validation rows (or else the training rows) are flagged.
    covariance, epsilon, contamination, ddof, reg_covar, shrinkage
        Passed to :class:`GaussianDetector`.
    robust : bool, default=False
        Fit the detector on the training rows it finds typical, refitting until
        they no longer change (:class:`GaussianDetector` ``robust=True``). Use it
        when the training rows are unlabelled and may contain anomalies.
    scale : {"standard", "robust", "none"} or None, default=None
        Scale the features (:class:`~anomalykit.preprocessing.FeatureScaler`,
        fitted on the normal training rows) before the detector; the scaler
        is kept inside ``report.model``. ``log=True`` applies ``log1p`` first.
    log : bool, default=False
    metric, beta, method, n_steps
        Passed to :func:`select_threshold`.
    split : bool or "auto", default="auto"
        Split labelled ``X_train, y_train`` with :func:`anomaly_split`
        (normal training rows, stratified validation and test, seeded by
        ``random_state``). ``"auto"`` splits when labels are given and
        neither validation nor test rows are.
    train_size : float, default=0.6
        Share of the rows for training when splitting.
    n_bootstrap : int, default=1000
        Bootstrap replicates for the confidence intervals of the test F1 and
        epsilon (:class:`BootstrapInterval`); computed when epsilon is chosen
        on validation and the test rows are labelled. 0 skips them.
    confidence : float, default=0.95
    random_state : None, int or numpy.random.Generator, default=0
        Seeds the split and the bootstrap.
    feature_names : list of str, default=None
        Names for explanations; default ``x0, x1, ...``.
    top_k : int, default=3
        Features named in each row's explanation.
    progress : callable, default=None
        ``progress(done, total)`` after each bootstrap replicate.

    Returns
    -------
    DetectionReport

    Examples
    --------
    >>> from anomalykit.datasets import load_cardio
    >>> from anomalykit.workflow import detect_anomalies
    >>> data = load_cardio()
    >>> report = detect_anomalies(data.X, y_train=data.y, covariance="full", n_bootstrap=200)
    >>> report.threshold_source, report.flagged_on
    ('validation', 'test')
    >>> report.evaluation.roc_auc > 0.8
    True
    >>> low, high = report.bootstrap.f1
    >>> bool(low <= report.evaluation.f1 <= high)
    True
    """
    check_in(split, (True, False, "auto"), name="split", owner="detect_anomalies")
    X_train = np.asarray(X_train)
    labelled = y_train is not None
    if split is True and not labelled:
        raise ValueError("split=True needs y_train: the split is stratified by label.")
    if split is True or (split == "auto" and labelled and X_val is None and X_test is None):
        if X_val is not None or X_test is not None:
            raise ValueError(
                "split=True makes its own validation and test rows; drop X_val/X_test."
            )
        parts = anomaly_split(X_train, y_train, train_size=train_size, random_state=random_state)
        X_train, y_train = parts.X_train, None
        X_val, y_val, X_test, y_test = parts.X_val, parts.y_val, parts.X_test, parts.y_test
        source_rows = parts.test_index
    else:
        source_rows = None
    kept = None
    n_dropped = 0  # the split puts every anomaly in validation or test
    if y_train is not None:
        y_tr = check_binary_labels(y_train, name="y_train")
        if y_tr.shape[0] != X_train.shape[0]:
            raise ValueError(
                f"y_train has {y_tr.shape[0]} labels for {X_train.shape[0]} training rows."
            )
        n_dropped = int(y_tr.sum())
        kept = np.flatnonzero(y_tr == 0)  # positions of the training rows in the data given
        X_train = X_train[kept]
        if X_train.shape[0] < 2:
            raise ValueError(
                f"Only {X_train.shape[0]} normal training row(s) are left after leaving out "
                f"{n_dropped} labelled anomalies; the density needs at least 2."
            )
    if (X_val is None) != (y_val is None):
        raise ValueError("Give X_val and y_val together: validation rows need their labels.")
    if y_test is not None and X_test is None:
        raise ValueError("y_test was given without X_test.")

    scaler = None
    if scale is not None or log:
        scaler = FeatureScaler("none" if scale is None else scale, log=log)
        if feature_names is not None:
            scaler._feature_names = [str(n) for n in feature_names]  # named errors
        scaler.fit(X_train)

    def prepared(X: ArrayLike) -> np.ndarray:
        return np.asarray(X) if scaler is None else scaler.transform(X)

    detector = GaussianDetector(
        covariance,
        epsilon=epsilon,
        contamination=contamination,
        ddof=ddof,
        reg_covar=reg_covar,
        shrinkage=shrinkage,
        robust=robust,
    )
    if feature_names is not None:
        if len(feature_names) != X_train.shape[1]:
            raise ValueError(f"{len(feature_names)} feature names for {X_train.shape[1]} features.")
        # Arrays carry no column names: lend them to warnings and explanations.
        detector._feature_names = [str(n) for n in feature_names]
    detector.fit(prepared(X_train))
    validation = None
    if epsilon is not None:
        source = "epsilon"
    elif contamination != "auto" or X_val is None:
        source = "contamination"
    else:
        detector.tune_threshold(
            prepared(X_val), y_val, metric=metric, beta=beta, method=method, n_steps=n_steps
        )
        validation = detector.threshold_result_
        source = "validation"

    if X_test is not None:
        rows, labels, flagged_on = X_test, y_test, "test"
    elif X_val is not None:
        rows, labels, flagged_on = X_val, y_val, "validation"
    else:
        rows, labels, flagged_on = X_train, None, "train"
        source_rows = kept  # None (every row) unless labelled anomalies were left out
    rows_prepared = prepared(rows)
    scores = detector.score_samples(rows_prepared)
    labels = None if labels is None else check_binary_labels(labels, name=f"y_{flagged_on}")
    if labels is not None and labels.shape[0] != scores.shape[0]:
        raise ValueError(
            f"{labels.shape[0]} labels for {scores.shape[0]} {flagged_on} rows: give one per row."
        )
    chosen_here = flagged_on == "validation" and source == "validation"
    evaluation = None
    if labels is not None and not chosen_here:  # never report on the rows epsilon was tuned on
        evaluation = evaluate_threshold(labels, scores, detector.offset_)
    interval = None
    if n_bootstrap and source == "validation" and flagged_on == "test" and labels is not None:
        interval = bootstrap_interval(
            check_binary_labels(y_val, name="y_val"),
            detector.score_samples(prepared(X_val)),
            labels,
            scores,
            n_resamples=n_bootstrap,
            level=confidence,
            metric=metric,
            beta=beta,
            method=method,
            n_steps=n_steps,
            random_state=random_state,
            progress=progress,
        )
    explanation = detector.explain(rows_prepared)
    model = detector if scaler is None else Pipeline([("scale", scaler), ("detect", detector)])
    return DetectionReport(
        detector=detector,
        model=model,
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
        bootstrap=interval,
        source_rows=np.arange(len(scores)) if source_rows is None else source_rows,
    )
