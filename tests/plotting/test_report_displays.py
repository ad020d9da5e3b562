"""The Displays the HTML report draws: precision-recall, score histogram, 2-D density contours."""

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.pipeline import Pipeline

from anomalykit import GaussianDetector
from anomalykit.metrics import evaluate_threshold
from anomalykit.plotting import (
    DensityContourDisplay,
    PrecisionRecallDisplay,
    ScoreHistogramDisplay,
)
from anomalykit.preprocessing import FeatureScaler


@pytest.fixture
def scored():
    """Log-densities of 300 normal rows and 15 shifted anomalies (with a long low tail)."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(15, int)]
    X = rng.normal(size=(315, 3)) + 3 * y[:, None]
    X[-3:] += 40  # extreme rows: log-densities hundreds below the bulk
    det = GaussianDetector().fit(X[y == 0])
    return y, det.score_samples(X), float(np.quantile(det.score_samples(X), 0.05))


def test_precision_recall_ranks_low_scores_first_and_marks_the_threshold(scored):
    import matplotlib.pyplot as plt

    y, s, t = scored
    before = plt.get_fignums()
    disp = PrecisionRecallDisplay.from_scores(y, s, threshold=t)
    assert plt.get_fignums() == before  # no pyplot state touched
    p, r, _ = precision_recall_curve(y, -s)
    np.testing.assert_array_equal(disp.precision, p)
    np.testing.assert_array_equal(disp.recall, r)
    assert disp.average_precision == pytest.approx(average_precision_score(y, -s))
    ev = evaluate_threshold(y, s, t)
    assert disp.operating_point == pytest.approx((ev.recall, ev.precision))
    marker = next(ln for ln in disp.ax_.get_lines() if ln.get_marker() == "o")
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == pytest.approx(disp.operating_point)


def test_precision_recall_needs_both_classes_and_draws_on_a_given_axes(scored):
    from matplotlib.figure import Figure

    y, s, _ = scored
    with pytest.raises(ValueError, match="both anomalies and normal rows"):
        PrecisionRecallDisplay.from_scores(np.zeros_like(y), s)
    ax = Figure().add_subplot()
    disp = PrecisionRecallDisplay.from_scores(y, s, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is ax.figure and disp.operating_point is None


def test_histogram_keeps_every_row_and_gathers_the_far_tail(scored):
    y, s, t = scored
    disp = ScoreHistogramDisplay.from_scores(s, labels=y, threshold=t)
    lo, hi = disp.edges[0], disp.edges[-1]
    assert disp.n_clipped == int(np.sum(s < lo)) >= 3  # the extreme rows
    assert lo < t < hi and s.max() <= hi
    assert s[y == 0].min() >= lo or np.mean(s[y == 0] < lo) < 0.01  # the bulk is in view
    # normal and anomaly bars, each drawn filled + outline, count every row once
    filled = [p for p in disp.ax_.patches if p.get_fill()]
    total = sum(float(np.sum(p.get_data().values)) for p in filled)
    hatched = [p for p in disp.ax_.patches if p.get_hatch() and not p.get_fill()]
    tail = sum(float(np.sum(p.get_data().values)) for p in hatched)
    assert total + tail == len(s) and tail == disp.n_clipped
    assert any(ln.get_xdata()[0] == t for ln in disp.ax_.get_lines())
    assert disp.ax_.get_yscale() == "log"  # 20 normal rows per anomaly
    assert "rows below" in " ".join(x.get_text() for x in disp.ax_.get_legend().get_texts())


def test_histogram_without_labels_or_threshold(scored):
    _, s, _ = scored
    disp = ScoreHistogramDisplay.from_scores(s[:300], log_counts=False)
    assert disp.ax_.get_yscale() == "linear" and disp.n_clipped <= 2
    assert disp.ax_.get_legend().get_texts()[0].get_text() == "rows (300)"


def two_features(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal([14.0, 15.0], [[1.5, 0.6], [0.6, 1.8]], size=200)
    return np.r_[X, [[5.0, 5.0], [24.0, 14.0], [14.0, 27.0]]]


def test_contours_are_powers_of_ten_with_the_threshold_and_flagged_rows_circled():
    X = two_features()
    det = GaussianDetector(covariance="full").fit(X[:200])
    t = float(np.sort(det.score_samples(X))[4])  # flag the 4 lowest rows
    disp = DensityContourDisplay.from_estimator(det, X, threshold=t, feature_names=["a", "b"])
    decades = disp.levels / math.log(10)
    np.testing.assert_allclose(decades, np.round(decades))
    assert 2 <= disp.levels.size <= 8 and np.all(np.diff(disp.levels) > 0)
    contour_sets = [c for c in disp.ax_.collections if hasattr(c, "levels")]
    assert [list(c.levels) for c in contour_sets][-1] == [t]
    circled = disp.ax_.collections[-1].get_offsets()
    np.testing.assert_array_equal(circled, X[det.score_samples(X) < t])
    assert len(circled) == 4
    assert disp.ax_.get_xlabel() == "a" and disp.ax_.get_ylabel() == "b"
    lo, hi = disp.ax_.get_xlim()
    assert lo < X[:, 0].min() and X[:, 0].max() < hi


def test_contours_of_a_pipeline_in_original_units():
    X = two_features(1) * [1.0, 1000.0]
    model = Pipeline(
        [("scale", FeatureScaler("standard")), ("detect", GaussianDetector(covariance="full"))]
    ).fit(X[:200])
    flags = model.score_samples(X) < model[-1].offset_
    disp = DensityContourDisplay.from_estimator(
        model, X, threshold=model[-1].offset_, is_anomaly=flags
    )
    lo, hi = disp.ax_.get_ylim()
    assert lo < X[:, 1].min() and X[:, 1].max() < hi  # drawn in the data's own units
    np.testing.assert_array_equal(disp.ax_.collections[-1].get_offsets(), X[flags])


def test_contours_need_two_features():
    X = np.random.default_rng(0).normal(size=(50, 3))
    det = GaussianDetector().fit(X)
    with pytest.raises(ValueError, match="exactly 2 features"):
        DensityContourDisplay.from_estimator(det, X)
