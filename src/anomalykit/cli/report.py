"""``anomalykit report``: both workflows on one table, written as a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..datasets import BUILTIN, load_builtin
from ..workflow import cluster_data, detect_anomalies
from ._errors import cli_errors
from ._inputs import read_table
from ._options import (
    ColumnsOpt,
    Covariance,
    DebugOpt,
    HeaderOpt,
    JsonOpt,
    LabelOpt,
    LogOpt,
    QuietOpt,
    RobustOpt,
    ScaleOpt,
    split_columns,
)
from ._progress import progress_bar
from .cluster import KMaxOpt, KMinOpt, _k_range, _parse_k
from .detect import _column_index

EXAMPLE = """
\b
Examples:
  anomalykit report --builtin cardio
  anomalykit report exams.csv --label-column pathologic --covariance full
  anomalykit report clients.parquet --log --scale standard --k auto --no-detect
  cat sensors.csv | anomalykit report - --label-column fault --out sensor-report

With a label column the rows are split 60/20/20 (normal rows to fit,
validation to choose epsilon by F1, test to report with a bootstrap interval);
without one, the Gaussian flags the 1% least likely rows. The same rows are
clustered (K chosen, or --k N) with outliers beyond --outliers sigma. Writes
OUT/report.html (self-contained, opens offline), the figures as PNG,
summary.json and CSV tables. Exit codes: 0 ran; 2 bad usage or input; 3
internal error (a bug).
"""


def report(
    file: Annotated[
        str | None,
        typer.Argument(help="CSV/TSV, Parquet, .npz, .npy or .mat (FILE:ARRAY); - for stdin."),
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option(
            "--builtin", help=f"A data set shipped with anomalykit ({', '.join(BUILTIN)})."
        ),
    ] = None,
    columns_arg: ColumnsOpt = None,
    label_column: LabelOpt = None,
    covariance: Annotated[
        Covariance, typer.Option(help="diag: independent features; full: covariance matrix.")
    ] = Covariance.full,
    robust: RobustOpt = False,
    scale: ScaleOpt = None,
    log: LogOpt = False,
    k: Annotated[str, typer.Option("--k", help="Number of clusters, or 'auto'.")] = "auto",
    k_min: KMinOpt = 1,
    k_max: KMaxOpt = 10,
    outliers: Annotated[
        float, typer.Option("--outliers", help="Flag rows this many sigmas beyond their cluster.")
    ] = 3.0,
    no_cluster: Annotated[bool, typer.Option("--no-cluster", help="Skip the clustering.")] = False,
    no_detect: Annotated[
        bool, typer.Option("--no-detect", help="Skip the anomaly detection.")
    ] = False,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the F1 interval.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random choice.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path(
        "anomalykit-report"
    ),
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Detect anomalies and cluster one table; write a self-contained HTML report."""
    from ..report import write_report

    with cli_errors(debug):
        if (builtin is None) == (file is None):
            raise ValueError("give either a FILE or --builtin NAME (one of them).")
        if no_cluster and no_detect:
            raise ValueError("--no-cluster and --no-detect leave nothing to report; drop one.")
        if builtin is not None:
            if label_column is not None:
                raise ValueError(f"--builtin {builtin} has its own labels; drop --label-column.")
            if header_row is not None:
                raise ValueError(
                    f"--builtin {builtin} is not a CSV file; drop --header/--no-header."
                )
            data = load_builtin(builtin)
            X, y, names, source = data.X, data.y, data.feature_names, f"builtin:{builtin}"
            columns = split_columns(columns_arg)
            if columns:
                X = X[:, [_column_index(c, names, builtin) for c in columns]]
                names = list(columns)
        else:
            table = read_table(file, split_columns(columns_arg), label_column, header=header_row)
            X, y, names, source = table.X, table.y, table.feature_names, table.source
        scale_name = None if scale is None else scale.value
        detection = clustering = None
        if not no_detect:
            with progress_bar("bootstrap", quiet=quiet) as progress:
                detection = detect_anomalies(
                    X,
                    y_train=y,
                    covariance=covariance.value,
                    robust=robust,
                    scale=scale_name,
                    log=log,
                    n_bootstrap=bootstrap,
                    random_state=seed,
                    feature_names=names,
                    progress=progress,
                )
        if not no_cluster:
            with progress_bar("choosing K", quiet=quiet) as progress:
                clustering = cluster_data(
                    X,
                    k=_parse_k(k),
                    ks=_k_range(k_min, k_max),
                    n_sigma=outliers,
                    scale=scale_name,
                    log=log,
                    random_state=seed,
                    feature_names=names,
                    progress=progress,
                    no_clear_k="silhouette",
                )
            if clustering.selection_note:
                typer.echo(f"note: {clustering.selection_note}", err=True)
        files = write_report(out, detection=detection, clustering=clustering, title=source)
    summary = {
        "data": source,
        "anomalies": None if detection is None else detection.to_dict(),
        "clusters": None if clustering is None else clustering.to_dict(),
        "report": str(files.html),
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    lines = []
    if detection is not None:
        e = detection.evaluation
        how = (
            f"test F1 = {e.f1:.3f}, ROC-AUC = {e.roc_auc:.3f}"
            if e is not None and e.roc_auc is not None
            else f"threshold from {detection.threshold_source}"
        )
        lines.append(
            f"anomalies  flagged {detection.n_flagged} of {len(detection.scores)} "
            f"{detection.flagged_on} rows; {how}"
        )
    if clustering is not None:
        lines.append(
            f"clusters   K = {clustering.k}, sizes {clustering.sizes.tolist()}, "
            f"{clustering.n_outliers} outliers"
        )
    lines.append(f"report     {files.html}")
    typer.echo("\n".join(lines))


report.__doc__ = (report.__doc__ or "") + "\n" + EXAMPLE


__all__ = ["report"]
