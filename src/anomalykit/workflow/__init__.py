"""The integrated workflow: split, fit, choose epsilon, evaluate, flag."""

from ._detect import DetectionReport, detect_anomalies
from ._split import AnomalySplit, anomaly_split

__all__ = ["AnomalySplit", "DetectionReport", "anomaly_split", "detect_anomalies"]
