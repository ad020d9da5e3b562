"""Parameter checks at the boundary (``_utils._validation``)."""

from fractions import Fraction

import numpy as np
import pytest

from anomalykit._utils._validation import check_real


@pytest.mark.parametrize(
    "value",
    [0.5, 1, np.float32(0.25), np.float64(3.0), np.int64(2), Fraction(1, 3), 10**400,
     np.longdouble("1e400") if np.finfo(np.longdouble).max > 1e400 else 1.0],
)  # fmt: skip
def test_check_real_accepts_finite_numbers_of_any_kind(value):
    check_real(value, name="p", owner="Est", low=0.0)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -np.inf, np.float32("nan"), np.float64("inf"), True, "1.0", None],
)
def test_check_real_rejects_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"The 'p' parameter of Est must be a real number"):
        check_real(value, name="p", owner="Est")


def test_check_real_bounds_open_and_closed():
    check_real(0.0, name="p", owner="Est", low=0.0)
    check_real(1.0, name="p", owner="Est", high=1.0)
    with pytest.raises(ValueError, match=r"in \(0.0, inf\)\. Got 0.0 instead"):
        check_real(0.0, name="p", owner="Est", low=0.0, low_open=True)
    with pytest.raises(ValueError, match=r"in \(-inf, 1.0\)\. Got 1.0 instead"):
        check_real(1.0, name="p", owner="Est", high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"in \[0.0, inf\)\. Got -(10\*\*400|1e\+400|\d+) instead"):
        check_real(-(10**400), name="p", owner="Est", low=0.0)


def test_check_real_integer():
    check_real(3, name="k", owner="Est", low=1, integer=True)
    for bad in (2.0, True, np.float64(3)):
        with pytest.raises(ValueError, match="must be an integer"):
            check_real(bad, name="k", owner="Est", integer=True)
