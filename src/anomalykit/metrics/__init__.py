"""Metrics of anomaly thresholds and of clusterings."""

from ._classification import ThresholdEvaluation, evaluate_threshold
from ._cluster import (
    calinski_harabasz_score,
    davies_bouldin_score,
    inertia,
    silhouette_samples,
    silhouette_score,
)

__all__ = [
    "ThresholdEvaluation",
    "calinski_harabasz_score",
    "davies_bouldin_score",
    "evaluate_threshold",
    "inertia",
    "silhouette_samples",
    "silhouette_score",
]
