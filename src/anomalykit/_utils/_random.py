"""One way to turn ``random_state`` into a generator."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_generator"]


def as_generator(random_state: Any) -> np.random.Generator:
    """``None`` | int | ``np.random.Generator`` -> ``np.random.Generator``.

    A Generator is returned as is (shared state, as the caller intends);
    ``np.random.RandomState`` is refused, since mixing the two streams silently
    breaks reproducibility.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        "random_state must be None, an int or a numpy.random.Generator; "
        f"got {type(random_state).__name__}."
    )
