"""Options shared by several commands, defined once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


def split_columns(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None (all columns)."""
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise ValueError("--columns needs at least one column name, comma-separated.")
    return names


ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="A,B,...",
        help="Feature columns by name, comma-separated (arrays: x0,x1,...). Default: all but the label.",
    ),
]
LabelOpt = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        help="Column (or .npz/.mat array) of 0/1 labels, 1 = anomaly.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the output files.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON (for machines) instead of text.")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
HeaderOpt = Annotated[
    bool | None,
    typer.Option(
        "--header/--no-header",
        help="CSV/TSV: the first row names the columns, or is data (for every table file the "
        "command reads). Default: detected (a first row without numbers is a header).",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bar (one is shown only on a terminal, for long work)."
    ),
]


class Covariance(str, Enum):
    diag = "diag"
    full = "full"


class Rule(str, Enum):
    sigma = "sigma"
    mad = "mad"
    chi2 = "chi2"


class Scale(str, Enum):
    standard = "standard"
    robust = "robust"
    none = "none"


ScaleOpt = Annotated[
    Scale | None,
    typer.Option(
        "--scale",
        help="Scale each feature first, kept inside the model: standard (mean/std), robust "
        "(median/IQR) or none. Default: no scaling.",
    ),
]
LogOpt = Annotated[
    bool,
    typer.Option("--log", help="Apply log1p to every feature first (skewed, non-negative data)."),
]
RobustOpt = Annotated[
    bool,
    typer.Option(
        "--robust",
        help="Refit the Gaussian on the rows it finds typical (training rows may hold anomalies).",
    ),
]


def robust_note(model: dict) -> str:
    """The summary line's note on a --robust fit (empty for a plain one): how many
    training rows the Gaussian was fitted on."""
    kept = model.get("n_train_robust_support")
    return "" if kept is None else f"; robust: fitted on the {kept} most typical rows"
