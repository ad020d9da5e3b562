"""The guide's six applications as recipes on real data: ``run_recipe(name, ...)``
or ``anomalykit recipe NAME`` (see ``docs/recipes/``)."""

from ._base import RECIPES, RecipeResult, find_data, get_recipe

__all__ = ["RECIPES", "RecipeResult", "find_data", "get_recipe", "run_recipe"]


def run_recipe(name, data=None, out="anomalykit-recipe", *, random_state=0) -> RecipeResult:
    """Run recipe ``name`` on the data in ``data`` (a folder; default
    ``$ANOMALYKIT_DATA/<folder>``), writing its report into ``out``."""
    from pathlib import Path

    return get_recipe(name).run(data, Path(out), random_state=random_state)
