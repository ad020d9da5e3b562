"""Read a numeric table from CSV/TSV (a file or standard input), Parquet, ``.npz``,
``.npy`` or MATLAB ``.mat``.

Pure functions, no estimators. Every failure is a :class:`TableError` (a
``ValueError``) naming the file, the column and row (line, for text), and the fix.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STDIN", "MissingColumnsError", "Table", "TableError", "load_table", "split_key"]

#: The file name that means "read CSV/TSV from standard input".
STDIN = "-"
#: How standard input is named in messages and in ``Table.source``.
STDIN_NAME = "<stdin>"

_ARRAY_SUFFIXES = (".npz", ".npy", ".mat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITERS = ",;\t|"
#: Cells read as "missing" (compared lower-case, stripped) in text files.
_MISSING = frozenset({"", "na", "n/a", "null", "none", "?"})
#: Distinct label values shown in a message.
_SHOW_VALUES = 10


class TableError(ValueError):
    """A file could not be read as the numeric table that was asked for."""


class MissingColumnsError(TableError):
    """Columns asked for by name are not in the file.

    ``missing`` are the names asked for and absent; ``columns`` are the
    file's own (``x0, x1, ...`` for a file without a header or an array).
    """

    def __init__(
        self, message: str, *, source: str, missing: list[str], columns: list[str]
    ) -> None:
        super().__init__(message)
        self.source = source
        self.missing = missing
        self.columns = columns


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
    header: bool | None = None,
) -> Table:
    """Load a numeric table.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``/``.txt`` (delimiter detected among ``, ; tab |``,
        header detected), ``"-"`` for CSV/TSV on standard input (detected the
        same way), ``.parquet``/``.pq`` (numeric columns), ``.npz``, ``.npy``
        or ``.mat``.
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
    header : bool, default=None
        CSV/TSV only: whether the first row names the columns. None detects
        it: a first row without numbers is a header, any other is data (a
        first row like ``2019,2020,2021`` above rows whose values are nowhere
        near is read as data with a warning: pass ``header=True`` for it).

    Returns
    -------
    Table

    Raises
    ------
    TableError
        One message naming the file, the problem (column, row, value) and the
        fix: missing, empty or header-only files, text in a numeric column,
        missing values, NaN/infinity, labels other than 0/1, corrupt files.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> _ = path.write_text("a,b,y\\n1,2,0\\n3,4,1\\n")
    >>> t = load_table(path, label_column="y")
    >>> t.feature_names, t.X.tolist(), t.y.tolist()
    (['a', 'b'], [[1.0, 2.0], [3.0, 4.0]], [0, 1])
    """
    if columns and label_column is not None and label_column in columns:
        raise TableError(
            f"{path}: the label column {label_column!r} is also listed among the feature "
            "columns; a model must not see the answer. Drop it from --columns."
        )
    if str(path) == STDIN:
        if key is not None:
            raise TableError(f"{STDIN_NAME}: ':{key}' selects an array in .npz/.mat files only.")
        text = _stdin_text()
        return _finish(
            STDIN_NAME, _read_text(STDIN_NAME, text, columns, label_column, require_label, header)
        )
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise TableError(f"{name}: no such file. Check the path (relative to {Path.cwd()}).")
    if p.is_dir():
        raise TableError(f"{name} is a directory; give a data file inside it.")
    if p.stat().st_size == 0:
        raise TableError(f"{name} is empty (0 bytes). Was it written completely?")
    suffix = p.suffix.lower()
    if key is not None and suffix not in (".npz", ".mat"):
        raise TableError(f"{name}: ':{key}' selects an array in .npz/.mat files only.")
    if header is not None and suffix in (*_ARRAY_SUFFIXES, *_PARQUET_SUFFIXES):
        raise TableError(
            f"{name}: --header/--no-header apply to CSV/TSV files; a {suffix} file names its "
            "columns itself. Leave the option out."
        )
    if suffix in _ARRAY_SUFFIXES:
        X, y, names = _read_arrays(p, suffix, key, label_column, require_label)
        X, names = _select_columns(name, X, names, columns)
        return _finish(name, (X, y, names, None))
    if suffix in _PARQUET_SUFFIXES:
        return _finish(name, _read_parquet(p, columns, label_column, require_label))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(
            f"{name} is not UTF-8 text. Is it a binary file? Tables are read from CSV/TSV, "
            "Parquet, .npz, .npy or .mat (named by their extension)."
        ) from None
    return _finish(name, _read_text(name, text, columns, label_column, require_label, header))


_Parsed = tuple[np.ndarray, "np.ndarray | None", list[str], "list[int] | None"]


def _finish(name: str, parsed: _Parsed) -> Table:
    X, y, names, lines = parsed
    _check_finite(name, X, names, lines)
    return Table(X=X, y=y, feature_names=names, source=name)


def _stdin_text() -> str:
    stream = sys.stdin
    if stream is None:
        raise TableError(f"{STDIN_NAME}: there is no standard input to read ('-' means stdin).")
    if stream.isatty():
        raise TableError(
            f"{STDIN_NAME}: '-' reads CSV/TSV from standard input, but nothing is piped in. "
            "Pipe a table in (cat data.csv | anomalykit ... -) or give a file name."
        )
    buffer = getattr(stream, "buffer", None)
    raw = buffer.read() if buffer is not None else stream.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TableError(
                f"{STDIN_NAME} is not UTF-8 text; pipe CSV/TSV in, or give binary formats "
                "(Parquet, .npz, .npy, .mat) as a file name."
            ) from None
    text = raw.removeprefix("\ufeff")
    if not text:
        raise TableError(
            f"{STDIN_NAME} is empty: nothing was piped in (standard input can be read once "
            "per command, so '-' can stand for one input only)."
        )
    return text


# ------------------------------------------------------------------ text files
def _read_text(
    name: str,
    text: str,
    columns: list[str] | None,
    label_column: str | None,
    require_label: bool,
    header: bool | None = None,
) -> _Parsed:
    all_lines = text.splitlines()
    numbered = [
        (i + 1, ln)
        for i, ln in enumerate(all_lines)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not numbered:
        raise TableError(f"{name} has no rows (only blank or comment lines).")
    line_numbers = [n for n, _ in numbered]
    lines = [ln for _, ln in numbered]
    delimiter = _sniff_delimiter(lines[:20])
    reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
    rows, starts, used = [], [], 0
    for row in reader:  # a quoted field may span lines: number each row by its first
        rows.append(row)
        starts.append(line_numbers[used])
        used = reader.line_num
    line_numbers = starts
    first = [c.strip() for c in rows[0]]
    if header is None:
        # A header holds names, not numbers: a first row with any number in it is data
        # (so "1,,3" is a data row with a missing value, not a header).
        has_header = any(first) and not any(_is_number(c) for c in first)
        if not has_header:
            _warn_if_numbers_look_like_names(name, first, rows[1:])
    else:
        has_header = header
        if has_header and not all(first):
            raise TableError(
                f"{name}: --header reads the first row as column names, but it has an empty "
                f"name (line {line_numbers[0]}). Name every column, or leave --header out."
            )
        if has_header and line_numbers[0] > 1:
            above = all_lines[line_numbers[0] - 2]
            _refuse_numbers_below_a_commented_header(name, above, line_numbers[0], first, delimiter)
    if has_header:
        names, body, body_lines = first, rows[1:], line_numbers[1:]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise TableError(f"{name}: duplicated column name(s) {dup} in the header.")
    else:
        names, body, body_lines = [f"x{j}" for j in range(len(first))], rows, line_numbers
    if not body:
        raise TableError(
            f"{name} has a header but no data rows (columns {', '.join(names)}). "
            "Was it written completely?"
        )
    width = len(names)
    for i, row in enumerate(body):
        if len(row) != width:
            raise TableError(
                f"{name}, line {body_lines[i]} (data row {i + 1}): {len(row)} fields where "
                f"{'the header has' if has_header else 'the first row has'} {width}. "
                f"Check the delimiter ({delimiter!r} detected) and quoting."
            )

    def get(col: str) -> np.ndarray:
        return _parse_column(name, col, body, names.index(col), body_lines)

    def get_labels(col: str) -> np.ndarray:
        j = names.index(col)
        cells = [row[j].strip() for row in body]
        if all(_is_number(c) for c in cells):
            return _as_labels(name, col, np.array(cells, dtype=np.float64))
        return _as_labels(name, col, np.array(cells, dtype=object))

    X, y, wanted = _assemble(name, names, get, get_labels, columns, label_column, require_label)
    return X, y, wanted, body_lines


#: Body rows that the check of a numeric first row looks at.
_HEADER_CHECK_ROWS = 1000


_PLAIN_INTEGER = re.compile(r"[+-]?\d+")


def _warn_if_numbers_look_like_names(name: str, first: list[str], body: list[list[str]]) -> None:
    """Warn when a first row read as data looks like a header of numbers (years,
    column numbers): at least 3 integers written as plain digits, in steps of
    one size (2019, 2020, 2021 or 10, 20, 30), each farther outside its
    column's range in the rows below (at least 3 of them) than that range is
    wide."""
    sample = body[:_HEADER_CHECK_ROWS]
    if len(sample) < 3 or len(first) < 3:
        return
    if not all(_PLAIN_INTEGER.fullmatch(c) for c in first):
        return
    steps = np.diff([float(c) for c in first])
    if steps[0] == 0 or (steps != steps[0]).any():
        return
    try:
        values = np.array([[float(c) for c in row] for row in sample], dtype=np.float64)
    except ValueError:  # text, missing values or ragged rows: reported as errors later
        return
    if values.ndim != 2 or values.shape[1] != len(first):
        return
    heads = np.array([float(c) for c in first])
    low, high = values.min(axis=0), values.max(axis=0)
    beyond = np.maximum(low - heads, heads - high)  # how far outside the range
    if (beyond > high - low).all():
        shown = ", ".join(first[:5]) + (", ..." if len(first) > 5 else "")
        warnings.warn(
            f"{name}: the first row ({shown}) was read as data, but it looks like column "
            "names: integers, each far outside its column's range in the rows below. If it "
            "names the columns, pass --header (header=True in Python).",
            UserWarning,
            stacklevel=4,
        )


def _refuse_numbers_below_a_commented_header(
    name: str, above: str, first_line: int, first: list[str], delimiter: str
) -> None:
    """With --header, a first row of numbers right below a comment line (``above``)
    of as many fields (``np.savetxt(..., header="a,b,c")`` writes ``# a,b,c``) is
    surely data: reading it as names would lose it."""
    above = above.strip()
    if not all(_is_number(c) for c in first) or not above.startswith("#"):
        return
    fields = next(csv.reader([above.lstrip("#")], delimiter=delimiter, skipinitialspace=True))
    if len(fields) == len(first):
        raise TableError(
            f"{name}: --header would read line {first_line} ({', '.join(first[:5])}) as column "
            f"names, but it holds numbers below the commented line {above!r}, which looks like "
            "the header. Remove its '#', or leave --header out."
        )


def _parse_column(
    name: str, col: str, body: list[list[str]], j: int, lines: list[int]
) -> np.ndarray:
    cells = [row[j] for row in body]
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    numeric = [_is_number(c) for c in cells]
    for i, cell in enumerate(cells):  # find the first bad cell for the message
        if numeric[i]:
            continue
        where = f"line {lines[i]} (data row {i + 1})"
        value = cell.strip()
        if value.lower() in _MISSING:
            shown = "an empty cell" if not value else f"a missing value ({value!r})"
            raise TableError(
                f"{name}: column {col!r} has {shown} on {where}. "
                "Impute the missing values or drop those rows first."
            ) from None
        if not any(numeric):
            raise TableError(
                f"{name}: column {col!r} is not numeric: {where} holds {value!r}. "
                "Choose numeric columns with --columns, or encode this one as numbers."
            ) from None
        raise TableError(
            f"{name}: column {col!r} mixes numbers and text: {where} holds {value!r}. "
            "Correct or remove that value, or leave the column out with --columns."
        ) from None
    raise AssertionError("unreachable: numpy refused a column that float() accepts")


def _sniff_delimiter(sample: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(sample), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: sample[0].count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.__getitem__)
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


# --------------------------------------------------------------- parquet files
def _read_parquet(
    p: Path, columns: list[str] | None, label_column: str | None, require_label: bool
) -> _Parsed:
    name = str(p)
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a core dependency
        raise TableError(f"{name}: reading Parquet needs pyarrow (pip install pyarrow).") from None
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others on bad files
        raise TableError(
            f"{name} could not be read as a Parquet file ({exc}). Is it corrupt or truncated? "
            "Write it again, or export the table as CSV."
        ) from None
    names = [str(n) for n in table.column_names]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise TableError(f"{name}: duplicated column name(s) {dup}.")
    if not names:
        raise TableError(f"{name} has no columns.")
    if table.num_rows == 0:
        raise TableError(
            f"{name} has columns but no rows (columns {', '.join(names)}). "
            "Was it written completely?"
        )

    def get(col: str) -> np.ndarray:
        return _arrow_numeric(name, col, table.column(names.index(col)))

    def get_labels(col: str) -> np.ndarray:
        arr = table.column(names.index(col))
        values = arr.to_numpy(zero_copy_only=False)
        if _arrow_kind(arr.type) is None:
            return _as_labels(name, col, np.asarray(values, dtype=object))
        return _as_labels(name, col, _arrow_numeric(name, col, arr))

    X, y, wanted = _assemble(name, names, get, get_labels, columns, label_column, require_label)
    return X, y, wanted, None


def _arrow_kind(arrow_type: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_dictionary(arrow_type):
        return _arrow_kind(arrow_type.value_type)
    return None


def _arrow_numeric(name: str, col: str, arr: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = _arrow_kind(arr.type)
    if kind is None:
        raise TableError(
            f"{name}: column {col!r} is not numeric (Parquet type {arr.type}). "
            "Choose numeric columns with --columns, or encode this one as numbers."
        )
    if arr.null_count:
        i = int(pc.index(pc.is_null(arr), True).as_py())
        raise TableError(
            f"{name}: column {col!r} has a missing value (null) in row {i + 1} "
            f"({arr.null_count} in all). Impute the missing values or drop those rows first."
        )
    if kind == "decimal" or pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.float64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


# ------------------------------------------------------------------ array files
def _read_arrays(
    p: Path, suffix: str, key: str | None, label_column: str | None, require_label: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    name = str(p)
    arrays = _array_dict(p, suffix)
    if suffix == ".npy":
        key = "X"
    elif key is None:
        if "X" in arrays:
            key = "X"
        else:
            two_d = [k for k, v in arrays.items() if np.ndim(v) == 2]
            if len(two_d) != 1:
                raise TableError(
                    f"{name}: which array? It holds {sorted(arrays)}; name one as {p.name}:NAME."
                )
            key = two_d[0]
    if key not in arrays:
        raise TableError(f"{name}: no array {key!r}; it holds {sorted(arrays)}.")
    X = np.asarray(arrays[key])
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise TableError(f"{name}: array {key!r} has shape {X.shape}; a 2-D table is needed.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise TableError(f"{name}: array {key!r} is empty (shape {X.shape}).")
    if X.dtype.kind not in "biuf":
        raise TableError(
            f"{name}: array {key!r} is not numeric (dtype {X.dtype}). "
            "Save the features as numbers (float or int)."
        )
    label_key = label_column
    if label_key is None and key.startswith("X") and ("y" + key[1:]) in arrays:
        label_key = "y" + key[1:]
    y = None
    if label_key is not None and label_key not in arrays and not require_label:
        label_key = None
    if label_key is not None:
        if label_key not in arrays:
            raise TableError(f"{name}: no label array {label_key!r}; it holds {sorted(arrays)}.")
        raw = np.asarray(arrays[label_key]).reshape(-1)
        if raw.shape[0] != X.shape[0]:
            raise TableError(
                f"{name}: {label_key!r} has {raw.shape[0]} labels for {X.shape[0]} rows of {key!r}."
            )
        y = _as_labels(name, label_key, raw)
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
        reason = exc
    except Exception as exc:  # scipy raises assorted errors on corrupt MATLAB files
        reason = exc
    raise TableError(
        f"{p} could not be read as a {suffix} file ({reason}). Is it corrupt or truncated? "
        "Write it again, or export the table as CSV."
    )


# --------------------------------------------------------------------- shared
def _assemble(
    name: str,
    names: list[str],
    get: Callable[[str], np.ndarray],
    get_labels: Callable[[str], np.ndarray],
    columns: list[str] | None,
    label_column: str | None,
    require_label: bool,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Pick the feature columns and the label column by name (text and Parquet)."""
    if label_column is not None and label_column not in names:
        if not require_label:
            label_column = None
        else:
            raise TableError(f"{name}: no label column {label_column!r}; columns are {names}.")
    wanted = [n for n in names if n != label_column] if not columns else list(columns)
    _require_columns(name, wanted, names)
    if not wanted:
        raise TableError(f"{name}: no feature columns are left besides the label {label_column!r}.")
    X = np.column_stack([get(c) for c in wanted])
    y = None if label_column is None else get_labels(label_column)
    return X, y, wanted


def _as_labels(name: str, col: str, raw: np.ndarray) -> np.ndarray:
    """0/1 labels, or an error that shows the distinct values found."""
    raw = np.asarray(raw).reshape(-1)
    if raw.dtype == bool:
        return raw.astype(np.int8)
    if raw.dtype.kind in "iuf":
        ok = (raw == 0) | (raw == 1)
        if ok.all():
            return raw.astype(np.int8)
        n_bad = int((~ok).sum())
    else:
        n_bad = raw.size
    distinct = _distinct(raw)
    shown = ", ".join(distinct[:_SHOW_VALUES]) + (
        f", ... ({len(distinct)} in all)" if len(distinct) > _SHOW_VALUES else ""
    )
    raise TableError(
        f"{name}: label column {col!r} must hold only 0 (normal) and 1 (anomaly); it holds "
        f"the values {{{shown}}} ({n_bad} row(s) are neither 0 nor 1). Map the labels to 0/1 "
        "first (1 = anomaly), or name the right column with --label-column."
    )


def _distinct(raw: np.ndarray) -> list[str]:
    if raw.dtype.kind in "iuf":
        values = np.unique(raw[~np.isnan(raw)] if raw.dtype.kind == "f" else raw)
        out = [f"{v:g}" for v in values.tolist()]
        if raw.dtype.kind == "f" and np.isnan(raw).any():
            out.append("nan")
        return out
    return [repr(v) for v in sorted({str(v) for v in raw.tolist()})]


def _select_columns(
    name: str, X: np.ndarray, names: list[str], columns: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    if not columns:
        return X, names
    _require_columns(name, columns, names)
    idx = [names.index(c) for c in columns]
    return X[:, idx], list(columns)


def _require_columns(name: str, wanted: list[str], names: list[str]) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise MissingColumnsError(
            f"{name}: no column(s) {missing}; columns are {names}.",
            source=name,
            missing=missing,
            columns=names,
        )


def _check_finite(name: str, X: np.ndarray, names: list[str], lines: list[int] | None) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        where = f"data row {i + 1}" if lines is None else f"line {lines[i]} (data row {i + 1})"
        value = float(X[i, j])
        what = "NaN (a missing value)" if np.isnan(value) else str(value)
        raise TableError(
            f"{name}: column {names[j]!r} holds {what} on {where} "
            f"({int(bad.sum())} non-finite value(s) in all). Impute or drop those rows first; "
            "every value must be a finite number."
        )
