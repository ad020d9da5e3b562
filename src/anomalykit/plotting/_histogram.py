"""Histogram of anomaly scores, normal against anomalous rows, with the threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._utils._validation import check_binary_labels, check_scores
from ._base import get_axes

__all__ = ["ScoreHistogramDisplay"]

#: Share of the (normal) rows that may fall left of the drawn range before the
#: range stops following them: log-densities have a long tail of extreme rows.
TAIL_SHARE = 0.005
#: Room left of the bulk and the threshold, as a share of their span.
LEFT_ROOM = 0.25
#: Class imbalance (normal rows per anomaly) above which counts go on a log axis.
LOG_COUNTS_IMBALANCE = 10.0


@dataclass
class ScoreHistogramDisplay:
    """Histogram of log-density scores (lower = more anomalous) with the threshold line.

    Log-densities of anomalies reach far below the bulk of the rows (hundreds
    of nats on real data), which would squeeze every normal row into one bar.
    The axis therefore spans the bulk of the (normal) rows and the threshold;
    rows below it are gathered into one hatched bar at the left edge, and the
    legend says how many.

    Attributes
    ----------
    edges : ndarray
        Bin edges of the drawn range; the first bin holds the clipped tail.
    n_clipped : int
        Rows scored below the drawn range (in the hatched first bin).
    ax_, figure_ : matplotlib Axes and Figure
    """

    edges: np.ndarray
    n_clipped: int
    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_scores(
        cls,
        scores: ArrayLike,
        *,
        labels: ArrayLike | None = None,
        threshold: float | None = None,
        bins: int = 50,
        log_counts: bool | None = None,
        xlabel: str = "log-density log p(x)",
        ax: Any = None,
    ) -> ScoreHistogramDisplay:
        """Draw the histogram of ``scores``, split by ``labels`` when given.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Lower is more anomalous (log-densities).
        labels : array-like of shape (n_samples,), default=None
            1 = anomaly, 0 = normal: draws the two classes separately.
        threshold : float, default=None
            Rows scored below it are flagged; drawn as a vertical line.
        bins : int, default=50
            Bins across the drawn range.
        log_counts : bool, default=None
            Counts on a log axis; by default when there are more than
            ``LOG_COUNTS_IMBALANCE`` normal rows per anomaly.
        xlabel : str, default="log-density log p(x)"
        ax : matplotlib Axes, default=None

        Returns
        -------
        ScoreHistogramDisplay

        Examples
        --------
        >>> from anomalykit.plotting import ScoreHistogramDisplay
        >>> disp = ScoreHistogramDisplay.from_scores(
        ...     [-1.0, -1.5, -2.0, -2.2, -40.0], labels=[0, 0, 0, 0, 1], threshold=-3.0
        ... )
        >>> disp.n_clipped  # -40 is far left of the rest: gathered in the hatched bar
        1
        """
        s = check_scores(scores, name="scores")
        y = None if labels is None else check_binary_labels(labels, name="labels")
        if y is not None and y.shape != s.shape:
            raise ValueError(f"{y.shape[0]} labels for {s.shape[0]} scores: give one per row.")
        reference = s if y is None or not (y == 0).any() else s[y == 0]
        lo = float(np.quantile(reference, TAIL_SHARE))
        hi = float(s.max())
        if threshold is not None:
            lo = min(lo, float(threshold))
            hi = max(hi, float(threshold))
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        # Room left of the bulk and the threshold, where the anomalies are.
        lo = max(lo - LEFT_ROOM * span, min(lo, float(s.min())))
        span = hi - lo if hi > lo else span
        lo -= 0.03 * span
        hi += 0.03 * span
        edges = np.linspace(lo, hi, bins + 1)
        width = edges[1] - edges[0]
        clipped = s < lo
        # The tail shares one extra bin left of the range, drawn hatched.
        shown = np.where(clipped, lo - width / 2, s)
        all_edges = np.r_[lo - width, edges]

        ax, fig = get_axes(ax)
        groups = [("rows", s, shown, "C0")]
        if y is not None:
            groups = [
                ("normal", s[y == 0], shown[y == 0], "C0"),
                ("anomaly", s[y == 1], shown[y == 1], "C3"),
            ]
        for name, raw, values, colour in groups:
            if values.size == 0:
                continue
            counts, _ = np.histogram(values, bins=all_edges)
            tail = int(np.sum(raw < lo))
            label = f"{name} ({raw.size})"
            ax.stairs(counts[1:], edges, fill=True, alpha=0.45, color=colour, label=label)
            ax.stairs(counts[1:], edges, color=colour, lw=1)
            if tail:
                ax.stairs(counts[:1], all_edges[:2], fill=False, hatch="///", color=colour, lw=1)
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=1.5,
                       label=f"threshold {threshold:.4g} (flag left of it)")  # fmt: skip
        handles, names = ax.get_legend_handles_labels()
        n_clipped = int(clipped.sum())
        if n_clipped:
            from matplotlib.patches import Patch

            handles.append(Patch(fill=False, hatch="///", edgecolor="0.3"))
            names.append(f"{n_clipped} rows below {lo:.4g} (left bar)")
        if log_counts is None:
            n_anom = 0 if y is None else int(y.sum())
            log_counts = n_anom > 0 and (s.size - n_anom) / n_anom > LOG_COUNTS_IMBALANCE
        if log_counts:
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.8)
        ax.set_xlim(lo - width, hi)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rows (log scale)" if log_counts else "rows")
        ax.set_title("Scores and the threshold")
        ax.legend(handles, names, loc="upper left", fontsize="small")
        return cls(edges, n_clipped, ax, fig)
