"""anomalykit: Gaussian-density anomaly detection and K-means clustering.

Public names only; everything else lives in private modules.
"""

from .cluster import KMeans, KSelection, MiniBatchKMeans, find_elbow, kmeans_plusplus, select_k
from .detectors import (
    CentroidOutlierDetector,
    ConstantFeatureWarning,
    DegenerateClusterWarning,
    Explanation,
    GaussianDetector,
)
from .io import load, save
from .thresholds import ThresholdCurve, ThresholdResult, contamination_threshold, select_threshold

__version__ = "0.1.0"

__all__ = [
    "CentroidOutlierDetector",
    "ConstantFeatureWarning",
    "DegenerateClusterWarning",
    "Explanation",
    "GaussianDetector",
    "KMeans",
    "KSelection",
    "MiniBatchKMeans",
    "ThresholdCurve",
    "ThresholdResult",
    "__version__",
    "contamination_threshold",
    "find_elbow",
    "kmeans_plusplus",
    "load",
    "save",
    "select_k",
    "select_threshold",
]
