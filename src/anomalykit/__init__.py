"""anomalykit: Gaussian-density anomaly detection and K-means clustering.

Public names only; everything else lives in private modules.
"""

from .cluster import KMeans, MiniBatchKMeans, kmeans_plusplus
from .detectors import (
    CentroidOutlierDetector,
    ConstantFeatureWarning,
    DegenerateClusterWarning,
    Explanation,
    GaussianDetector,
)
from .thresholds import ThresholdCurve, ThresholdResult, contamination_threshold, select_threshold

__version__ = "0.1.0"

__all__ = [
    "CentroidOutlierDetector",
    "ConstantFeatureWarning",
    "DegenerateClusterWarning",
    "Explanation",
    "GaussianDetector",
    "KMeans",
    "MiniBatchKMeans",
    "ThresholdCurve",
    "ThresholdResult",
    "__version__",
    "contamination_threshold",
    "kmeans_plusplus",
    "select_threshold",
]
