"""Choose the anomaly threshold that maximises F1 (or F-beta) on labelled data.

A row is flagged when its score is strictly below the threshold (``p < epsilon``,
as in the guide). Lower scores are more anomalous: pass densities or
log-densities, never ``-log p``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._utils._validation import check_binary_labels, check_in, check_real, check_scores

__all__ = ["ThresholdCurve", "ThresholdResult", "cut_between", "select_threshold"]

_METRICS = ("f1", "fbeta")
_METHODS = ("exact", "grid")


def cut_between(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A threshold strictly above ``lower`` and at most ``upper`` (elementwise).

    The midpoint is computed as ``lower / 2 + upper / 2``, which cannot
    overflow even for scores of opposite sign near the largest float; where it
    is not strictly above ``lower`` (adjacent floating-point numbers, or
    subnormals), ``upper`` itself is used. With the strict rule
    ``score < threshold`` every row scored ``<= lower`` is flagged and every
    row scored ``>= upper`` is not.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    mid = lower / 2 + upper / 2
    return np.where(mid > lower, mid, upper)


@dataclass(frozen=True, repr=False)
class ThresholdCurve:
    """The metric at every candidate threshold (arrays of equal length).

    ``thresholds`` are increasing; ``n_flagged[i]`` rows score strictly below
    ``thresholds[i]``.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    fscore: np.ndarray
    n_flagged: np.ndarray

    def __len__(self) -> int:
        return len(self.thresholds)

    def __repr__(self) -> str:
        return f"ThresholdCurve(n_thresholds={len(self)})"

    def to_dict(self) -> dict[str, list]:
        return {
            "thresholds": self.thresholds.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "fscore": self.fscore.tolist(),
            "n_flagged": self.n_flagged.tolist(),
        }


@dataclass(frozen=True, repr=False)
class ThresholdResult:
    """The chosen threshold and its quality on the data it was chosen on.

    Attributes
    ----------
    threshold : float
        Flag a row when ``score < threshold``. In the units of the scores given
        (a density epsilon, or log-epsilon for log-densities).
    score : float
        The optimised metric (F1, or F-beta for ``metric="fbeta"``).
    f1, precision, recall : float
        At ``threshold``, on the validation rows. Optimistic: report a test split.
    tp, fp, fn, tn, n_flagged : int
        The confusion counts at ``threshold``.
    metric, beta, method : str, float, str
        How the threshold was chosen.
    curve : ThresholdCurve
        The metric at every candidate threshold, for plots. For ``exact`` it
        is computed on first access (it costs a sort of all scores, which the
        choice itself does not need); until then the result keeps the sorted
        scores (8 bytes per row).
    """

    threshold: float
    score: float
    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    tn: int
    metric: str
    beta: float
    method: str
    _curve: ThresholdCurve | None = field(default=None, compare=False)
    _make_curve: Callable[[], ThresholdCurve] | None = field(default=None, compare=False)

    @property
    def n_flagged(self) -> int:
        return self.tp + self.fp

    @cached_property
    def curve(self) -> ThresholdCurve:
        """The metric at every candidate threshold (built on first access for ``exact``)."""
        if self._curve is not None:
            return self._curve
        return self._make_curve()

    def __repr__(self) -> str:
        return (
            f"ThresholdResult(threshold={self.threshold:.6g}, {self.metric}={self.score:.6f}, "
            f"precision={self.precision:.6f}, recall={self.recall:.6f}, "
            f"n_flagged={self.n_flagged}, method={self.method!r})"
        )

    def to_dict(self, *, curve: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "threshold": self.threshold,
            self.metric: self.score,
            "f1": self.f1,
            "precision": self.precision,
            "recall": self.recall,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "n_flagged": self.n_flagged,
            "metric": self.metric,
            "beta": self.beta,
            "method": self.method,
        }
        if curve:
            out["curve"] = self.curve.to_dict()
        return out


def fbeta_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float) -> np.ndarray:
    """F-beta from counts, ``(1+b2) tp / ((1+b2) tp + b2 fn + fp)``; 0 when tp = 0."""
    b2 = beta * beta
    num = (1.0 + b2) * tp
    den = num + b2 * fn + fp
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def _fbeta_guide(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float) -> np.ndarray:
    """F-beta through precision and recall, exactly as the guide's loop computes it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        b2 = beta * beta
        den = b2 * prec + rec
        return np.where(den > 0, (1.0 + b2) * prec * rec / den, 0.0)


def _check_inputs(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = check_binary_labels(y_true, name="y_true")
    s = check_scores(scores, name="scores")
    if y.shape[0] != s.shape[0]:
        raise ValueError(
            f"y_true and scores have different lengths: {y.shape[0]} labels for "
            f"{s.shape[0]} scores. Pass one label per scored row."
        )
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError(
            "y_true has no anomalies (no 1s), so F1 is 0 at every threshold and no "
            "epsilon can be chosen from it. Use a validation set that contains labelled "
            "anomalies, or set the threshold from a contamination fraction or an explicit epsilon."
        )
    if n_pos == y.shape[0]:
        raise ValueError(
            "y_true has only anomalies (no 0s): flagging every row is trivially best, "
            "so the threshold would mean nothing. The validation set needs normal rows too."
        )
    if s.min() == s.max():
        raise ValueError(
            f"All {s.shape[0]} scores are equal ({s[0]!r}): no threshold separates any "
            "rows. Check that the model was fitted and the validation rows differ."
        )
    return y, s


def select_threshold(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    metric: str = "f1",
    beta: float = 1.0,
    method: str = "exact",
    n_steps: int = 1000,
) -> ThresholdResult:
    """Choose the threshold on labelled validation scores that maximises F1 or F-beta.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomaly, 0 for a normal row (booleans are accepted).
    scores : array-like of shape (n_samples,)
        Densities or log-densities: **lower is more anomalous**. A row is
        flagged when ``score < threshold``.
    metric : {"f1", "fbeta"}, default="f1"
        What to maximise. ``"fbeta"`` weighs recall ``beta`` times as much as
        precision.
    beta : float, default=1.0
        The beta of F-beta; must be 1 with ``metric="f1"``.
    method : {"exact", "grid"}, default="exact"
        ``"exact"`` considers every distinct score: one stable sort and
        cumulative sums, O(n log n), and places each threshold between two
        consecutive distinct scores. ``"grid"`` is the product guide's scan,
        kept for reproducing published numbers: ``n_steps`` equal steps from
        the minimum to the maximum score (``n_steps + 1`` candidates), strict
        ``score < threshold``, and the first strictly better score wins. The
        default ``n_steps=1000`` is the course's ``min:(max-min)/1000:max``;
        the guide's ``np.linspace(min, max, 1000)`` is ``n_steps=999``.
    n_steps : int, default=1000
        Number of equal steps for ``method="grid"``.

    Returns
    -------
    ThresholdResult
        ``threshold``, ``score``, ``f1``, ``precision``, ``recall``, the
        confusion counts and the whole ``curve``.

    Raises
    ------
    ValueError
        Labels that are not 0/1, lengths that differ, no anomalies, only
        anomalies, a single distinct score, non-finite scores, or (grid) no
        candidate that catches an anomaly. The function never falls back
        silently to "flag nothing" or "flag everything".

    See Also
    --------
    GaussianDetector.tune_threshold : the same choice made on a fitted detector.

    Notes
    -----
    With ``method="exact"``, the candidates are the ``u`` distinct scores
    ``s_1 < ... < s_u``; candidate ``i`` flags every row scored ``<= s_i`` and
    sits at ``cut_between(s_i, s_{i+1})`` (midpoint; ``nextafter(s_u, inf)``
    for the last one, which flags every row). F-beta is computed as
    ``(1 + b2) tp / ((1 + b2) tp + b2 fn + fp)``, which has no 0/0. When
    several candidates share the best value, the lowest threshold (fewest
    flagged rows) wins. Because every partition of the sorted scores is
    examined, no grid can reach a higher value on the same data.

    The grid misses the optimum when densities span many orders of magnitude
    (its step can exceed most normal densities): prefer ``"exact"``, or pass
    log-densities.

    Examples
    --------
    >>> from anomalykit import select_threshold
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> log_p = [-1.0, -1.2, -0.8, -2.5, -9.0, -7.5]
    >>> result = select_threshold(y, log_p)
    >>> result.f1, result.n_flagged
    (1.0, 2)
    >>> float(result.threshold)
    -5.0
    """
    owner = "select_threshold"
    check_in(metric, _METRICS, name="metric", owner=owner)
    check_in(method, _METHODS, name="method", owner=owner)
    check_real(beta, name="beta", owner=owner, low=0.0, low_open=True)
    if metric == "f1" and beta != 1.0:
        raise ValueError(
            f"metric='f1' fixes beta=1; got beta={beta!r}. Use metric='fbeta' to weigh "
            "recall beta times as much as precision."
        )
    check_real(n_steps, name="n_steps", owner=owner, low=1, integer=True)
    y, s = _check_inputs(y_true, scores)
    # Two sorts of the two classes replace one argsort of (score, label): a plain
    # sort is several times faster than an argsort, and counts below a threshold
    # are then binary searches.
    pos = np.sort(s[y == 1])
    neg = np.sort(s[y == 0])
    if method == "exact":
        best = _best_exact_cut(pos, neg, beta)
        curve = None  # built on first access of ThresholdResult.curve
    else:
        curve = _grid_curve(pos, neg, beta, n_steps)
        if not (curve.recall > 0).any():
            raise ValueError(
                f"No threshold of the {n_steps}-step grid flags an anomaly: the anomalies "
                "do not score below the normal rows. Use method='exact' or check the scores' "
                "direction (lower must be more anomalous)."
            )
        i = int(np.argmax(curve.fscore))  # first maximum: the first strictly better wins
        tp_i = int(np.searchsorted(pos, curve.thresholds[i], side="left"))
        best = (
            float(curve.thresholds[i]),
            float(curve.fscore[i]),
            tp_i,
            int(curve.n_flagged[i]) - tp_i,
        )
    threshold, score, tp_b, fp_b = best
    fn_b = pos.size - tp_b
    return ThresholdResult(
        threshold=threshold,
        score=score,
        f1=float(
            fbeta_from_counts(np.array([tp_b], float), np.array([fp_b]), np.array([fn_b]), 1.0)[0]
        ),
        precision=tp_b / (tp_b + fp_b) if tp_b + fp_b else 0.0,
        recall=tp_b / pos.size,
        tp=tp_b,
        fp=fp_b,
        fn=fn_b,
        tn=neg.size - fp_b,
        metric=metric,
        beta=float(beta),
        method=method,
        _curve=curve,
        _make_curve=partial(_exact_curve, pos, neg, beta),  # picklable, unlike a lambda
    )


def _best_exact_cut(pos: np.ndarray, neg: np.ndarray, beta: float) -> tuple[float, float, int, int]:
    """The best cut of the sorted scores: (threshold, F-beta, tp, fp).

    Only cuts whose highest flagged score is held by an anomaly can be best:
    unflagging normal rows above the last flagged anomaly raises precision at
    equal recall. So the candidates are the distinct anomaly scores, each
    flagging every row scored at or below it (ties with normal rows included).
    """
    keep = np.ones(pos.size, dtype=bool)
    keep[:-1] = pos[1:] > pos[:-1]
    values = pos[keep]  # distinct anomaly scores, ascending
    tp = np.flatnonzero(keep) + 1  # anomalies scored <= each value
    fp = np.searchsorted(neg, values, side="right")  # normal rows scored <= each value
    fscore = fbeta_from_counts(tp.astype(np.float64), fp, pos.size - tp, beta)
    i = int(np.argmax(fscore))  # first maximum: lowest threshold wins ties
    above = [pos[tp[i]]] if tp[i] < pos.size else []
    if fp[i] < neg.size:
        above.append(neg[fp[i]])
    v = values[i]
    threshold = float(cut_between(v, min(above))) if above else float(np.nextafter(v, np.inf))
    return threshold, float(fscore[i]), int(tp[i]), int(fp[i])


def _exact_curve(pos: np.ndarray, neg: np.ndarray, beta: float) -> ThresholdCurve:
    """The metric after every distinct score (the candidates of ``method="exact"``)."""
    values = np.unique(np.concatenate((pos, neg)))
    tp = np.searchsorted(pos, values, side="right")
    n_flag = tp + np.searchsorted(neg, values, side="right")
    thresholds = np.concatenate(
        (cut_between(values[:-1], values[1:]), [np.nextafter(values[-1], np.inf)])
    )
    return _curve_from_counts(thresholds, tp, n_flag, pos.size, fbeta_from_counts, beta)


def _grid_curve(pos: np.ndarray, neg: np.ndarray, beta: float, n_steps: int) -> ThresholdCurve:
    """The guide's scan: ``n_steps`` equal steps from the lowest to the highest score."""
    lo = min(pos[0], neg[0])
    hi = max(pos[-1], neg[-1])
    thresholds = np.minimum(lo + (hi - lo) / n_steps * np.arange(n_steps + 1), hi)
    tp = np.searchsorted(pos, thresholds, side="left")  # strict: score < threshold
    n_flag = tp + np.searchsorted(neg, thresholds, side="left")
    return _curve_from_counts(thresholds, tp, n_flag, pos.size, _fbeta_guide, beta)


def _curve_from_counts(thresholds, tp, n_flag, n_pos, fbeta, beta) -> ThresholdCurve:
    tp = tp.astype(np.float64)
    n_flag = np.asarray(n_flag, dtype=np.int64)
    return ThresholdCurve(
        thresholds=np.asarray(thresholds, dtype=np.float64),
        precision=np.divide(tp, n_flag, out=np.zeros_like(tp), where=n_flag > 0),
        recall=tp / n_pos,
        fscore=fbeta(tp, n_flag - tp, n_pos - tp, beta),
        n_flagged=n_flag,
    )
