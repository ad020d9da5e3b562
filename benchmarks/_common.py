"""Helpers shared by the benchmark scripts: timing, the environment header, tables."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def parse_size(text: str) -> int:
    """Parse ``"1e6"``, ``"1000000"`` or ``"1_000_000"`` as a positive integer."""
    value = float(text.replace("_", ""))
    if value < 1 or value != int(value):
        raise ValueError(f"not a positive integer: {text!r}")
    return int(value)


def median_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Run ``fn`` ``repeats`` times; return the median wall time (s) and the last result."""
    times = []
    result: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


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


def environment_lines() -> list[str]:
    """Versions, CPU, thread pools and OPENBLAS_CORETYPE, one fact per line."""
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
    return lines


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first column is left-aligned, the others right-aligned."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[j].ljust(widths[j]) if j == 0 else row[j].rjust(widths[j]) for j in range(len(row))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(
            ":" + "-" * (w + 1) if j == 0 else "-" * (w + 1) + ":" for j, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
