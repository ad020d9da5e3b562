"""K-means by Lloyd iterations, Euclidean or spherical (cosine)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils._fingerprint import fingerprint
from .._utils._random import as_generator
from .._utils._threads import dot_unthreaded, engine_threads
from .._utils._validation import (
    check_in,
    check_real,
    check_sample_weight,
    raise_if_not_finite,
    snapshot_n_features,
)
from ._init import check_enough_weighted_rows, greedy_kmeans_plusplus, random_rows
from ._lloyd import (
    PlainLloyd,
    _chunks,
    _compiled_kernels,
    _compiled_sparse,
    _csr_parts,
    _run_blocks,
    _sparse_chunks,
    assign,
    assign_own,
    centre_columns,
    column_moments,
    delta_pays,
    lloyd_bounded,
    lloyd_step,
    reads_shifted,
    row_norms_sq,
    use_bounds,
)

__all__ = ["KMeans"]

_METRICS = ("euclidean", "cosine")


class _BaseKMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """What KMeans and MiniBatchKMeans share: validation, prediction, distances."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ---------------------------------------------------------- validation
    def _validate_common(self) -> None:
        owner = type(self).__name__
        check_real(self.n_clusters, name="n_clusters", owner=owner, low=1, integer=True)
        check_real(self.max_iter, name="max_iter", owner=owner, low=1, integer=True)
        check_real(self.tol, name="tol", owner=owner, low=0.0)
        check_in(self.metric, _METRICS, name="metric", owner=owner)
        if isinstance(self.init, str):
            check_in(self.init, ("k-means++", "random"), name="init", owner=owner)
        elif not hasattr(self.init, "__len__"):
            raise ValueError(
                f"The 'init' parameter of {owner} must be 'k-means++', 'random' or an array "
                f"of shape (n_clusters, n_features). Got {self.init!r} instead."
            )

    def _check_data(
        self, X: ArrayLike, *, reset: bool, finite: bool = True
    ) -> np.ndarray | sp.csr_matrix:
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=2 if reset else 1,
            ensure_all_finite=finite,
        )
        if self.metric == "cosine":
            if X.shape[1] == 1:
                raise ValueError(
                    "metric='cosine' needs n_features >= 2: with n_features=1 every row points "
                    "the same way or the opposite way. Use metric='euclidean'."
                )
            norms = row_norms_sq(X)
            if (norms == 0).any():
                row = int(np.flatnonzero(norms == 0)[0])
                raise ValueError(
                    f"Row {row} is all zeros: it has no direction, so metric='cosine' cannot "
                    "place it. Drop empty rows (e.g. documents with no terms) first."
                )
            X = normalize(X)
        return X

    def _check_fit_data(
        self, X: np.ndarray | sp.csr_matrix, variances: np.ndarray | None = None
    ) -> np.ndarray:
        """Check there is something to cluster; return the column variances."""
        n = X.shape[0]
        if self.n_clusters > n:
            raise ValueError(
                f"n_samples={n} should be >= n_clusters={self.n_clusters}. Lower n_clusters "
                "or pass more rows."
            )
        if variances is None:
            variances = _column_variances(X)
        if _identical_csr_rows(X) if sp.issparse(X) else not (variances > 0).any():
            raise ValueError(
                f"All {n} rows are identical: there is nothing to cluster. Check the input "
                "(a constant file, or the wrong columns)."
            )
        return variances

    def _initial_centers(
        self,
        X: np.ndarray | sp.csr_matrix,
        w: np.ndarray,
        rng: np.random.Generator,
        x_sq: np.ndarray | None,
        offset: np.ndarray | None = None,
    ) -> np.ndarray:
        """The initial centres; rows of X where drawn (``offset``: k-means++
        measures the distances of ``X - offset``, as on a centred copy)."""
        if isinstance(self.init, str):
            check_enough_weighted_rows(w, self.n_clusters)
            if self.init == "k-means++":
                centers, _ = greedy_kmeans_plusplus(X, self.n_clusters, w, rng, x_sq, shift=offset)
            else:
                centers, _ = random_rows(X, self.n_clusters, w, rng)
            return centers.astype(X.dtype, copy=False)
        centers = np.array(self.init, dtype=X.dtype)
        if centers.shape != (self.n_clusters, X.shape[1]):
            raise ValueError(
                f"init has shape {centers.shape}; with n_clusters={self.n_clusters} and "
                f"{X.shape[1]} features it must be ({self.n_clusters}, {X.shape[1]})."
            )
        if not np.isfinite(centers).all():
            raise ValueError("init contains NaN or infinity.")
        if self.metric == "cosine":
            centers = normalize(centers)
        return centers

    # ---------------------------------------------------------- prediction
    def _check_predict(self, X: ArrayLike) -> np.ndarray | sp.csr_matrix:
        check_is_fitted(self)
        return self._check_data(X, reset=False)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Index of the nearest centre of each row."""
        X, centers, shift = self._centred(self._check_predict(X), subtract=False)
        return assign(X, centers, distances=False, shift=shift)[0]

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Distance of each row to every centre, shape (n_samples, n_clusters).

        Euclidean distances, or cosine distances ``1 - cos`` for ``metric="cosine"``.
        """
        X, C = self._centred(self._check_predict(X))
        D = np.asarray(X @ C.T)
        if self.metric == "cosine":
            return 1.0 - D
        D *= -2
        D += row_norms_sq(X)[:, np.newaxis]
        D += np.einsum("ij,ij->i", C, C)
        np.maximum(D, 0, out=D)
        return np.sqrt(D, out=D)

    def fit_predict(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None):
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def score(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> float:
        """Minus the inertia of ``X`` with respect to the fitted centres.

        Dense Euclidean rows (compiled kernels): from exact differences, as
        ``fit``'s ``inertia_`` (the training rows score ``-inertia_`` up to
        the rounding of the centres, stored about the origin, not the mean),
        read with the training mean subtracted on the fly where the register
        panels serve the shape (no centred copy)."""
        X = self._check_predict(X)
        w = check_sample_weight(sample_weight, X.shape[0])
        if self.metric == "euclidean" and not sp.issparse(X):
            rows, centers, shift = self._centred(X, subtract=False)
            fused = assign_own(rows, centers, shift=shift)
            if fused is not None:
                return -float(_objective(fused[1], w, self.metric))
        _, dist = assign(*self._centred(X))
        return -float(_objective(dist, w, self.metric))

    def _centred(self, X: np.ndarray | sp.csr_matrix, subtract: bool = True) -> tuple:
        """Validated rows and the centres, both shifted by the training mean
        (``subtract=False``: the rows as they are, the centres shifted, and
        the shift, None where there is none, for :func:`._lloyd.assign` to
        subtract as it reads the rows).

        Distances come from ``||x||^2 - 2 x.c + ||c||^2``, which loses digits
        far from the origin; fit works on centred data, and so does every
        later distance. Sparse rows are used as they are. Rows and centres
        meet in the wider of their dtypes: a model fitted on float32 takes
        float64 rows (and the other way round) without a dtype mismatch, and
        without rounding a float64 model to float32.
        """
        dtype = np.result_type(X.dtype, self._dtype)
        X = X.astype(dtype, copy=False)
        centers = self.cluster_centers_.astype(dtype, copy=False)
        if self._shift is None or sp.issparse(X):
            return (X, centers) if subtract else (X, centers, None)
        shift = self._shift.astype(dtype, copy=False)
        if not subtract:
            return X, centers - shift, shift
        return X - shift, centers - shift


class KMeans(_BaseKMeans):
    """K-means clustering by Lloyd iterations.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features), default="k-means++"
        ``"k-means++"``: greedy k-means++ (as scikit-learn). ``"random"``: the
        guide's K distinct random rows. An array: those centres.
    n_init : int or "auto", default="auto"
        Runs from different initial centres; the lowest inertia wins.
        ``"auto"``: 1 for k-means++ and an array, 10 for random.
    max_iter : int, default=300
    tol : float, default=1e-4
        Convergence when the summed squared centre shift falls to ``tol``
        times the mean feature variance of the data (or when no label changes).
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"cosine"`` is spherical k-means: rows and centres are scaled to unit
        length and each row joins the centre of highest cosine similarity, the
        usual choice for TF-IDF text.
    random_state : None, int or numpy.random.Generator, default=None

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Unit length for ``metric="cosine"``.
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        ``sum_i w_i ||x_i - c_{label_i}||^2`` (the within-cluster sum of
        squares); for cosine, ``sum_i w_i (1 - cos(x_i, c_{label_i}))``.
    n_iter_ : int
        Lloyd iterations of the best run.
    data_fingerprint_ : dict
        Identifies the validated training rows (unit length for
        ``metric="cosine"``): shape, dtype and a sha256 of up to 4096 evenly
        spaced rows. It identifies the data set, it does not prove every byte.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Notes
    -----
    Each iteration assigns rows to their nearest centre, in blocks of rows
    (memory stays O(block x k)), then moves each centre to the weighted mean
    of its rows. An empty cluster is re-seeded with the row farthest from its
    centre, never left as NaN or dropped. From the same initial centres the
    labels and centres equal scikit-learn's ``KMeans(algorithm="lloyd")``.
    Dense data is centred on its column means, for accuracy: into a copy
    of X, or, where every step reads rows through the register panels
    (16 features or more, AVX-512, no bounds), by subtracting the means as
    the rows are read, with no copy and the same values.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit import KMeans
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0], [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.labels_[0] != km.labels_[3], sorted(km.cluster_centers_[:, 0].tolist())
    (np.True_, [1.0, 10.0])
    >>> float(km.inertia_)
    16.0
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | ArrayLike = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        metric: str = "euclidean",
        random_state: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.metric = metric
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> KMeans:
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like or CSR matrix of shape (n_samples, n_features)
            float32 stays float32.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : KMeans
        """
        self._validate_common()
        if self.n_init != "auto":
            check_real(self.n_init, name="n_init", owner="KMeans", low=1, integer=True)
        spherical = self.metric == "cosine"
        # Dense Euclidean rows are centred on their column means, which are finite
        # exactly when the rows are: they replace validate_data's own pass over X
        # (X.sum()) for NaN and infinity (1e5 x 64 float32: 1.5 ms of a 35 ms fit).
        # Whether the rows are dense is known only after validation (a DataFrame of
        # sparse columns becomes CSR): CSR rows are checked right after it.
        before = snapshot_n_features(self)
        X = self._check_data(X, reset=True, finite=spherical)
        late = not (sp.issparse(X) or spherical)
        if sp.issparse(X) and not spherical:
            raise_if_not_finite(self, X, before)
        try:
            w = check_sample_weight(sample_weight, X.shape[0])
        except ValueError:
            if late:
                raise_if_not_finite(self, X, before)  # a bad X is reported first
            self.data_fingerprint_ = fingerprint(X)  # (as before the finite check moved)
            raise
        w = np.ones(X.shape[0], dtype=np.float64) if w is None else w
        shift = variances = x_sq = offset = None
        if late:
            # The rows centred on NumPy's mean (the caller's array is never modified):
            # a centred copy, or where the run can subtract the mean as it reads X,
            # that mean (``offset``) and no copy.
            reads = reads_shifted(X, self.n_clusters, w, spherical)
            with np.errstate(invalid="ignore", over="ignore"):  # (checked just below)
                if reads:
                    Xc = X
                    shift, variances = column_moments(X)
                    offset = shift
                else:
                    Xc, shift, variances = centre_columns(X)
            if not np.isfinite(shift).all():
                raise_if_not_finite(self, X, before)  # (else finite rows whose sums overflow)
        self.data_fingerprint_ = fingerprint(X)
        X = Xc if late else X
        rng = as_generator(self.random_state)
        if self.n_init == "auto":
            n_init = 10 if isinstance(self.init, str) and self.init == "random" else 1
        else:
            n_init = int(self.n_init)
        if not isinstance(self.init, str) and n_init != 1:
            warnings.warn(
                f"Explicit initial centres give the same run every time; n_init={n_init} "
                "was reduced to 1.",
                RuntimeWarning,
                stacklevel=2,
            )
            n_init = 1

        variances = self._check_fit_data(X, variances)
        if shift is None:
            # Dense Euclidean rows need no row norms (k-means++ forms its own); sparse and
            # cosine ones do.
            x_sq = row_norms_sq(X)
        tol = self.tol * float(np.mean(variances)) if self.tol else 0.0

        best = None
        for _ in range(n_init):
            centers = self._initial_centers(X, w, rng, x_sq, offset)
            if shift is not None and (offset is not None or not isinstance(self.init, str)):
                centers = centers - shift  # (rows of X, or the given centres: centred)
            run = _lloyd(X, centers, w, x_sq, self.max_iter, tol, spherical, offset)
            if best is None or run[2] < best[2]:
                best = run
        labels, centers, inertia, n_iter = best
        if not np.isfinite(inertia):
            raise ValueError(
                "The inertia overflowed: values are too large for squared distances in "
                f"{X.dtype}. Rescale the features (e.g. standardise them) first."
            )
        if shift is not None:
            centers = centers + shift
        self._dtype = X.dtype
        self._shift = shift
        self.cluster_centers_ = centers.astype(X.dtype, copy=False)
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = n_iter
        distinct = int(np.count_nonzero(np.bincount(labels, minlength=self.n_clusters)))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than "
                f"n_clusters ({self.n_clusters}): the data has too few distinct points.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self


def _lloyd(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    w: np.ndarray,
    x_sq: np.ndarray | None,
    max_iter: int,
    tol: float,
    spherical: bool,
    offset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd iterations to convergence; scikit-learn's stopping rule.

    Stops when the labels stop changing (then labels and centres agree), or
    when the summed squared centre shift is ``<= tol`` (then the rows are
    assigned once more to the final centres). Dense Euclidean data with enough
    rows and distance work per row goes to the bounded engine
    (:func:`._lloyd.lloyd_bounded`: the same labels and iterations but for
    rows within rounding of a tie, most distances skipped); the rest takes plain
    steps (:func:`._lloyd.lloyd_step`; dense rows with 16 features or more
    :class:`._lloyd.PlainLloyd`'s, whose sums move with the rows that change
    cluster). ``offset``: the rows are ``X - offset``, subtracted as they are
    read (:func:`._lloyd.reads_shifted` must hold).
    """
    if use_bounds(X, centers.shape[0], spherical):
        labels, centers, n_iter, dist = lloyd_bounded(X, centers, w, max_iter, tol, offset=offset)
    else:
        labels, centers, n_iter, dist = _lloyd_plain(
            X, centers, w, x_sq, max_iter, tol, spherical, offset
        )
    if dist is None:
        dist = _sq_distances_to_own(X, centers, labels, x_sq, offset)
    return labels, centers, _objective(dist, w, "cosine" if spherical else "euclidean"), n_iter


def _lloyd_plain(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    w: np.ndarray,
    x_sq: np.ndarray | None,
    max_iter: int,
    tol: float,
    spherical: bool,
    offset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """The iterations of :func:`_lloyd` by plain steps: ``(labels, centers, n_iter,
    own)``, ``own`` the squared distances to the final centres where the last
    assignment computed them with the labels (dense rows, compiled), else None.
    ``offset`` as :func:`_lloyd`'s (then the steps are :class:`._lloyd.PlainLloyd`'s)."""
    labels_old = np.full(X.shape[0], -1, dtype=np.intp)
    strict = False
    unit = bool((w == 1).all())  # one pass: the steps skip the products by the weights
    engine = None  # dense rows, compiled, sums that may move with the rows: PlainLloyd
    if not sp.issparse(X) and delta_pays(X.shape[1], 0) and _compiled_kernels(None) is not None:
        engine = PlainLloyd(
            X, w, centers.shape[0], unit_weight=unit, x_sq_norms=x_sq, spherical=spherical,
            shift=offset,
        )  # fmt: skip
    elif offset is not None:
        raise ValueError("rows read shifted need PlainLloyd's steps")
    for n_iter in range(1, max_iter + 1):
        if engine is not None:
            new, _, _, changed = engine._step(centers)
            labels, same = engine.labels, n_iter > 1 and changed == 0
        else:
            step = lloyd_step(X, centers, w, x_sq_norms=x_sq, spherical=spherical, unit_weight=unit)
            new, labels = step.centers, step.labels
            same = _same_labels(labels, labels_old)
            labels_old = labels
        shift = float(np.sum((new - centers) ** 2))
        centers = new
        if same:
            strict = True
            break
        if shift <= tol:
            break
    if strict:
        return labels.copy(), centers, n_iter, None
    fused = assign_own(X, centers, shift=offset)  # dense, compiled: labels and inertia at once
    if fused is not None:
        return fused[0], centers, n_iter, fused[1]
    return assign(X, centers, x_sq, distances=False)[0], centers, n_iter, None


def _same_labels(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal(a, b)``, answering early from the first rows when they
    differ there (as they do in every iteration but the last few)."""
    head = min(a.shape[0], 4096)
    return bool(np.array_equal(a[:head], b[:head]) and np.array_equal(a, b))


def _sq_distances_to_own(
    X: np.ndarray | sp.csr_matrix,
    centers: np.ndarray,
    labels: np.ndarray,
    x_sq: np.ndarray | None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """``||x_i - c_{label_i}||^2`` for every row (exact differences for dense rows,
    compiled and threaded over chunks of rows, or in NumPy blocks so no n x d
    temporary is made); ``offset`` as :func:`_lloyd`'s."""
    if sp.issparse(X):
        sparse_kernels = _compiled_sparse(None)
        c_sq = np.einsum("ij,ij->i", centers, centers)
        if sparse_kernels is None:  # (an n x d dense copy of the centres)
            dots = np.asarray(X.multiply(centers[labels]).sum(axis=1)).ravel()
            return np.maximum(x_sq - 2 * dots + c_sq[labels], 0)
        data, indices, indptr = _csr_parts(X)
        C = np.ascontiguousarray(centers, dtype=X.dtype)
        c_sq, x_sq = c_sq.astype(X.dtype, copy=False), np.asarray(x_sq, dtype=X.dtype)
        out = np.empty(X.shape[0], dtype=X.dtype)

        def own(start: int, stop: int) -> None:
            sparse_kernels.own_sq_distances_chunk(
                data, indices, indptr, C, c_sq, x_sq, labels, out, start, stop
            )

        _run_blocks(own, _sparse_chunks(X, 1), engine_threads())
        return out
    out = np.empty(X.shape[0], dtype=X.dtype)
    kernels = _compiled_kernels(None)
    if kernels is not None:
        X, C = np.ascontiguousarray(X), np.ascontiguousarray(centers, dtype=X.dtype)
        shift = np.zeros(X.shape[1], X.dtype) if offset is None else offset.astype(X.dtype)

        def work(start: int, stop: int) -> None:
            kernels.own_sq_distances_chunk(X, shift, C, labels, out, start, stop)

        _run_blocks(work, _chunks(X.shape[0], X.shape[1]), engine_threads())
        return out
    if offset is not None:
        raise ValueError("rows read shifted need the compiled kernels")
    rows = max(1024, 2**20 // max(X.shape[1], 1))
    for start in range(0, X.shape[0], rows):
        diff = X[start : start + rows] - centers[labels[start : start + rows]]
        out[start : start + rows] = np.einsum("ij,ij->i", diff, diff)
    return out


def _objective(sq_dist: np.ndarray, w: np.ndarray | None, metric: str) -> float:
    """Inertia: weighted squared distances; for cosine, ``1 - cos = ||x - c||^2 / 2``."""
    total = dot_unthreaded(sq_dist, w) if w is not None else float(sq_dist.sum(dtype=np.float64))
    return total / 2 if metric == "cosine" else total


def _column_variances(X: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """Variance of each column; for dense rows exactly 0 for a constant column
    (whose rounded mean may differ from its value)."""
    if sp.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        mean_sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        return np.maximum(mean_sq - mean**2, 0)
    variances = np.var(X, axis=0)
    variances[X.max(axis=0) == X.min(axis=0)] = 0.0
    return variances


def _identical_csr_rows(X: sp.csr_matrix) -> bool:
    """Whether every CSR row equals the first, whatever the storage (order,
    stored zeros, repeated columns).

    Rows whose sums differ by more than their rounding can differ by are not
    equal: one product with a vector settles almost any data. Otherwise the
    rows are compared in canonical form (a sorted copy without zeros)."""
    if X.shape[0] <= 1:
        return True
    sums = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    sizes = np.asarray(abs(X).sum(axis=1), dtype=np.float64).ravel()
    stored = int(np.diff(X.indptr).max())
    slack = 4.0 * (stored + 1) * float(np.finfo(X.dtype).eps) * (sizes + sizes[0])
    if (np.abs(sums - sums[0]) > slack).any():
        return False
    Y = sp.csr_matrix(X, copy=True)
    Y.sum_duplicates()
    Y.eliminate_zeros()
    lengths = np.diff(Y.indptr)
    if (lengths != lengths[0]).any():
        return False
    width = int(lengths[0])
    if width == 0:
        return True
    indices, data = Y.indices.reshape(-1, width), Y.data.reshape(-1, width)
    return bool((indices == indices[0]).all() and (data == data[0]).all())
