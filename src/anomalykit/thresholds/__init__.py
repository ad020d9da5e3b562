"""Choosing the anomaly threshold: on labelled data (F1 / F-beta) or from a
contamination fraction."""

from ._select import ThresholdCurve, ThresholdResult, select_threshold
from ._strategies import contamination_threshold

__all__ = ["ThresholdCurve", "ThresholdResult", "contamination_threshold", "select_threshold"]
