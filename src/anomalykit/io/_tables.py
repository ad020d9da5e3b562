"""Read a numeric table from CSV/TSV, ``.npz``, ``.npy`` or MATLAB ``.mat``.

Pure functions, no estimators. Every failure is a :class:`TableError` (a
``ValueError``) naming the file, the column or line, and the fix.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils._validation import check_binary_labels

__all__ = ["Table", "TableError", "load_table", "split_key"]

_ARRAY_SUFFIXES = (".npz", ".npy", ".mat")
_DELIMITERS = ",;\t|"


class TableError(ValueError):
    """A file could not be read as the numeric table that was asked for."""


@dataclass(frozen=True, repr=False)
class Table:
    """Numeric rows ``X``, optional 0/1 ``y``, column names and where they came from."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    source: str

    def __repr__(self) -> str:
        labels = "" if self.y is None else f", labelled ({int(self.y.sum())} anomalies)"
        return (
            f"Table({self.source!r}, n_rows={self.X.shape[0]}, n_columns={self.X.shape[1]}{labels})"
        )


def split_key(spec: str) -> tuple[str, str | None]:
    """``"data.mat:Xval"`` -> ``("data.mat", "Xval")``; other paths are returned as is."""
    head, sep, key = spec.rpartition(":")
    if sep and head.lower().endswith((".npz", ".mat")) and key:
        return head, key
    return spec, None


def load_table(
    path: str | Path,
    *,
    key: str | None = None,
    columns: list[str] | None = None,
    label_column: str | None = None,
    require_label: bool = True,
) -> Table:
    """Load a numeric table.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``/``.txt`` (delimiter detected among ``, ; tab |``,
        header detected), ``.npz``, ``.npy`` or ``.mat``.
    key : str, default=None
        The array to read from ``.npz``/``.mat`` (default ``"X"``, or the only
        2-D array).
    columns : list of str, default=None
        Feature columns to keep, by name (arrays are named ``x0``, ``x1``, ...).
        Default: every column except the label.
    label_column : str, default=None
        Column (or, for ``.npz``/``.mat``, array) holding 0/1 labels. For arrays
        the default pairs ``X`` with ``y``, ``Xval`` with ``yval`` and so on when
        present.
    require_label : bool, default=True
        With ``False``, a file without ``label_column`` loads with ``y=None``
        (new rows to score often have no labels).

    Returns
    -------
    Table
    """
    p = Path(path)
    if not p.exists():
        raise TableError(f"{p}: no such file.")
    if p.is_dir():
        raise TableError(f"{p} is a directory; give a data file.")
    if p.stat().st_size == 0:
        raise TableError(f"{p} is empty.")
    suffix = p.suffix.lower()
    if suffix in _ARRAY_SUFFIXES:
        X, y, names = _read_arrays(p, suffix, key, label_column, require_label)
    else:
        if key is not None:
            raise TableError(f"{p}: ':{key}' selects an array in .npz/.mat files only.")
        X, y, names = _read_text(p, columns, label_column, require_label)
    if suffix in _ARRAY_SUFFIXES:
        X, names = _select_columns(p, X, names, columns)
    _check_finite(p, X, names)
    return Table(X=X, y=y, feature_names=names, source=str(p))


# ------------------------------------------------------------------ text files
def _read_text(
    p: Path, columns: list[str] | None, label_column: str | None, require_label: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(
            f"{p} is not UTF-8 text. Is it a binary file? Tables are read from CSV/TSV, "
            ".npz, .npy or .mat."
        ) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise TableError(f"{p} has no rows (only blank or comment lines).")
    delimiter = _sniff_delimiter(lines[:20])
    rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=True))
    first = [c.strip() for c in rows[0]]
    has_header = not all(_is_number(c) for c in first)
    if has_header:
        names, body, first_line = first, rows[1:], 2
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise TableError(f"{p}: duplicated column name(s) {dup} in the header.")
    else:
        names, body, first_line = [f"x{j}" for j in range(len(first))], rows, 1
    if not body:
        raise TableError(f"{p} has a header but no data rows.")
    width = len(names)
    for i, row in enumerate(body):
        if len(row) != width:
            raise TableError(
                f"{p}, data row {i + 1} (line {i + first_line} ignoring blank and comment lines): "
                f"{len(row)} fields where the header has {width}. Check the delimiter "
                f"({delimiter!r} detected) and quoting."
            )
    if label_column is not None and label_column not in names:
        if not require_label:
            label_column = None
        else:
            raise TableError(f"{p}: no label column {label_column!r}; columns are {names}.")
    wanted = [n for n in names if n != label_column] if not columns else list(columns)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise TableError(f"{p}: no column(s) {missing}; columns are {names}.")
    X = np.column_stack([_parse_column(p, name, body, names.index(name)) for name in wanted])
    y = None
    if label_column is not None:
        y = _as_labels(
            p, label_column, _parse_column(p, label_column, body, names.index(label_column))
        )
    return X, y, wanted


def _parse_column(p: Path, name: str, body: list[list[str]], j: int) -> np.ndarray:
    cells = [row[j] for row in body]
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    for i, cell in enumerate(cells):  # find the first bad cell for the message
        if not cell.strip():
            raise TableError(
                f"{p}: column {name!r} has an empty cell in data row {i + 1}. "
                "Impute or drop incomplete rows first."
            ) from None
        if not _is_number(cell):
            raise TableError(
                f"{p}: column {name!r} is not numeric (data row {i + 1} holds {cell.strip()!r}). "
                "Choose numeric columns with --columns, or encode this one as numbers."
            ) from None
    raise AssertionError("unreachable: numpy refused a column that float() accepts")


def _sniff_delimiter(sample: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(sample), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: sample[0].count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        if counts[best]:
            return best
        # one column, or whitespace-separated numbers
        return " " if len(sample[0].split()) > 1 else ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ array files
def _read_arrays(
    p: Path, suffix: str, key: str | None, label_column: str | None, require_label: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    arrays = _array_dict(p, suffix)
    if suffix == ".npy":
        if key is not None:
            raise TableError(f"{p}: a .npy file holds one array; ':{key}' cannot select.")
        key = "X"
    elif key is None:
        if "X" in arrays:
            key = "X"
        else:
            two_d = [k for k, v in arrays.items() if np.ndim(v) == 2]
            if len(two_d) != 1:
                raise TableError(
                    f"{p}: which array? It holds {sorted(arrays)}; name one as {p.name}:NAME."
                )
            key = two_d[0]
    if key not in arrays:
        raise TableError(f"{p}: no array {key!r}; it holds {sorted(arrays)}.")
    X = np.asarray(arrays[key])
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise TableError(f"{p}: array {key!r} has shape {X.shape}; a 2-D table is needed.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise TableError(f"{p}: array {key!r} is empty (shape {X.shape}).")
    if X.dtype.kind not in "biuf":
        raise TableError(f"{p}: array {key!r} is not numeric (dtype {X.dtype}).")
    label_key = label_column
    if label_key is None and key.startswith("X") and ("y" + key[1:]) in arrays:
        label_key = "y" + key[1:]
    y = None
    if label_key is not None and label_key not in arrays and not require_label:
        label_key = None
    if label_key is not None:
        if label_key not in arrays:
            raise TableError(f"{p}: no label array {label_key!r}; it holds {sorted(arrays)}.")
        raw = np.asarray(arrays[label_key]).reshape(-1)
        if raw.shape[0] != X.shape[0]:
            raise TableError(
                f"{p}: {label_key!r} has {raw.shape[0]} labels for {X.shape[0]} rows of {key!r}."
            )
        y = _as_labels(p, label_key, raw)
    return X.astype(np.float64), y, [f"x{j}" for j in range(X.shape[1])]


def _array_dict(p: Path, suffix: str) -> dict[str, Any]:
    try:
        if suffix == ".npy":
            return {"X": np.load(p, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        from scipy.io import loadmat

        return {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, io.UnsupportedOperation) as exc:
        raise TableError(
            f"{p} could not be read as a {suffix} file ({exc}). Is it corrupt?"
        ) from None
    except Exception as exc:  # scipy raises assorted errors on corrupt MATLAB files
        raise TableError(
            f"{p} could not be read as a {suffix} file ({exc}). Is it corrupt?"
        ) from None


# --------------------------------------------------------------------- shared
def _as_labels(p: Path, name: str, raw: np.ndarray) -> np.ndarray:
    try:
        return check_binary_labels(np.asarray(raw, dtype=np.float64), name=f"label column {name!r}")
    except ValueError as exc:
        raise TableError(f"{p}: {exc}") from None


def _select_columns(
    p: Path, X: np.ndarray, names: list[str], columns: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    if not columns:
        if X.shape[1] == 0:
            raise TableError(f"{p}: no feature columns are left besides the label.")
        return X, names
    missing = [c for c in columns if c not in names]
    if missing:
        raise TableError(f"{p}: no column(s) {missing}; columns are {names}.")
    idx = [names.index(c) for c in columns]
    return X[:, idx], list(columns)


def _check_finite(p: Path, X: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise TableError(
            f"{p}: column {names[j]!r} holds {float(X[i, j])} in data row {i + 1} "
            f"({int(bad.sum())} non-finite value(s) in all). Impute or drop those rows first."
        )
