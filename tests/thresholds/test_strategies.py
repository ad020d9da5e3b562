"""contamination_threshold: how many rows it flags, ties, and row weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anomalykit import contamination_threshold


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.mark.parametrize("contamination", [0.001, 0.01, 0.013, 0.05, 0.1, 0.25, 0.3, 0.5])
@pytest.mark.parametrize("n", [1, 7, 30, 100, 1000])
def test_flags_ceil_of_contamination_times_n_without_ties(rng, contamination, n):
    scores = rng.normal(size=n)
    threshold = contamination_threshold(scores, contamination)
    assert int(np.sum(scores < threshold)) == max(1, math.ceil(round(contamination * n, 9)))


def test_exact_products_are_not_rounded_up():
    # 0.07 * 100 is 7.000000000000001 in floating point: still 7 rows, not 8
    scores = np.arange(100.0)
    assert 0.07 * 100 > 7
    assert int(np.sum(scores < contamination_threshold(scores, 0.07))) == 7
    assert 0.29 * 100 < 29
    assert int(np.sum(scores < contamination_threshold(scores, 0.29))) == 29
    assert int(np.sum(scores < contamination_threshold(np.arange(7.0), 0.3))) == 3


def test_threshold_sits_between_last_flagged_and_next(rng):
    scores = rng.normal(size=200)
    threshold = contamination_threshold(scores, 0.05)
    s = np.sort(scores)
    assert s[9] < threshold < s[10]
    assert threshold == pytest.approx((s[9] + s[10]) / 2)


def test_order_of_rows_does_not_matter(rng):
    scores = np.round(rng.normal(size=300), 1)
    perm = rng.permutation(300)
    assert contamination_threshold(scores, 0.07) == contamination_threshold(scores[perm], 0.07)


def test_ties_at_the_cut_are_all_flagged():
    scores = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    # ceil(0.3 * 10) = 3 rows reach the tie at 3.0: all three rows scored 3.0 are flagged
    threshold = contamination_threshold(scores, 0.3)
    assert int(np.sum(scores < threshold)) == 5
    assert 3.0 < threshold < 4.0
    # just below the tie: two rows only
    assert int(np.sum(scores < contamination_threshold(scores, 0.2))) == 2


def test_all_scores_tied_flags_everything():
    scores = np.full(10, -4.2)
    threshold = contamination_threshold(scores, 0.1)
    assert threshold > -4.2 and threshold == np.nextafter(-4.2, np.inf)


def test_highest_score_reached_is_flagged():
    scores = np.array([5.0, 1.0])
    threshold = contamination_threshold(scores, 0.5)
    assert int(np.sum(scores < threshold)) == 1 and 1.0 < threshold < 5.0


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.2, 0.5])
def test_integer_weights_equal_repeated_rows(rng, contamination):
    for _ in range(10):
        scores = np.round(rng.normal(size=60), 1)
        weights = rng.integers(1, 5, size=60)
        repeated = np.repeat(scores, weights)
        expected = contamination_threshold(repeated, contamination)
        got = contamination_threshold(scores, contamination, weights.astype(float))
        assert got == expected


def test_zero_weight_rows_are_ignored(rng):
    scores = rng.normal(size=100)
    weights = rng.uniform(0.5, 2.0, size=100)
    zero = np.argsort(scores)[[0, 3, 5, 6, 50]]  # among the lowest, and one right at a cut
    weights[zero] = 0.0
    keep = weights > 0
    for contamination in (0.01, 0.05, 0.1, 0.5):
        assert contamination_threshold(scores, contamination, weights) == contamination_threshold(
            scores[keep], contamination, weights[keep]
        )
    # unit weights with zeros: the zero rows are as if removed
    unit = (weights > 0).astype(float)
    assert contamination_threshold(scores, 0.05, unit) == contamination_threshold(
        scores[keep], 0.05
    )


def test_zero_weight_row_next_to_the_cut_does_not_move_it():
    scores = np.arange(10.0)
    weights = np.ones(10)
    weights[1] = 0.0  # the row right above the last flagged one carries no mass
    threshold = contamination_threshold(scores, 0.1, weights)
    assert threshold == 1.0  # between 0 and 2, the next row that counts
    assert int(np.sum(scores < threshold)) == 1


def test_weighted_flags_the_smallest_set_that_reaches_the_share(rng):
    scores = rng.normal(size=150)
    weights = rng.uniform(0.1, 3.0, size=150)
    total = weights.sum()
    for contamination in (0.01, 0.03, 0.1, 0.37, 0.5):
        threshold = contamination_threshold(scores, contamination, weights)
        flagged = scores < threshold
        assert weights[flagged].sum() >= contamination * total * (1 - 1e-12)
        # without the highest flagged row the share is not reached
        top = np.flatnonzero(flagged)[np.argmax(scores[flagged])]
        assert weights[flagged].sum() - weights[top] < contamination * total


def test_heavy_row_alone_reaches_the_share():
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.array([10.0, 1.0, 1.0, 1.0])
    assert int(np.sum(scores < contamination_threshold(scores, 0.5, weights))) == 1
    weights = np.array([1.0, 1.0, 1.0, 10.0])
    # 4th row holds 10/13 of the mass: the share 0.5 needs it
    assert int(np.sum(scores < contamination_threshold(scores, 0.5, weights))) == 4
