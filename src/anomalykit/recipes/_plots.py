"""Figures of the recipes: standalone matplotlib Figures (no pyplot state), small PNGs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..plotting._base import require_matplotlib

__all__ = ["DPI", "WIDTH_PX", "new_figure", "save_png", "write_json"]

#: Figures are WIDTH_PX pixels wide at DPI (small enough for the docs as they are).
WIDTH_PX = 600
DPI = 75


def new_figure(height_px: int, *, width_px: int = WIDTH_PX) -> Any:
    """A ``matplotlib.figure.Figure`` of that size in pixels, constrained layout."""
    figure = require_matplotlib()
    return figure.Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")


def save_png(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG (no timestamp or software tag, so reruns give the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """``payload`` as indented JSON; NaN and infinities become null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(payload), indent=2, allow_nan=False) + "\n", "utf-8")
    return path


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # NumPy scalars and arrays
        return _plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
