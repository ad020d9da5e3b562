"""Choose the number of clusters K: elbow, silhouette and gap statistic, with one verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.preprocessing import normalize
from sklearn.utils import check_array

from .._utils._random import as_generator
from .._utils._validation import check_in, check_real, check_sample_weight
from ..metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from ._kmeans import KMeans
from ._kneedle import _elbow_index

__all__ = ["KSelection", "select_k"]

_OWNER = "select_k"
_METRICS = ("euclidean", "cosine")
_ELBOW_SENSITIVITY = 1.0  # Kneedle's S, as recommended by Satopää et al.
# Kaufman & Rousseeuw (1990), "Finding Groups in Data", ch. 2: an average silhouette
# above 0.70 means "a strong structure has been found"; below 0.25, "no substantial
# structure has been found".
STRONG_SILHOUETTE = 0.70
WEAK_SILHOUETTE = 0.25
# Gap(K) - Gap(1) is log(W*_K / W*_1) - log(W_K / W_1): beyond log 2 the data's WCSS fell
# at least twice as much as uniform data's. On structureless samples (uniform, Gaussian,
# 1 to 10 features) the rise stayed below 0.11.
GAP_RISE = math.log(2.0)


@dataclass(frozen=True, repr=False, eq=False)
class KSelection:
    """The number of clusters each criterion suggests, and one verdict.

    All per-K arrays are aligned with ``ks`` (sorted, without duplicates).

    Attributes
    ----------
    k : int or None
        The consensus K; ``None`` when there is no clear K (see
        :func:`select_k`, Notes, for the rule). ``1`` means "no cluster
        structure".
    reasons : tuple of str
        Human-readable explanations: the verdict first, then each criterion's
        vote.
    ks : ndarray of int of shape (n_ks,)
    wcss : ndarray of shape (n_ks,)
        Within-cluster sum of squares ``sum_i w_i ||x_i - c_{label_i}||^2``
        (``KMeans.inertia_``; for ``metric="cosine"``, ``sum_i w_i (1 - cos)``).
    silhouette, davies_bouldin, calinski_harabasz : ndarray of shape (n_ks,)
        Of the K-means labels. NaN where undefined: K = 1, K = n_samples, or
        fewer than 2 distinct labels.
    gap, gap_se : ndarray of shape (n_ks,)
        Gap(K) and its standard error ``s_K``; NaN when ``n_refs=0`` (or
        where ``wcss`` is 0).
    elbow_k, silhouette_k, gap_k : int or None
        The votes: Kneedle elbow of the WCSS curve, highest silhouette,
        Tibshirani's 1-SE rule on the gap statistic.
    davies_bouldin_k, calinski_harabasz_k : int or None
        Lowest Davies-Bouldin and highest Calinski-Harabasz index (reported,
        not voting).
    metric : str
    n_init, n_refs : int
        The settings used.
    """

    k: int | None
    reasons: tuple[str, ...]
    ks: np.ndarray
    wcss: np.ndarray
    silhouette: np.ndarray
    davies_bouldin: np.ndarray
    calinski_harabasz: np.ndarray
    gap: np.ndarray
    gap_se: np.ndarray
    elbow_k: int | None
    silhouette_k: int | None
    gap_k: int | None
    davies_bouldin_k: int | None
    calinski_harabasz_k: int | None
    metric: str
    n_init: int
    n_refs: int

    def __repr__(self) -> str:
        return (
            f"KSelection(k={self.k}, elbow_k={self.elbow_k}, silhouette_k={self.silhouette_k}, "
            f"gap_k={self.gap_k}, davies_bouldin_k={self.davies_bouldin_k}, "
            f"calinski_harabasz_k={self.calinski_harabasz_k}, ks={_describe_ks(self.ks)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (JSON-serialisable); NaN becomes ``None``."""
        return {
            "k": self.k,
            "reasons": list(self.reasons),
            "elbow_k": self.elbow_k,
            "silhouette_k": self.silhouette_k,
            "gap_k": self.gap_k,
            "davies_bouldin_k": self.davies_bouldin_k,
            "calinski_harabasz_k": self.calinski_harabasz_k,
            "metric": self.metric,
            "n_init": self.n_init,
            "n_refs": self.n_refs,
            "ks": [int(k) for k in self.ks],
            "wcss": _floats(self.wcss),
            "silhouette": _floats(self.silhouette),
            "davies_bouldin": _floats(self.davies_bouldin),
            "calinski_harabasz": _floats(self.calinski_harabasz),
            "gap": _floats(self.gap),
            "gap_se": _floats(self.gap_se),
        }

    def table(self) -> str:
        """A plain-text table, one row per K, with the criteria that picked it."""
        header = ("K", "WCSS", "silhouette", "Davies-Bouldin", "Calinski-Harabasz", "gap", "s_K")
        picks = {
            "elbow": self.elbow_k,
            "silhouette": self.silhouette_k,
            "gap": self.gap_k,
            "DB": self.davies_bouldin_k,
            "CH": self.calinski_harabasz_k,
        }
        rows = []
        for i, k in enumerate(self.ks):
            chosen = [name for name, pick in picks.items() if pick == k]
            rows.append(
                (
                    str(int(k)),
                    _fmt(self.wcss[i]),
                    _fmt(self.silhouette[i], ".4f"),
                    _fmt(self.davies_bouldin[i], ".4f"),
                    _fmt(self.calinski_harabasz[i]),
                    _fmt(self.gap[i], ".4f"),
                    _fmt(self.gap_se[i], ".4f"),
                    ("<- " + ", ".join(chosen)) if chosen else "",
                )
            )
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=False))]
        for row in rows:
            cells = "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=False))
            lines.append((cells + "  " + row[-1]).rstrip())
        return "\n".join(lines)


def select_k(
    X: ArrayLike,
    ks: Iterable[int] = range(1, 11),
    *,
    n_init: int = 3,
    n_refs: int = 10,
    metric: str = "euclidean",
    sample_weight: ArrayLike | None = None,
    silhouette_sample_size: int | None = None,
    random_state: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> KSelection:
    """Fit K-means for every K in ``ks`` and say which K the data supports.

    Three criteria vote: the elbow of the WCSS curve (Kneedle), the highest
    mean silhouette and the gap statistic (1-SE rule). Davies-Bouldin and
    Calinski-Harabasz are computed and reported too.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Dense data, no NaN.
    ks : iterable of int, default=range(1, 11)
        The values of K to try: positive integers, at least 2 distinct ones,
        none above ``n_samples``. They are sorted and duplicates dropped.
        Include 1 so that the gap statistic can answer "no clusters".
    n_init : int, default=3
        K-means runs per K (best inertia kept), on the data and on each
        reference set alike.
    n_refs : int, default=10
        ``B``, the number of uniform reference sets of the gap statistic; 0
        skips the gap statistic (then it has no vote).
    metric : {"euclidean", "cosine"}, default="euclidean"
        As in :class:`KMeans`. With ``"cosine"`` the silhouette uses cosine
        distances, and Davies-Bouldin, Calinski-Harabasz and the reference
        box use the rows scaled to unit length (the space spherical K-means
        works in).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the K-means fits (and so of the WCSS and the gap
        statistic; each reference row takes the weight of the data row of the
        same index). Silhouette, Davies-Bouldin and Calinski-Harabasz are
        unweighted.
    silhouette_sample_size : int, default=None
        Compute the silhouette on this many random rows, the same rows for
        every K (it costs O(n_samples^2) otherwise). Ignored when it is not
        below ``n_samples``. The rows are drawn first, before any fit.
    random_state : None, int or numpy.random.Generator, default=None
        With an int, the fit on ``X`` for each K is exactly
        ``KMeans(K, n_init=n_init, metric=metric, random_state=random_state)``;
        the reference sets come from ``numpy.random.default_rng(random_state)``.
        A Generator is drawn from in a fixed order. Same value, same result.
    progress : callable, default=None
        ``progress(done, total)`` is called after each K-means fit
        (``len(ks) * (1 + n_refs)`` fits in all), e.g. to drive a progress bar.

    Returns
    -------
    selection : KSelection

    See Also
    --------
    KMeans : The clusterer behind every K.

    Notes
    -----
    **WCSS and the elbow.** ``W_K = sum_i w_i ||x_i - c_{label_i}||^2``. The
    WCSS of the best of ``n_init`` runs can still rise from one K to the next
    when K-means lands in a worse local optimum; a rise would create a false
    bend, so the elbow is found on the running minimum
    ``min(W_1, ..., W_K)`` (and a reason says so). The elbow is Kneedle's for a
    convex decreasing curve, with sensitivity ``S = 1`` (the formulas are in
    :func:`~anomalykit.cluster.find_elbow`); none is reported with
    fewer than 4 values of K or without a clear bend.

    **Silhouette, Davies-Bouldin, Calinski-Harabasz** need 2 to
    ``n_samples - 1`` distinct labels: they are NaN at K = 1 and K =
    n_samples (and wherever K-means returned fewer than 2 clusters), and those
    K cannot be picked.

    **Gap statistic** (Tibshirani, Walther and Hastie, 2001). Each of the
    ``B = n_refs`` reference sets has ``n_samples`` rows drawn uniformly from
    the box aligned with the principal components of ``X`` (the paper's
    variant (b), which follows the shape of elongated data and does not
    depend on how the axes are rotated), and K-means is fitted to each for
    every K. Then

    ``Gap(K) = mean_b log W*_{K,b} - log W_K``,
    ``sd_K = std_b log W*_{K,b}`` (divisor ``B``),
    ``s_K = sd_K sqrt(1 + 1/B)``,

    and the vote is the smallest K with ``Gap(K) >= Gap(K+1) - s_{K+1}``,
    where K+1 is the next value in ``ks``. ``gap_k = 1`` means no more
    structure than uniform data; no vote when the rule never holds (Gap still
    rising at the largest K: the answer may lie beyond ``ks``).

    **Consensus.** Elbow, silhouette and gap vote; Davies-Bouldin and
    Calinski-Harabasz do not (they are reported, and tend to favour large K).

    1. The gap statistic says K = 1 and Gap(K) never rises more than
       ``log 2`` above Gap(1) (the data's WCSS never falls twice as fast as
       uniform data's): no structure, so elbow and silhouette outvote it only
       together and convincingly, when they name the same K and its
       silhouette is at least 0.70 (Kaufman and Rousseeuw's "strong
       structure"); ``k`` is then that K. Otherwise, when the best silhouette
       is below 0.25 ("no substantial structure"), ``k = 1`` (no clusters);
       else ``k = None`` (no clear K). The elbow and silhouette alone cannot
       be trusted here: on structureless data WCSS still bends (as
       ``K^(-2/d)``) and the silhouette still peaks somewhere.
    2. The gap statistic says K = 1 but Gap(K) then rises by more than
       ``log 2``: the 1-SE rule stopped at a dip (data made of groups of
       clusters that K = 2 splits badly), so the gap votes instead for the
       smallest K with Gap(K) >= max Gap - s at the maximum (Dudoit and
       Fridlyand's global 1-SE rule). ``gap_k`` still reports the 1-SE rule.
    3. ``k`` is the K that at least two of elbow, silhouette and gap name;
       ``None`` (no clear K) when they all differ or fewer than two answer.

    Cost: ``len(ks) * (1 + n_refs) * n_init`` K-means runs, plus the
    silhouette's O(n_samples^2) per K.

    References
    ----------
    R. Tibshirani, G. Walther and T. Hastie, "Estimating the number of clusters
    in a data set via the gap statistic", JRSS B 63(2), 2001.
    V. Satopää et al., "Finding a 'Kneedle' in a Haystack", ICDCS Workshops, 2011.
    L. Kaufman and P. Rousseeuw, "Finding Groups in Data", Wiley, 1990.
    S. Dudoit and J. Fridlyand, "A prediction-based resampling method for
    estimating the number of clusters in a dataset", Genome Biology 3(7), 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.cluster._select_k import select_k
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0],
    ...               [9.0, 9.0], [9.0, 10.0], [10.0, 9.0]])
    >>> sel = select_k(X, ks=[1, 2, 3], n_refs=5, random_state=0)
    >>> sel
    KSelection(k=2, elbow_k=None, silhouette_k=2, gap_k=2, davies_bouldin_k=2,
               calinski_harabasz_k=2, ks=[1, 2, 3])
    >>> sel.reasons[0]
    'K=2: silhouette and gap agree (elbow has no answer).'
    """
    ks_arr = _check_ks(ks)
    check_real(n_init, name="n_init", owner=_OWNER, low=1, integer=True)
    _check_n_refs(n_refs)
    check_in(metric, _METRICS, name="metric", owner=_OWNER)
    if silhouette_sample_size is not None:
        check_real(
            silhouette_sample_size,
            name="silhouette_sample_size",
            owner=_OWNER,
            low=2,
            integer=True,
        )
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2)
    n = X.shape[0]
    if ks_arr[-1] > n:
        raise ValueError(
            f"n_samples={n} should be >= the largest K in ks, K={int(ks_arr[-1])}: K-means "
            "cannot make more clusters than there are rows. Lower the largest K or pass more rows."
        )
    w = check_sample_weight(sample_weight, n)
    rng = as_generator(random_state)
    fit_state = (
        random_state
        if isinstance(random_state, Integral) and not isinstance(random_state, bool)
        else rng
    )
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total); got {progress!r}.")
    return _select_k(
        X,
        ks_arr,
        int(n_init),
        int(n_refs),
        metric,
        w,
        silhouette_sample_size,
        fit_state,
        rng,
        _Counter(ks_arr.size * (1 + int(n_refs)), progress),
    )


class _Counter:
    """Calls ``progress(done, total)`` after each K-means fit."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def _select_k(
    X: np.ndarray,
    ks: np.ndarray,
    n_init: int,
    n_refs: int,
    metric: str,
    w: np.ndarray | None,
    silhouette_sample_size: int | None,
    fit_state: Any,
    rng: np.random.Generator,
    counter: _Counter,
) -> KSelection:
    """Guts of :func:`select_k`; prior validation of data is assumed."""
    n = X.shape[0]
    X_space = normalize(X) if metric == "cosine" else X  # where DB, CH and the box live
    wcss = np.empty(ks.size)
    sil = np.full(ks.size, np.nan)
    db = np.full(ks.size, np.nan)
    ch = np.full(ks.size, np.nan)
    # The silhouette of a subset uses the same rows for every K, so that the
    # values differ by the clusterings, not by the draw.
    rows = None
    if silhouette_sample_size is not None and silhouette_sample_size < n:
        rows = np.sort(rng.choice(n, size=silhouette_sample_size, replace=False))
    for i, k in enumerate(ks):
        km = KMeans(int(k), n_init=n_init, metric=metric, random_state=fit_state)
        km.fit(X, sample_weight=w)
        wcss[i] = km.inertia_
        counter.tick()
        labels = km.labels_
        if 2 <= np.unique(labels).size <= n - 1:
            db[i] = davies_bouldin_score(X_space, labels)
            ch[i] = calinski_harabasz_score(X_space, labels)
            if rows is None:
                sil[i] = silhouette_score(X, labels, metric=metric)
            elif 2 <= np.unique(labels[rows]).size <= rows.size - 1:
                sil[i] = silhouette_score(X[rows], labels[rows], metric=metric)

    gap, gap_se = _gap(X_space, wcss, ks, n_init, n_refs, metric, w, rng, counter)

    reasons: list[str] = []
    monotone = np.minimum.accumulate(wcss)
    elbow_index = _elbow_index(ks.astype(np.float64), monotone, _ELBOW_SENSITIVITY)
    elbow_k = None if elbow_index is None else int(ks[elbow_index])
    silhouette_k = _best(ks, sil, highest=True)
    gap_k = _one_se_rule(ks, gap, gap_se)
    db_k = _best(ks, db, highest=False)
    ch_k = _best(ks, ch, highest=True)

    reasons.append(_elbow_reason(ks, wcss, monotone, elbow_k))
    reasons.append(_silhouette_reason(sil, ks, silhouette_k))
    reasons.append(_gap_reason(ks, n_refs, gap_k))
    reasons.append(_informative_reason("Davies-Bouldin", "lowest", db, ks, db_k))
    reasons.append(_informative_reason("Calinski-Harabasz", "highest", ch, ks, ch_k))
    k, verdict = _consensus(elbow_k, silhouette_k, gap_k, sil, gap, gap_se, ks)
    reasons.insert(0, verdict)
    return KSelection(
        k=k,
        reasons=tuple(reasons),
        ks=ks,
        wcss=wcss,
        silhouette=sil,
        davies_bouldin=db,
        calinski_harabasz=ch,
        gap=gap,
        gap_se=gap_se,
        elbow_k=elbow_k,
        silhouette_k=silhouette_k,
        gap_k=gap_k,
        davies_bouldin_k=db_k,
        calinski_harabasz_k=ch_k,
        metric=metric,
        n_init=n_init,
        n_refs=n_refs,
    )


# ----------------------------------------------------------------- gap statistic
def _reference_box(X: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Centre, principal axes (rows) and the box of ``X`` in those axes."""
    rows = X if w is None else X[w > 0]
    centre = rows.mean(axis=0) if w is None else np.average(rows, axis=0, weights=w[w > 0])
    centred = (rows - centre).astype(np.float64, copy=False)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes.T
    return centre, axes, projected.min(axis=0), projected.max(axis=0)


def _gap(
    X: np.ndarray,
    wcss: np.ndarray,
    ks: np.ndarray,
    n_init: int,
    n_refs: int,
    metric: str,
    w: np.ndarray | None,
    rng: np.random.Generator,
    counter: _Counter,
) -> tuple[np.ndarray, np.ndarray]:
    """Gap(K) and s_K for every K (NaN where undefined or when ``n_refs == 0``)."""
    gap = np.full(ks.size, np.nan)
    se = np.full(ks.size, np.nan)
    if n_refs == 0:
        return gap, se
    centre, axes, low, high = _reference_box(X, w)
    log_ref = np.empty((n_refs, ks.size))
    for b in range(n_refs):
        Z = rng.uniform(low, high, size=(X.shape[0], low.size)) @ axes + centre
        Z = Z.astype(X.dtype, copy=False)
        for i, k in enumerate(ks):
            km = KMeans(int(k), n_init=n_init, metric=metric, random_state=rng).fit(
                Z, sample_weight=w
            )
            log_ref[b, i] = math.log(km.inertia_) if km.inertia_ > 0 else -math.inf
            counter.tick()
    cols = np.flatnonzero((wcss > 0) & np.isfinite(log_ref).all(axis=0))
    ref = log_ref[:, cols]
    gap[cols] = ref.mean(axis=0) - np.log(wcss[cols])
    se[cols] = ref.std(axis=0) * math.sqrt(1.0 + 1.0 / n_refs)
    return gap, se


def _one_se_rule(ks: np.ndarray, gap: np.ndarray, se: np.ndarray) -> int | None:
    """Smallest K with Gap(K) >= Gap(K') - s_K', K' the next K with a finite gap."""
    defined = np.flatnonzero(np.isfinite(gap))
    for this, nxt in pairwise(defined):
        if gap[this] >= gap[nxt] - se[nxt]:
            return int(ks[this])
    return None


# ----------------------------------------------------------------- votes and reasons
def _best(ks: np.ndarray, values: np.ndarray, *, highest: bool) -> int | None:
    """K of the highest (lowest) finite value; the smallest K on a tie."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    target = values[finite].max() if highest else values[finite].min()
    return int(ks[np.flatnonzero(finite & (values == target))[0]])


def _consensus(
    elbow_k: int | None,
    silhouette_k: int | None,
    gap_k: int | None,
    sil: np.ndarray,
    gap: np.ndarray,
    gap_se: np.ndarray,
    ks: np.ndarray,
) -> tuple[int | None, str]:
    """The verdict and its reason (rule in :func:`select_k`, Notes)."""
    votes = {"elbow": elbow_k, "silhouette": silhouette_k, "gap": gap_k}
    note = ""
    if gap_k == 1:  # then ks[0] == 1 and gap[0] is finite
        top = int(np.nanargmax(gap))
        rise = float(gap[top] - gap[0])
        if rise > GAP_RISE:
            within = np.flatnonzero(gap >= gap[top] - gap_se[top])  # NaN compares False
            votes["gap"] = int(ks[within[0]])
            note = (
                f" The gap statistic's K=1 is a dip of its 1-SE rule: Gap rises by "
                f"{rise:.2f} > log 2 up to K={int(ks[top])}, so it votes for K={votes['gap']}, "
                "the smallest K within one s_K of its maximum."
            )
        else:
            return _no_structure(elbow_k, silhouette_k, sil, ks)
    said = ", ".join(f"{name} {'-' if k is None else k}" for name, k in votes.items())
    counts: dict[int, list[str]] = {}
    for name, k in votes.items():
        if k is not None:
            counts.setdefault(k, []).append(name)
    for k, names in counts.items():
        if len(names) >= 2:
            others = [
                f"{n} says {v}" if v is not None else f"{n} has no answer"
                for n, v in votes.items()
                if n not in names
            ]
            extra = f" ({', '.join(others)})" if others else ""
            return k, f"K={k}: {' and '.join(names)} agree{extra}.{note}"
    if not counts:
        return None, f"No clear K: no criterion gave an answer ({said}).{note}"
    return None, f"No clear K: the criteria disagree ({said}).{note}"


def _no_structure(
    elbow_k: int | None, silhouette_k: int | None, sil: np.ndarray, ks: np.ndarray
) -> tuple[int | None, str]:
    """The verdict when the gap statistic finds no structure (step 1 of the rule)."""
    if elbow_k is not None and elbow_k == silhouette_k:
        s = float(sil[np.flatnonzero(ks == elbow_k)[0]])
        if s >= STRONG_SILHOUETTE:
            return elbow_k, (
                f"K={elbow_k}: elbow and silhouette agree with a strong silhouette "
                f"({s:.3f} >= {STRONG_SILHOUETTE}), overruling the gap statistic's K=1."
            )
        alternative = (
            f"elbow and silhouette both say K={elbow_k}, but its silhouette {s:.3f} is "
            f"below {STRONG_SILHOUETTE}, too weak to overrule it"
        )
    else:
        alternative = (
            f"elbow ({'-' if elbow_k is None else elbow_k}) and silhouette "
            f"({'-' if silhouette_k is None else silhouette_k}) do not agree on another K"
        )
    best_sil = float(np.nanmax(sil)) if np.isfinite(sil).any() else math.nan
    if best_sil < WEAK_SILHOUETTE:
        return 1, (
            "K=1, no cluster structure: the gap statistic finds none beyond uniform data "
            f"and the best silhouette is weak ({best_sil:.3f} < {WEAK_SILHOUETTE})."
        )
    return None, (
        "No clear K: the gap statistic finds no more structure than uniform data (K=1); "
        f"{alternative}."
    )


def _elbow_reason(ks: np.ndarray, wcss: np.ndarray, monotone: np.ndarray, k: int | None) -> str:
    rises = [int(ks[i]) for i in np.flatnonzero(wcss > monotone)]
    note = ""
    if rises:
        note = (
            f" WCSS rose at K={', '.join(map(str, rises))} (a worse local optimum of "
            "K-means); the elbow was found on the running minimum."
        )
    if k is not None:
        return f"elbow: K={k}, the Kneedle elbow of the WCSS curve.{note}"
    if ks.size < 4:
        return (
            "elbow: none; with sensitivity 1, Kneedle needs at least 4 values of K "
            f"to confirm a bend.{note}"
        )
    return f"elbow: none; the WCSS curve has no clear bend (flat or nearly straight).{note}"


def _silhouette_reason(sil: np.ndarray, ks: np.ndarray, k: int | None) -> str:
    if k is None:
        return "silhouette: none; it is undefined for every K tried (K=1 or K=n_samples)."
    s = float(sil[np.flatnonzero(ks == k)[0]])
    return f"silhouette: K={k}, the highest mean silhouette ({s:.3f})."


def _gap_reason(ks: np.ndarray, n_refs: int, k: int | None) -> str:
    if n_refs == 0:
        return "gap: not computed (n_refs=0)."
    if k is None:
        return (
            f"gap: none; Gap(K) is still rising at K={int(ks[-1])}, the largest K tried: "
            "the best K may lie beyond ks."
        )
    if k == 1:
        return (
            "gap: K=1; Gap(1) >= Gap(K') - s_K' for the next K': no more structure than "
            f"uniform reference data ({n_refs} sets)."
        )
    return (
        f"gap: K={k}, the smallest K with Gap(K) >= Gap(K') - s_K' for the next K' "
        f"(Tibshirani's 1-SE rule, {n_refs} reference sets)."
    )


def _informative_reason(
    name: str, direction: str, values: np.ndarray, ks: np.ndarray, k: int | None
) -> str:
    if k is None:
        return f"{name}: none; it is undefined for every K tried (K=1 or K=n_samples)."
    v = float(values[np.flatnonzero(ks == k)[0]])
    return f"{name}: K={k}, the {direction} index ({v:.4g}); reported, not a vote."


# ----------------------------------------------------------------- validation, formatting
def _check_ks(ks: Any) -> np.ndarray:
    try:
        values = list(ks)
    except TypeError:
        values = None
    ok = values is not None and all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in values
    )
    if ok:
        arr = np.unique(np.asarray(values, dtype=np.int64))
        if arr.size >= 2:
            return arr
    raise ValueError(
        f"The 'ks' parameter of {_OWNER} must be positive integers with at least 2 distinct "
        f"values, such as range(1, 11). Got {ks!r} instead."
    )


def _check_n_refs(n_refs: Any) -> None:
    ok = isinstance(n_refs, Integral) and not isinstance(n_refs, bool)
    if not ok or not (n_refs == 0 or n_refs >= 2):
        raise ValueError(
            f"The 'n_refs' parameter of {_OWNER} must be 0 (no gap statistic) or an integer "
            f">= 2 (one reference set gives no standard error). Got {n_refs!r} instead."
        )


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _fmt(value: float, spec: str = ".6g") -> str:
    return format(float(value), spec) if np.isfinite(value) else "-"


def _describe_ks(ks: np.ndarray) -> str:
    if ks.size > 3 and (np.diff(ks) == 1).all():
        return f"{int(ks[0])}..{int(ks[-1])}"
    return "[" + ", ".join(str(int(k)) for k in ks) + "]"
