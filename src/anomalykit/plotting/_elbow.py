"""The K criteria: WCSS with its elbow, silhouette, and the gap statistic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._base import get_axes

__all__ = ["ElbowDisplay"]


@dataclass
class ElbowDisplay:
    """WCSS against K with the elbow marked, and the silhouette on a second axis.

    Attributes
    ----------
    selection : KSelection
    ax_, figure_ : matplotlib Axes and Figure
    """

    selection: Any
    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_selection(cls, selection: Any, *, ax: Any = None) -> ElbowDisplay:
        """Draw the WCSS curve (left axis) and silhouette (right axis) of a ``select_k`` result."""
        ax, fig = get_axes(ax)
        ks = np.asarray(selection.ks)
        wcss = np.asarray(selection.wcss, dtype=float)
        ax.plot(ks, wcss, "o-", color="C0", label="WCSS (inertia)")
        if selection.elbow_k is not None:
            i = int(np.flatnonzero(ks == selection.elbow_k)[0])
            ax.plot(
                [ks[i]],
                [wcss[i]],
                "s",
                ms=12,
                mfc="none",
                mec="C3",
                mew=2,
                label=f"elbow: K = {selection.elbow_k}",
            )
        ax.set_xlabel("K (number of clusters)")
        ax.set_ylabel("WCSS", color="C0")
        ax.set_xticks(ks)
        sil = np.asarray(selection.silhouette, dtype=float)
        twin = ax.twinx()
        twin.plot(ks, sil, "^--", color="C2", label="silhouette")
        twin.set_ylabel("silhouette", color="C2")
        verdict = "no clear K" if selection.k is None else f"consensus K = {selection.k}"
        ax.set_title(f"Choosing K: {verdict}")
        if selection.k is not None:
            ax.axvline(selection.k, color="k", ls=":", lw=1)
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize="small")
        return cls(selection, ax, fig)
