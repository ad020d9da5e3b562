"""The fitted density of two features as contours, with the flagged rows circled."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._base import get_axes

__all__ = ["DensityContourDisplay"]

#: Share of each axis' range added around the rows.
MARGIN = 0.1
_LN10 = math.log(10.0)


@dataclass
class DensityContourDisplay:
    """Contours of a fitted two-feature density, the rows, and the flagged rows circled.

    The figure of the anomaly-detection exercise of Andrew Ng's machine
    learning course (ex8): contours where the density is a power of ten,
    the rows as crosses, the anomalies in red circles. Here the threshold
    epsilon is drawn too, as the red dashed contour ``log p(x) = log epsilon``:
    every row outside it is flagged.

    Attributes
    ----------
    levels : ndarray
        The log-density of each drawn contour (``k * ln 10`` for integers ``k``).
    ax_, figure_ : matplotlib Axes and Figure
    """

    levels: np.ndarray
    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: ArrayLike,
        *,
        threshold: float | None = None,
        is_anomaly: ArrayLike | None = None,
        feature_names: list[str] | None = None,
        grid_size: int = 200,
        max_levels: int = 8,
        ax: Any = None,
    ) -> DensityContourDisplay:
        """Draw ``estimator.score_samples`` (a log-density) on a grid around ``X``.

        Parameters
        ----------
        estimator : fitted estimator with ``score_samples``
            On two features, in the units of ``X`` (a pipeline with a scaler works).
        X : array-like of shape (n_samples, 2)
            The rows to draw, in the estimator's input units.
        threshold : float, default=None
            Log-epsilon: drawn as a contour; with ``is_anomaly`` unset, rows
            scored below it are circled.
        is_anomaly : array-like of bool of shape (n_samples,), default=None
            The rows to circle.
        feature_names : list of str, default=None
            Axis labels; ``feature 0`` and ``feature 1`` by default.
        grid_size : int, default=200
            Grid points along each axis.
        max_levels : int, default=8
            At most this many density contours (spaced by one or more decades).
        ax : matplotlib Axes, default=None

        Returns
        -------
        DensityContourDisplay

        Examples
        --------
        >>> import numpy as np
        >>> from anomalykit import GaussianDetector
        >>> from anomalykit.plotting import DensityContourDisplay
        >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5], [4.0, 4.0]])
        >>> det = GaussianDetector().fit(X[:5])
        >>> disp = DensityContourDisplay.from_estimator(det, X, threshold=-6.0)
        >>> (disp.levels / np.log(10)).round().tolist()  # p(x) = 1e-25, ..., 1e-5, 1e-1
        [-25.0, -21.0, -17.0, -13.0, -9.0, -5.0, -1.0]
        >>> disp.ax_.collections[-1].get_offsets().tolist()  # the circled row
        [[4.0, 4.0]]
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(
                f"Density contours need rows of exactly 2 features; got shape {X.shape}."
            )
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = MARGIN * np.where(hi > lo, hi - lo, 1.0)
        g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid_size)
        g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid_size)
        G0, G1 = np.meshgrid(g0, g1)
        Z = np.asarray(estimator.score_samples(np.c_[G0.ravel(), G1.ravel()]), dtype=float)
        Z = Z.reshape(G0.shape)

        row_scores = np.asarray(estimator.score_samples(X), dtype=float)
        # Powers of ten of the density, as ex8's contour(..., 10.^(-20:3:0)), from
        # the peak down to the lowest row (or the threshold): the grid's far
        # corners would only add rings nobody looks at.
        floor = float(row_scores.min()) if threshold is None else min(row_scores.min(), threshold)
        top = math.floor(float(Z.max()) / _LN10)
        bottom = math.ceil(max(float(Z.min()), floor) / _LN10) - 1
        step = max(1, math.ceil((top - bottom + 1) / max_levels))
        decades = np.arange(top, bottom - 1, -step)[::-1]
        levels = decades * _LN10

        ax, fig = get_axes(ax)
        if levels.size:
            cs = ax.contour(G0, G1, Z, levels=levels, cmap="viridis", linewidths=1)
            labels = {lev: f"1e{d}" for lev, d in zip(levels, decades, strict=True)}
            ax.clabel(cs, fmt=labels, fontsize="x-small", inline=True)
        handles = []
        from matplotlib.lines import Line2D

        if levels.size:
            handles.append(Line2D([], [], color="C2", lw=1, label=r"density $p(x) = 10^k$"))
        if threshold is not None and Z.min() < threshold < Z.max():
            ax.contour(G0, G1, Z, levels=[threshold], colors="red", linewidths=1.5,
                       linestyles="--")  # fmt: skip
            handles.append(
                Line2D(
                    [], [], color="red", ls="--", lw=1.5, label=r"threshold $p(x) = \varepsilon$"
                )
            )
        (rows,) = ax.plot(X[:, 0], X[:, 1], "x", color="C0", ms=4, mew=1,
                          label=f"rows ({X.shape[0]})")  # fmt: skip
        handles.insert(0, rows)
        if is_anomaly is None and threshold is not None:
            is_anomaly = row_scores < threshold
        if is_anomaly is not None:
            flags = np.asarray(is_anomaly, dtype=bool)
            handles.append(
                ax.scatter(X[flags, 0], X[flags, 1], s=110, facecolors="none",
                           edgecolors="red", lw=1.5, label=f"flagged ({int(flags.sum())})")
            )  # fmt: skip
        names = feature_names or ["feature 0", "feature 1"]
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_xlim(g0[0], g0[-1])
        ax.set_ylim(g1[0], g1[-1])
        ax.set_title("Fitted Gaussian density and flagged rows")
        # Below the axes: inside, it would hide contours or rows wherever it went.
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                  ncol=len(handles), fontsize="small", frameon=False)  # fmt: skip
        return cls(levels, ax, fig)
