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


def one_blas_thread() -> AbstractContextManager:
    """A context with BLAS on one thread.

    The controller that finds the loaded BLAS libraries is built once:
    ``threadpool_limits`` rebuilds it on every call, which cost 3.6 ms per
    Lloyd step (75 ms of a 1.4 s fit).
    """
    return _controller().limit(limits=1, user_api="blas")


def dot_unthreaded(a: np.ndarray, b: np.ndarray) -> float:
    """``a @ b`` of two 1-D arrays, summed by NumPy's einsum rather than BLAS.

    OpenBLAS hands a dot of more than 10,000 values to its threads, which then
    spin for about 0.1 s and take a core from the next threaded kernel: a
    Lloyd run on 1e5 x 64 rows (2 cores) took 81 ms right after one such dot
    against 47 ms otherwise, and a fit ends with one (its inertia).
    """
    return float(np.einsum("i,i->", a, b))


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools_after_fork() -> None:
    """A forked child inherits the pools but not their threads: work given to
    them would wait for ever. The child starts its own pools when it needs them."""
    global _POOLS, _POOLS_LOCK
    _POOLS = {}
    _POOLS_LOCK = threading.Lock()


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
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="anomalykit")
        return _POOLS[threads]


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
    this 50-160 us. The first exception raised by ``func`` is raised here,
    after every thread has stopped; chunks not yet started are then skipped.
    """
    chunks = list(chunks)
    threads = min(max(1, threads), len(chunks))
    if threads <= 1:
        return [func(a, b) for a, b in chunks]
    results: list = [None] * len(chunks)
    errors: list[BaseException] = []
    lock = threading.Lock()
    position = 0

    def worker() -> None:
        nonlocal position
        while True:
            with lock:
                i = position
                position += 1
            if i >= len(chunks) or errors:
                return
            try:
                results[i] = func(*chunks[i])
            except BaseException as exc:  # re-raised by the caller below
                errors.append(exc)
                return

    pool = thread_pool(threads)
    futures = [pool.submit(worker) for _ in range(threads - 1)]
    try:
        worker()
    finally:
        for future in futures:
            future.result()
    if errors:
        raise errors[0]
    return results
