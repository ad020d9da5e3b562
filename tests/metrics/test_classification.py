import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from anomalykit.metrics import evaluate_threshold


def test_equals_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    scores = rng.normal(size=500) - 2 * y
    ev = evaluate_threshold(y, scores, threshold=-1.0)
    pred = (scores < -1.0).astype(int)
    assert ev.precision == pytest.approx(precision_score(y, pred))
    assert ev.recall == pytest.approx(recall_score(y, pred))
    assert ev.f1 == pytest.approx(f1_score(y, pred))
    assert ev.roc_auc == pytest.approx(roc_auc_score(y, -scores))
    assert ev.tp + ev.fp + ev.fn + ev.tn == 500 and ev.n_flagged == pred.sum()


def test_nothing_flagged_and_one_class():
    ev = evaluate_threshold([0, 1, 0], [1.0, 2.0, 3.0], threshold=0.0)
    assert (ev.precision, ev.recall, ev.f1, ev.n_flagged) == (0.0, 0.0, 0.0, 0)
    ev = evaluate_threshold([0, 0, 0], [1.0, 2.0, 3.0], threshold=2.5)
    assert ev.roc_auc is None and ev.average_precision is None and ev.fp == 2


def test_errors():
    with pytest.raises(ValueError, match="different lengths"):
        evaluate_threshold([0, 1], [1.0, 2.0, 3.0], 0.0)
    with pytest.raises(ValueError, match="only 0"):
        evaluate_threshold([0, 2], [1.0, 2.0], 0.0)
