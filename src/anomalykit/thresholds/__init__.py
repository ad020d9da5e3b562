"""Choosing the anomaly threshold: on labelled data (F1 / F-beta) or from a
contamination fraction."""

from ._fdr import FDRResult, conformal_pvalues, fdr_threshold, mahalanobis_pvalues
from ._select import ThresholdCurve, ThresholdResult, select_threshold
from ._strategies import contamination_threshold

__all__ = [
    "FDRResult",
    "ThresholdCurve",
    "ThresholdResult",
    "conformal_pvalues",
    "contamination_threshold",
    "fdr_threshold",
    "mahalanobis_pvalues",
    "select_threshold",
]
