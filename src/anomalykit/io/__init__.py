"""Files in and out: tables read by pure functions, and fitted models saved and loaded
(:func:`save` / :func:`load`, a zip of a JSON manifest and ``.npy`` arrays, no pickle)."""

from ._atomic import atomic_open, write_bytes_atomic, write_text_atomic
from ._models import ModelFileError, load, save
from ._tables import STDIN, Table, TableError, load_table, split_key

__all__ = [
    "STDIN",
    "ModelFileError",
    "Table",
    "TableError",
    "atomic_open",
    "load",
    "load_table",
    "save",
    "split_key",
    "write_bytes_atomic",
    "write_text_atomic",
]
