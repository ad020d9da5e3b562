"""Plain Lloyd steps whose sums move with the rows (``PlainLloyd``) against ``lloyd_step``.

Every step must give ``lloyd_step``'s labels from the same centres, and its
centres up to the rounding of the sums that move with the rows.
"""

import numpy as np
import pytest
from lloyd_cases import CENTRE_TOL, blobs, rows

from anomalykit.cluster import _kmeans, _lloyd
from anomalykit.cluster._lloyd import PlainLloyd, delta_pays, lloyd_step

pytest.importorskip("numba")


def data(**kw):
    """Blobs of 24 features, wider than :func:`blobs`' (rows change cluster for longer)."""
    return blobs(**{"d": 24, "std": 4.0, **kw})


def fresh_sums(X, labels, w, k):
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, w[:, None] * X.astype(np.float64))
    return sums


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", ["unit", "some zero"])
def test_every_step_equals_lloyd_step(dtype, weights):
    X = data(dtype=dtype)
    k = 10
    w = np.ones(len(X))
    if weights == "some zero":
        w = np.random.default_rng(2).uniform(0.5, 3, len(X))  # (within moving sums' ratio)
        w[::7] = 0
    engine = PlainLloyd(X, w, k, threads=2, unit_weight=weights == "unit")
    plain = moving = rows(X, k)
    moved = []
    for i in range(15):
        ref = lloyd_step(X, plain, w)
        got = engine.step(moving)
        moved.append(engine.moved)
        if i == 0:  # the first step is lloyd_step's, bit for bit
            np.testing.assert_array_equal(got.centers, ref.centers)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_allclose(got.centers, ref.centers, rtol=0, atol=CENTRE_TOL[dtype])
        np.testing.assert_allclose(got.cluster_weights, ref.cluster_weights, rtol=1e-12)
        plain, moving = ref.centers, got.centers
    assert not moved[0] and sum(moved) >= 10  # the later steps moved the sums


def test_moved_sums_stay_within_rounding_of_fresh_sums():
    X = data(n=8000, d=32, std=6.0)
    k = 12
    w = np.random.default_rng(3).uniform(0.5, 2, len(X))
    engine = PlainLloyd(X, w, k)
    C = rows(X, k)
    for _ in range(25):
        C = engine.step(C).centers
        exact = fresh_sums(X, engine.labels, w, k)
        np.testing.assert_allclose(engine.sums, exact, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(engine.weights, np.bincount(engine.labels, w, k), rtol=1e-12)
        np.testing.assert_array_equal(engine.npos, np.bincount(engine.labels, minlength=k))


def test_a_cluster_emptied_by_moving_rows_is_reseeded_as_by_lloyd_step():
    X = data(n=6000, d=16, centers=4, std=1.0)
    k = 6
    w = np.ones(len(X))
    engine = PlainLloyd(X, w, k, unit_weight=True)
    C = rows(X, k)
    for _ in range(4):
        C = engine.step(C).centers
    assert engine._changed <= 0.25 * len(X)  # the next step moves the sums
    C = C.copy()
    C[2] = 1e4  # its rows all leave
    ref = lloyd_step(X, C, w)
    got = engine.step(C)
    assert engine.moved and ref.relocated.tolist() == [2]
    np.testing.assert_array_equal(got.relocated, ref.relocated)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_allclose(got.centers, ref.centers, rtol=0, atol=1e-10)
    # the moved sums leave rounding behind; the count of rows says the cluster is empty
    assert engine.npos[2] == 0 and 0 < np.abs(engine.sums[2]).max() < 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_and_two_threads_give_identical_results(dtype):
    X = data(n=40000, d=16, centers=10, std=3.0, dtype=dtype)  # several chunks
    k = 16
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    one, two = PlainLloyd(X, w, k, threads=1), PlainLloyd(X, w, k, threads=2)
    a = b = rows(X, k)
    for _ in range(12):
        a, b = one.step(a).centers, two.step(b).centers
        np.testing.assert_array_equal(a, b)  # bit for bit
        np.testing.assert_array_equal(one.labels, two.labels)
    assert one.moved and two.moved


def test_changes_are_counted_from_given_labels():
    X = data(n=5000, d=16)
    k = 8
    w = np.ones(len(X))
    C = rows(X, k)
    before = lloyd_step(X, C, w).labels
    moved = before.copy()
    moved[::5] = (moved[::5] + 1) % k
    engine = PlainLloyd(X, w, k, labels=moved)
    changed = engine._step(C)[3]
    np.testing.assert_array_equal(engine.labels, before)
    assert changed == np.count_nonzero(before != moved) == len(range(0, 5000, 5))
    assert PlainLloyd(X, w, k)._step(C)[3] == len(X)  # no labels before: every row


def test_deltas_pay_only_with_many_features_and_few_changes():
    assert delta_pays(16, 0.25) and delta_pays(128, 0.0)
    assert not delta_pays(8, 0.0)  # a move costs more than adding a few features afresh
    assert not delta_pays(64, 0.3)


def test_the_plain_loop_moves_sums_only_where_they_pay(monkeypatch):
    made = []
    real = _lloyd.PlainLloyd
    monkeypatch.setattr(_kmeans, "PlainLloyd", lambda *a, **kw: made.append(1) or real(*a, **kw))
    for d, expected in [(16, 1), (4, 0)]:
        made.clear()
        X = data(n=3000, d=d)
        w = np.ones(len(X))
        C = rows(X, 5)
        labels, centers, n_iter, _ = _kmeans._lloyd_plain(X, C, w, None, 30, 0.0, False)
        assert len(made) == expected
        ref = C
        for _ in range(n_iter):
            step = lloyd_step(X, ref, w)
            ref = step.centers
        np.testing.assert_array_equal(labels, step.labels)
        np.testing.assert_allclose(centers, ref, rtol=0, atol=1e-10)


def test_weights_far_apart_keep_the_sums_fresh(monkeypatch):
    # A heavy row leaving a cluster would take the light rows' digits with it
    # from moved sums: with weights 1e10 apart no step moves them, in PlainLloyd
    # or through the bounds, and the centres stay the plain step's.
    X = data(n=4000, d=16)
    k = 6
    w = np.ones(len(X))
    w[::50] = 1e10
    assert not _lloyd.weights_allow_moving(w) and _lloyd.weights_allow_moving(np.r_[0.0, w[1:50]])
    engine = PlainLloyd(X, w, k)
    plain = moving = rows(X, k)
    for _ in range(10):
        ref = lloyd_step(X, plain, w)
        got = engine.step(moving)
        assert not engine.moved
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_array_equal(got.centers, ref.centers)  # summed afresh: bit for bit
        plain, moving = ref.centers, got.centers
    started = []
    real = _lloyd.BoundedLloyd
    monkeypatch.setattr(
        _lloyd, "BoundedLloyd", lambda *a, **kw: started.append(1) or real(*a, **kw)
    )
    _lloyd.lloyd_bounded(X, rows(X, k), w, 10, 0.0, settled_share=1.0)
    assert not started
