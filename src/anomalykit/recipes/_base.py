"""What every recipe shares: where its data is, what it returns, the registry."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RECIPES", "RecipeResult", "find_data", "get_recipe"]

#: Recipe name -> (module, one-line description). Modules are imported on use.
RECIPES: dict[str, tuple[str, str]] = {
    "skab": ("._skab", "industrial QA: SKAB pump testbed, SKAB's outlier-detection protocol"),
    "intrusion": ("._intrusion", "network intrusion: KDD Cup 99 http and smtp"),
    "ecg": ("._ecg", "healthcare: abnormal heartbeats (ECG200, ECG5000, ODDS arrhythmia)"),
    "customers": ("._customers", "customer segmentation: UCI Wholesale and CDNOW RFM"),
    "image": ("._image", "image compression: colour quantisation with K-means"),
    "documents": ("._documents", "document clustering: BBC News, spherical K-means on TF-IDF"),
}

#: Environment variable naming the folder that holds the data sets' folders.
DATA_ENV = "ANOMALYKIT_DATA"


@dataclass(frozen=True)
class RecipeResult:
    """What a recipe found.

    Attributes
    ----------
    name : str
    summary : dict
        The numbers, JSON-ready (also written to ``OUT/summary.json``).
    lines : list of str
        A short text summary for people.
    files : dict of str to Path
        What the recipe wrote (report, figures, tables).
    """

    name: str
    summary: dict[str, Any]
    lines: list[str]
    files: dict[str, Path] = field(default_factory=dict)

    def render(self) -> str:
        return "\n".join(self.lines)


def get_recipe(name: str) -> Any:
    """The module of recipe ``name`` (it has ``run(data, out, *, random_state)``)."""
    if name not in RECIPES:
        raise ValueError(f"No recipe named {name!r}; choose one of {', '.join(RECIPES)}.")
    return importlib.import_module(RECIPES[name][0], __package__)


def find_data(folder: str, data: str | Path | None, *, must_contain: str) -> Path:
    """The folder holding a recipe's data.

    ``data`` (``--data``) wins; otherwise ``$ANOMALYKIT_DATA/<folder>``. The
    folder must contain ``must_contain`` (a file or subfolder name), so a
    wrong path is caught before any work starts.
    """
    candidates = []
    if data is not None:
        candidates.append(Path(data))
    elif os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]) / folder)
    for path in candidates:
        if (path / must_contain).exists():
            return path
        if (path / folder / must_contain).exists():
            return path / folder
    where = (
        f"{candidates[0]} has no {must_contain}"
        if candidates
        else f"no --data was given and ${DATA_ENV} is not set"
    )
    raise FileNotFoundError(
        f"The recipe's data ({folder}/{must_contain}) was not found: {where}. Pass --data "
        f"PATH/TO/{folder} (see docs/recipes for where each data set comes from)."
    )
