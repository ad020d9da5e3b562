"""The report's figures, drawn with the Display objects and rendered once to PNG bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ReportFigure", "clustering_figures", "detection_figures"]

#: Resolution of the PNGs: a 6.4 x 4.2 inch figure is 832 x 546 pixels, sharp
#: when the page shows it about 560 pixels wide (on high-density screens too).
DPI = 130
#: Rows above which the silhouette plot is drawn on a stratified random sample
#: (the silhouette costs O(n^2) distances).
SILHOUETTE_PLOT_ROWS = 5000


@dataclass(frozen=True)
class ReportFigure:
    """One figure: its file stem, section, title, how to read it, and the PNG."""

    name: str
    title: str
    caption: str
    png: bytes


def _png(figure: Any) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def final_step(estimator: Any) -> Any:
    """The estimator itself, or the last step of a scikit-learn Pipeline."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def detection_figures(detection: Any, log_epsilon: float) -> list[ReportFigure]:
    """Threshold curve, precision-recall, score histogram, and 2-D density contours."""
    from ..plotting import (
        DensityContourDisplay,
        PrecisionRecallDisplay,
        ScoreHistogramDisplay,
        ThresholdCurveDisplay,
    )

    out = []
    rows = detection.flagged_on
    validation = detection.validation
    if validation is not None:
        disp = ThresholdCurveDisplay.from_result(validation)
        disp.ax_.set_xlabel("threshold log-epsilon (flag log p(x) < threshold)")
        zoom = _threshold_window(validation.curve.thresholds, validation.threshold)
        if zoom is not None and disp.ax_.get_xscale() == "linear":
            disp.ax_.set_xlim(*zoom)
        name = "F1" if validation.metric == "f1" else f"F-beta (beta = {validation.beta:g})"
        out.append(
            ReportFigure(
                "threshold_curve",
                f"{name} against epsilon",
                f"{name}, precision and recall of the validation rows at every candidate "
                "threshold (log-epsilon). The dashed line and red dot mark the chosen "
                "threshold, the one with the highest score. These rows chose the threshold, "
                "so the score here is optimistic.",
                _png(disp.figure_),
            )
        )
    labels = detection.labels
    if labels is not None and 0 < int(np.sum(labels)) < len(labels):
        disp = PrecisionRecallDisplay.from_scores(
            labels, detection.scores, threshold=log_epsilon, rows=rows
        )
        out.append(
            ReportFigure(
                "precision_recall",
                f"Precision and recall on the {rows} rows",
                "Each point of the curve is one threshold: lowering it flags fewer rows "
                "(higher precision, lower recall). The red dot is the chosen threshold; the "
                "dotted line is what flagging at random would give.",
                _png(disp.figure_),
            )
        )
    disp = ScoreHistogramDisplay.from_scores(detection.scores, labels=labels, threshold=log_epsilon)
    split = "normal and anomalous rows (by their labels)" if labels is not None else "rows"
    tail = (
        f" The {disp.n_clipped} lowest-scored rows lie far to the left and are gathered "
        "in the hatched bar."
        if disp.n_clipped
        else ""
    )
    out.append(
        ReportFigure(
            "score_histogram",
            f"Log-density of the {rows} rows",
            f"How the fitted density scores the {split}. Rows left of the dashed line "
            f"(log-epsilon) are flagged.{tail}",
            _png(disp.figure_),
        )
    )
    X = getattr(detection, "rows", None)
    # The model in original units (a pipeline with the scaler when the workflow scaled).
    model = getattr(detection, "model", None)
    model = detection.detector if model is None else model
    if X is not None and np.ndim(X) == 2 and np.shape(X)[1] == 2:
        if hasattr(model, "score_samples"):
            disp = DensityContourDisplay.from_estimator(
                model,
                X,
                threshold=log_epsilon,
                is_anomaly=detection.is_anomaly,
                feature_names=detection.feature_names or None,
            )
            out.append(
                ReportFigure(
                    "density_contours",
                    "The fitted density in the plane of the two features",
                    "Contours where the fitted Gaussian density is a power of ten, the "
                    f"{rows} rows as crosses, and the flagged rows circled in red; the red "
                    "dashed contour is epsilon itself, the boundary between normal and "
                    "flagged.",
                    _png(disp.figure_),
                )
            )
    return out


def clustering_figures(clustering: Any) -> list[ReportFigure]:
    """Choice of K, silhouettes, and the clusters in two dimensions."""
    from ..plotting import ClusterDisplay, ElbowDisplay, SilhouetteDisplay

    out = []
    selection = clustering.selection
    if selection is not None:
        disp = ElbowDisplay.from_selection(selection)
        out.append(
            ReportFigure(
                "k_selection",
                "Choosing K",
                "The within-cluster sum of squares (WCSS) falls as K grows; the elbow is "
                "where it stops falling fast. The silhouette (right axis) is highest for "
                "well-separated clusters. The dotted line is the K used.",
                _png(disp.figure_),
            )
        )
    X = getattr(clustering, "X", None)
    if X is None:
        return out
    model = final_step(clustering.model)
    km = getattr(model, "clusterer_", model)
    metric = getattr(km, "metric", "euclidean")
    labels = np.asarray(clustering.labels)
    # Draw what K-means saw: the scaled rows when the workflow scaled them.
    scaler = getattr(clustering, "scaler", None)
    if scaler is not None:
        X = scaler.transform(X)
    if clustering.can_score_silhouette:
        rows = _sample_rows(labels, SILHOUETTE_PLOT_ROWS)
        sampled = rows.size < labels.size
        disp = SilhouetteDisplay.from_labels(X[rows], labels[rows], metric=metric)
        note = (
            f" Drawn on a random sample of {rows.size} of the {labels.size} rows, "
            "stratified by cluster."
            if sampled
            else ""
        )
        out.append(
            ReportFigure(
                "silhouette",
                "Silhouette of each row",
                "How much closer each row is to its own cluster than to the next one "
                "(1: well inside; 0: on the border; below 0: probably in the wrong "
                f"cluster), sorted within each cluster.{note}",
                _png(disp.figure_),
            )
        )
    disp = ClusterDisplay.from_estimator(km, X, labels=labels, outliers=clustering.is_outlier)
    n_features = X.shape[1]
    units = "" if scaler is None else " (scaled)"
    if n_features == 2 and clustering.feature_names:
        disp.ax_.set_xlabel(f"{clustering.feature_names[0]}{units}")
        disp.ax_.set_ylabel(f"{clustering.feature_names[1]}{units}")
    plane = (
        f"the plane of the two{units} features"
        if n_features <= 2
        else f"the plane of the first two principal components of the {n_features}{units} features"
    )
    circled = " Outliers (far from their own centre) are circled in red." if (
        clustering.n_outliers
    ) else ""  # fmt: skip
    out.append(
        ReportFigure(
            "clusters",
            "The clusters",
            f"Rows coloured by cluster in {plane}; crosses are the centres.{circled}",
            _png(disp.figure_),
        )
    )
    return out


def _threshold_window(thresholds: np.ndarray, chosen: float) -> tuple[float, float] | None:
    """An x-range around the chosen threshold and the bulk of the candidates.

    Log-densities have a long low tail (hundreds of nats for extreme rows);
    on the full range the peak of F1 is a sliver at the right edge. Show the
    upper 90% of the candidates and at least as much room left of the chosen
    threshold as there is right of it (None: keep the display's own range).
    """
    t = np.asarray(thresholds, dtype=float)
    if t.size < 20 or not (t.min() < chosen < t.max()):
        return None
    hi = float(t.max())
    right = hi - chosen
    lo = min(float(np.quantile(t, 0.1)), chosen - right)
    lo = max(lo, float(t.min()))
    pad = 0.02 * (hi - lo)
    return lo - pad, hi + pad


def _sample_rows(labels: np.ndarray, n: int) -> np.ndarray:
    """All rows, or ``n`` of them drawn in proportion to each cluster (seeded)."""
    if labels.size <= n:
        return np.arange(labels.size)
    rng = np.random.default_rng(0)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = max(2, round(n * members.size / labels.size))
        picked.append(rng.choice(members, min(take, members.size), replace=False))
    return np.sort(np.concatenate(picked))
