"""Shared fixtures: a seeded generator and the containers users pass data in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

CONTAINERS = ("list", "ndarray", "dataframe")
DTYPES = (np.float32, np.float64)


def _convert(values: np.ndarray, kind: str):
    values = np.asarray(values)
    if kind == "list":
        return values.tolist()
    if kind == "ndarray":
        return values
    if values.ndim == 1:
        return pd.Series(values)
    return pd.DataFrame(values, columns=[f"f{j}" for j in range(values.shape[1])])


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed: every test sees the same data."""
    return np.random.default_rng(20240611)


@pytest.fixture(params=CONTAINERS)
def container(request):
    """Turn an ndarray into a list, itself, or a pandas Series/DataFrame."""
    kind = request.param
    return lambda values: _convert(values, kind)


@pytest.fixture(params=DTYPES, ids=lambda t: np.dtype(t).name)
def dtype(request):
    return request.param
