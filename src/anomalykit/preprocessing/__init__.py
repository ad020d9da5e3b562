"""Scaling kept inside a model: fitted on training rows, saved with the model,
undone for reports in original units."""

from ._scaler import FeatureScaler

__all__ = ["FeatureScaler"]
