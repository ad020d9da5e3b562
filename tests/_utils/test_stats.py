"""Moments: block moments and Chan merges against direct NumPy computations."""

from __future__ import annotations

import numpy as np
import pytest

from anomalykit._utils._stats import Moments, merge_all, moments_of


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def direct(X, w, full):
    """Weight, mean and scatter straight from the definition."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    total = w.sum()
    mean = w @ X / total
    Xc = X - mean
    if full:
        scatter = (Xc * w[:, None]).T @ Xc
    else:
        scatter = (w[:, None] * Xc**2).sum(axis=0)
    return total, mean, scatter


def assert_moments_close(m, total, mean, scatter, rtol=1e-10):
    assert m.weight == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(m.mean, mean, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(m.scatter, scatter, rtol=rtol, atol=1e-9)


def random_parts(rng, X, w, full, most):
    """Moments of X cut at 1 to ``most - 1`` random places, in row order."""
    n = X.shape[0]
    cuts = np.sort(rng.choice(np.arange(1, n), size=rng.integers(1, most), replace=False))
    return [
        moments_of(X[idx], None if w is None else w[idx], full=full)
        for idx in np.split(np.arange(n), cuts)
    ]


def merge_pairwise(parts):
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    return merged


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_moments_of_equals_definition(rng, full, weighted):
    X = rng.normal(size=(300, 5)) * [1.0, 10.0, 0.1, 3.0, 1.0] + [5.0, -2.0, 0.0, 100.0, 1.0]
    w = rng.uniform(0.0, 3.0, size=300) if weighted else None
    m = moments_of(X, w, full=full)
    assert m.full is full
    assert m.scatter.shape == ((5, 5) if full else (5,))
    assert_moments_close(m, *direct(X, w, full))
    if full and not weighted:
        np.testing.assert_allclose(m.scatter / 300, np.cov(X.T, bias=True), rtol=1e-10)
    if not full and not weighted:
        np.testing.assert_allclose(m.scatter / 300, X.var(axis=0), rtol=1e-10)


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_merge_of_random_splits_equals_batch(rng, full, weighted):
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + rng.normal(size=4) * 10
    w = rng.uniform(0.0, 2.0, size=200) if weighted else None
    expected = direct(X, w, full)
    for _ in range(20):
        assert_moments_close(merge_pairwise(random_parts(rng, X, w, full, 8)), *expected)
    # merge order does not matter either
    a = moments_of(X[:70], None if w is None else w[:70], full=full)
    b = moments_of(X[70:], None if w is None else w[70:], full=full)
    ab, ba = a.merge(b), b.merge(a)
    np.testing.assert_allclose(ab.mean, ba.mean, rtol=1e-13)
    np.testing.assert_allclose(ab.scatter, ba.scatter, rtol=1e-12)


def test_many_blocks_equal_one(rng):
    # d=1000 gives blocks of 524 rows: 1200 rows are read in three merged blocks
    X = rng.normal(size=(1200, 1000)) + 3.0
    m = moments_of(X, full=False)
    np.testing.assert_allclose(m.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.scatter / 1200, X.var(axis=0), rtol=1e-10)


def test_integer_weights_equal_repeated_rows(rng):
    X = rng.normal(size=(50, 3))
    w = rng.integers(0, 4, size=50)
    for full in (False, True):
        weighted = moments_of(X, w.astype(float), full=full)
        repeated = moments_of(np.repeat(X, w, axis=0), full=full)
        assert weighted.weight == repeated.weight
        np.testing.assert_allclose(weighted.mean, repeated.mean, rtol=1e-12)
        np.testing.assert_allclose(weighted.scatter, repeated.scatter, rtol=1e-10)


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
def test_zero_weight_merge_is_identity(rng, full):
    X = rng.normal(size=(40, 3))
    m = moments_of(X, full=full)
    zero = moments_of(X[:5], np.zeros(5), full=full)
    assert zero.weight == 0.0
    for merged in (m.merge(zero), zero.merge(m)):
        assert merged.weight == m.weight
        np.testing.assert_array_equal(merged.mean, m.mean)
        np.testing.assert_array_equal(merged.scatter, m.scatter)
    # a zero-weight block in the middle of a weighted pass changes nothing
    w = np.ones(40)
    w[10:20] = 0.0
    with_zeros = moments_of(X, w, full=full)
    without = moments_of(np.delete(X, np.s_[10:20], axis=0), full=full)
    np.testing.assert_allclose(with_zeros.mean, without.mean, rtol=1e-12)
    np.testing.assert_allclose(with_zeros.scatter, without.scatter, rtol=1e-10)


def test_merge_is_stable_far_from_the_origin(rng):
    # sum-of-squares would lose every digit of a unit variance around 1e9
    X = 1e9 + rng.normal(size=(10_000, 2))
    merged = Moments(0.0, np.zeros(2), np.zeros(2))
    for chunk in np.array_split(X, 37):
        merged = merged.merge(moments_of(chunk, full=False))
    np.testing.assert_allclose(merged.scatter / 10_000, (X - 1e9).var(axis=0), rtol=1e-6)
    naive = (X**2).mean(axis=0) - X.mean(axis=0) ** 2
    assert not np.allclose(naive, (X - 1e9).var(axis=0), rtol=1e-2)


def test_merge_of_two_points_by_hand():
    a = Moments(1.0, np.array([0.0]), np.array([0.0]))
    b = Moments(3.0, np.array([4.0]), np.array([0.0]))
    m = a.merge(b)
    assert m.weight == 4.0
    np.testing.assert_allclose(m.mean, [3.0])
    # 1 * (0 - 3)^2 + 3 * (4 - 3)^2 = 12
    np.testing.assert_allclose(m.scatter, [12.0])


def as_part(m):
    return (m.weight, m.mean, m.scatter)


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_merge_all_equals_batch_and_pairwise_merges(rng, full, weighted):
    X = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4)) + rng.normal(size=4) * 10
    w = rng.uniform(0.0, 2.0, size=300) if weighted else None
    expected = direct(X, w, full)
    for _ in range(10):
        parts = random_parts(rng, X, w, full, 16)
        merged = merge_all([as_part(p) for p in parts])
        assert merged.full is full
        assert_moments_close(merged, *expected)
        np.testing.assert_allclose(merged.scatter, merge_pairwise(parts).scatter, rtol=1e-12)
    one = moments_of(X, w, full=full)
    alone = merge_all([as_part(one)])
    assert alone.weight == one.weight
    np.testing.assert_array_equal(alone.mean, one.mean)
    np.testing.assert_array_equal(alone.scatter, one.scatter)


@pytest.mark.parametrize("full", [False, True], ids=["diag", "full"])
def test_merge_all_with_parts_of_no_weight(rng, full):
    X = rng.normal(size=(40, 3))
    m = moments_of(X, full=full)
    zero = moments_of(X[:5], np.zeros(5), full=full)
    merged = merge_all([as_part(zero), as_part(m), as_part(zero)])
    assert merged.weight == m.weight
    np.testing.assert_allclose(merged.mean, m.mean, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(merged.scatter, m.scatter, rtol=1e-14)
    nothing = merge_all([as_part(zero), as_part(zero)])
    assert nothing.weight == 0.0 and np.isfinite(nothing.mean).all()


def test_merge_all_is_stable_far_from_the_origin(rng):
    """The parts' means (about 1e9) differ from the overall mean by about 1e-2: their
    deviations, taken from the final mean, keep the between-part scatter exact."""
    X = 1e9 + rng.normal(size=(10_000, 2))
    parts = [as_part(moments_of(chunk, full=False)) for chunk in np.array_split(X, 37)]
    merged = merge_all(parts)
    np.testing.assert_allclose(merged.scatter / 10_000, (X - 1e9).var(axis=0), rtol=1e-6)


def test_merge_all_of_two_points_by_hand():
    m = merge_all(
        [(1.0, np.array([0.0]), np.array([0.0])), (3.0, np.array([4.0]), np.array([0.0]))]
    )
    assert m.weight == 4.0
    np.testing.assert_allclose(m.mean, [3.0])
    np.testing.assert_allclose(m.scatter, [12.0])  # 1 * (0 - 3)^2 + 3 * (4 - 3)^2
