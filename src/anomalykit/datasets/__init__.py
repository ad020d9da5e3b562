"""Small labelled data sets shipped inside the package (see ``SOURCES.md`` here)."""

from ._load import BUILTIN, Dataset, load_builtin, load_cardio, load_wholesale

__all__ = ["BUILTIN", "Dataset", "load_builtin", "load_cardio", "load_wholesale"]
