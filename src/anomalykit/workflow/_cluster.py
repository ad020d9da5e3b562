"""The clustering workflow of the guide: choose K, cluster, flag distance outliers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize

from .. import __version__
from .._utils._validation import check_in
from ..cluster import KMeans, KSelection, select_k
from ..detectors import CentroidOutlierDetector
from ..metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from ..preprocessing import FeatureScaler

__all__ = ["ClusteringReport", "cluster_data", "cluster_profiles"]

#: Rows above which the reported silhouette is computed on a sample.
SILHOUETTE_SAMPLE = 20000


@dataclass(frozen=True, repr=False)
class ClusteringReport:
    """What :func:`cluster_data` found.

    Attributes
    ----------
    k : int
    selection : KSelection or None
        The per-K criteria when K was chosen automatically.
    model : KMeans or CentroidOutlierDetector
    labels : ndarray of shape (n_samples,)
    distances : ndarray of shape (n_samples,)
        Euclidean distance of each row to its own centre (cosine distance for
        ``metric="cosine"``).
    is_outlier : ndarray of bool or None
        None when outliers were not asked for.
    centers : ndarray of shape (k, n_features)
        In the clustered space (scaled when ``scale``/``log`` were given;
        ``profiles`` holds them in original units). ``distances`` likewise.
    sizes : ndarray of shape (k,)
    metrics : dict
        inertia (WCSS), silhouette, Davies-Bouldin, Calinski-Harabasz.
    explanations : list of str
        Top features of each outlier's distance ("" for other rows).
    feature_names : list of str
    X : ndarray of shape (n_samples, n_features)
        The clustered rows, in original units (for plots and profiles).
    profiles : list of dict
        Per cluster: ``cluster``, ``size``, ``share``, ``center`` (the K-means
        centre in original units, by feature name: scaling undone), ``mean``
        and ``median`` of its rows (original units) and ``distinctive`` (the
        features that set it apart: ``[name, z]`` with z the offset of the
        cluster's mean from the overall mean, in overall standard deviations of
        the clustered (scaled) features, largest ``|z|`` first, ``|z| >= 0.5``).
    selection_note : str or None
        Set when ``k="auto"`` found no clear K and fell back to the silhouette.
    model : KMeans, CentroidOutlierDetector or sklearn.pipeline.Pipeline
        What to apply to new rows in original units (with the scaler first when
        the workflow scaled the rows).
    """

    k: int
    selection: KSelection | None
    model: Any
    labels: np.ndarray
    distances: np.ndarray
    is_outlier: np.ndarray | None
    centers: np.ndarray
    sizes: np.ndarray
    metrics: dict[str, float | None]
    explanations: list[str]
    feature_names: list[str]
    X: Any = None
    profiles: list[dict[str, Any]] = field(default_factory=list)
    scaler: FeatureScaler | None = None
    selection_note: str | None = None

    @property
    def can_score_silhouette(self) -> bool:
        """The silhouette is defined: 2 to n_samples - 1 distinct labels."""
        return 1 < np.unique(self.labels).size < len(self.labels)

    @property
    def n_outliers(self) -> int:
        return 0 if self.is_outlier is None else int(self.is_outlier.sum())

    def __repr__(self) -> str:
        out = "" if self.is_outlier is None else f", {self.n_outliers} outliers"
        return f"ClusteringReport(k={self.k}, sizes={self.sizes.tolist()}{out})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "anomalykit_version": __version__,
            "k": self.k,
            "feature_names": self.feature_names,
            "clusters": [
                {"cluster": j, "size": int(self.sizes[j]), "center": self.centers[j].tolist()}
                for j in range(self.k)
            ],
            "scaler": None
            if self.scaler is None
            else {"method": self.scaler.method, "log": self.scaler.log},
            "profiles": self.profiles,
            "metrics": self.metrics,
            "n_outliers": None if self.is_outlier is None else self.n_outliers,
            "outliers": self.top_outliers(),
            "selection": None if self.selection is None else self.selection.to_dict(),
            "selection_note": self.selection_note,
        }

    def top_outliers(self, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` flagged rows farthest from their centres."""
        if self.is_outlier is None:
            return []
        rows = np.flatnonzero(self.is_outlier)
        rows = rows[np.argsort(-self.distances[rows], kind="stable")][:n]
        return [
            {
                "row": int(i),
                "cluster": int(self.labels[i]),
                "distance": float(self.distances[i]),
                "top_features": self.explanations[i],
            }
            for i in rows
        ]


def cluster_data(
    X: ArrayLike,
    *,
    k: int | str = "auto",
    ks: range | list[int] | None = None,
    n_sigma: float | None = None,
    rule: str = "sigma",
    metric: str = "euclidean",
    n_init: int = 3,
    random_state: Any = 0,
    feature_names: list[str] | None = None,
    top_k: int = 3,
    scale: str | None = None,
    log: bool = False,
    progress: Callable[[int, int], None] | None = None,
    no_clear_k: str = "error",
) -> ClusteringReport:
    """Choose K (or take it), cluster, and flag rows far from their own centre.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int or "auto", default="auto"
        ``"auto"`` runs :func:`select_k` over ``ks`` and uses its consensus;
        when the criteria disagree it is an error that lists their votes.
    ks : range or list of int, default=None
        Candidates for ``k="auto"``; ``range(1, 11)`` by default.
    n_sigma : float, default=None
        Flag outliers with :class:`CentroidOutlierDetector` at this many
        sigmas (``rule``); None clusters without flagging.
    rule : {"sigma", "mad", "chi2"}, default="sigma"
    metric : {"euclidean", "cosine"}, default="euclidean"
        Outliers need ``"euclidean"``.
    n_init : int, default=3
    random_state : None, int or numpy.random.Generator, default=0
    feature_names : list of str, default=None
    top_k : int, default=3
        Features named in each outlier's explanation.
    scale : {"standard", "robust", "none"} or None, default=None
        Scale the features first (:class:`~anomalykit.preprocessing.FeatureScaler`;
        K-means is not scale-free: a feature in larger units dominates the
        distances). ``log=True`` applies ``log1p`` first (spend, counts). The
        profiles are in original units whatever the scaling.
    log : bool, default=False
    progress : callable, default=None
        ``progress(done, total)`` after each K-means fit of the K sweep.
    no_clear_k : {"error", "silhouette"}, default="error"
        What ``k="auto"`` does when the criteria disagree: raise (listing the
        votes), or take the K of the highest silhouette and say so in
        ``report.selection_note``.

    Returns
    -------
    ClusteringReport

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.workflow import cluster_data
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 0.3, (100, 2)), rng.normal(5, 0.3, (100, 2)), [[2.5, 9.0]]]
    >>> report = cluster_data(X, k=2, n_sigma=3.0)
    >>> sorted(report.sizes.tolist()), report.n_outliers, report.top_outliers(1)[0]["row"]
    ([100, 101], 1, 200)
    """
    X = np.asarray(X, dtype=np.float64) if not hasattr(X, "tocsr") else X.tocsr()
    if hasattr(X, "tocsr") and (k == "auto" or n_sigma is not None):
        raise ValueError(
            "Sparse input is clustered with a given k and no outliers (choosing K and "
            "distance outliers need dense rows); pass k=N and n_sigma=None, or a dense array."
        )
    X_original = X
    scaler = None
    if scale is not None or log:
        if hasattr(X, "tocsr"):
            raise ValueError("Scaling needs dense rows; pass scale=None for sparse input.")
        scaler = FeatureScaler("none" if scale is None else scale, log=log)
        if feature_names is not None:
            scaler._feature_names = [str(n) for n in feature_names]  # named errors
        scaler.fit(X)
        X = scaler.transform(X)
    check_in(no_clear_k, ("error", "silhouette"), name="no_clear_k", owner="cluster_data")
    selection = None
    note = None
    if k == "auto":
        selection = select_k(
            X, ks if ks is not None else range(1, 11), n_init=n_init, metric=metric,
            random_state=random_state, progress=progress,
        )  # fmt: skip
        if selection.k is None:
            if no_clear_k != "silhouette" or selection.silhouette_k is None:
                raise ValueError(" ".join(selection.reasons) + " Choose one with k=N (--k N).")
            k = selection.silhouette_k
            note = (
                f"{selection.reasons[0]} K={k} is taken from the highest silhouette; treat "
                "the segments as tentative."
            )
        else:
            k = selection.k
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise ValueError(f"k must be a positive integer or 'auto'; got {k!r}.")
    names = [f"x{j}" for j in range(X.shape[1])] if feature_names is None else list(feature_names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} feature names for {X.shape[1]} features.")
    clusterer = KMeans(int(k), n_init=n_init, metric=metric, random_state=random_state)
    if n_sigma is not None:
        if metric != "euclidean":
            raise ValueError(
                "Distance outliers are measured in Euclidean units; use metric='euclidean' "
                "or leave n_sigma unset."
            )
        model = CentroidOutlierDetector(int(k), n_sigma, rule, clusterer=clusterer)
        model._feature_names = names  # arrays carry no column names: lend them to explain()
        model.fit(X)
        km = model.clusterer_
        is_outlier = model.is_anomaly(X)
        labels = model.labels_
        distances = model.distances_
        explained = model.explain(X[is_outlier]).to_strings(top_k) if is_outlier.any() else []
    else:
        # arrays carry no column names: lend them, so that a saved model scores new
        # tables by name (not by position) and explains in them
        clusterer._feature_names = [str(n) for n in names]
        model = km = clusterer.fit(X)
        is_outlier = None
        labels = km.labels_
        d = km.transform(X)
        distances = d[np.arange(len(labels)), labels]
        explained = []
    explanations = [""] * len(labels)
    if is_outlier is not None:
        for row, text in zip(np.flatnonzero(is_outlier), explained, strict=True):
            explanations[row] = text
    metrics: dict[str, float | None] = {"inertia": float(km.inertia_)}
    if 1 < np.unique(labels).size < len(labels):
        sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
        metrics["silhouette"] = float(
            silhouette_score(X, labels, metric=metric, sample_size=sample, random_state=0)
        )
        # The centroid indices are Euclidean: for cosine, on the unit rows it clusters.
        Xm = normalize(X) if metric == "cosine" else X
        metrics["davies_bouldin"] = float(davies_bouldin_score(Xm, labels))
        metrics["calinski_harabasz"] = float(calinski_harabasz_score(Xm, labels))
    else:
        metrics.update(silhouette=None, davies_bouldin=None, calinski_harabasz=None)
    centers = np.asarray(km.cluster_centers_, dtype=np.float64)
    sizes = np.bincount(labels, minlength=int(k))
    profiles = []
    if not hasattr(X, "tocsr"):
        original_centers = centers if scaler is None else scaler.inverse_transform(centers)
        profiles = cluster_profiles(X_original, X, labels, original_centers, names)
    if scaler is not None:
        model = Pipeline([("scale", scaler), ("cluster", model)])
    return ClusteringReport(
        k=int(k),
        selection=selection,
        model=model,
        labels=labels,
        distances=distances,
        is_outlier=is_outlier,
        centers=centers,
        sizes=sizes,
        metrics=metrics,
        explanations=explanations,
        feature_names=names,
        X=X_original,
        profiles=profiles,
        scaler=scaler,
        selection_note=note,
    )


def cluster_profiles(
    X_original: np.ndarray,
    X_clustered: np.ndarray,
    labels: np.ndarray,
    centers: np.ndarray,
    names: list[str],
    *,
    min_z: float = 0.5,
    top: int = 3,
) -> list[dict[str, Any]]:
    """Who is in each cluster, in original units, and what sets it apart
    (see :class:`ClusteringReport`, ``profiles``)."""
    mu = X_clustered.mean(axis=0)
    sd = X_clustered.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    n = len(labels)
    out = []
    for j in range(centers.shape[0]):
        rows = labels == j
        size = int(rows.sum())
        profile: dict[str, Any] = {
            "cluster": j,
            "size": size,
            "share": size / n,
            "center": dict(zip(names, centers[j].tolist(), strict=True)),
        }
        if size:
            z = (X_clustered[rows].mean(axis=0) - mu) / sd
            order = np.argsort(-np.abs(z), kind="stable")
            profile["mean"] = dict(zip(names, X_original[rows].mean(axis=0).tolist(), strict=True))
            profile["median"] = dict(
                zip(names, np.median(X_original[rows], axis=0).tolist(), strict=True)
            )
            profile["distinctive"] = [
                [names[f], float(z[f])] for f in order[:top] if abs(z[f]) >= min_z
            ]
        else:
            profile.update(mean=None, median=None, distinctive=[])
        out.append(profile)
    return out
