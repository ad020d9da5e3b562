"""``anomalykit fit``: fit a model on a table and save it for ``anomalykit score``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..io import save
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
    Rule,
    ScaleOpt,
    robust_note,
    split_columns,
)
from ._progress import progress_bar

EXAMPLE = """
\b
Examples:
  anomalykit fit normal.csv --model model.akm
  anomalykit fit normal.csv --val val.csv --label-column is_fault --model model.akm
  anomalykit fit spend.parquet --scale robust --log --contamination 0.02 --model spend.akm
  anomalykit fit customers.csv --kind kmeans --k 4 --outliers 3 --model segments.akm
  cat normal.csv | anomalykit fit - --covariance full --model model.akm

Then: anomalykit score model.akm new.csv --out scores.csv

TRAIN and VAL are CSV/TSV (delimiter and header detected; '-' reads one of them
from standard input), Parquet, .npz, .npy or .mat (FILE:ARRAY picks an array).
A Gaussian is fitted on the normal rows of TRAIN (rows labelled 1 in
--label-column are left out); its threshold epsilon is --epsilon, or flags the
--contamination share of the training rows (1% by default), or maximises F1 on
the labelled rows of --val. --scale and --log put a scaler inside the model, so
new rows are given in original units. The model file is written whole or not
at all. Exit codes: 0 ran; 2 bad usage or input; 3 internal error
(a bug).
"""


class Kind(str, Enum):
    gaussian = "gaussian"
    kmeans = "kmeans"


def fit(
    train: Annotated[
        str,
        typer.Argument(
            metavar="TRAIN",
            help="Rows to fit on: CSV/TSV ('-' for standard input), Parquet, .npz, .npy or .mat.",
        ),
    ],
    model_path: Annotated[
        Path, typer.Option("--model", "-m", help="Where to save the fitted model (e.g. model.akm).")
    ],
    kind: Annotated[
        Kind,
        typer.Option(
            help="gaussian: a density and epsilon; kmeans: K-means (with --outliers, "
            "distance outliers)."
        ),
    ] = Kind.gaussian,
    columns_arg: ColumnsOpt = None,
    label_column: LabelOpt = None,
    covariance: Annotated[
        Covariance, typer.Option(help="diag: independent features; full: covariance matrix.")
    ] = Covariance.diag,
    val: Annotated[
        str | None,
        typer.Option("--val", help="Labelled rows to choose epsilon on (maximum F1)."),
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="Use this density threshold instead of choosing one.")
    ] = None,
    contamination: Annotated[
        float | None,
        typer.Option(help="Flag this share of the training rows (default 0.01 without --val)."),
    ] = None,
    reg_covar: Annotated[float, typer.Option(help="Added to every variance.")] = 1e-6,
    robust: RobustOpt = False,
    scale: ScaleOpt = None,
    log: LogOpt = False,
    k: Annotated[str, typer.Option("--k", help="kmeans: number of clusters, or 'auto'.")] = "auto",
    k_max: Annotated[int, typer.Option("--k-max", help="kmeans --k auto: largest K tried.")] = 10,
    outliers: Annotated[
        float | None,
        typer.Option("--outliers", help="kmeans: flag rows this many sigmas beyond their cluster."),
    ] = None,
    rule: Annotated[Rule, typer.Option(help="kmeans --outliers: per-cluster threshold rule.")] = (
        Rule.sigma
    ),
    seed: Annotated[int, typer.Option("--seed", min=0, help="kmeans: seed of the fits.")] = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Fit a Gaussian anomaly detector (or K-means) on a table and save it to a model file."""
    with cli_errors(debug):
        columns = split_columns(columns_arg)
        if kind is Kind.gaussian:
            _refuse(
                kind,
                k=k != "auto",
                k_max=k_max != 10,
                outliers=outliers is not None,
                rule=rule is not Rule.sigma,
                seed=seed != 0,
            )
            summary = _fit_gaussian(
                train, columns, label_column, val, covariance.value, epsilon, contamination,
                reg_covar, robust, scale, log, model_path, header_row,
            )  # fmt: skip
        else:
            _refuse(
                kind,
                val=val is not None,
                epsilon=epsilon is not None,
                contamination=contamination is not None,
                covariance=covariance is not Covariance.diag,
                reg_covar=reg_covar != 1e-6,
                robust=robust,
            )
            summary = _fit_kmeans(
                train, columns, label_column, k, k_max, outliers, rule.value, seed, scale, log,
                model_path, quiet, header_row,
            )  # fmt: skip
    typer.echo(json.dumps(summary, indent=2) if json_out else _render(summary))


fit.__doc__ = (fit.__doc__ or "") + "\n" + EXAMPLE


def _refuse(kind: Kind, **given: bool) -> None:
    """Options of the other kind of model are an error, not silently ignored."""
    wrong = [name.replace("_", "-") for name, flag in given.items() if flag]
    if wrong:
        options = ", ".join(f"--{name}" for name in wrong)
        other = "kmeans" if kind is Kind.gaussian else "gaussian"
        verb = "applies" if len(wrong) == 1 else "apply"
        raise ValueError(
            f"{options} {verb} to --kind {other} only; drop {'it' if len(wrong) == 1 else 'them'} "
            f"or add --kind {other}."
        )


def _fit_gaussian(
    train: str,
    columns: list[str] | None,
    label_column: str | None,
    val: str | None,
    covariance: str,
    epsilon: float | None,
    contamination: float | None,
    reg_covar: float,
    robust: bool,
    scale: Any,
    log: bool,
    model_path: Path,
    header: bool | None,
) -> dict[str, Any]:
    if val is not None and (epsilon is not None or contamination is not None):
        raise ValueError(
            "--val chooses epsilon by F1, so it cannot be combined with --epsilon or "
            "--contamination; drop one of them."
        )
    tr = read_table(train, columns, label_column, header=header)
    if label_column is not None and val is None and tr.y is None:
        raise ValueError(
            f"{tr.source}: no label column {label_column!r}; columns are {tr.feature_names}. "
            "Name the right column, or drop --label-column."
        )
    va = None
    if val is not None:
        va = read_table(
            val,
            columns,
            label_column,
            labels_needed_for="choosing epsilon on --val",
            header=header,
        )
        if va.feature_names != tr.feature_names:
            raise ValueError(
                f"{va.source} has columns {va.feature_names} but {tr.source} has "
                f"{tr.feature_names}; the files must share their feature columns "
                "(or pick them with --columns)."
            )
    report = detect_anomalies(
        tr.X,
        y_train=tr.y,
        X_val=None if va is None else va.X,
        y_val=None if va is None else va.y,
        covariance=covariance,
        epsilon=epsilon,
        contamination="auto" if contamination is None else contamination,
        reg_covar=reg_covar,
        robust=robust,
        scale=None if scale is None else scale.value,
        log=log,
        split=False,
        n_bootstrap=0,
        feature_names=tr.feature_names,
    )
    _save(report.model, model_path)
    full = report.to_dict()
    return {
        "kind": "gaussian",
        "model_file": str(model_path),
        "data": {"train": tr.source, "val": None if va is None else va.source},
        "model": full["model"],
        "threshold": full["threshold"],
        "train_flagged": None
        if report.flagged_on != "train"
        else {"n_rows": len(report.scores), "n_flagged": report.n_flagged},
    }


def _fit_kmeans(
    train: str,
    columns: list[str] | None,
    label_column: str | None,
    k: str,
    k_max: int,
    outliers: float | None,
    rule: str,
    seed: int,
    scale: Any,
    log: bool,
    model_path: Path,
    quiet: bool,
    header: bool | None,
) -> dict[str, Any]:
    from .cluster import _k_range, _parse_k

    tr = read_table(train, columns, label_column, header=header)  # the label: never a feature
    with progress_bar("choosing K", quiet=quiet) as progress:
        report = cluster_data(
            tr.X,
            k=_parse_k(k),
            ks=_k_range(1, k_max),
            n_sigma=outliers,
            rule=rule,
            random_state=seed,
            feature_names=tr.feature_names,
            scale=None if scale is None else scale.value,
            log=log,
            progress=progress,
        )
    _save(report.model, model_path)
    full = report.to_dict()
    return {
        "kind": "kmeans",
        "model_file": str(model_path),
        "data": {"train": tr.source},
        "k": report.k,
        "chosen": report.selection is not None,
        "sizes": report.sizes.tolist(),
        "feature_names": report.feature_names,
        "outliers": None
        if report.is_outlier is None
        else {"n_sigma": outliers, "rule": rule, "n_flagged": report.n_outliers},
        "metrics": full.get("metrics"),
    }


def _save(model: Any, path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"--model {path} is a directory; give a file name such as model.akm.")
    if not path.parent.is_dir():
        raise ValueError(f"--model {path}: folder {path.parent} does not exist; create it first.")
    save(model, path)


def _render(summary: dict[str, Any]) -> str:
    if summary["kind"] == "gaussian":
        m, th = summary["model"], summary["threshold"]
        scaler = m["scaler"]
        scaled = (
            ""
            if scaler is None
            else f", scaled ({scaler['method']}{', log1p' if scaler['log'] else ''})"
        )
        lines = [
            f"model       {m['covariance']} Gaussian on {m['n_train']} normal rows x "
            f"{m['n_features']} features{scaled}"
            + (
                f" ({m['n_train_dropped_anomalies']} labelled anomalies left out)"
                if m["n_train_dropped_anomalies"]
                else ""
            )
            + robust_note(m),
            f"columns     {', '.join(m['feature_names'])}",
            f"threshold   log epsilon = {th['log_epsilon']:.6g} (epsilon = {th['epsilon']:.6g}), "
            f"from {th['source']}",
        ]
        v = th["validation"]
        if v is not None:
            lines.append(
                f"validation  F1 = {v['f1']:.4f}  precision = {v['precision']:.4f}  "
                f"recall = {v['recall']:.4f}  (chosen here, so optimistic)"
            )
        flagged = summary["train_flagged"]
        if flagged is not None:
            lines.append(f"flagged     {flagged['n_flagged']} of {flagged['n_rows']} training rows")
    else:
        out = summary["outliers"]
        lines = [
            f"model       K-means, K = {summary['k']}" + (" (chosen)" if summary["chosen"] else ""),
            f"columns     {', '.join(summary['feature_names'])}",
            "sizes       " + ", ".join(str(s) for s in summary["sizes"]),
        ]
        if out is not None:
            lines.append(
                f"outliers    {out['n_flagged']} training rows beyond {out['n_sigma']:g} "
                f"({out['rule']})"
            )
    lines.append(f"saved       {summary['model_file']}")
    return "\n".join(lines)


__all__ = ["fit"]
