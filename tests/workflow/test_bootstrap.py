import numpy as np
import pytest

from anomalykit.thresholds import select_threshold
from anomalykit.workflow import bootstrap_interval


def _scores(rng, n_normal, n_anomalies, gap):
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]
    s = np.where(y == 1, rng.normal(-gap, 1.0, y.size), rng.normal(0.0, 1.0, y.size))
    return y, s


def test_interval_narrows_with_more_rows_and_holds_the_truth():
    rng = np.random.default_rng(0)
    small = bootstrap_interval(*_scores(rng, 100, 10, 2.5), *_scores(rng, 100, 10, 2.5),
                               n_resamples=400, random_state=0)  # fmt: skip
    yv, sv = _scores(rng, 5000, 500, 2.5)
    yt, st = _scores(rng, 5000, 500, 2.5)
    large = bootstrap_interval(yv, sv, yt, st, n_resamples=200, random_state=0)
    width = lambda ci: ci.f1[1] - ci.f1[0]  # noqa: E731
    assert width(large) < width(small) / 2
    # The F1 of the threshold chosen on all validation rows, on all test rows, is inside.
    t = select_threshold(yv, sv).threshold
    flagged = st < t
    tp = np.sum(flagged & (yt == 1))
    f1 = 2 * tp / (2 * tp + np.sum(flagged & (yt == 0)) + np.sum(~flagged & (yt == 1)))
    assert large.f1[0] <= f1 <= large.f1[1]
    assert large.log_epsilon[0] <= t <= large.log_epsilon[1]


def test_resamples_keep_the_class_counts():
    # All anomalies far below every normal row: every replicate finds F1 = 1.
    y = np.r_[np.zeros(50, int), np.ones(5, int)]
    s = np.r_[np.linspace(0, 1, 50), np.linspace(-10, -9, 5)]
    ci = bootstrap_interval(y, s, y, s, n_resamples=100, random_state=1)
    assert ci.f1 == (1.0, 1.0)


def test_bad_settings_are_errors():
    y = np.r_[np.zeros(10, int), np.ones(2, int)]
    s = np.arange(12.0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap_interval(y, s, y, s, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval(y, s, y, s, level=1.0)
