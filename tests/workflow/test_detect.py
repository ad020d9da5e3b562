import json

import numpy as np
import pytest

from anomalykit import GaussianDetector
from anomalykit.workflow import detect_anomalies


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(400, 4))
    X_val = np.vstack([rng.normal(size=(200, 4)), rng.normal(size=(20, 4)) + 3])
    y_val = np.r_[np.zeros(200), np.ones(20)]
    X_test = np.vstack([rng.normal(size=(200, 4)), rng.normal(size=(20, 4)) + 3])
    y_test = np.r_[np.zeros(200), np.ones(20)]
    return normal, X_val, y_val, X_test, y_test


def test_epsilon_from_validation_evaluated_on_test(sets):
    normal, X_val, y_val, X_test, y_test = sets
    r = detect_anomalies(normal, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test)
    det = GaussianDetector().fit(normal).tune_threshold(X_val, y_val)
    assert r.detector.offset_ == det.offset_
    assert r.threshold_source == "validation" and r.flagged_on == "test"
    np.testing.assert_array_equal(r.is_anomaly, det.is_anomaly(X_test))
    assert r.evaluation.f1 == pytest.approx(
        2 * r.evaluation.tp / (2 * r.evaluation.tp + r.evaluation.fp + r.evaluation.fn)
    )
    assert r.evaluation.f1 > 0.8 and r.evaluation.roc_auc > 0.95


def test_no_evaluation_on_the_rows_epsilon_was_chosen_on(sets):
    normal, X_val, y_val, _, _ = sets
    r = detect_anomalies(normal, X_val=X_val, y_val=y_val)
    assert r.flagged_on == "validation" and r.evaluation is None
    assert r.validation is not None
    assert r.to_dict()["evaluation"] is None


def test_labelled_training_rows_are_dropped(sets):
    normal, _, _, X_test, y_test = sets
    X_tr = np.vstack([normal, X_test[-5:]])
    y_tr = np.r_[np.zeros(len(normal)), np.ones(5)]
    r = detect_anomalies(X_tr, y_train=y_tr, X_test=X_test, y_test=y_test)
    assert r.n_train == len(normal) and r.n_train_dropped == 5
    np.testing.assert_allclose(r.detector.mean_, normal.mean(axis=0))
    assert r.threshold_source == "contamination" and r.evaluation is not None


def test_top_anomalies_are_sorted_and_named(sets):
    normal, X_val, y_val, X_test, y_test = sets
    names = ["a", "b", "c", "d"]
    r = detect_anomalies(normal, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
                         feature_names=names)  # fmt: skip
    top = r.top_anomalies(5)
    scores = [t["log_density"] for t in top]
    assert scores == sorted(scores) and scores[0] == r.scores.min()
    assert top[0]["top_features"].split("=")[0] in names
    assert r.to_dict()["model"]["feature_names"] == names


def test_robust_fit_resists_anomalies_left_in_the_training_rows(sets):
    normal, X_val, y_val, X_test, y_test = sets
    far = np.random.default_rng(5).normal(size=(20, 4)) * 0.5 + 8  # 5% unlabelled anomalies
    X_tr = np.vstack([normal, far])
    given = dict(X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test, covariance="full")
    plain = detect_anomalies(X_tr, **given)
    r = detect_anomalies(X_tr, robust=True, **given)
    det = r.detector
    assert det.robust is True and r.model is det
    assert det.support_.dtype == bool and det.support_.shape == (len(X_tr),)
    assert not det.support_[len(normal) :].any()  # the far rows are left out
    assert isinstance(det.n_robust_iter_, int)
    expected = GaussianDetector("full", robust=True).fit(X_tr).tune_threshold(X_val, y_val)
    assert det.offset_ == expected.offset_
    np.testing.assert_array_equal(det.mean_, expected.mean_)
    assert not hasattr(plain.detector, "support_")
    assert not np.allclose(det.mean_, plain.detector.mean_)
    assert np.linalg.norm(det.mean_) < np.linalg.norm(plain.detector.mean_)
    assert r.evaluation.roc_auc >= plain.evaluation.roc_auc
    assert r.to_dict()["model"]["robust"] is True
    assert r.to_dict()["model"]["n_train_robust_support"] == int(det.support_.sum())
    assert plain.to_dict()["model"]["robust"] is False
    assert plain.to_dict()["model"]["n_train_robust_support"] is None
    # a NumPy bool is a valid robust=; the summary stays JSON
    as_numpy = detect_anomalies(X_tr, robust=np.True_, **given).to_dict()
    assert json.loads(json.dumps(as_numpy))["model"]["robust"] is True


def test_bad_combinations(sets):
    normal, X_val, y_val, X_test, _ = sets
    with pytest.raises(ValueError, match="X_val and y_val together"):
        detect_anomalies(normal, X_val=X_val)
    with pytest.raises(ValueError, match="y_test was given without X_test"):
        detect_anomalies(normal, y_test=y_val)
    with pytest.raises(ValueError, match="3 feature names for 4 features"):
        detect_anomalies(normal, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="Only 1 normal training row"):
        detect_anomalies(normal[:2], y_train=[0, 1], split=False)
    with pytest.raises(ValueError, match="labels for 220 test rows"):
        detect_anomalies(normal, X_test=X_test, y_test=y_val[:10])


@pytest.fixture
def labelled():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(600, 3)), rng.normal(size=(40, 3)) + 2.2])
    y = np.r_[np.zeros(600, int), np.ones(40, int)]
    return X, y


def test_labelled_data_alone_is_split_stratified_and_seeded(labelled):
    from anomalykit.workflow import anomaly_split

    X, y = labelled
    r = detect_anomalies(X, y_train=y, random_state=3, n_bootstrap=0)
    s = anomaly_split(X, y, random_state=3)
    assert r.threshold_source == "validation" and r.flagged_on == "test"
    assert r.n_train == len(s.X_train) and r.n_train_dropped == 0
    np.testing.assert_array_equal(r.rows, s.X_test)
    np.testing.assert_array_equal(r.labels, s.y_test)
    det = GaussianDetector().fit(s.X_train).tune_threshold(s.X_val, s.y_val)
    assert r.detector.offset_ == det.offset_
    assert r.bootstrap is None
    with pytest.raises(ValueError, match="split=True needs y_train"):
        detect_anomalies(X, split=True)
    with pytest.raises(ValueError, match="split"):
        detect_anomalies(X, y_train=y, split="yes")


def test_scaling_is_kept_inside_the_model(labelled):
    from sklearn.pipeline import Pipeline

    X, y = labelled
    X = X * [1.0, 1000.0, 0.001] + [0, 5e4, 0]
    r = detect_anomalies(X, y_train=y, scale="robust", n_bootstrap=0, covariance="full")
    assert isinstance(r.model, Pipeline) and r.model[-1] is r.detector
    np.testing.assert_array_equal(r.model.score_samples(r.rows), r.scores)
    np.testing.assert_array_equal(r.model.predict(r.rows) == -1, r.is_anomaly)
    assert r.to_dict()["model"]["scaler"] == {"method": "robust", "log": False}
    plain = detect_anomalies(X, y_train=y, n_bootstrap=0)
    assert plain.model is plain.detector and plain.to_dict()["model"]["scaler"] is None


def test_bootstrap_interval_brackets_the_point_estimates(labelled):
    X, y = labelled
    calls = []
    r = detect_anomalies(X, y_train=y, n_bootstrap=300, progress=lambda d, t: calls.append(d))
    ci = r.bootstrap
    assert ci.n_resamples == 300 and ci.level == 0.95 and calls[-1] == 300
    assert ci.f1[0] <= r.evaluation.f1 <= ci.f1[1] and ci.f1[0] < ci.f1[1]
    assert ci.log_epsilon[0] <= r.detector.offset_ <= ci.log_epsilon[1]
    again = detect_anomalies(X, y_train=y, n_bootstrap=300)
    assert again.bootstrap == ci  # seeded: the same intervals
    assert r.to_dict()["bootstrap"]["f1"] == list(ci.f1)


def test_source_rows_point_back_into_the_data(labelled):
    X, y = labelled
    r = detect_anomalies(X, y_train=y, n_bootstrap=0)
    np.testing.assert_array_equal(X[r.source_rows], r.rows)
    top = r.top_anomalies(3)
    for t in top:
        np.testing.assert_array_equal(X[t["source_row"]], r.rows[t["row"]])
    assert y[[t["source_row"] for t in top]].tolist() == [t["label"] for t in top]


def test_log_scaling_errors_name_the_column(labelled):
    X, y = labelled
    X = np.abs(X)
    X[5, 1] = -1.0
    with pytest.raises(ValueError, match="column 'b' has -1"):
        detect_anomalies(X, y_train=y, log=True, feature_names=["a", "b", "c"], n_bootstrap=0)


def test_source_rows_skip_the_labelled_anomalies_left_out_of_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.r_[np.ones(20, int), np.zeros(180, int)]
    X[150] = [9.0, 9.0]  # an unlabelled outlier among the training rows
    r = detect_anomalies(X, y_train=y, split=False, n_bootstrap=0)
    assert r.flagged_on == "train"
    top = r.top_anomalies(1)[0]
    assert top["source_row"] == 150
    np.testing.assert_array_equal(X[r.source_rows], r.rows)
