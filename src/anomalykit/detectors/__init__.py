"""Anomaly detectors with the scikit-learn outlier-detector contract."""

from ._explanation import Explanation
from ._gaussian import ConstantFeatureWarning, GaussianDetector

__all__ = ["ConstantFeatureWarning", "Explanation", "GaussianDetector"]
