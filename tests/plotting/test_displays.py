import numpy as np
import pytest

pytest.importorskip("matplotlib")

from anomalykit import GaussianDetector, KMeans, select_threshold
from anomalykit.plotting import (
    ClusterDisplay,
    ThresholdCurveDisplay,
    project_2d,
)


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(15, int)]
    X = rng.normal(size=(315, 3)) + 3 * y[:, None]
    det = GaussianDetector().fit(X[y == 0])
    return select_threshold(y, det.score_samples(X))


def test_threshold_display_marks_the_chosen_threshold(result, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    disp = ThresholdCurveDisplay.from_result(result)
    assert plt.get_fignums() == before  # no pyplot state touched
    f1_line = disp.ax_.get_lines()[0]
    np.testing.assert_array_equal(f1_line.get_ydata(), result.curve.fscore)
    marker = next(ln for ln in disp.ax_.get_lines() if ln.get_marker() == "o")
    assert marker.get_xdata()[0] == result.threshold and marker.get_ydata()[0] == result.score
    lo, hi = disp.ax_.get_xlim()
    assert lo <= result.threshold <= hi
    disp.figure_.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_threshold_display_uses_a_log_axis_for_densities(result):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(100, int), np.ones(5, int)]
    p = np.exp(rng.normal(size=105) * 10 - 20 * y)
    disp = ThresholdCurveDisplay.from_result(select_threshold(y, p))
    assert disp.ax_.get_xscale() == "log"


def test_displays_draw_on_a_given_axes(result):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    disp = ThresholdCurveDisplay.from_result(result, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is ax.figure


def test_cluster_display_projects_and_circles_outliers():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 8]
    km = KMeans(2, random_state=0).fit(X)
    flags = np.zeros(200, bool)
    flags[[3, 150]] = True
    disp = ClusterDisplay.from_estimator(km, X, outliers=flags)
    collections = disp.ax_.collections
    assert len(collections) == 3  # rows, centres, outliers
    assert collections[2].get_offsets().shape == (2, 2)
    assert disp.ax_.get_xlabel() == "PC 1"


def test_project_2d_keeps_two_columns_and_projects_more():
    X = np.random.default_rng(0).normal(size=(50, 5)) * [10, 1, 0.1, 0.1, 0.1]
    P, C = project_2d(X, X[:3])
    assert P.shape == (50, 2) and C.shape == (3, 2)
    np.testing.assert_allclose(P[:3], C)
    # the first component follows the widest feature
    assert abs(np.corrcoef(P[:, 0], X[:, 0])[0, 1]) > 0.99
    X2 = X[:, :2]
    np.testing.assert_array_equal(project_2d(X2)[0], X2)
