import os
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from anomalykit import KMeans
from anomalykit._utils import _threads
from anomalykit._utils._threads import (
    _current_cpu,
    dot_unthreaded,
    engine_threads,
    n_threads,
    one_blas_thread,
    run_chunks,
)


def test_engine_threads_follow_the_blas_limit():
    assert 1 <= engine_threads() <= n_threads()
    with threadpool_limits(1):
        assert engine_threads() == 1
    assert engine_threads() == min(n_threads(), engine_threads())


def test_kmeans_under_a_one_thread_limit_gives_the_same_answer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 8)).astype(np.float32)
    init = X[:16].copy()
    free = KMeans(16, init=init, n_init=1, max_iter=5, tol=0).fit(X)
    with threadpool_limits(1):
        limited = KMeans(16, init=init, n_init=1, max_iter=5, tol=0).fit(X)
    np.testing.assert_array_equal(free.labels_, limited.labels_)
    np.testing.assert_array_equal(free.cluster_centers_, limited.cluster_centers_)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_working_pools():
    """The parent's pools have threads the child does not: without the at-fork
    reset, a chunked fit in the child waits for ever (multiprocessing forks)."""
    import multiprocessing

    from anomalykit import GaussianDetector
    from anomalykit._utils._threads import thread_pool

    X = np.random.default_rng(0).normal(size=(100_000, 3))
    GaussianDetector("full").fit(X)  # several chunks: the parent's pool now runs
    assert list(thread_pool(2).map(abs, [-1, -2])) == [1, 2]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_fit_in_child, (X,))
        mean = result.get(timeout=60)  # hangs (then fails here) without the reset
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12)


def _fit_in_child(X):
    from anomalykit import GaussianDetector
    from anomalykit.metrics import silhouette_score

    silhouette_score(X[:3000], (X[:3000, 0] > 0).astype(int))
    return GaussianDetector("full").fit(X).mean_


def test_dot_unthreaded_is_the_dot_product():
    rng = np.random.default_rng(0)
    a = rng.random(50_001).astype(np.float32)  # past OpenBLAS's threaded-dot size
    b = rng.random(50_001)
    assert dot_unthreaded(a, b) == pytest.approx(float(a.astype(np.float64) @ b), rel=1e-12)
    assert isinstance(dot_unthreaded(a, b), float)
    assert dot_unthreaded(np.empty(0), np.empty(0)) == 0.0


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_run_chunks_returns_every_result_in_chunk_order(threads):
    chunks = [(start, start + 10) for start in range(0, 170, 10)]
    seen = []

    def func(a, b):
        time.sleep(0.002 * ((a // 10) % 3))  # uneven chunks: threads finish out of order
        seen.append((threading.get_ident(), a))
        return (a, b)

    assert run_chunks(func, chunks, threads) == chunks
    assert sorted(a for _, a in seen) == [a for a, _ in chunks]  # each chunk exactly once
    if threads == 1:
        assert {ident for ident, _ in seen} == {threading.get_ident()}


def test_run_chunks_uses_the_caller_and_the_workers():
    started = threading.Barrier(2, timeout=10)  # two chunks must run at the same time

    def func(a, b):
        started.wait()
        return threading.get_ident()

    idents = run_chunks(func, [(0, 1), (1, 2)], 2)
    assert threading.get_ident() in idents and len(set(idents)) == 2


can_pin = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity")
    or len(os.sched_getaffinity(0)) < 2
    or _current_cpu() is None,
    reason="needs Linux's sched_setaffinity, sched_getcpu and two CPUs",
)


def _affinities_in_two_chunks():
    """Each of two chunks, run at the same time (one by the caller, one by a
    worker): ``(is_caller, the CPUs its thread may use)``."""
    started = threading.Barrier(2, timeout=10)
    caller = threading.get_ident()

    def func(a, b):
        started.wait()
        return threading.get_ident() == caller, os.sched_getaffinity(0)

    seen = run_chunks(func, [(0, 1), (1, 2)], 2)
    assert sorted(is_caller for is_caller, _ in seen) == [False, True]
    return dict(seen)


@can_pin
def test_run_chunks_holds_the_caller_and_the_worker_on_different_cpus(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    before = os.sched_getaffinity(0)
    cpus = _affinities_in_two_chunks()
    assert len(cpus[True]) == 1 and cpus[True] <= before
    assert cpus[False] == before - cpus[True]  # (two threads: every other CPU)
    assert os.sched_getaffinity(0) == before  # the caller's own affinity is back


@can_pin
def test_pinned_workers_follow_the_callers_cpu_from_call_to_call(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    first, second = sorted(os.sched_getaffinity(0))[:2]
    for cpu in (first, second, first):
        monkeypatch.setattr(_threads, "_current_cpu", lambda cpu=cpu: cpu)
        cpus = _affinities_in_two_chunks()
        assert cpus[True] == {cpu} and cpu not in cpus[False]


@can_pin
def test_run_chunks_restores_the_callers_affinity_after_an_error(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    before = os.sched_getaffinity(0)

    def func(a, b):
        raise ValueError("chunk failed")

    with pytest.raises(ValueError, match="chunk failed"):
        run_chunks(func, [(0, 1), (1, 2)], 2)
    assert os.sched_getaffinity(0) == before


@can_pin
def test_the_callers_affinity_is_restored_when_waiting_for_a_worker_fails(monkeypatch):
    # (as when an interrupt arrives while the caller waits for its workers)
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    before = os.sched_getaffinity(0)

    def broken(cpus):
        raise RuntimeError("the worker could not start")

    monkeypatch.setattr(_threads, "_pin_worker", broken)
    with pytest.raises(RuntimeError, match="could not start"):
        run_chunks(lambda a, b: a, [(0, 1), (1, 2)], 2)
    assert os.sched_getaffinity(0) == before


@can_pin
def test_run_chunks_leaves_the_threads_alone_when_told_to(monkeypatch):
    before = os.sched_getaffinity(0)
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    assert _affinities_in_two_chunks()[False] != before  # a worker held to another CPU
    monkeypatch.setattr(_threads, "PIN_THREADS", False)
    cpus = _affinities_in_two_chunks()
    assert cpus[True] == before and cpus[False] == before  # ... and given them all back


@can_pin
def test_a_call_nested_in_a_pinned_callers_chunk_runs_in_that_thread(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    caller = threading.get_ident()
    inner = []

    def ident(c, d):
        time.sleep(0.005)  # (long enough for an idle worker to take a chunk)
        return threading.get_ident()

    def outer(a, b):
        if threading.get_ident() == caller:
            inner.extend(run_chunks(ident, [(0, 1), (1, 2), (2, 3)], 2))
        return a

    assert run_chunks(outer, [(0, 1), (1, 2), (2, 3)], 2) == [0, 1, 2]
    assert inner and set(inner) == {caller}  # no pool task started on the caller's one CPU


@can_pin
def test_run_chunks_runs_unpinned_where_the_caller_has_one_cpu(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    before = os.sched_getaffinity(0)
    one = {_current_cpu()}
    os.sched_setaffinity(0, one)
    try:
        assert _threads._cpu_plan(2) is None
        assert run_chunks(lambda a, b: (a, b), [(0, 1), (1, 2)], 2) == [(0, 1), (1, 2)]
        assert os.sched_getaffinity(0) == one
    finally:
        os.sched_setaffinity(0, before)


def test_run_chunks_runs_where_the_system_refuses_to_pin(monkeypatch):
    monkeypatch.setattr(_threads, "PIN_THREADS", True)
    monkeypatch.setattr(_threads, "_WORKER", threading.local())

    def refuse(pid, cpus):
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "sched_setaffinity", refuse, raising=False)
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(_threads, "_current_cpu", lambda: min(os.sched_getaffinity(0)))
    chunks = [(start, start + 1) for start in range(8)]
    assert run_chunks(lambda a, b: a * b, chunks, 2) == [a * b for a, b in chunks]


def test_run_chunks_raises_the_first_error_after_all_threads_stop():
    running = []

    def func(a, b):
        running.append(a)
        if a == 3:
            raise ValueError("chunk 3 failed")
        time.sleep(0.001)
        running.remove(a)
        return a

    with pytest.raises(ValueError, match="chunk 3 failed"):
        run_chunks(func, [(i, i + 1) for i in range(40)], 2)
    assert running == [3]  # no chunk still running when the error reached the caller
    assert run_chunks(lambda a, b: a, [], 2) == []


def test_run_chunks_raises_the_lowest_chunks_error_and_an_interrupt_first():
    def late_low(a, b):  # chunk 0 fails after chunk 1 has failed
        if a == 0:
            time.sleep(0.05)
        raise ValueError(f"chunk {a}")

    with pytest.raises(ValueError, match="chunk 0"):
        run_chunks(late_low, [(0, 1), (1, 2)], 2)

    def interrupted(a, b):  # an interrupt in chunk 1 while chunk 0 is still running
        if a == 0:
            time.sleep(0.1)
            raise ValueError("chunk 0")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_chunks(interrupted, [(0, 1), (1, 2)], 2)


def test_nested_run_chunks_never_wait_on_a_busy_pool():
    """Three levels deep on a pool of two workers: without running nested calls in
    the worker itself, every worker would wait on tasks queued behind them."""

    def level(depth):
        def func(a, b):
            return 1 if depth == 0 else sum(run_chunks(level(depth - 1), [(0, 1), (1, 2)], 2))

        return func

    done = []
    thread = threading.Thread(target=lambda: done.append(run_chunks(level(3), [(0, 1), (1, 2)], 2)))
    thread.start()
    thread.join(timeout=30)
    assert done == [[8, 8]]


def test_one_blas_thread_overlapping_in_two_threads_restores_the_limits(monkeypatch):
    """The limit is process-wide: the first thread in sets it, the last out restores
    it (each restoring what it found on entry could leave BLAS on one thread)."""
    from anomalykit._utils import _threads

    calls = []

    class Limiter:
        def restore_original_limits(self):
            calls.append("restore")

    class Controller:
        def limit(self, limits, user_api):
            calls.append(("limit", limits, user_api))
            return Limiter()

    monkeypatch.setattr(_threads, "_controller", Controller)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen_by_b = []

    def a():
        with one_blas_thread():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with one_blas_thread():
            b_in.set()
            a_out.wait(10)
            seen_by_b.extend(calls)  # a has left, b is still inside

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen_by_b == [("limit", 1, "blas")]
    assert calls == [("limit", 1, "blas"), "restore"]
    with one_blas_thread():  # and again from the start
        pass
    assert calls[2:] == [("limit", 1, "blas"), "restore"]


def test_one_blas_thread_limits_blas():
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    with one_blas_thread():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert len(inside) == len(blas)
    if threading.current_thread() is threading.main_thread():
        assert set(inside) == {1}
