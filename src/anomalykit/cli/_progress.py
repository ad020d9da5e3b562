"""Progress bars on stderr for long library loops, and only there.

The library reports progress through a plain callback, ``progress(done, total)``
(``select_k``, ``detect_anomalies``, ``cluster_data``); :func:`progress_bar`
turns it into a :mod:`rich` bar. The bar appears only when stderr is a terminal
and the work is still running after :data:`SHOW_AFTER_S` seconds, so pipes, logs
and tests stay clean; ``--quiet`` turns it off. It is transient: it leaves no
trace on the terminal once the work is done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["SHOW_AFTER_S", "ProgressCallback", "progress_bar"]

#: Work that is done within this many seconds never shows a bar.
SHOW_AFTER_S = 0.5

ProgressCallback = Callable[[int, int], None]


def _ignore(done: int, total: int) -> None:
    """The callback when no bar is shown."""


@contextlib.contextmanager
def progress_bar(
    description: str,
    *,
    quiet: bool = False,
    show_after: float = SHOW_AFTER_S,
    console: Console | None = None,
) -> Iterator[ProgressCallback]:
    """Yield a ``progress(done, total)`` callback that drives a bar on stderr.

    Parameters
    ----------
    description : str
        Shown left of the bar, e.g. ``"choosing K"``.
    quiet : bool, default=False
        No bar at all (``--quiet``).
    show_after : float, default=SHOW_AFTER_S
        Seconds after entering the block before a bar may appear; quicker work
        shows nothing.
    console : rich.console.Console, default=None
        Where to draw; default stderr. Nothing is drawn unless it is a terminal.
    """
    console = console if console is not None else Console(stderr=True)
    if quiet or not console.is_terminal:
        yield _ignore
        return
    start = time.monotonic()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task: list[int] = []  # the task id, once the bar is shown

    def update(done: int, total: int) -> None:
        if not task:
            if done >= total or time.monotonic() - start < show_after:
                return
            bar.start()
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()
