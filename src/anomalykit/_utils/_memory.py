"""Large scratch arrays on small (4 KiB) pages."""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["SMALL_PAGES_BYTES", "empty_small_pages"]

#: Arrays of at least this many bytes are mapped on small pages. Below it, the huge
#: pages that NumPy asks for came at once, even after seconds of rest, and 4 KiB
#: pages cost more (their faults take about 1.4 us each on these machines): a centred
#: copy of 25.6 MB took 3 ms on huge pages against 9-14 ms on small ones, of 32 MB
#: 7-11 against 14-22 ms; of 48 MB 24-56 against 21-31 ms, of 128 MB 14-155
#: against 40-46 ms (rests of 0.3, 3 and 6 s before each call).
SMALL_PAGES_BYTES = 40 * 2**20


def empty_small_pages(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array, like ``np.empty``, mapped on its
    own with transparent huge pages refused (``MADV_NOHUGEPAGE``) where it
    holds at least :data:`SMALL_PAGES_BYTES` and the platform allows; else
    ``np.empty``. The array keeps its mapping alive and unmaps it when freed.

    Why: NumPy asks for huge pages for large arrays, and where the kernel
    must first assemble them (compaction; memory that went back to a
    virtual machine's host) writing a fresh 128 MiB array took 250-340 ms,
    against 47-62 ms on small pages, every time (measured on the 2-core
    machines of this project's benchmarks; huge pages still in the process's
    free lists took 9 ms). The engine writes such an array once (a centred
    copy of X) and reads it a few dozen times in order, which small pages do
    not slow down.
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    no_huge = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if nbytes < SMALL_PAGES_BYTES or no_huge is None:
        return np.empty(shape, dtype=dtype)
    try:
        buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buffer.madvise(no_huge)
    except (OSError, AttributeError):  # (no such mapping here: NumPy's own memory)
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)
