"""K-means clustering (and, in the same package, choosing K)."""

from ._init import kmeans_plusplus
from ._kmeans import KMeans

__all__ = ["KMeans", "kmeans_plusplus"]
