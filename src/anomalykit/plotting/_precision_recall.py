"""Precision against recall over every threshold, with the chosen one marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._utils._validation import check_binary_labels, check_scores
from ._base import get_axes

__all__ = ["PrecisionRecallDisplay"]


@dataclass
class PrecisionRecallDisplay:
    """Precision–recall curve of anomaly scores (lower score = more anomalous).

    scikit-learn's ``PrecisionRecallDisplay`` takes scores where higher means
    "positive"; this one takes log-densities (or densities) as they come, and
    marks the operating point of a threshold with the rule ``score < threshold``.

    Attributes
    ----------
    precision, recall : ndarray
        The curve, recall decreasing (as :func:`sklearn.metrics.precision_recall_curve`).
    average_precision : float
        The area under the step curve (PR-AUC).
    operating_point : tuple of float or None
        ``(recall, precision)`` at ``threshold``; None without a threshold.
    ax_, figure_ : matplotlib Axes and Figure
    """

    precision: np.ndarray
    recall: np.ndarray
    average_precision: float
    operating_point: tuple[float, float] | None = None
    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_scores(
        cls,
        y_true: ArrayLike,
        scores: ArrayLike,
        *,
        threshold: float | None = None,
        rows: str = "test",
        ax: Any = None,
    ) -> PrecisionRecallDisplay:
        """Draw the curve of ``scores`` against ``y_true`` (1 = anomaly).

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            1 = anomaly, 0 = normal; both classes must be present.
        scores : array-like of shape (n_samples,)
            Log-densities or densities: lower is more anomalous.
        threshold : float, default=None
            Mark the point ``score < threshold`` (precision, recall) on the curve.
        rows : str, default="test"
            Which rows these are, for the title.
        ax : matplotlib Axes, default=None
            Draw here; by default on a new standalone figure.

        Returns
        -------
        PrecisionRecallDisplay

        Examples
        --------
        >>> from anomalykit.plotting import PrecisionRecallDisplay
        >>> disp = PrecisionRecallDisplay.from_scores(
        ...     [0, 0, 0, 1, 1], [-1.0, -2.0, -3.5, -9.0, -3.0], threshold=-2.5
        ... )
        >>> disp.operating_point, round(disp.average_precision, 3)
        ((1.0, 0.6666666666666666), 0.833)
        """
        from sklearn.metrics import average_precision_score, precision_recall_curve

        y = check_binary_labels(y_true, name="y_true")
        s = check_scores(scores, name="scores")
        if y.shape != s.shape:
            raise ValueError(f"{y.shape[0]} labels for {s.shape[0]} scores: give one per row.")
        n_pos = int(y.sum())
        if n_pos in (0, y.shape[0]):
            raise ValueError(
                "A precision-recall curve needs both anomalies and normal rows; "
                f"got {n_pos} anomalies in {y.shape[0]} rows."
            )
        # sklearn ranks "higher = positive": negate, so the lowest density comes first.
        precision, recall, _ = precision_recall_curve(y, -s)
        ap = float(average_precision_score(y, -s))
        ax, fig = get_axes(ax)
        ax.plot(recall, precision, drawstyle="steps-post", color="C0", lw=2,
                label=f"scores (PR-AUC {ap:.3f})")  # fmt: skip
        prevalence = n_pos / y.shape[0]
        ax.axhline(prevalence, color="0.5", ls=":", lw=1,
                   label=f"chance (share of anomalies {prevalence:.3f})")  # fmt: skip
        point = None
        if threshold is not None:
            flagged = s < threshold
            tp = int(np.sum(flagged & (y == 1)))
            n_flagged = int(flagged.sum())
            p = tp / n_flagged if n_flagged else 0.0
            r = tp / n_pos
            point = (r, p)
            ax.plot([r], [p], "o", ms=9, color="C3",
                    label=f"chosen threshold: precision {p:.3f}, recall {r:.3f}")  # fmt: skip
        ax.set_xlabel("recall (share of anomalies flagged)")
        ax.set_ylabel("precision (share of flags that are anomalies)")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Precision–recall on {rows} rows")
        ax.legend(loc="lower left", fontsize="small")
        return cls(precision, recall, ap, point, ax, fig)
