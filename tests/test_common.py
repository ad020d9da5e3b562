"""scikit-learn's estimator checks over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from anomalykit import GaussianDetector

ESTIMATORS = [
    GaussianDetector(),
    GaussianDetector(covariance="full"),
    GaussianDetector(covariance="full", shrinkage="ledoit-wolf"),
]

# Every check passes; an entry here would name the check and the reason it cannot.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
