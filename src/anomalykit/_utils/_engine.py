"""Choosing between a compiled (Numba) kernel module and the NumPy reference path."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._validation import check_in

__all__ = ["compiled_module"]


def compiled_module(module: str, engine: str | None, *, owner: str) -> ModuleType | None:
    """The compiled kernel module ``module`` (an absolute module name), or None
    for the NumPy path.

    ``engine``: None or "auto" (the kernels when Numba is installed), "numba"
    (the kernels, or an ImportError saying how to get Numba), "numpy" (the
    reference path). The module is imported on first use, never at import time
    of anomalykit.
    """
    check_in(engine, (None, "auto", "numba", "numpy"), name="engine", owner=owner)
    if engine == "numpy":
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        if engine == "numba":
            raise ImportError(
                "engine='numba' needs numba: pip install numba (a dependency of anomalykit)"
            ) from None
        return None
