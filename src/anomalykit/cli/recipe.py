"""``anomalykit recipe``: the guide's applications on real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..recipes import RECIPES, run_recipe
from ._errors import cli_errors
from ._options import DebugOpt, JsonOpt

EXAMPLE = """
\b
Examples:
  anomalykit recipe --list
  anomalykit recipe skab --data ../shared/data/sensors
  anomalykit recipe customers --data data/customers --out segments --json

Each recipe reads its data from --data (or $ANOMALYKIT_DATA/<folder>), writes
OUT/report.html or its figures, summary.json and tables, and prints its key
numbers. docs/recipes/NAME.md explains each one. Exit codes: 0 ran; 2 bad
usage, or data not found; 3 internal error (a bug).
"""


def recipe(
    name: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(RECIPES)}.")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder holding the recipe's data set.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the results.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the recipes and exit.")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random choice.")] = 0,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run one of the guide's applications (industrial QA, intrusion, ECG, customers, images, text)."""
    if list_:
        width = max(map(len, RECIPES))
        typer.echo("\n".join(f"{n:<{width}}  {d}" for n, (_, d) in RECIPES.items()))
        return
    with cli_errors(debug):
        if name is None:
            raise ValueError(f"name a recipe ({', '.join(RECIPES)}), or use --list.")
        result = run_recipe(
            name, data, out if out is not None else Path(f"anomalykit-{name}"), random_state=seed
        )
    if json_out:
        typer.echo(json.dumps(result.summary, indent=2))
    else:
        typer.echo(result.render())


recipe.__doc__ = (recipe.__doc__ or "") + "\n" + EXAMPLE

__all__ = ["recipe"]
