"""Threads: how many cores we may use, and BLAS limited to one thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = [
    "dot_unthreaded",
    "engine_threads",
    "n_threads",
    "one_blas_thread",
    "run_chunks",
    "thread_pool",
]

_CONTROLLER: ThreadpoolController | None = None


def n_threads() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _controller() -> ThreadpoolController:
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def engine_threads() -> int:
    """Threads for the compiled kernels: the cores this process may use, capped
    by any thread limit set on the BLAS/OpenMP pools, so that threadpoolctl's
    ``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1`` also hold for them
    (reading the limits costs about 0.5 us per pool). Results never depend on
    the number of threads; only the speed does."""
    limits = [lib.num_threads for lib in _controller().lib_controllers]
    return max(1, min([n_threads(), *(t for t in limits if isinstance(t, int) and t > 0)]))


class _OneBlasThread(AbstractContextManager):
    """BLAS held to one thread while any thread of this process is inside."""

    _lock = threading.Lock()
    _depth = 0
    _limiter: Any = None

    def __enter__(self) -> _OneBlasThread:
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._limiter = _controller().limit(limits=1, user_api="blas")
            cls._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                cls._limiter.restore_original_limits()
                cls._limiter = None


def one_blas_thread() -> AbstractContextManager:
    """A context with BLAS on one thread.

    The controller that finds the loaded BLAS libraries is built once:
    ``threadpool_limits`` rebuilds it on every call, which cost 3.6 ms per
    Lloyd step (75 ms of a 1.4 s fit). The limit is process-wide, so the
    contexts of all threads share one: the first to enter sets it, the last
    to leave restores the limits found then (two fits in two threads, each
    restoring what it had found on entry, could leave BLAS on one thread).
    """
    return _OneBlasThread()


def dot_unthreaded(a: np.ndarray, b: np.ndarray) -> float:
    """``a @ b`` of two 1-D arrays, summed by NumPy's einsum rather than BLAS.

    OpenBLAS hands a dot of more than 10,000 values to its threads, which then
    spin for about 0.1 s and take a core from the next threaded kernel: a
    Lloyd run on 1e5 x 64 rows (2 cores) took 81 ms right after one such dot
    against 47 ms otherwise, and a fit ends with one (its inertia).
    """
    return float(np.einsum("i,i->", a, b))


_POOLS: dict[int, ThreadPoolExecutor] = {}
#: Name prefix of the pools' worker threads (see :func:`run_chunks`).
_POOL_PREFIX = "anomalykit-engine"
_POOLS_LOCK = threading.Lock()


def _forget_pools_after_fork() -> None:
    """A forked child inherits the pools but not their threads: work given to
    them would wait for ever. The child starts its own pools when it needs them."""
    global _POOLS, _POOLS_LOCK
    _POOLS = {}
    _POOLS_LOCK = threading.Lock()
    _OneBlasThread._lock = threading.Lock()  # (a parent's thread may have held it)
    _OneBlasThread._depth = 0
    _OneBlasThread._limiter = None


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """A thread pool of ``threads`` workers, made once and kept.

    Starting threads on every call cost milliseconds on a busy machine: 3.5 ms
    of an 8 ms Gaussian fit + score of 1e6 x 2 rows, and k-means++ runs two
    passes per centre. Tasks given to it must not wait on tasks of the same
    pool. A forked child makes its own (see :func:`_forget_pools_after_fork`).
    """
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix=_POOL_PREFIX)
        return _POOLS[threads]


#: Whether :func:`run_chunks` keeps the caller and its workers on different CPUs
#: while they work (Linux; ``ANOMALYKIT_PIN_THREADS=0`` turns it off).
PIN_THREADS = os.environ.get("ANOMALYKIT_PIN_THREADS", "1") != "0"
_WORKER = threading.local()  # the CPUs a pool worker was last held to
_CALLER = threading.local()  # whether a run_chunks call holds this thread to its CPU
_GETCPU: Callable[[], int] | None = None


def _current_cpu() -> int | None:
    """The CPU this thread runs on (glibc's ``sched_getcpu``), or None."""
    global _GETCPU
    if _GETCPU is None:
        try:
            import ctypes

            _GETCPU = ctypes.CDLL(None, use_errno=True).sched_getcpu
        except (OSError, AttributeError, ImportError):  # not Linux, or no glibc symbol
            _GETCPU = lambda: -1  # noqa: E731
    cpu = _GETCPU()
    return cpu if cpu >= 0 else None


def _set_affinity(cpus: frozenset[int] | set[int]) -> bool:
    """Hold this thread to ``cpus``; False where the system refuses."""
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, ValueError):
        return False
    return True


def _cpu_plan(threads: int) -> tuple[frozenset[int], list[frozenset[int]], set[int]] | None:
    """``(caller, workers, saved)``: the CPUs the calling thread keeps while
    :func:`run_chunks` runs (the one it is on), those of each of the
    ``threads - 1`` workers (one CPU each where there are exactly enough, else
    all the others) and the caller's affinity to restore; None where this
    system cannot pin threads or the caller may use too few CPUs.

    Why: a thread that waits for its workers sleeps, and on waking Linux may
    place it on the CPU of the worker that woke it, where both then stay.
    Measured on a 2-core VM, case D (1e5 x 64, k = 10, 20 Lloyd iterations)
    after 0.3 s of rest: from the fifth step on, every step ran with the
    caller and the worker on one CPU (2.0 ms a step instead of 1.1); the fit
    took 51-58 ms, 36-39 ms with the threads held apart, as back to back.
    (OpenMP's threads, scikit-learn's, spin a while before they sleep.)
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        saved = os.sched_getaffinity(0)
    except OSError:
        return None
    here = _current_cpu()
    if len(saved) < threads or here not in saved:
        return None
    others = sorted(saved - {here})
    if len(others) == threads - 1:
        workers = [frozenset([cpu]) for cpu in others]
    else:
        workers = [frozenset(others)] * (threads - 1)
    return frozenset([here]), workers, saved


def _pin_worker(cpus: frozenset[int] | None) -> None:
    """Hold this pool worker to ``cpus`` (kept between calls: no system call
    where it already is); None: leave it as it is."""
    if cpus is not None and getattr(_WORKER, "cpus", None) != cpus:
        _WORKER.cpus = cpus if _set_affinity(cpus) else None


def _affinity() -> frozenset[int] | None:
    """The calling thread's CPUs, or None where the system does not say."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _on_cpus(cpus: frozenset[int] | None, work: Callable[[], None]) -> None:
    """A pool task: ``work()`` on ``cpus`` (:func:`_pin_worker`)."""
    _pin_worker(cpus)
    work()


def run_chunks(
    func: Callable[[int, int], Any], chunks: Sequence[tuple[int, int]], threads: int
) -> list:
    """``[func(start, stop) for start, stop in chunks]``, on up to ``threads`` threads.

    The calling thread and ``threads - 1`` workers of :func:`thread_pool`
    take the chunks one after another from a shared counter; each result is
    stored at its chunk's index, so the list is in chunk order whichever
    thread ran what. One task per worker, not one per chunk: handing 16
    chunks to ``ThreadPoolExecutor.map`` cost 220-280 us a call (5-8% of a
    Gaussian fit + score of 1e6 x 2 rows, which makes two such calls), and
    this 50-160 us.

    While they run, the caller stays on the CPU it is on and each worker on
    another (:func:`_cpu_plan`; Linux), then the caller's own affinity is
    restored.

    An exception stops every thread at its next chunk and is raised here once
    all have stopped: a KeyboardInterrupt first, else that of the lowest chunk.
    Called from a worker of these pools (``func`` that itself runs chunks),
    or from a caller held to its CPU by an outer call, the chunks run one
    after another in that thread: nested calls never wait on a pool whose
    workers are all busy, nor start threads that would inherit a one-CPU
    affinity.
    """
    chunks = list(chunks)
    threads = min(max(1, threads), len(chunks))
    nested = getattr(_CALLER, "pinned", False)
    if threads <= 1 or nested or threading.current_thread().name.startswith(_POOL_PREFIX):
        return [func(a, b) for a, b in chunks]
    results: list = [None] * len(chunks)
    errors: list[tuple[bool, int, BaseException]] = []
    lock = threading.Lock()
    position = 0

    def worker() -> None:
        nonlocal position
        i = -1
        try:
            while True:
                with lock:
                    if errors or position >= len(chunks):
                        return
                    i = position
                    position += 1
                results[i] = func(*chunks[i])
        except BaseException as exc:  # re-raised by the caller below
            with lock:
                errors.append((isinstance(exc, Exception), i, exc))

    pool = thread_pool(threads)
    plan = _cpu_plan(threads) if PIN_THREADS else None
    if plan is None:  # (workers pinned by earlier calls go back to the caller's CPUs)
        mask = _affinity()
        futures = [pool.submit(_on_cpus, mask, worker) for _ in range(threads - 1)]
    else:
        caller, workers, saved = plan
        futures = [pool.submit(_on_cpus, cpus, worker) for cpus in workers]
    pinned = False
    try:
        if plan is not None:
            pinned = _CALLER.pinned = _set_affinity(caller)
        worker()
    finally:
        try:
            for future in futures:
                future.result()
        finally:  # (also when an interrupt arrives while waiting)
            if pinned:
                _CALLER.pinned = False
                _set_affinity(saved)
    if errors:
        raise min(errors, key=lambda e: e[:2])[2]
    return results
