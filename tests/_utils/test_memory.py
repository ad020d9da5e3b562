"""Large scratch arrays on small pages (:mod:`anomalykit._utils._memory`)."""

import mmap
import os

import numpy as np
import pytest

from anomalykit._utils import _memory
from anomalykit._utils._memory import SMALL_PAGES_BYTES, empty_small_pages


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_array_is_its_own_writable_mapping(dtype):
    rows = SMALL_PAGES_BYTES // (np.dtype(dtype).itemsize * 8) + 3
    a = empty_small_pages((rows, 8), dtype)
    assert a.shape == (rows, 8) and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
    a[...] = 2.5
    a[-1, -1] = 7.0  # the last value is inside the mapping
    assert a.sum(dtype=np.float64) == pytest.approx(2.5 * (a.size - 1) + 7.0)


def vm_flags(address):
    """The kernel's flags of the mapping that holds ``address`` (Linux)."""
    inside = False
    with open("/proc/self/smaps", encoding="ascii") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                low, high = (int(x, 16) for x in head.split("-"))
                inside = low <= address < high
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    raise LookupError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(
    not (os.path.exists("/proc/self/smaps") and hasattr(mmap, "MADV_NOHUGEPAGE")),
    reason="needs Linux's /proc/self/smaps and MADV_NOHUGEPAGE",
)
def test_the_mapping_refuses_huge_pages():
    a = empty_small_pages((SMALL_PAGES_BYTES // 8 + 1,), np.float64)
    assert "nh" in vm_flags(a.ctypes.data)  # MADV_NOHUGEPAGE
    a[...] = 1.0


def test_small_arrays_and_platforms_without_the_advice_get_numpy_memory(monkeypatch):
    small = empty_small_pages((10, 3), np.float32)
    assert small.shape == (10, 3) and small.flags.owndata  # NumPy's own allocation
    assert empty_small_pages((0, 5), np.float64).shape == (0, 5)
    monkeypatch.delattr(mmap, "MADV_NOHUGEPAGE", raising=False)
    big = empty_small_pages((SMALL_PAGES_BYTES // 8 + 1,), np.float64)
    assert big.flags.owndata


def test_a_failed_mapping_falls_back_to_numpy(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no memory to map")

    monkeypatch.setattr(_memory.mmap, "mmap", refuse)
    a = empty_small_pages((SMALL_PAGES_BYTES // 4 + 1,), np.float32)
    assert a.flags.owndata and a.shape == (SMALL_PAGES_BYTES // 4 + 1,)
