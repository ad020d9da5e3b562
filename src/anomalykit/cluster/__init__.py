"""K-means clustering and choosing K."""

from ._init import kmeans_plusplus
from ._kmeans import KMeans
from ._kneedle import find_elbow
from ._minibatch import MiniBatchKMeans
from ._select_k import KSelection, select_k

__all__ = ["KMeans", "KSelection", "MiniBatchKMeans", "find_elbow", "kmeans_plusplus", "select_k"]
