"""Helpers shared by the benchmark scripts: timing, the environment header, tables."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def parse_size(text: str) -> int:
    """Parse ``"1e6"``, ``"1000000"`` or ``"1_000_000"`` as a positive integer."""
    value = float(text.replace("_", ""))
    if value < 1 or value != int(value):
        raise ValueError(f"not a positive integer: {text!r}")
    return int(value)


def schedule(names: list[str], repeats: int, order: str) -> list[str]:
    """The order of the timed runs: ``"turns"`` (round-robin) or ``"blocked"``.

    With turns, each round runs every method once, so a passing disturbance
    (another process on the machine) hits all methods alike; every run then
    also follows a different method, as a single call in a program would.
    Blocked runs all repeats of one method back to back (warm caches, warm
    allocator), then the next method.
    """
    if order == "turns":
        return [name for _ in range(repeats) for name in names]
    if order == "blocked":
        return [name for name in names for _ in range(repeats)]
    raise ValueError(f"order must be 'turns' or 'blocked', got {order!r}")


#: Seconds of rest before each timed call (see :func:`time_runs`).
SETTLE_SECONDS = 0.3


def time_runs(
    tasks: dict[str, tuple[Callable[[], Any], int]],
    repeats: int,
    order: str = "turns",
    *,
    before: Callable[[str], None] | None = None,
    after: Callable[[str], None] | None = None,
    settle: float = SETTLE_SECONDS,
) -> dict[str, tuple[float, Any]]:
    """Median wall time (s) and last result of each task.

    ``tasks`` maps a name to ``(fn, k)``: ``fn`` is timed ``min(k, repeats)``
    times; ``order`` is as in :func:`schedule`. ``before(name)`` and
    ``after(name)``, when given, run just before and just after each timed
    call, outside the timed interval (e.g. to measure its peak memory).

    With turns, each timed call starts ``settle`` seconds after the previous
    one ended (blocked runs stay back to back):
    the worker threads a method leaves behind keep spinning for a while
    (OpenBLAS's for about 0.1 s after a threaded call, OpenMP's for less)
    and take a core from whatever runs next, so without the rest the next
    method in the turn pays for the previous one. Measured (2 cores): a
    Lloyd run on 1e5 x 64 rows took 81 ms right after a threaded 1e5-value
    dot, 47 ms after 0.2 s of rest.
    """
    times: dict[str, list[float]] = {name: [] for name in tasks}
    results: dict[str, Any] = {}
    for name in schedule(list(tasks), repeats, order):
        fn, k = tasks[name]
        if len(times[name]) >= k:
            continue
        results[name] = None  # free the previous result first
        if settle > 0 and order == "turns":
            time.sleep(settle)
        if before is not None:
            before(name)
        start = time.perf_counter()
        results[name] = fn()
        times[name].append(time.perf_counter() - start)
        if after is not None:
            after(name)
    return {name: (statistics.median(times[name]), results[name]) for name in tasks}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or "n/a"."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def fmt_n(n: int) -> str:
    """``10000`` as ``1e4``; other sizes as plain integers."""
    exponent = round(math.log10(n))
    return f"1e{exponent}" if 10**exponent == n else str(n)


def fmt_time(seconds: float) -> str:
    """A duration with three significant digits and a readable unit."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_rate(rows_per_s: float) -> str:
    """Rows per second, e.g. ``12.3 M``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rows_per_s >= scale:
            return f"{rows_per_s / scale:.3g} {unit}"
    return f"{rows_per_s:.3g}"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_speed() -> str:
    """The host's speed when called: one thread's fused multiply-add peak in
    float32 (:func:`fma_peak`), its float32 matrix product (BLAS, 1024 x 1024 x
    1024, best of 5) and its read of 128 MB (``np.add.reduce``, best of 5).

    The same machine type is not always the same machine: the 2-core "AMD
    EPYC" of these benchmarks was for a while a CPU whose FMA units did 222
    GFLOP/s a core in float32, then a Zen 4 (family 25, model 17) doing 128 by
    :func:`fma_peak`, where the engine's arithmetic-bound cells took about twice
    their time."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    A = rng.random((1024, 1024), dtype=np.float32)
    X = np.ones(2**24)  # 128 MB of float64
    with threadpool_limits(1):
        gemm = best_time(lambda: A @ A, 5)
    read = best_time(lambda: np.add.reduce(X), 5)
    return (
        f"host speed: float32 FMA peak {fma_peak() / 1e9:.0f} GFLOP/s, "
        f"GEMM {2 * 1024**3 / gemm / 1e9:.0f} GFLOP/s, "
        f"a read {X.nbytes / read / 1e9:.1f} GB/s, each on one thread"
    )


def fma_peak(repeats: int = 3) -> float:
    """One thread's float32 fused multiply-add peak (FLOP/s): the best of
    ``repeats`` timings of 12 independent chains of multiply-adds on 16-float
    vectors (LLVM's code for this CPU, through Numba: 512-bit instructions
    where there is AVX-512, pairs of 256-bit ones elsewhere), 2 x 16 x 12
    FLOP an iteration, enough independent work for two FMA units of latency
    4-5. The limit of any arithmetic-bound kernel on this machine."""
    iterations = 20_000_000
    kernel = _fma_chains()
    kernel(1000)  # compile
    return 2 * 16 * 12 * iterations / best_time(lambda: kernel(iterations), repeats)


def _fma_chains():
    """A compiled ``f(n) -> float32``: n rounds of 12 vector FMAs, then their sum."""
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def chains(typingctx, n):
        if not isinstance(n, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            f32, i64 = ir.FloatType(), ir.IntType(64)
            vec = ir.VectorType(f32, 16)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec] * 3), "llvm.fma.v16f32"
            )
            count = context.cast(builder, args[0], signature.args[0], types.int64)
            x, y = ir.Constant(vec, [0.9999] * 16), ir.Constant(vec, [1e-4] * 16)
            entry = builder.block
            loop = builder.append_basic_block("chains")
            done = builder.append_basic_block("chains_done")
            builder.branch(loop)
            builder.position_at_end(loop)
            i = builder.phi(i64)
            i.add_incoming(ir.Constant(i64, 0), entry)
            acc = [builder.phi(vec) for _ in range(12)]
            for j, phi in enumerate(acc):
                phi.add_incoming(ir.Constant(vec, [float(j)] * 16), entry)
            new = [builder.call(fma, [a, x, y]) for a in acc]
            nxt = builder.add(i, ir.Constant(i64, 1))
            i.add_incoming(nxt, builder.block)
            for phi, value in zip(acc, new, strict=True):
                phi.add_incoming(value, builder.block)
            builder.cbranch(builder.icmp_signed("<", nxt, count), loop, done)
            builder.position_at_end(done)
            total = new[0]
            for value in new[1:]:
                total = builder.fadd(total, value)
            out = builder.extract_element(total, ir.Constant(ir.IntType(32), 0))
            for lane in range(1, 16):
                out = builder.fadd(
                    out, builder.extract_element(total, ir.Constant(ir.IntType(32), lane))
                )
            return out

        return types.float32(n), codegen

    @njit(nogil=True)
    def run(n):
        return chains(n)

    return run


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """The least wall time (s) of ``repeats`` calls of ``fn``, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def environment_lines(load_before: str) -> list[str]:
    """Versions, CPU, thread pools, OPENBLAS_CORETYPE, the host's speed
    (:func:`host_speed`, measured now) and load, one fact per line."""
    import numpy as np
    import scipy
    import sklearn

    import anomalykit

    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, anomalykit {anomalykit.__version__}",
        f"CPU: {cpu_name()}, {os.cpu_count()} logical cores",
    ]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        lines.append("threads: threadpoolctl not importable")
    else:
        pools = [
            f"{p['internal_api']} {p.get('version') or '?'} ({p['prefix']}): "
            f"{p['num_threads']} threads"
            for p in threadpool_info()
        ]
        lines.append("threads: " + "; ".join(pools) if pools else "threads: no pools found")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines.append(f"OPENBLAS_CORETYPE={coretype}" if coretype else "OPENBLAS_CORETYPE not set")
    lines.append(host_speed())
    lines.append(f"load average (1/5/15 min) before: {load_before}, after: {load_average()}")
    return lines


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[j].ljust(widths[j]) if j < left else row[j].rjust(widths[j])
            for j in range(len(row))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(
            ":" + "-" * (w + 1) if j < left else "-" * (w + 1) + ":" for j, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _machine_busy_seconds() -> float | None:
    """CPU seconds spent busy by the whole machine since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait
    ticks = [int(x) for x in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """Share of the machine's CPU time used by OTHER processes over an interval.

    ``(machine busy time - this process's CPU time) / (wall time x cores)``,
    from ``/proc/stat``: 0 on an idle machine, 0.5 when another process keeps
    one of two cores busy. None where ``/proc/stat`` cannot be read.
    """

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._busy = _machine_busy_seconds()
        self._own = _own_cpu_seconds()
        self._wall = time.perf_counter()

    def share(self) -> float | None:
        busy = _machine_busy_seconds()
        if busy is None or self._busy is None:
            return None
        wall = time.perf_counter() - self._wall
        other = (busy - self._busy) - (_own_cpu_seconds() - self._own)
        return max(0.0, other) / (wall * (os.cpu_count() or 1)) if wall > 0 else None


def wait_for_idle(max_wait: float, threshold: float = 0.1, window: float = 3.0) -> float | None:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold``
    of the machine over a ``window``-second sample; return the last share seen."""
    deadline = time.monotonic() + max_wait
    while True:
        probe = OtherLoad()
        time.sleep(window)
        share = probe.share()
        if share is None or share < threshold or time.monotonic() >= deadline:
            return share
