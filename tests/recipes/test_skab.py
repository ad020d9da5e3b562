"""Recipe ``skab``: the window features (synthetic), SKAB's metric, and the recipe on
the real SKAB files (skipped when ../shared/data/sensors is absent)."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from anomalykit import GaussianDetector
from anomalykit.cli import app
from anomalykit.preprocessing import FeatureScaler
from anomalykit.recipes import _skab
from anomalykit.recipes._skab_features import (
    FAST,
    SENSORS,
    SLOW,
    TEMPERATURES,
    trailing_change,
    trailing_mean,
    window_features,
)

# ------------------------------------------------------------------ window features


@pytest.mark.parametrize("window", [1, 2, 5, 10])
def test_trailing_mean_is_the_mean_of_the_rows_up_to_each_row(window):
    X = np.random.default_rng(0).normal(230.0, 10.0, size=(37, 3))
    expected = np.array([X[max(0, t - window + 1) : t + 1].mean(axis=0) for t in range(37)])
    np.testing.assert_allclose(trailing_mean(X, window), expected, rtol=1e-12)


def test_trailing_change_compares_with_the_mean_one_window_earlier():
    X = np.random.default_rng(1).normal(size=(30, 2))
    m, w = trailing_mean(X, 4), 4
    expected = np.array([m[t] - m[max(t - w, 0)] for t in range(30)])
    np.testing.assert_allclose(trailing_change(X, w), expected)
    # A steady drift of slope a per row is a constant a * w once the windows are full.
    ramp = 0.3 * np.arange(40.0)[:, None] + 25.0
    np.testing.assert_allclose(trailing_change(ramp, 5)[9:], 1.5)


def test_window_features_are_causal_and_follow_the_column_names():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 8))
    F, names = window_features(X, window=5)
    # Rows after t never change the features of row t.
    Y = X.copy()
    Y[30:] = rng.normal(size=(30, 8)) * 100
    np.testing.assert_array_equal(window_features(Y, window=5)[0][:30], F[:30])
    # Columns are found by name, not position.
    order = rng.permutation(8)
    G, _ = window_features(X[:, order], [SENSORS[j] for j in order], window=5)
    np.testing.assert_array_equal(G, F)
    assert names == [
        *(f"mean5({c})" for c in FAST),
        *SLOW,
        *(f"change5({c})" for c in TEMPERATURES),
    ]
    col = {c: SENSORS.index(c) for c in SENSORS}
    np.testing.assert_allclose(F[:, 0], trailing_mean(X[:, [col["Current"]]], 5)[:, 0])
    np.testing.assert_array_equal(F[:, 4], X[:, col["Accelerometer2RMS"]])
    np.testing.assert_allclose(F[:, 7], trailing_change(X[:, [col["Thermocouple"]]], 5)[:, 0])


def test_window_features_divide_white_noise_by_sqrt_window_and_cancel_drift():
    rng = np.random.default_rng(3)
    n = 20000
    X = rng.normal(size=(n, 8))
    X[:, SENSORS.index("Thermocouple")] = 0.01 * np.arange(n)  # the rig warming up
    F, _ = window_features(X, window=10)
    ratio = F[10:, :3].std(axis=0) / X[10:, [2, 3, 6]].std(axis=0)
    np.testing.assert_allclose(ratio, 1 / np.sqrt(10), rtol=0.05)
    np.testing.assert_allclose(F[20:, 7], 0.1)  # drift -> constant change, no alarm


def test_window_features_reject_a_table_without_the_sensors():
    with pytest.raises(ValueError, match="missing"):
        window_features(np.zeros((3, 8)), [f"x{j}" for j in range(8)])
    with pytest.raises(ValueError, match="expected"):
        window_features(np.zeros((3, 7)))


# ------------------------------------------------------------------------ the metric


def test_skab_binary_is_pooled_f1_far_mar_in_percent():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    flag = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 1])
    f1, far, mar = _skab.skab_binary(tp=3, fp=1, fn=2, tn=4)
    assert f1 == pytest.approx(f1_score(y, flag))
    assert (far, mar) == (20.0, 40.0)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="anomaly-free"):
        _skab.run(tmp_path, tmp_path / "out")


# ------------------------------------------------------------------- the real data


_RUNS: dict = {}


@pytest.fixture
def skab_run(shared_data, tmp_path_factory):
    """The recipe run once (through the CLI) per session: (data folder, out folder, --json)."""
    folder = shared_data("sensors")
    if folder not in _RUNS:
        out = tmp_path_factory.mktemp("skab")
        result = CliRunner().invoke(
            app, ["recipe", "skab", "--data", str(folder), "--out", str(out), "--json"]
        )
        assert result.exit_code == 0, result.output
        _RUNS[folder] = folder, out, json.loads(result.stdout)
    return _RUNS[folder]


def _count_labels(folder):
    """Rows and anomalies of the 34 labelled files, counted without the library."""
    runs = rows = anomalies = test_rows = test_anomalies = 0
    for path in sorted((folder / "skab").rglob("*.csv")):
        if path.parent.name == "anomaly-free":
            continue
        with path.open(newline="") as fh:
            labels = [float(r["anomaly"]) for r in csv.DictReader(fh, delimiter=";")]
        runs += 1
        rows += len(labels)
        anomalies += int(sum(labels))
        test_rows += len(labels) - 400
        test_anomalies += int(sum(labels[400:]))
    return runs, rows, anomalies, test_rows, test_anomalies


def test_protocol_is_skabs(skab_run):
    folder, _, summary = skab_run
    runs, rows, anomalies, test_rows, test_anomalies = _count_labels(folder)
    assert (runs, rows, anomalies) == (34, 37401, 13067)  # SOURCES.md's totals
    protocol = summary["protocol"]
    assert protocol["runs"] == 34 and protocol["complete"]
    assert protocol["fit_rows_per_run"] == 400 and protocol["label"] == "anomaly"
    assert (protocol["test_rows"], protocol["test_anomalies"]) == (test_rows, test_anomalies)
    for m in summary["methods"].values():
        assert m["tp"] + m["fn"] == test_anomalies
        assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == test_rows
        f1, far, mar = _skab.skab_binary(m["tp"], m["fp"], m["fn"], m["tn"])
        assert (m["f1"], m["far"], m["mar"]) == (f1, far, mar)
    n_neg = test_rows - test_anomalies
    assert summary["always_alarm"]["f1"] == pytest.approx(
        2 * test_anomalies / (2 * test_anomalies + n_neg)
    )


def test_plain_gaussian_beats_t_squared_and_the_recipe_cuts_false_alarms(skab_run):
    _, _, summary = skab_run
    plain, recipe = summary["methods"]["gaussian"], summary["methods"]["recipe"]
    t_squared = next(r for r in _skab.PUBLISHED if r[0] == "T-squared")
    assert plain["f1"] > t_squared[1] == 0.66
    assert recipe["f1"] > t_squared[1]
    assert recipe["far"] < t_squared[2] and recipe["far"] < plain["far"] / 2
    assert recipe["normal_far"] < plain["normal_far"] / 2  # on the anomaly-free run too
    ours = [r for r in summary["leaderboard"] if r["ours"]]
    assert {r["algorithm"] for r in ours} >= {plain["label"], recipe["label"]}
    published = {(r["algorithm"], r["f1"], r["far"], r["mar"]) for r in summary["leaderboard"]}
    assert set(_skab.PUBLISHED) <= published


def test_one_run_by_hand_matches_the_recipe(skab_run):
    """valve1/0: fit the plain model on the first 400 rows with the library, flag the rest."""
    folder, out, _ = skab_run
    runs, _ = _skab.load_runs(folder)
    run = next(r for r in runs if r.name == "valve1/0")
    scaler = FeatureScaler().fit(run.X[:400])
    det = GaussianDetector("full", contamination=0.01).fit(scaler.transform(run.X[:400]))
    flag = det.is_anomaly(scaler.transform(run.X[400:]))
    y = run.y[400:] == 1
    with (out / "runs.csv").open(newline="") as fh:
        row = next(
            r for r in csv.DictReader(fh) if (r["method"], r["run"]) == ("gaussian", "valve1/0")
        )
    assert int(row["tp"]) == int(np.sum(flag & y)) and int(row["fp"]) == int(np.sum(flag & ~y))


def test_no_label_reaches_the_flags(skab_run):
    """Shuffled labels give the very same scores: labels only count TP/FP/FN/TN."""
    folder, _, _ = skab_run
    runs, _ = _skab.load_runs(folder)
    rng = np.random.default_rng(0)
    few = runs[::12]
    shuffled = [replace(r, y=rng.permutation(r.y)) for r in few]
    recipe = next(m for m in _skab.METHODS if m.key == "recipe")
    _, d1 = _skab.evaluate(few, recipe)
    _, d2 = _skab.evaluate(shuffled, recipe)
    for a, b in zip(d1, d2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_outputs_are_written(skab_run):
    _, out, summary = skab_run
    assert json.loads((out / "summary.json").read_text()) == summary
    with (out / "leaderboard.csv").open(newline="") as fh:
        board = list(csv.DictReader(fh))
    assert [r["algorithm"] for r in board] == [r["algorithm"] for r in summary["leaderboard"]]
    for name in ("leaderboard", "run", "runs", "tradeoff"):
        assert (out / f"skab-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
