"""select_threshold: the exact sweep against a brute force, the guide's grid, and
every degenerate input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from anomalykit import GaussianDetector, ThresholdResult, select_threshold
from anomalykit.thresholds._select import cut_between

REPO_ROOT = Path(__file__).resolve().parents[2]
COURSE = REPO_ROOT.parent / "shared" / "data" / "course"

SEEDS = range(25)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(params=["list", "ndarray", "series"])
def container(request):
    """An ndarray of labels or scores as a list, itself, or a pandas Series."""
    if request.param == "list":
        return lambda a: np.asarray(a).tolist()
    if request.param == "series":
        pd = pytest.importorskip("pandas")
        return pd.Series
    return np.asarray


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


# ----------------------------------------------------------------- references
def brute_force(y, scores, beta=1.0):
    """Every cut between sorted distinct scores, in exact rational arithmetic.

    Returns the per-cut F-beta values (cut ``k`` flags rows scored ``<= u[k]``),
    the distinct scores ``u`` and the index of the best cut (lowest on ties).
    """
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    u = np.unique(s)
    b2 = Fraction(beta) ** 2
    n_pos = int(y.sum())
    values, counts = [], []
    for cut in u:
        flag = s <= cut
        tp = int(np.sum(flag & (y == 1)))
        fp = int(flag.sum()) - tp
        fn = n_pos - tp
        num = (1 + b2) * tp
        den = num + b2 * fn + fp
        values.append(Fraction(0) if den == 0 else num / den)
        counts.append((tp, fp, fn))
    best = max(range(len(u)), key=lambda k: (values[k], -k))
    return values, counts, u, best


def guide_grid(y, p, n_steps):
    """The guide's loop, as corrected: strict ``p < eps``, first strictly better wins."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    lo, hi = p.min(), p.max()
    best_eps, best_f1 = 0.0, 0.0
    for eps in lo + (hi - lo) / n_steps * np.arange(n_steps + 1):
        pred = p < eps
        tp = int(np.sum(pred & (y == 1)))
        fp = int(np.sum(pred & (y == 0)))
        fn = int(np.sum(~pred & (y == 1)))
        if tp == 0:  # precision and recall are 0 or 0/0: F1 is 0 or NaN, never better
            continue
        prec = tp / (tp + fp)
        rec = tp / (tp + fn)
        f1 = 2 * prec * rec / (prec + rec)
        if f1 > best_f1:
            best_eps, best_f1 = float(eps), f1
    return best_eps, best_f1


def tied_data(seed, n=120):
    """Labels with ~15% anomalies and scores rounded so that many rows tie."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    y[:2] = [0, 1]  # both classes always present
    s = np.round(rng.normal(size=n) - 1.3 * y, 1)
    return y, s


def metric_kwargs(beta):
    return {"metric": "f1"} if beta == 1.0 else {"metric": "fbeta", "beta": beta}


# ---------------------------------------------------------------- exact method
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_exact_equals_brute_force_on_ties(beta):
    for seed in SEEDS:
        y, s = tied_data(seed)
        assert len(np.unique(s)) < len(s)  # the data does tie
        values, counts, u, best = brute_force(y, s, beta)
        result = select_threshold(y, s, **metric_kwargs(beta))

        assert result.score == pytest.approx(float(values[best]), rel=1e-12, abs=0)
        assert (result.tp, result.fp, result.fn) == counts[best]
        assert result.tn == len(y) - sum(counts[best])
        # the whole curve, not only its maximum
        np.testing.assert_allclose(result.curve.fscore, [float(v) for v in values], rtol=1e-12)
        # threshold in (u[best], u[best + 1]]
        assert result.threshold > u[best]
        if best + 1 < len(u):
            assert result.threshold <= u[best + 1]


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_exact_threshold_reproduces_its_counts(beta):
    for seed in SEEDS:
        y, s = tied_data(seed)
        result = select_threshold(y, s, **metric_kwargs(beta))
        flagged = s < result.threshold
        assert int(np.sum(flagged & (y == 1))) == result.tp
        assert int(np.sum(flagged & (y == 0))) == result.fp
        assert flagged.sum() == result.n_flagged
        # strictly between two consecutive distinct scores
        assert s[flagged].max() < result.threshold
        if not flagged.all():
            assert result.threshold < s[~flagged].min()


def test_f1_fields_are_consistent_for_fbeta():
    y, s = tied_data(3)
    result = select_threshold(y, s, metric="fbeta", beta=2.0)
    tp, fp, fn = result.tp, result.fp, result.fn
    assert result.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert result.precision == pytest.approx(tp / (tp + fp))
    assert result.recall == pytest.approx(tp / (tp + fn))
    assert result.score == pytest.approx(5 * tp / (5 * tp + 4 * fn + fp))
    assert result.metric == "fbeta" and result.beta == 2.0 and result.method == "exact"


def test_beta_moves_the_optimum():
    # recall-heavy F2 flags at least as many rows as precision-heavy F0.5
    for seed in SEEDS:
        y, s = tied_data(seed)
        low = select_threshold(y, s, metric="fbeta", beta=0.5)
        high = select_threshold(y, s, metric="fbeta", beta=2.0)
        assert high.n_flagged >= low.n_flagged
    assert any(
        select_threshold(*tied_data(seed), metric="fbeta", beta=2.0).n_flagged
        > select_threshold(*tied_data(seed), metric="fbeta", beta=0.5).n_flagged
        for seed in SEEDS
    )


def test_ties_lowest_threshold_wins():
    y = [1, 0, 0, 1, 0, 0]
    s = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    result = select_threshold(y, s)
    # flagging 1 row (tp=1, fn=1) and flagging 4 rows (tp=2, fp=2) both give F1 = 2/3
    fscore = result.curve.fscore
    assert fscore[0] == fscore[3] == pytest.approx(2 / 3)
    assert fscore.max() == fscore[0]
    assert result.n_flagged == 1
    assert result.threshold == 1.5
    # the same holds whatever order the rows come in
    order = np.array([5, 3, 0, 2, 4, 1])
    shuffled = select_threshold(np.array(y)[order], np.array(s)[order])
    assert shuffled.threshold == 1.5 and shuffled.n_flagged == 1


def test_docstring_example_by_hand():
    result = select_threshold([0, 0, 0, 0, 1, 1], [-1.0, -1.2, -0.8, -2.5, -9.0, -7.5])
    assert result.f1 == 1.0
    assert result.threshold == -5.0  # midpoint of -7.5 and -2.5
    assert (result.tp, result.fp, result.fn, result.tn) == (2, 0, 0, 4)


def test_exact_invariant_under_increasing_transform(rng):
    n = 400
    y = (rng.random(n) < 0.1).astype(int)
    log_p = rng.normal(scale=4.0, size=n) - 3.0 * y
    p = np.exp(log_p)
    assert len(np.unique(p)) == n  # exp kept every score distinct
    on_log = select_threshold(y, log_p)
    on_p = select_threshold(y, p)
    assert on_p.f1 == on_log.f1
    assert (on_p.tp, on_p.fp) == (on_log.tp, on_log.fp)
    np.testing.assert_array_equal(p < on_p.threshold, log_p < on_log.threshold)
    np.testing.assert_array_equal(on_p.curve.fscore, on_log.curve.fscore)
    cubed = select_threshold(y, log_p**3)
    np.testing.assert_array_equal(log_p**3 < cubed.threshold, log_p < on_log.threshold)


@pytest.mark.parametrize("base", [1.0, -3.5, 1e300, -1e-300, 0.0, 5e-324], ids=lambda b: f"{b:g}")
def test_adjacent_floats_still_separate(base):
    a = base
    b = np.nextafter(a, np.inf)
    c = np.nextafter(b, np.inf)
    s = np.array([a, a, b, b, c])
    y = np.array([1, 1, 0, 0, 0])
    result = select_threshold(y, s)
    assert result.f1 == 1.0
    assert a < result.threshold <= b
    np.testing.assert_array_equal(s < result.threshold, y == 1)
    # the next cut sits between b and c, the last one above c
    assert b < result.curve.thresholds[1] <= c
    assert result.curve.thresholds[-1] > c


def test_cut_between_is_strictly_above_lower():
    lower = np.array([0.0, 1.0, -2.0, 1e-300, np.nextafter(1.0, 0.0), -5e-324])
    upper = np.array([1.0, 3.0, -1.0, 2e-300, 1.0, 0.0])
    cut = cut_between(lower, upper)
    assert np.all(cut > lower) and np.all(cut <= upper)
    np.testing.assert_array_equal(cut[:3], [0.5, 2.0, -1.5])


def test_threshold_strictly_between_scores_of_huge_magnitude():
    # the midpoint of the two scores must not overflow to inf (which would flag both)
    s = np.array([-1.5e308, 1.5e308, 1.6e308])
    y = np.array([1, 0, 0])
    result = select_threshold(y, s)
    assert np.isfinite(result.threshold)
    assert s[0] < result.threshold < s[1]
    assert int(np.sum(s < result.threshold)) == result.n_flagged == 1


def test_exact_curve_arrays_are_consistent():
    for seed in SEEDS:
        y, s = tied_data(seed)
        curve = select_threshold(y, s).curve
        m = len(np.unique(s))
        for arr in (curve.thresholds, curve.precision, curve.recall, curve.fscore, curve.n_flagged):
            assert arr.shape == (m,)
        assert len(curve) == m
        assert np.all(np.diff(curve.thresholds) > 0)
        assert np.all(np.diff(curve.n_flagged) > 0)
        assert curve.n_flagged[-1] == len(y)
        # n_flagged really counts scores below each threshold
        np.testing.assert_array_equal(curve.n_flagged, (s[:, None] < curve.thresholds).sum(0))
        tp = ((s[:, None] < curve.thresholds) & (y[:, None] == 1)).sum(0)
        np.testing.assert_allclose(curve.precision, tp / curve.n_flagged)
        np.testing.assert_allclose(curve.recall, tp / y.sum())
        assert curve.recall[-1] == 1.0
        assert curve.to_dict()["n_flagged"] == curve.n_flagged.tolist()


# ---------------------------------------------------------------- grid method
def random_grid_data(seed, n=300):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(int)
    y[:2] = [0, 1]
    if seed % 2:
        p = np.exp(rng.normal(size=n) * 3.0 - 4.0 * y)  # densities over decades
    else:
        p = rng.normal(size=n) - 1.5 * y
    return y, p


@pytest.mark.parametrize("n_steps", [1000, 37, 7])
def test_grid_equals_guide_loop(n_steps):
    for seed in SEEDS:
        y, p = random_grid_data(seed)
        eps, f1 = guide_grid(y, p, n_steps)
        result = select_threshold(y, p, method="grid", n_steps=n_steps)
        assert result.threshold == eps
        assert result.score == f1
        assert result.f1 == pytest.approx(f1, rel=1e-12)
        assert result.method == "grid"
        flagged = p < result.threshold
        assert (int(np.sum(flagged & (y == 1))), int(np.sum(flagged & (y == 0)))) == (
            result.tp,
            result.fp,
        )


def test_grid_last_candidate_is_the_maximum_score():
    # lo + (hi - lo) / n_steps * n_steps rounds above hi here; the candidate is kept at
    # hi ("from the minimum to the maximum score"), so the top row is never flagged
    y, p = random_grid_data(0)
    lo, hi = p.min(), p.max()
    assert lo + (hi - lo) / 1 * 1 > hi
    curve = select_threshold(y, p, method="grid", n_steps=1).curve
    assert curve.thresholds.tolist() == [lo, hi]
    assert curve.n_flagged.tolist() == [0, int(np.sum(p < hi))]


def test_grid_curve_is_consistent():
    y, p = random_grid_data(1)
    curve = select_threshold(y, p, method="grid", n_steps=200).curve
    assert len(curve) == 201
    assert curve.thresholds[0] == p.min() and curve.thresholds[-1] <= p.max()
    assert np.all(np.diff(curve.thresholds) >= 0)
    assert np.all(np.diff(curve.n_flagged) >= 0)
    assert curve.n_flagged[0] == 0
    np.testing.assert_array_equal(curve.n_flagged, (p[:, None] < curve.thresholds).sum(0))


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_exact_never_below_grid(beta):
    for seed in range(40):
        y, p = random_grid_data(seed)
        exact = select_threshold(y, p, **metric_kwargs(beta))
        grid = select_threshold(y, p, method="grid", n_steps=50, **metric_kwargs(beta))
        assert exact.score >= grid.score - 1e-12


def test_grid_misses_optimum_when_densities_span_decades():
    # research notes P4: d=20, n=2000, 2% anomalies shifted by 1.5 sigma on every feature
    rng = np.random.default_rng(0)
    d, n = 20, 2000
    det = GaussianDetector().fit(rng.standard_normal((5000, d)))
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, size=n // 50, replace=False)] = 1
    X_val = rng.standard_normal((n, d)) + 1.5 * y[:, None]
    p = det.density(X_val)
    assert p.min() > 0 and p.max() / p.min() > 1e15
    grid = select_threshold(y, p, method="grid")
    exact = select_threshold(y, p)
    assert grid.f1 < 0.3
    assert exact.f1 > 0.9
    # on log-densities the same exact result, and the grid recovers
    assert select_threshold(y, np.log(p)).f1 == exact.f1
    assert select_threshold(y, det.score_samples(X_val), method="grid").f1 > 0.8


# ---------------------------------------------------------- inputs and errors
def test_containers_and_dtypes(container, dtype):
    y, s = tied_data(5)
    expected = select_threshold(y, s.astype(dtype).astype(np.float64))
    result = select_threshold(container(y), container(s.astype(dtype)))
    assert result.threshold == expected.threshold
    assert (result.tp, result.fp, result.f1) == (expected.tp, expected.fp, expected.f1)


def test_boolean_labels_and_column_vectors():
    y, s = tied_data(7)
    expected = select_threshold(y, s)
    for yy, ss in [
        (y.astype(bool), s),
        (y.reshape(-1, 1), s),
        (y, s.reshape(-1, 1)),
        (y.reshape(-1, 1).astype(bool), s.reshape(-1, 1)),
        (y.astype(float), s),
    ]:
        result = select_threshold(yy, ss)
        assert result.threshold == expected.threshold
        assert (result.tp, result.fp, result.fn, result.tn) == (
            expected.tp,
            expected.fp,
            expected.fn,
            expected.tn,
        )


LABEL_MSG = r"0 \(normal\) and 1 \(anomaly\)"


@pytest.mark.parametrize(
    ("y", "scores", "match"),
    [
        ([0, 0, 0], [1.0, 2.0, 3.0], "no anomalies"),
        ([1, 1, 1], [1.0, 2.0, 3.0], "only anomalies"),
        ([0, 1, 0], [2.0, 2.0, 2.0], "scores are equal"),
        ([0, 1, 2], [1.0, 2.0, 3.0], LABEL_MSG),
        ([0, 1, -1], [1.0, 2.0, 3.0], LABEL_MSG),
        ([0, 1, 0.5], [1.0, 2.0, 3.0], LABEL_MSG),
        ([0, 1, np.nan], [1.0, 2.0, 3.0], LABEL_MSG),
        (["0", "1", "0"], [1.0, 2.0, 3.0], LABEL_MSG),
        (["normal", "anomaly", "normal"], [1.0, 2.0, 3.0], LABEL_MSG),
        ([0, 1, 0], [1.0, 2.0], "different lengths"),
        ([0, 1], [1.0, 2.0, 3.0], "different lengths"),
        ([0, 1, 0], [1.0, np.nan, 3.0], "NaN or infinite"),
        ([0, 1, 0], [1.0, np.inf, 3.0], "NaN or infinite"),
        ([0, 1, 0], [-np.inf, 2.0, 3.0], "NaN or infinite"),
        ([0, 1, 0], np.ones((3, 2)), "must be 1-D"),
        ([[0, 1], [1, 0]], [1.0, 2.0, 3.0, 4.0], "1-D array of 0/1 labels"),
        ([], [], "empty"),
        ([0, 1, 0], [], "empty"),
        ([0, 1, 0], ["a", "b", "c"], "must be numeric"),
    ],
)
def test_degenerate_inputs_raise(y, scores, match):
    with pytest.raises(ValueError, match=match):
        select_threshold(y, scores)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "f1", "beta": 2.0}, r"metric='f1' fixes beta=1"),
        ({"beta": 0.5}, r"metric='f1' fixes beta=1"),
        ({"metric": "auc"}, r"The 'metric' parameter of select_threshold must be one of"),
        ({"method": "linspace"}, r"The 'method' parameter of select_threshold must be one of"),
        ({"method": "grid", "n_steps": 0}, r"'n_steps' parameter .* must be an integer"),
        ({"method": "grid", "n_steps": 2.5}, r"'n_steps' parameter .* must be an integer"),
        ({"metric": "fbeta", "beta": 0.0}, r"'beta' parameter .* must be a real number"),
        ({"metric": "fbeta", "beta": -1.0}, r"'beta' parameter .* must be a real number"),
        ({"metric": "fbeta", "beta": np.inf}, r"'beta' parameter .* must be a real number"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_threshold([0, 1, 0, 1], [1.0, 2.0, 3.0, 4.0], **kwargs)


def test_grid_without_any_caught_anomaly_raises():
    # the only anomaly has the highest score: no grid point below it catches it
    with pytest.raises(ValueError, match="flags an anomaly"):
        select_threshold([0, 0, 1], [1.0, 2.0, 3.0], method="grid")


def test_result_repr_and_dict():
    result = select_threshold([0, 0, 0, 0, 1, 1], [-1.0, -1.2, -0.8, -2.5, -9.0, -7.5])
    assert isinstance(result, ThresholdResult)
    assert repr(result).startswith("ThresholdResult(threshold=-5, f1=1.000000")
    as_dict = result.to_dict()
    assert as_dict["threshold"] == -5.0 and as_dict["f1"] == 1.0 and as_dict["n_flagged"] == 2
    assert "curve" not in as_dict
    assert result.to_dict(curve=True)["curve"]["n_flagged"] == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------- course data
def load_course(name):
    scipy_io = pytest.importorskip("scipy.io")
    data = scipy_io.loadmat(COURSE / f"{name}.mat")
    return data["X"], data["Xval"], data["yval"]


needs_course = pytest.mark.skipif(not COURSE.is_dir(), reason=f"course data not found at {COURSE}")


@needs_course
@pytest.mark.parametrize(
    ("name", "epsilon", "f1", "exact_f1", "n_train_flagged"),
    [
        ("ex8data1", 8.990853e-05, 0.875, 0.875, None),
        ("ex8data2", 1.377229e-18, 0.615385, 0.75, 117),
    ],
)
def test_course_results(name, epsilon, f1, exact_f1, n_train_flagged):
    X, X_val, y_val = load_course(name)
    det = GaussianDetector(covariance="diag", reg_covar=0).fit(X)
    p_val = det.density(X_val)
    grid = select_threshold(y_val, p_val, method="grid")
    assert grid.threshold == pytest.approx(epsilon, rel=1e-6)
    assert grid.f1 == pytest.approx(f1, abs=1e-6)
    if n_train_flagged is not None:
        det.set_threshold(epsilon=grid.threshold)
        assert det.is_anomaly(X).sum() == n_train_flagged
    exact = select_threshold(y_val, p_val)
    assert exact.f1 >= grid.f1
    assert exact.f1 == pytest.approx(exact_f1, abs=1e-6)


@pytest.mark.parametrize("method", ["exact", "grid"])
def test_results_and_tuned_detectors_pickle(method):
    import pickle

    from anomalykit import GaussianDetector

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200, int), np.ones(10, int)]
    X = rng.normal(size=(210, 3)) + 4 * y[:, None]
    result = select_threshold(y, -np.abs(X).sum(1), method=method)
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    np.testing.assert_array_equal(again.curve.fscore, result.curve.fscore)
    det = GaussianDetector().fit(X[y == 0]).tune_threshold(X, y, method=method)
    det2 = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(det2.predict(X), det.predict(X))
