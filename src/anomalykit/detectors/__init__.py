"""Anomaly detectors with the scikit-learn outlier-detector contract."""

from ._centroid import CentroidOutlierDetector, DegenerateClusterWarning
from ._explanation import Explanation
from ._gaussian import ConstantFeatureWarning, GaussianDetector

__all__ = [
    "CentroidOutlierDetector",
    "ConstantFeatureWarning",
    "DegenerateClusterWarning",
    "Explanation",
    "GaussianDetector",
]
