import numpy as np
import pytest
from sklearn.preprocessing import RobustScaler, StandardScaler

from anomalykit.preprocessing import FeatureScaler


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return np.c_[rng.lognormal(size=200), np.abs(rng.normal(5, 2, size=200)), np.full(200, 3.0)]


def test_standard_and_robust_equal_scikit_learn(X):
    np.testing.assert_allclose(
        FeatureScaler().fit_transform(X), StandardScaler().fit_transform(X), atol=1e-12
    )
    np.testing.assert_allclose(
        FeatureScaler("robust").fit_transform(X), RobustScaler().fit_transform(X), atol=1e-12
    )


@pytest.mark.parametrize("method", ["standard", "robust", "none"])
@pytest.mark.parametrize("log", [False, True])
def test_inverse_transform_returns_original_units(X, method, log):
    s = FeatureScaler(method, log=log).fit(X)
    np.testing.assert_allclose(s.inverse_transform(s.transform(X)), X, rtol=1e-12)


def test_log_is_log1p_before_scaling(X):
    s = FeatureScaler(log=True).fit(X)
    np.testing.assert_allclose(s.center_, np.log1p(X).mean(axis=0))
    np.testing.assert_allclose(
        s.transform(X)[:, 0], StandardScaler().fit_transform(np.log1p(X))[:, 0]
    )


def test_constant_column_is_centred_not_divided_by_zero(X):
    out = FeatureScaler().fit_transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 2], 0.0)


def test_negative_values_with_log_name_the_column():
    import pandas as pd

    df = pd.DataFrame({"spend": [1.0, 2.0, 3.0], "delta": [1.0, -2.0, 0.5]})
    with pytest.raises(ValueError, match="'delta' has -2"):
        FeatureScaler(log=True).fit(df)


def test_float32_stays_float32(X):
    assert (
        FeatureScaler().fit(X.astype(np.float32)).transform(X.astype(np.float32)).dtype
        == np.float32
    )


def test_unknown_method_and_wrong_width_are_errors(X):
    with pytest.raises(ValueError, match="method"):
        FeatureScaler("minmax").fit(X)
    s = FeatureScaler().fit(X)
    with pytest.raises(ValueError, match="3 features"):
        s.inverse_transform(X[:, :2])
    with pytest.raises(ValueError):
        s.transform(X[:, :2])
