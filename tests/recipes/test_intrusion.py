"""Recipe ``intrusion``: KDD Cup 99 http/smtp; quality floors and protocol facts
stated in docs/recipes/intrusion.md."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from anomalykit.recipes import run_recipe
from anomalykit.recipes._intrusion import (
    FDR_Q,
    chi2_flags,
    conformal_flags,
    detect,
    evaluate,
    load,
)
from anomalykit.workflow import anomaly_split, detect_anomalies


@pytest.fixture
def adbench(shared_data):
    folder = shared_data("adbench")
    if not (folder / "16_http.npz").is_file() or not (folder / "34_smtp.npz").is_file():
        pytest.skip(f"{folder} lacks 16_http.npz / 34_smtp.npz")
    return folder


def test_recipe_meets_the_documented_floors_and_writes_its_files(adbench, tmp_path):
    out = tmp_path / "intrusion"
    result = run_recipe("intrusion", adbench, out, random_state=0)
    http, smtp = result.summary["datasets"]["http"], result.summary["datasets"]["smtp"]
    # every row is used once: training (normal only), validation, test
    assert http["n_rows"] == 567498 and http["n_anomalies"] == 2211
    assert smtp["n_rows"] == 95156 and smtp["n_anomalies"] == 30
    assert http["split"] == {"train_normal": 339172, "validation": 114162,
                             "validation_anomalies": 1105, "test": 114164,
                             "test_anomalies": 1106}  # fmt: skip
    assert smtp["split"]["test_anomalies"] == 15 and smtp["split"]["validation_anomalies"] == 15
    chi2, conformal, by_f1 = http["methods"]
    assert by_f1["roc_auc"] > 0.99 and by_f1["pr_auc"] > 0.85 and by_f1["f1"] > 0.9
    assert smtp["methods"][2]["roc_auc"] > 0.7
    # (a) catches every http attack but its guarantee fails: far more than q
    # of what it flags is normal traffic (the normal rows are not Gaussian).
    assert chi2["recall"] == 1.0 and chi2["realised_fdr"] > 0.3 > FDR_Q
    assert smtp["methods"][0]["realised_fdr"] > 0.9
    assert http["train_share_beyond_chi2_999"] > 0.005  # 0.001 if Gaussian
    # (a') the conformal version keeps its promise by flagging nothing at q = 0.01
    assert conformal["realised_fdr"] <= FDR_Q and smtp["methods"][1]["realised_fdr"] <= FDR_Q
    for name in ("http", "smtp"):
        assert (out / name / "report.html").is_file()
    assert json.loads((out / "summary.json").read_text())["q"] == FDR_Q
    assert (out / "results.csv").read_text().count("\n") == 1 + 6
    assert (out / "intrusion-fdr.png").is_file() and (out / "intrusion-tail.png").is_file()
    assert any("chi-square + BH" in line for line in result.lines)


def test_test_labels_play_no_part_in_any_threshold(adbench):
    X, y = load(adbench, "smtp")
    res = evaluate("smtp", X, y, random_state=0)
    parts = res.parts
    # (b) the split is the workflow's own: same epsilon as detect_anomalies(X, y_train=y)
    auto = detect_anomalies(X, y_train=y, covariance="full", n_bootstrap=0, random_state=0)
    assert auto.detector.offset_ == res.report.detector.offset_
    np.testing.assert_array_equal(res.report.source_rows, auto.source_rows)
    # shuffling the test labels leaves epsilon exactly as it was
    shuffled = replace(parts, y_test=np.random.default_rng(1).permutation(parts.y_test))
    again = detect(shuffled, random_state=0)
    assert again.detector.offset_ == res.report.detector.offset_
    assert again.validation.to_dict() == res.report.validation.to_dict()
    # (a) and (a') take no label at all: rows in, flags out, the same as reported
    flags = chi2_flags(again.detector, parts.X_test)
    np.testing.assert_array_equal(flags.rejected, res.chi2.rejected)
    flags, _ = conformal_flags(parts.X_train, parts.X_test, np.random.default_rng(0))
    np.testing.assert_array_equal(flags.rejected, res.conformal.rejected)
    # training rows are normal and disjoint from validation and test
    split = anomaly_split(X, y, random_state=0)
    assert not np.intersect1d(split.train_index, split.test_index).size
    assert not np.intersect1d(split.val_index, split.test_index).size
    assert y[split.train_index].sum() == 0


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"16_http\.npz"):
        run_recipe("intrusion", tmp_path, tmp_path / "out")
