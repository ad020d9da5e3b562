"""Plots (the ``[plot]`` extra): Display objects that take ``ax=None`` and keep
``ax_``/``figure_``; matplotlib is imported only when one is drawn."""

from ._clusters import ClusterDisplay, SilhouetteDisplay, project_2d
from ._contour import DensityContourDisplay
from ._elbow import ElbowDisplay
from ._histogram import ScoreHistogramDisplay
from ._precision_recall import PrecisionRecallDisplay
from ._threshold import ThresholdCurveDisplay

__all__ = [
    "ClusterDisplay",
    "DensityContourDisplay",
    "ElbowDisplay",
    "PrecisionRecallDisplay",
    "ScoreHistogramDisplay",
    "SilhouetteDisplay",
    "ThresholdCurveDisplay",
    "project_2d",
]
