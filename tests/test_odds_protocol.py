"""PyOD's published ODDS protocol, reproduced with the full-covariance GaussianDetector.

PyOD's ``GMM`` column (one full-covariance Gaussian, ``reg_covar=1e-6``) is the
published reference for ``GaussianDetector("full")``: the same ten 60/40
splits (``train_test_split(..., random_state=RandomState(i))``, not
stratified), a StandardScaler fitted on the training part, the test ROC-AUC
rounded to 4 decimals, the mean of ten. Matching the published numbers proves
both the protocol of ``benchmarks/odds.py`` and our density. Sources and
numbers: ``shared/data/odds/SOURCES.md``. Skips when the files are absent.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.io import loadmat
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from anomalykit import GaussianDetector

# file: (published GMM mean, 4 decimals; our mean of the ten rounded AUCs, 5 decimals,
# as derived in SOURCES.md)
PUBLISHED_GMM = {
    "glass": (0.6844, 0.68436),
    "wbc": (0.9326, 0.93263),
    "ionosphere": (0.9372, 0.93719),
}
#: A mean of ten 4-decimal values matches a 4-decimal published value when it rounds to it.
HALF_LAST_DIGIT = 5e-5


def _split_auc(X: np.ndarray, y: np.ndarray, i: int, **params) -> float:
    """Unrounded test ROC-AUC of split ``i`` of PyOD's protocol (PyOD GMM's model by default)."""
    X_train, X_test, _, y_test = train_test_split(
        X, y, test_size=0.4, random_state=np.random.RandomState(i)
    )
    scaler = StandardScaler().fit(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant features, where a split has them
        det = GaussianDetector(**(params or {"covariance": "full", "reg_covar": 1e-6}))
        det.fit(scaler.transform(X_train))
    return float(roc_auc_score(y_test, -det.score_samples(scaler.transform(X_test))))


def _load(shared_data, name: str) -> tuple[np.ndarray, np.ndarray]:
    path = shared_data / "odds" / f"{name}.mat"
    if not path.is_file():
        pytest.skip(f"ODDS file not found: {path}")
    mat = loadmat(path)
    return np.asarray(mat["X"], dtype=np.float64), np.asarray(mat["y"]).ravel()


@pytest.mark.parametrize("name", list(PUBLISHED_GMM))
def test_full_gaussian_reproduces_pyod_gmm(shared_data, name):
    X, y = _load(shared_data, name)
    published, derived = PUBLISHED_GMM[name]
    mean = float(np.mean([round(_split_auc(X, y, i), 4) for i in range(10)]))
    assert abs(mean - published) <= HALF_LAST_DIGIT + 1e-12, (name, mean, published)
    assert mean == pytest.approx(derived, abs=1e-9)


def test_single_split_unrounded(shared_data):
    # SOURCES.md: split RandomState(0), full-covariance Gaussian, wbc 0.917535.
    X, y = _load(shared_data, "wbc")
    assert _split_auc(X, y, 0) == pytest.approx(0.917535, abs=5e-7)


#: benchmarks/odds.py's "robust full LW" column on two small files (2026-11-26 run; the table shows 4 decimals):
#: a change to the robust fit that moves them should be seen, and explained.
ROBUST_FULL_LW = {"glass": 0.81516, "ionosphere": 0.94924}


@pytest.mark.parametrize("name", list(ROBUST_FULL_LW))
def test_robust_full_lw_benchmark_values(shared_data, name):
    X, y = _load(shared_data, name)
    params = {"covariance": "full", "shrinkage": "ledoit-wolf", "robust": True}
    plain = {"covariance": "full", "shrinkage": "ledoit-wolf"}
    mean = float(np.mean([round(_split_auc(X, y, i, **params), 4) for i in range(10)]))
    assert mean == pytest.approx(ROBUST_FULL_LW[name], abs=1e-9)
    # ... well above the same model fitted on all the training rows.
    assert mean > np.mean([_split_auc(X, y, i, **plain) for i in range(10)]) + 0.01
