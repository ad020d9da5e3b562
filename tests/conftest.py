"""Shared fixtures: the location of the project's shared data (tests skip without it).

Also, before anything imports Numba: compiled kernels are cached under
``.numba_cache`` at the repository's root rather than beside the sources (a
``NUMBA_CACHE_DIR`` set by the caller wins). Their cache key covers every
kernel file (``anomalykit._utils._numba_cache``), so a kernel that inlines
another module's code never runs a stale copy after that module is edited.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))


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
