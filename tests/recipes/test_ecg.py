"""Recipe ``ecg``: ECG200, ECG5000, ODDS arrhythmia; quality floors and protocol
facts stated in docs/recipes/ecg.md."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from anomalykit.recipes import run_recipe
from anomalykit.recipes._ecg import (
    ECG200,
    ECG5000,
    MODEL,
    carve_validation,
    detect,
    ecg200,
    load_arrhythmia,
    load_ucr,
)
from anomalykit.workflow import anomaly_split, detect_anomalies


@pytest.fixture
def ecg(shared_data):
    folder = shared_data("ecg")
    for file in (*ECG200, ECG5000):
        if not (folder / file).is_file():
            pytest.skip(f"{folder} lacks {file}")
    if not (folder.parent / "odds" / "arrhythmia.mat").is_file():
        pytest.skip("odds/arrhythmia.mat is absent")
    return folder


def ecg200_arrays(folder):
    X_tr, c_tr = load_ucr(folder / ECG200[0])
    X_te, c_te = load_ucr(folder / ECG200[1])
    return X_tr, (c_tr == -1).astype(np.int8), X_te, (c_te == -1).astype(np.int8)


def test_recipe_meets_the_documented_floors_and_writes_its_files(ecg, tmp_path):
    out = tmp_path / "ecg"
    result = run_recipe("ecg", ecg, out, random_state=0)
    d = result.summary["datasets"]
    # row counts: ECG200 keeps UCR's split; the others are split by the workflow
    assert (d["ecg200"]["train_normal"], d["ecg200"]["validation"]) == (41, 59)
    assert d["ecg200"]["validation_anomalies"] == 31  # every abnormal TRAIN beat
    assert (d["ecg200"]["test"], d["ecg200"]["test_anomalies"]) == (100, 36)  # all of TEST
    for name, n, n_abnormal in (("ecg5000", 500, 208), ("arrhythmia", 452, 66)):
        row = d[name]
        assert row["train_normal"] + row["validation"] + row["test"] == n
        assert row["validation_anomalies"] + row["test_anomalies"] == n_abnormal
    assert d["arrhythmia"]["n_features"] < 274  # features constant on training rows dropped
    # quality floors (docs/recipes/ecg.md)
    assert d["ecg200"]["test_roc_auc"] > 0.85 and d["ecg200"]["test_f1"] > 0.65
    assert d["ecg5000"]["test_roc_auc"] > 0.99 and d["ecg5000"]["test_f1"] > 0.95
    assert d["arrhythmia"]["test_roc_auc"] > 0.75 and d["arrhythmia"]["test_f1"] > 0.5
    for name in d:
        assert (out / name / "report.html").is_file()
        assert 0 < d[name]["shrinkage"] < 1
    assert json.loads((out / "summary.json").read_text())["recipe"] == "ecg"
    assert (out / "results.csv").read_text().count("\n") == 1 + 3
    assert (out / "ecg-beats.png").is_file() and (out / "ecg-scores.png").is_file()
    assert any(line.startswith("ecg200") for line in result.lines)


def test_ecg200_test_rows_play_no_part_in_epsilon(ecg):
    X_tr, y_tr, X_te, y_te = ecg200_arrays(ecg)
    fit, val = carve_validation(y_tr, np.random.default_rng(0))
    assert not np.intersect1d(fit, val).size and fit.size + val.size == y_tr.size
    assert y_tr[fit].sum() == 0 and y_tr[val].sum() == y_tr.sum()
    res = ecg200(X_tr, y_tr, X_te, y_te, random_state=0)
    rng = np.random.default_rng(1)
    shuffled = ecg200(X_tr, y_tr, X_te, rng.permutation(y_te), random_state=0)
    noise = ecg200(X_tr, y_tr, rng.normal(size=X_te.shape), y_te, random_state=0)
    for other in (shuffled, noise):
        assert other.report.detector.offset_ == res.report.detector.offset_
        assert other.report.validation.to_dict() == res.report.validation.to_dict()
        np.testing.assert_array_equal(other.report.detector.mean_, res.report.detector.mean_)


@pytest.mark.parametrize("name", ["ecg5000", "arrhythmia"])
def test_workflow_split_test_labels_play_no_part_in_epsilon(ecg, name):
    if name == "ecg5000":
        X, c = load_ucr(ecg / ECG5000)
        y, options = (c != 1).astype(np.int8), {}
    else:
        X, y = load_arrhythmia(ecg.parent / "odds" / "arrhythmia.mat")
        options = {"scale": "standard", "drop_constant": True}
    parts = anomaly_split(X, y, random_state=0)
    res = detect(name, parts, random_state=0, **options)
    shuffled = replace(parts, y_test=np.random.default_rng(1).permutation(parts.y_test))
    again = detect(name, shuffled, random_state=0, **options)
    assert again.report.detector.offset_ == res.report.detector.offset_
    assert again.report.validation.to_dict() == res.report.validation.to_dict()
    np.testing.assert_array_equal(res.report.source_rows, parts.test_index)
    if name == "ecg5000":  # the very split and epsilon of detect_anomalies(X, y_train=y)
        auto = detect_anomalies(X, y_train=y, n_bootstrap=0, random_state=0, **MODEL)
        assert auto.detector.offset_ == res.report.detector.offset_


def test_missing_arrhythmia_is_one_clear_error(ecg, tmp_path):
    folder = tmp_path / "ecg"
    folder.mkdir()
    for file in (*ECG200, ECG5000):
        (folder / file).symlink_to(ecg / file)
    with pytest.raises(FileNotFoundError, match=r"arrhythmia\.mat"):
        run_recipe("ecg", folder, tmp_path / "out")


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ECG200_TRAIN\.txt"):
        run_recipe("ecg", tmp_path, tmp_path / "out")
