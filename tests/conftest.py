"""Shared fixtures: the location of the project's shared data (tests skip without it).

Also, before anything imports Numba: compiled kernels are cached in a directory
named by a hash of every source file that uses Numba. Numba checks a cached
function against its own file only, so a kernel that calls another module's
kernel (``_numba_kernels._nearest`` -> ``_numba_panels.nearest_panels``) would
otherwise keep the old callee after that module is edited, and the tests would
pass on code that no longer exists. A ``NUMBA_CACHE_DIR`` set by the caller wins.
"""

import hashlib
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _numba_cache_dir() -> Path:
    digest = hashlib.sha256()
    for path in sorted((REPO / "src" / "anomalykit").rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + text)
    root = REPO / ".numba_cache"
    here = root / digest.hexdigest()[:16]
    if root.is_dir():  # caches of older sources: never read again
        for old in root.iterdir():
            if old != here:
                shutil.rmtree(old, ignore_errors=True)
    return here


if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(_numba_cache_dir())


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def course_data(shared_data: Path) -> Path:
    path = shared_data / "course"
    if not (path / "ex8data1.mat").is_file():
        pytest.skip(f"course data not found at {path}")
    return path
