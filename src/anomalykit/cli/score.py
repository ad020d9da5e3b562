"""``anomalykit score``: apply a model saved by ``anomalykit fit`` to new rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from sklearn.pipeline import Pipeline

from .._utils._validation import feature_names
from ..cluster import KMeans, MiniBatchKMeans
from ..detectors import CentroidOutlierDetector, GaussianDetector
from ..io import Table, load, write_text_atomic
from ..io._tables import MissingColumnsError, _is_number
from ..workflow import ClusteringReport, DetectionReport
from ._errors import cli_errors
from ._inputs import read_table
from ._options import DebugOpt, HeaderOpt, JsonOpt, split_columns

EXAMPLE = """
\b
Examples:
  anomalykit score model.akm new.csv --out scores.csv
  anomalykit score model.akm new.parquet --json --fail-on-anomalies
  cat new.csv | anomalykit score model.akm - --out - > scores.csv

MODEL is a file saved by 'anomalykit fit'. DATA is CSV/TSV (delimiter and
header detected; '-' reads it from standard input), Parquet, .npz, .npy or
.mat. Columns are matched by name when the model knows its column names
(other columns, such as ids or labels, are ignored); otherwise by position.

Writes a CSV with one line per row: row, log_density, is_anomaly,
top_features for a Gaussian model; row, cluster, score, is_anomaly,
top_features for K-means with outliers; row, cluster, distance for K-means.
The file is written whole or not at all; --out - writes it to standard output.
A short summary goes to standard error (the JSON summary, with --json, to
standard output). Exit codes: 0 ran; 1 rows flagged with --fail-on-anomalies;
2 bad usage or input; 3 internal error (a bug).
"""

#: Features named in each row's top_features.
TOP_FEATURES = 3
#: Most anomalous rows listed in the summary.
TOP_ROWS = 5


def score(
    model_file: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A model saved by 'anomalykit fit'.")
    ],
    data: Annotated[
        str,
        typer.Argument(
            metavar="DATA",
            help="Rows to score: CSV/TSV ('-' for standard input), Parquet, .npz, .npy or .mat.",
        ),
    ],
    out: Annotated[
        str,
        typer.Option("--out", "-o", help="CSV file of per-row results; '-' for standard output."),
    ] = "scores.csv",
    columns_arg: Annotated[
        str | None,
        typer.Option(
            "--columns",
            metavar="A,B,...",
            help="The data's columns to use, in the model's column order (when names differ).",
        ),
    ] = None,
    json_out: JsonOpt = False,
    fail_on_anomalies: Annotated[
        bool,
        typer.Option("--fail-on-anomalies", help="Exit 1 when any row is flagged (for scripts)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary on standard error.")
    ] = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Score new rows with a saved model: log-density, anomaly flag and top features per row."""
    with cli_errors(debug):
        if out == "-" and json_out:
            raise ValueError(
                "--out - and --json both write to standard output; write the CSV to a file "
                "(--out scores.csv) or drop --json."
            )
        if not model_file.exists():
            raise ValueError(
                f"{model_file}: no such model file. Save one first: anomalykit fit TRAIN "
                f"--model {model_file}"
            )
        if model_file.is_dir():
            raise ValueError(
                f"{model_file} is a directory; give the model file saved by 'anomalykit fit'."
            )
        model = load(model_file)
        if isinstance(model, (DetectionReport, ClusteringReport)):
            model = model.model  # a saved workflow report: apply the model it holds
        final = model.steps[-1][1] if isinstance(model, Pipeline) else model
        kind = _kind(model_file, final)
        if fail_on_anomalies and kind == "kmeans":
            raise ValueError(
                f"{model_file} is plain K-means, which flags no rows; --fail-on-anomalies needs "
                "a model fitted with --outliers N (or a Gaussian one)."
            )
        table = _read_rows(data, model_file, model, final, split_columns(columns_arg), header_row)
        Xt = table.X if final is model or len(model.steps) == 1 else model[:-1].transform(table.X)
        header, rows, flags, key = _score(kind, final, Xt)
        text = _to_csv(header, rows)
        if out == "-":
            output = "<stdout>"
        else:
            path = Path(out)
            if path.is_dir():
                raise ValueError(
                    f"--out {path} is a directory; give a file name such as scores.csv."
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
            output = str(path)
        summary = _summary(model_file, kind, table, header, rows, flags, key, output)
    if out == "-":
        typer.echo(text, nl=False)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        typer.echo(_render(summary), err=True)
    if fail_on_anomalies and summary["n_flagged"]:
        raise typer.Exit(1)


score.__doc__ = (score.__doc__ or "") + "\n" + EXAMPLE


def _kind(model_file: Path, final: Any) -> str:
    if isinstance(final, GaussianDetector):
        return "gaussian"
    if isinstance(final, CentroidOutlierDetector):
        return "centroid"
    if isinstance(final, (KMeans, MiniBatchKMeans)):
        return "kmeans"
    raise ValueError(
        f"{model_file} holds a {type(final).__name__}, which 'anomalykit score' cannot apply; "
        "it scores GaussianDetector, CentroidOutlierDetector and KMeans models (alone or after "
        "a scaler), as 'anomalykit fit' saves them."
    )


def _model_names(model: Any, final: Any) -> list[str] | None:
    """The column names the model was fitted on; None when it only knows positions."""
    n = int(model.n_features_in_)
    names = getattr(model, "feature_names_in_", None)
    names = [str(c) for c in names] if names is not None else feature_names(final, n)
    return None if _positional(names) else names


def _positional(names: list[str]) -> bool:
    return names == [f"x{j}" for j in range(len(names))]


def _read_rows(
    data: str,
    model_file: Path,
    model: Any,
    final: Any,
    columns: list[str] | None,
    header: bool | None,
) -> Table:
    n_in = int(model.n_features_in_)
    names = _model_names(model, final)
    fitted_on = (
        f"{n_in} unnamed columns" if names is None else f"{n_in} columns ({', '.join(names)})"
    )
    if columns is not None:
        table = read_table(data, columns, header=header)
        if len(columns) != n_in:
            raise ValueError(
                f"--columns picks {len(columns)} column(s) but {model_file} was fitted on "
                f"{fitted_on}; pick {n_in}, in that order."
            )
        return table
    if names is None:
        table = read_table(data, None, header=header)
        if table.X.shape[1] != n_in:
            raise ValueError(
                f"{table.source} has {table.X.shape[1]} columns ({', '.join(table.feature_names)}) "
                f"but {model_file} was fitted on {fitted_on}. Pick {n_in} of them, in the fitted "
                "order, with --columns."
            )
        return table
    try:
        return read_table(data, names, header=header)
    except MissingColumnsError as exc:
        if _positional(exc.columns):
            if header is False:
                why = "--no-header was given"
                fix = "Leave --no-header out if the first line names the columns"
            elif all(_is_number(n) for n in names):
                why = "its first line was read as data"
                fix = "Pass --header if the first line names the columns"
            else:
                why = "no header line, or an array file"
                fix = "Add a header line with those names"
            raise ValueError(
                f"{exc.source} has no column names ({why}) but {model_file} was fitted on "
                f"named columns ({', '.join(names)}). {fix}, or pick {n_in} columns in that "
                f"order with --columns {','.join(exc.columns[:n_in])}."
            ) from None
        extra = [c for c in exc.columns if c not in names]
        also = f" and has column(s) {extra} that the model does not know" if extra else ""
        raise ValueError(
            f"{exc.source} lacks column(s) {exc.missing} that {model_file} was fitted on{also}. "
            f"The model needs {', '.join(names)}: rename the columns, or pick the data's "
            "columns in that order with --columns."
        ) from None


def _score(
    kind: str, final: Any, X: np.ndarray
) -> tuple[list[str], list[list[Any]], np.ndarray | None, np.ndarray]:
    """CSV header and rows, the flags (None for plain K-means), and the per-row
    value the summary ranks by (lowest = most anomalous)."""
    n = X.shape[0]
    if kind == "gaussian":
        scores = final.score_samples(X)
        flags = final.is_anomaly(X)
        top = final.explain(X).to_strings(TOP_FEATURES)
        header = ["row", "log_density", "is_anomaly", "top_features"]
        rows = [[i, repr(float(scores[i])), int(flags[i]), top[i]] for i in range(n)]
        return header, rows, flags, scores
    if kind == "centroid":
        clusters = final.predict_cluster(X)
        scores = final.score_samples(X)
        flags = final.is_anomaly(X)
        top = [""] * n
        if flags.any():
            explained = final.explain(X[flags]).to_strings(TOP_FEATURES)
            for i, text in zip(np.flatnonzero(flags), explained, strict=True):
                top[i] = text
        header = ["row", "cluster", "score", "is_anomaly", "top_features"]
        rows = [
            [i, int(clusters[i]), repr(float(scores[i])), int(flags[i]), top[i]] for i in range(n)
        ]
        return header, rows, flags, scores
    clusters = final.predict(X)
    distances = final.transform(X)[np.arange(n), clusters]
    header = ["row", "cluster", "distance"]
    rows = [[i, int(clusters[i]), repr(float(distances[i]))] for i in range(n)]
    return header, rows, None, -distances


def _to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _summary(
    model_file: Path,
    kind: str,
    table: Table,
    header: list[str],
    rows: list[list[Any]],
    flags: np.ndarray | None,
    key: np.ndarray,
    output: str,
) -> dict[str, Any]:
    n_flagged = 0 if flags is None else int(flags.sum())
    top: list[dict[str, Any]] = []
    if flags is not None:
        flagged = np.flatnonzero(flags)
        flagged = flagged[np.argsort(key[flagged], kind="stable")][:TOP_ROWS]
        top = [_row_dict(header, rows[i]) for i in flagged]
    return {
        "model_file": str(model_file),
        "model": kind,
        "data": table.source,
        "columns": table.feature_names,
        "n_rows": len(rows),
        "n_flagged": n_flagged,
        "top": top,
        "output": output,
    }


def _row_dict(header: list[str], row: list[Any]) -> dict[str, Any]:
    out = dict(zip(header, row, strict=True))
    for name in ("log_density", "score", "distance"):
        if name in out:
            out[name] = float(out[name])
    return out


def _render(summary: dict[str, Any]) -> str:
    what = {"gaussian": "Gaussian", "centroid": "K-means outlier", "kmeans": "K-means"}
    line = (
        f"scored {summary['n_rows']} rows of {summary['data']} with {summary['model_file']} "
        f"({what[summary['model']]} model)"
    )
    if summary["model"] != "kmeans":
        line += f": {summary['n_flagged']} flagged"
    lines = [line]
    for t in summary["top"]:
        value = t.get("log_density", t.get("score"))
        label = "log p" if "log_density" in t else "score"
        lines.append(f"  row {t['row']}  {label} = {value:.4g}  {t['top_features']}")
    lines.append(f"wrote {summary['output']}")
    return "\n".join(lines)


__all__ = ["score"]
