"""Lazy matplotlib: imported only when a plot is drawn, with an install hint."""

from __future__ import annotations

from typing import Any

__all__ = ["get_axes", "require_matplotlib"]


def require_matplotlib() -> Any:
    """Return ``matplotlib.figure`` or raise ImportError saying how to get it."""
    try:
        import matplotlib.figure
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ImportError("Plots need matplotlib: pip install 'anomalykit[plot]'") from exc
    return matplotlib.figure


def get_axes(ax: Any = None, *, figsize: tuple[float, float] = (6.4, 4.2)) -> tuple[Any, Any]:
    """The given axes and their figure, or a new standalone figure.

    A new figure is a ``matplotlib.figure.Figure`` made without pyplot, so
    nothing is added to pyplot's global state; save it with ``figure_.savefig``
    (or show it in a notebook by displaying ``figure_``).
    """
    if ax is not None:
        return ax, ax.figure
    figure = require_matplotlib()
    fig = figure.Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot(), fig
