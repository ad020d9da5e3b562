"""One on-disk cache key for all the package's compiled kernels.

Numba's cache (``cache=True``) checks only the source file of the function it
compiled. Our kernels inline code from other files (the register panels of
``cluster/_numba_panels.py`` inside every Lloyd kernel of
``cluster/_numba_kernels.py``), so where one file changed and another did not
-- an editable install updated by ``git pull``, a checkout of another commit
-- a cached kernel could keep the old inlined code: measured, a Lloyd kernel
cached before the panels took a new layout rejected the new panels
("packed centres must have the rows' features"); a change that kept the
shapes would have run the old arithmetic silently. A package installed by pip
rewrites every file and never had the problem.

:func:`salt_kernel_caches` puts a locator in front of Numba's own for the
files in :data:`KERNEL_FILES`: the same cache directory as Numba would use,
with a stamp that adds the hash of all those files to the function's own, so
a change to any of them recompiles all of them (once).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

from numba.core import caching

__all__ = ["KERNEL_FILES", "kernels_stamp", "salt_kernel_caches", "stamp_of"]

#: The package's files of compiled kernels, relative to the package root.
KERNEL_FILES = (
    "cluster/_numba_bounds.py",
    "cluster/_numba_init.py",
    "cluster/_numba_kernels.py",
    "cluster/_numba_panels.py",
    "cluster/_numba_sparse.py",
    "detectors/_gaussian_kernels.py",
    "metrics/_silhouette_kernels.py",
)
_ROOT = Path(__file__).resolve().parents[1]


def stamp_of(root: Path, files: tuple[str, ...]) -> bytes:
    """sha256 over the names and contents of ``files`` under ``root``."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.digest()


@functools.cache
def kernels_stamp() -> bytes:
    """:func:`stamp_of` the package's :data:`KERNEL_FILES` (once a process);
    empty where they cannot be read (a zipped or frozen install)."""
    try:
        return stamp_of(_ROOT, KERNEL_FILES)
    except OSError:
        return b""


@functools.cache
def _kernel_paths() -> frozenset[str]:
    return frozenset(os.path.realpath(_ROOT / name) for name in KERNEL_FILES)


class _SaltedLocator(caching._CacheLocator):
    """Numba's own locator for a kernel file, its source stamp joined with
    :func:`kernels_stamp`."""

    def __init__(self, inner: caching._CacheLocator) -> None:
        self._inner = inner
        # (Numba names the file in its "cannot cache" warning from this attribute)
        self._py_file = getattr(inner, "_py_file", None)

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return self._inner.get_cache_path()

    def get_source_stamp(self) -> object:
        return (self._inner.get_source_stamp(), kernels_stamp())

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func, py_file):
        if getattr(sys, "frozen", False) or os.path.realpath(py_file) not in _kernel_paths():
            return None
        for other in caching.CacheImpl._locator_classes:
            if other is not cls:
                inner = other.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner)
        return None


def salt_kernel_caches() -> None:
    """Put :class:`_SaltedLocator` first among Numba's cache locators (once; the
    kernel modules call it before their first ``@njit``). Where
    ``NUMBA_CACHE_LOCATOR_CLASSES`` names locators, Numba uses those instead."""
    locators = caching.CacheImpl._locator_classes
    if _SaltedLocator not in locators:
        locators.insert(0, _SaltedLocator)
