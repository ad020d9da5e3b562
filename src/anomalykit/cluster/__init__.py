"""K-means clustering (and, in the same package, choosing K)."""

from ._init import kmeans_plusplus
from ._kmeans import KMeans
from ._minibatch import MiniBatchKMeans

__all__ = ["KMeans", "MiniBatchKMeans", "kmeans_plusplus"]
