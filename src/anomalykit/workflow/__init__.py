"""The integrated workflows: split, fit, choose epsilon, evaluate, flag; and choose K,
cluster, flag distance outliers."""

from ._cluster import ClusteringReport, cluster_data
from ._detect import BootstrapInterval, DetectionReport, detect_anomalies
from ._split import AnomalySplit, anomaly_split

__all__ = [
    "AnomalySplit",
    "BootstrapInterval",
    "ClusteringReport",
    "DetectionReport",
    "anomaly_split",
    "cluster_data",
    "detect_anomalies",
]
