"""The integrated workflows: split, fit, choose epsilon, evaluate, flag; and choose K,
cluster, flag distance outliers."""

from ._bootstrap import BootstrapInterval, bootstrap_interval
from ._cluster import ClusteringReport, cluster_data, cluster_profiles
from ._detect import DetectionReport, detect_anomalies
from ._split import AnomalySplit, anomaly_split

__all__ = [
    "AnomalySplit",
    "BootstrapInterval",
    "ClusteringReport",
    "DetectionReport",
    "anomaly_split",
    "bootstrap_interval",
    "cluster_data",
    "cluster_profiles",
    "detect_anomalies",
]
