"""Reading the files named on the command line (shared by every command)."""

from __future__ import annotations

from ..io import Table, load_table, split_key

__all__ = ["read_table"]


def read_table(
    spec: str,
    columns: list[str] | None,
    label_column: str | None = None,
    *,
    labels_needed_for: str | None = None,
    header: bool | None = None,
) -> Table:
    """Load ``FILE`` or ``FILE:ARRAY``; with ``labels_needed_for``, a file without
    labels is an error that says what they are needed for."""
    path, key = split_key(spec)
    table = load_table(
        path,
        key=key,
        columns=columns,
        label_column=label_column,
        require_label=labels_needed_for is not None,
        header=header,
    )
    if labels_needed_for is not None and table.y is None:
        hint = "--label-column NAME" if key is None else "--label-column NAME (or a y array)"
        raise ValueError(f"{path}: {labels_needed_for} need labels; give {hint}.")
    return table
