"""Kneedle's elbow of a convex decreasing curve: known curves, degenerate curves, invariances."""

import numpy as np
import pytest

from anomalykit.cluster._kneedle import difference_curve, find_elbow

X10 = np.arange(1, 11)


def test_one_over_x_has_its_elbow_at_3():
    # d = (1 - y_hat) - x_hat peaks at x=3 (0.519), and falls below 0.519 - 1/9 at x=6.
    d = difference_curve(X10.astype(float), 1.0 / X10)
    assert int(np.argmax(d)) == 2
    assert d[2] == pytest.approx(1 - (1 / 3 - 0.1) / 0.9 - 2 / 9)
    assert find_elbow(X10, 1.0 / X10) == 3


def test_l_shaped_curve_has_its_elbow_at_the_corner():
    y = [100.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0]
    assert find_elbow(range(1, 9), y) == 2


def test_corner_late_in_the_curve():
    # Falls steeply (slope -10) up to x=5, then slowly (slope -0.5).
    x = np.arange(1, 11)
    y = np.where(x <= 5, 50.0 - 10.0 * x, -0.5 * (x - 5))
    assert find_elbow(x, y) == 5


def test_the_most_pronounced_bend_wins_over_the_first_one():
    x = np.arange(1, 13)
    small_then_big = [100, 80, 78, 76, 74, 72, 70, 20, 18, 16, 14, 12]
    assert find_elbow(x, small_then_big) == 8  # a first-knee rule would say 2
    big_then_small = [100, 50, 45, 43, 41, 39, 37, 35, 10, 9, 8, 7]
    assert find_elbow(x, big_then_small) == 2


@pytest.mark.parametrize("slope", [-1.0, -1e-6, -1e6])
def test_straight_line_has_no_elbow(slope):
    x = np.linspace(0.5, 20.0, 25)
    assert find_elbow(x, 3.0 + slope * x) is None


def test_straight_line_with_rounding_noise_has_no_elbow():
    x = np.arange(1, 31, dtype=float)
    y = 1.0 - x / 30 + np.random.default_rng(0).normal(scale=1e-12, size=30)
    assert find_elbow(x, y) is None


def test_flat_curve_has_no_elbow():
    assert find_elbow(X10, np.full(10, 7.5)) is None
    assert difference_curve(X10.astype(float), np.full(10, 7.5)) is None


@pytest.mark.parametrize("n", [0, 1, 2])
def test_fewer_than_three_points_give_none(n):
    assert find_elbow(X10[:n], (1.0 / X10)[:n]) is None


def test_three_points_are_never_enough_with_sensitivity_1():
    # The difference curve would have to fall by 1/(n-1) = 1/2 below a maximum of at most 1/2.
    assert find_elbow([1, 2, 3], [1000.0, 1.0, 0.0]) is None
    assert find_elbow([1, 2, 3], [1000.0, 1.0, 0.0], sensitivity=0.5) == 2
    assert find_elbow([1, 2, 3, 4], [1000.0, 1.0, 0.5, 0.0]) == 2


@pytest.mark.parametrize("scale, shift", [(1e-9, 0.0), (3.0, 100.0), (1e12, -5.0)])
def test_invariant_to_affine_changes_of_y(scale, shift):
    y = 1.0 / X10
    assert find_elbow(X10, scale * y + shift) == find_elbow(X10, y) == 3


def test_invariant_to_affine_changes_of_x_and_returns_the_x_value():
    assert find_elbow(10 * X10 + 7, 1.0 / X10) == 37
    elbow = find_elbow(X10 / 4, 1.0 / X10)
    assert elbow == 0.75
    assert type(elbow) is float
    assert type(find_elbow(X10, 1.0 / X10)) is int


def test_uneven_spacing_uses_the_actual_x():
    # The same values at x = 1, 2, 3, 4, 5, 10, 20: the corner is still at x=3.
    x = [1, 2, 3, 4, 5, 10, 20]
    y = [100.0, 40.0, 5.0, 4.0, 3.5, 2.0, 0.0]
    assert find_elbow(x, y) == 3


def test_higher_sensitivity_is_more_conservative():
    y = 1.0 / X10
    assert find_elbow(X10, y, sensitivity=0.5) == 3
    assert find_elbow(X10, y, sensitivity=10.0) is None


def test_does_not_modify_the_inputs():
    x, y = X10.copy(), 1.0 / X10
    y_copy = y.copy()
    find_elbow(x, y)
    np.testing.assert_array_equal(x, X10)
    np.testing.assert_array_equal(y, y_copy)


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (X10, 1.0 / X10, {"sensitivity": 0.0}, "The 'sensitivity' parameter of find_elbow must be"),
        (X10, 1.0 / X10, {"sensitivity": np.nan}, "Got nan instead"),
        (X10, 1.0 / X10[:5], {}, "10 x values and 5 y values"),
        (X10[::-1], 1.0 / X10, {}, "strictly increasing"),
        ([1, 2, 2, 3], [4.0, 3.0, 2.0, 1.0], {}, "strictly increasing"),
        (X10, np.r_[np.nan, 1.0 / X10[1:]], {}, "y contains NaN"),
        (X10.reshape(2, 5), 1.0 / X10, {}, "x must be 1-D"),
        (list("abc"), [3.0, 2.0, 1.0], {}, "x must be numeric"),
    ],
)
def test_errors(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        find_elbow(x, y, **kwargs)
