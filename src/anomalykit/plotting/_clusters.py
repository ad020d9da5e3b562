"""Clusters in two dimensions and their silhouettes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._base import get_axes

__all__ = ["ClusterDisplay", "SilhouetteDisplay", "project_2d"]


def project_2d(X: Any, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
    """The two leading principal components of ``X`` (itself when d <= 2), and
    the same projection applied to ``extra`` arrays such as centres."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    if X.shape[1] == 1:
        pad = [np.c_[a, np.zeros(len(a))] for a in (X, *extra)]
        return tuple(pad)
    if X.shape[1] == 2:
        return (X, *(np.asarray(a, float) for a in extra))
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    basis = vt[:2].T
    return tuple((np.asarray(a, float) - mean) @ basis for a in (X, *extra))


@dataclass
class ClusterDisplay:
    """Scatter of the rows coloured by cluster, centres as crosses, outliers circled.

    Axes are the data's two features, or its two leading principal
    components when it has more.
    """

    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: ArrayLike,
        *,
        labels: ArrayLike | None = None,
        outliers: ArrayLike | None = None,
        ax: Any = None,
        max_points: int = 20000,
        random_state: int = 0,
    ) -> ClusterDisplay:
        """Draw a fitted clusterer's clusters on ``X`` (a sample of ``max_points`` rows).

        ``labels`` (default: ``estimator.predict(X)``) lets a caller show the
        labels it reports, e.g. after small clusters were dissolved. For a
        cosine clusterer the rows are drawn at unit length, where its centres are.
        """
        ax, fig = get_axes(ax)
        X = X if sp.issparse(X) else np.asarray(X, dtype=float)
        labels = np.asarray(estimator.predict(X) if labels is None else labels)
        if getattr(estimator, "metric", "euclidean") == "cosine":
            from sklearn.preprocessing import normalize

            X = normalize(X)
        centers = np.asarray(estimator.cluster_centers_)
        flags = None if outliers is None else np.asarray(outliers, dtype=bool)
        n = labels.shape[0]
        rows = np.arange(n)
        if n > max_points:
            rows = np.sort(np.random.default_rng(random_state).choice(n, max_points, replace=False))
            if flags is not None:  # keep every outlier visible
                rows = np.union1d(rows, np.flatnonzero(flags))
        X2, C2 = project_2d(X[rows], centers)
        from matplotlib.colors import to_rgba_array

        colours = to_rgba_array([f"C{j % 10}" for j in range(centers.shape[0])])
        # Cluster j is colour Cj here and in SilhouetteDisplay.
        ax.scatter(X2[:, 0], X2[:, 1], c=colours[labels[rows]], s=8, alpha=0.7, lw=0)
        ax.scatter(C2[:, 0], C2[:, 1], marker="x", c="k", s=80, lw=2, label="centres")
        if flags is not None and flags[rows].any():
            f = flags[rows]
            ax.scatter(
                X2[f, 0],
                X2[f, 1],
                s=90,
                facecolors="none",
                edgecolors="C3",
                lw=1.5,
                label=f"outliers ({int(flags.sum())})",
            )
        names = ("feature 0", "feature 1") if X.shape[1] <= 2 else ("PC 1", "PC 2")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(f"{centers.shape[0]} clusters")
        ax.legend(loc="best", fontsize="small")
        return cls(ax, fig)


@dataclass
class SilhouetteDisplay:
    """The classic silhouette plot: each cluster's sorted silhouette values."""

    ax_: Any = None
    figure_: Any = None

    @classmethod
    def from_labels(
        cls, X: ArrayLike, labels: ArrayLike, *, metric: str = "euclidean", ax: Any = None
    ) -> SilhouetteDisplay:
        """Compute the silhouettes of ``labels`` on ``X`` and draw them."""
        from ..metrics import silhouette_samples

        values = silhouette_samples(X, labels, metric=metric)
        labels = np.asarray(labels)
        ax, fig = get_axes(ax)
        y = 0
        for c in np.unique(labels):
            v = np.sort(values[labels == c])
            # Cluster c is colour Cc, as in ClusterDisplay.
            ax.fill_betweenx(np.arange(y, y + v.size), 0, v, color=f"C{int(c) % 10}", alpha=0.8)
            ax.text(-0.05, y + v.size / 2, str(c), va="center", ha="right", fontsize="small")
            y += v.size + 10
        mean = float(values.mean())
        ax.axvline(mean, color="k", ls="--", lw=1, label=f"mean {mean:.3f}")
        ax.set_xlabel("silhouette")
        ax.set_ylabel("rows, by cluster")
        ax.set_yticks([])
        ax.set_xlim(min(-0.1, float(values.min()) - 0.05), 1)
        ax.set_title("Silhouette per cluster")
        ax.legend(loc="lower right", fontsize="small")
        return cls(ax, fig)
