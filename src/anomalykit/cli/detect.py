"""``anomalykit detect``: fit on normal rows, choose epsilon on validation, flag test rows."""

from __future__ import annotations

import csv
import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..datasets import BUILTIN, load_builtin
from ..io import Table, atomic_open, write_text_atomic
from ..workflow import DetectionReport, detect_anomalies
from ._errors import cli_errors
from ._inputs import read_table
from ._options import (
    ColumnsOpt,
    Covariance,
    DebugOpt,
    HeaderOpt,
    JsonOpt,
    LabelOpt,
    OutOpt,
    QuietOpt,
    RobustOpt,
    robust_note,
    split_columns,
)
from ._progress import progress_bar

EXAMPLE = """
\b
Examples:
  anomalykit detect --builtin cardio
  anomalykit detect --train normal.csv --val val.csv --test new.csv --label-column is_fault
  anomalykit detect --train ex8data1.mat:X --val ex8data1.mat:Xval --json
  cat normal.csv | anomalykit detect --train - --test new.parquet

Files: CSV/TSV (delimiter and header detected; '-' reads one of them from
standard input), Parquet, .npz, .npy and MATLAB .mat (FILE:NAME picks an
array; X pairs with y, Xval with yval). A labelled --train without --val and
--test is split 60/20/20 (normal rows to fit, validation to choose epsilon,
test to report on; --seed); with --val or --test, the training file's labelled
anomalies are dropped and its normal rows are fitted.

Writes OUT/scores.csv (row, log_density, is_anomaly, label, top_features) and
OUT/summary.json, each whole or not at all. Exit codes: 0 ran; 1 anomalies found with
--fail-on-anomalies; 2 bad usage or input; 3 internal error (a bug).
"""


class Method(str, Enum):
    exact = "exact"
    grid = "grid"


class Metric(str, Enum):
    f1 = "f1"
    fbeta = "fbeta"


def detect(
    train: Annotated[
        str | None, typer.Option("--train", help="Normal rows to fit on (FILE or FILE:ARRAY).")
    ] = None,
    val: Annotated[
        str | None,
        typer.Option("--val", help="Labelled rows to choose epsilon on (maximum F1)."),
    ] = None,
    test: Annotated[
        str | None,
        typer.Option("--test", help="Rows to flag; with labels, the reported evaluation."),
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option(
            "--builtin",
            help=f"Use a data set shipped with anomalykit ({', '.join(sorted(BUILTIN))}), split "
            "60/20/20 into normal training rows, validation and test.",
        ),
    ] = None,
    columns_arg: ColumnsOpt = None,
    label_column: LabelOpt = None,
    covariance: Annotated[
        Covariance, typer.Option(help="diag: independent features; full: covariance matrix.")
    ] = Covariance.diag,
    method: Annotated[
        Method, typer.Option(help="exact: every distinct score; grid: the guide's n-step scan.")
    ] = Method.exact,
    metric: Annotated[Metric, typer.Option(help="What epsilon maximises.")] = Metric.f1,
    beta: Annotated[float, typer.Option(help="Beta of F-beta (with --metric fbeta).")] = 1.0,
    n_steps: Annotated[int, typer.Option(help="Steps of --method grid.")] = 1000,
    epsilon: Annotated[
        float | None, typer.Option(help="Use this density threshold instead of choosing one.")
    ] = None,
    contamination: Annotated[
        float | None,
        typer.Option(help="Flag this share of the training rows instead of choosing epsilon."),
    ] = None,
    reg_covar: Annotated[float, typer.Option(help="Added to every variance.")] = 1e-6,
    shrinkage: Annotated[
        str | None, typer.Option(help="full only: 'ledoit-wolf' or a number in [0, 1].")
    ] = None,
    robust: RobustOpt = False,
    seed: Annotated[
        int, typer.Option(help="Seed of the split (--builtin, or a labelled --train alone).")
    ] = 0,
    out: OutOpt = Path("anomalykit-output"),
    json_out: JsonOpt = False,
    fail_on_anomalies: Annotated[
        bool,
        typer.Option("--fail-on-anomalies", help="Exit 1 when any row is flagged (for scripts)."),
    ] = False,
    quiet: QuietOpt = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Fit a Gaussian on normal rows, choose epsilon by F1 on validation, flag and explain test rows."""
    with cli_errors(debug):
        if (builtin is None) == (train is None):
            raise ValueError("give either --train FILE or --builtin NAME (one of them).")
        if method is Method.exact and n_steps != 1000:
            raise ValueError(
                "--n-steps applies to --method grid only; drop it or add --method grid."
            )
        columns = split_columns(columns_arg)
        feature_names: list[str] | None = None
        y_train = None
        if builtin is not None:
            if val or test:
                raise ValueError(
                    "--builtin makes its own validation and test rows; drop --val/--test."
                )
            if label_column is not None:
                raise ValueError(f"--builtin {builtin} has its own labels; drop --label-column.")
            if header_row is not None:
                raise ValueError(
                    f"--builtin {builtin} is not a CSV file; drop --header/--no-header."
                )
            data = load_builtin(builtin)
            # Labelled rows alone: the workflow splits them 60/20/20 with --seed.
            X_train, y_train, X_val, y_val, X_test, y_test = data.X, data.y, None, None, None, None
            feature_names, sources = data.feature_names, {"builtin": builtin, "seed": seed}
            if columns:
                idx = [_column_index(c, feature_names, builtin) for c in columns]
                X_train, feature_names = X_train[:, idx], list(columns)
        else:
            tr = read_table(train, columns, label_column, header=header_row)
            va = (
                read_table(
                    val,
                    columns,
                    label_column,
                    labels_needed_for="validation rows",
                    header=header_row,
                )
                if val
                else None
            )
            te = read_table(test, columns, label_column, header=header_row) if test else None
            for other in (va, te):
                if other is not None:
                    _check_same_columns(tr, other)
            X_train, y_train, feature_names = tr.X, tr.y, tr.feature_names
            X_val, y_val = (va.X, va.y) if va else (None, None)
            X_test, y_test = (te.X, te.y) if te else (None, None)
            sources = {"train": tr.source, "val": va and va.source, "test": te and te.source}
        with progress_bar("bootstrap intervals", quiet=quiet) as progress:
            report = detect_anomalies(
                X_train,
                y_train=y_train,
                X_val=X_val,
                y_val=y_val,
                X_test=X_test,
                y_test=y_test,
                covariance=covariance.value,
                epsilon=epsilon,
                contamination="auto" if contamination is None else contamination,
                reg_covar=reg_covar,
                shrinkage=_parse_shrinkage(shrinkage),
                robust=robust,
                metric=metric.value,
                beta=beta,
                method=method.value,
                n_steps=n_steps,
                feature_names=feature_names,
                random_state=seed,
                progress=progress,
            )
        summary = report.to_dict()
        summary["data"] = sources
        summary["outputs"] = _write_outputs(report, summary, out)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(_render(report, summary))
    if fail_on_anomalies and report.n_flagged:
        raise typer.Exit(1)


detect.__doc__ = (detect.__doc__ or "") + "\n" + EXAMPLE


def _check_same_columns(a: Table, b: Table) -> None:
    if a.feature_names != b.feature_names:
        raise ValueError(
            f"{b.source} has columns {b.feature_names} but {a.source} has {a.feature_names}; "
            "the files must share their feature columns (or pick them with --columns)."
        )


def _column_index(name: str, names: list[str], dataset: str) -> int:
    if name not in names:
        raise ValueError(
            f"built-in data set {dataset!r} has no column {name!r}; columns are {names}."
        )
    return names.index(name)


def _parse_shrinkage(value: str | None) -> float | str | None:
    if value is None or value == "ledoit-wolf":
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"--shrinkage must be 'ledoit-wolf' or a number in [0, 1]; got {value!r}."
        ) from None


def _write_outputs(report: DetectionReport, summary: dict, out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    scores_path, summary_path = out / "scores.csv", out / "summary.json"
    with atomic_open(scores_path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "source_row", "log_density", "is_anomaly", "label", "top_features"])
        labels = report.labels
        for i, (s, flag) in enumerate(zip(report.scores, report.is_anomaly, strict=True)):
            label = "" if labels is None else int(labels[i])
            source = int(report.source_rows[i])
            writer.writerow([i, source, repr(float(s)), int(flag), label, report.explanations[i]])
    paths = {"scores_csv": str(scores_path), "summary_json": str(summary_path)}
    write_text_atomic(summary_path, json.dumps({**summary, "outputs": paths}, indent=2) + "\n")
    return paths


def _render(report: DetectionReport, summary: dict) -> str:
    det = report.detector
    th = summary["threshold"]
    lines = [
        f"model       {det.covariance} Gaussian on {report.n_train} normal rows x "
        f"{det.n_features_in_} features"
        + (
            f" ({report.n_train_dropped} labelled anomalies left out)"
            if report.n_train_dropped
            else ""
        )
        + robust_note(summary["model"]),
        f"threshold   log epsilon = {th['log_epsilon']:.6g} (epsilon = {th['epsilon']:.6g}), "
        f"from {report.threshold_source}",
    ]
    if report.validation is not None:
        v = report.validation
        lines.append(
            f"validation  {v.metric} = {v.score:.4f}  precision = {v.precision:.4f}  "
            f"recall = {v.recall:.4f}  ({v.method}; chosen here, so optimistic)"
        )
    lines.append(f"flagged     {report.n_flagged} of {len(report.scores)} {report.flagged_on} rows")
    if report.evaluation is not None:
        e = report.evaluation
        auc = (
            ""
            if e.roc_auc is None
            else f"  ROC-AUC = {e.roc_auc:.4f}  PR-AUC = {e.average_precision:.4f}"
        )
        lines.append(
            f"{report.flagged_on:<11} F1 = {e.f1:.4f}  precision = {e.precision:.4f}  "
            f"recall = {e.recall:.4f}{auc}"
        )
    top = report.top_anomalies(5)
    if top:
        lines.append("most anomalous:")
        width = max(len(str(t["source_row"])) for t in top)
        for t in top:
            label = "" if t["label"] is None else f" label={t['label']}"
            lines.append(
                f"  row {t['source_row']:>{width}}  log p = {t['log_density']:.4g}{label}  {t['top_features']}"
            )
    lines.append(
        f"wrote       {summary['outputs']['scores_csv']}, {summary['outputs']['summary_json']}"
    )
    return "\n".join(lines)


__all__ = ["detect"]
