"""Plots (the ``[plot]`` extra): Display objects that take ``ax=None`` and keep
``ax_``/``figure_``; matplotlib is imported only when one is drawn."""

from ._clusters import ClusterDisplay, SilhouetteDisplay, project_2d
from ._elbow import ElbowDisplay
from ._threshold import ThresholdCurveDisplay

__all__ = [
    "ClusterDisplay",
    "ElbowDisplay",
    "SilhouetteDisplay",
    "ThresholdCurveDisplay",
    "project_2d",
]
