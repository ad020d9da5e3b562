"""Metrics of anomaly thresholds (cluster metrics join here later)."""

from ._classification import ThresholdEvaluation, evaluate_threshold

__all__ = ["ThresholdEvaluation", "evaluate_threshold"]
