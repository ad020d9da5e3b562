"""Recipes run on the real data in ../shared/data; they skip cleanly without it."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """``shared_data("sensors")`` -> the folder, or skip when it is absent."""

    def get(folder: str) -> Path:
        path = SHARED / folder
        if not path.is_dir():
            pytest.skip(f"{path} is absent (the shared data sets are not on this machine)")
        return path

    return get
