"""Bootstrap confidence intervals for the chosen epsilon and the test F1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._utils._random import as_generator
from .._utils._validation import check_real
from ..thresholds import select_threshold
from ..thresholds._select import fbeta_from_counts

__all__ = ["BootstrapInterval", "bootstrap_interval"]


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap intervals of the test F-score and of log-epsilon.

    Each replicate resamples the validation rows and the test rows with
    replacement, within each class (so every replicate keeps the class counts),
    chooses epsilon again on the validation sample and scores the test sample
    with it: the interval holds both the chance in choosing epsilon and the
    chance in the test rows.

    Attributes
    ----------
    level : float
        E.g. 0.95.
    n_resamples : int
        Replicates that produced a threshold (a replicate whose validation
        sample has a single distinct score has none and is left out).
    f1 : tuple of float
        (low, high) of the test F1 (F-beta with the workflow's ``beta``).
    log_epsilon : tuple of float
        (low, high) of the log-epsilon chosen on the validation samples.
    """

    level: float
    n_resamples: int
    f1: tuple[float, float]
    log_epsilon: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "n_resamples": self.n_resamples,
            "f1": list(self.f1),
            "log_epsilon": list(self.log_epsilon),
        }


def bootstrap_interval(
    y_val: np.ndarray,
    val_scores: np.ndarray,
    y_test: np.ndarray,
    test_scores: np.ndarray,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    metric: str = "f1",
    beta: float = 1.0,
    method: str = "exact",
    n_steps: int = 1000,
    random_state: Any = 0,
    progress: Callable[[int, int], None] | None = None,
) -> BootstrapInterval:
    """Percentile intervals of the test F-score and log-epsilon (see
    :class:`BootstrapInterval`). Labels are 0/1 arrays, scores log-densities
    (lower = more anomalous); prior validation of data is assumed.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(200, int), np.ones(20, int)]
    >>> s = np.where(y == 1, rng.normal(-8, 2, y.size), rng.normal(0, 1, y.size))
    >>> ci = bootstrap_interval(y, s, y, s, n_resamples=200, random_state=0)
    >>> ci.f1[0] < ci.f1[1] <= 1.0
    True
    """
    check_real(n_resamples, name="n_bootstrap", owner="detect_anomalies", low=1, integer=True)
    check_real(
        level,
        name="confidence",
        owner="detect_anomalies",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    )
    rng = as_generator(random_state)
    val_groups = _class_rows(y_val)
    test_groups = _class_rows(y_test)
    f1 = np.empty(n_resamples)
    log_eps = np.empty(n_resamples)
    kept = 0
    for b in range(n_resamples):
        v = _resample(val_groups, rng)
        t = _resample(test_groups, rng)
        try:
            chosen = select_threshold(
                y_val[v], val_scores[v], metric=metric, beta=beta, method=method, n_steps=n_steps
            )
        except ValueError:  # a sample with one distinct score has no threshold
            pass
        else:
            flagged = test_scores[t] < chosen.threshold
            yt = y_test[t] == 1
            tp = np.count_nonzero(flagged & yt)
            fp = np.count_nonzero(flagged & ~yt)
            fn = np.count_nonzero(~flagged & yt)
            f1[kept] = fbeta_from_counts(np.array([tp]), np.array([fp]), np.array([fn]), beta)[0]
            log_eps[kept] = chosen.threshold
            kept += 1
        if progress is not None:
            progress(b + 1, n_resamples)
    if kept == 0:
        raise ValueError(
            "No bootstrap replicate produced a threshold (the validation scores hardly vary); "
            "set n_bootstrap=0."
        )
    tail = (1.0 - level) / 2.0 * 100.0
    lo_hi = [tail, 100.0 - tail]
    f_lo, f_hi = np.percentile(f1[:kept], lo_hi)
    e_lo, e_hi = np.percentile(log_eps[:kept], lo_hi)
    return BootstrapInterval(level, kept, (float(f_lo), float(f_hi)), (float(e_lo), float(e_hi)))


def _class_rows(y: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(y == c) for c in (0, 1)]


def _resample(groups: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Rows drawn with replacement within each class, class sizes kept."""
    return np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups if g.size])
