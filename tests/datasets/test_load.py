import numpy as np
import pytest

from anomalykit.datasets import load_builtin, load_cardio


def test_cardio_matches_its_documented_shape():
    d = load_cardio()
    assert d.X.shape == (1831, 21) and d.X.dtype == np.float64
    assert int(d.y.sum()) == 176 and set(np.unique(d.y)) == {0, 1}
    assert len(d.feature_names) == 21 and d.feature_names[-1] == "Tendency"
    np.testing.assert_allclose(d.X.mean(axis=0), 0, atol=1e-8)  # ODDS standardised it


def test_cardio_is_the_odds_file(shared_data):
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(shared_data / "odds" / "cardio.mat")
    d = load_cardio()
    np.testing.assert_array_equal(d.X, mat["X"])
    np.testing.assert_array_equal(d.y, mat["y"].ravel())


def test_unknown_builtin():
    assert load_builtin("cardio").name == "cardio"
    with pytest.raises(ValueError, match="No built-in data set named 'iris'"):
        load_builtin("iris")


def test_wholesale_is_the_uci_table():
    from anomalykit.datasets import load_wholesale

    data = load_wholesale()
    assert data.X.shape == (440, 6) and int(data.y.sum()) == 142
    assert data.feature_names == [
        "Fresh",
        "Milk",
        "Grocery",
        "Frozen",
        "Detergents_Paper",
        "Delicassen",
    ]
    # Column means published with the data (SOURCES.md).
    np.testing.assert_allclose(data.X.mean(axis=0)[:3], [12000.3, 5796.3, 7951.3], atol=0.05)
    assert "wholesale" not in __import__("anomalykit.datasets").datasets.BUILTIN  # not anomalies
