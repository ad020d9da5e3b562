"""F1 (precision, recall) against the threshold, with the chosen one marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..thresholds import ThresholdResult
from ._base import get_axes

__all__ = ["ThresholdCurveDisplay"]


@dataclass
class ThresholdCurveDisplay:
    """Plot of the metric along every candidate threshold of a :class:`ThresholdResult`.

    Attributes
    ----------
    result : ThresholdResult
    ax_, figure_ : matplotlib Axes and Figure
    """

    result: ThresholdResult
    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_result(
        cls, result: ThresholdResult, *, ax: Any = None, log_x: bool | None = None
    ) -> ThresholdCurveDisplay:
        """Draw F-score, precision and recall against the threshold.

        ``log_x`` (default: when all thresholds are positive and span more than
        three decades, i.e. densities) puts the threshold axis on a log scale.
        """
        ax, fig = get_axes(ax)
        c = result.curve
        t = c.thresholds
        if log_x is None:
            log_x = bool(np.all(t > 0) and t.max() / t.min() > 1e3)
        ax.plot(t, c.fscore, label=result.metric, color="C0", lw=2)
        ax.plot(t, c.precision, label="precision", color="C1", lw=1, alpha=0.8)
        ax.plot(t, c.recall, label="recall", color="C2", lw=1, alpha=0.8)
        ax.axvline(result.threshold, color="k", ls="--", lw=1)
        ax.plot(
            [result.threshold],
            [result.score],
            "o",
            color="C3",
            label=f"chosen: {result.threshold:.4g} ({result.metric} {result.score:.3f})",
        )
        if log_x:
            ax.set_xscale("log")
        elif t.size > 100:
            # Log-densities have a long low tail of extreme anomalies: show the bulk.
            span = t.max() - t.min()
            lo = min(float(np.quantile(t, 0.01)), result.threshold - 0.05 * span)
            ax.set_xlim(max(lo, float(t.min())), float(t.max()))
        ax.set_xlabel("threshold (flag score < threshold)")
        ax.set_ylabel("score on validation rows")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Threshold selection ({result.method})")
        ax.legend(loc="best", fontsize="small")
        return cls(result, ax, fig)
