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


def test_bad_combinations(sets):
    normal, X_val, y_val, X_test, _ = sets
    with pytest.raises(ValueError, match="X_val and y_val together"):
        detect_anomalies(normal, X_val=X_val)
    with pytest.raises(ValueError, match="y_test was given without X_test"):
        detect_anomalies(normal, y_test=y_val)
    with pytest.raises(ValueError, match="3 feature names for 4 features"):
        detect_anomalies(normal, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="Only 1 normal training row"):
        detect_anomalies(normal[:2], y_train=[0, 1])
    with pytest.raises(ValueError, match="labels for 220 test rows"):
        detect_anomalies(normal, X_test=X_test, y_test=y_val[:10])
