"""Reading tables from files: pure functions, no estimators."""

from ._tables import Table, TableError, load_table, split_key

__all__ = ["Table", "TableError", "load_table", "split_key"]
