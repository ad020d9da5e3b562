"""``anomalykit cluster`` and ``anomalykit choose-k``: K-means from the shell."""

from __future__ import annotations

import csv
import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..cluster import select_k
from ..io import atomic_open, write_text_atomic
from ..workflow import ClusteringReport, cluster_data
from ._errors import cli_errors
from ._inputs import read_table
from ._options import (
    ColumnsOpt,
    DebugOpt,
    HeaderOpt,
    JsonOpt,
    OutOpt,
    QuietOpt,
    Rule,
    split_columns,
)
from ._progress import progress_bar

CLUSTER_EXAMPLE = """
\b
Examples:
  anomalykit cluster customers.csv --k auto --outliers 3
  anomalykit cluster customers.csv --k 5 --columns fresh,milk,grocery --plot
  anomalykit cluster ex7data2.mat --k 3 --json
  cat customers.csv | anomalykit cluster - --k 4

FILE is CSV/TSV (delimiter and header detected; '-' reads it from standard
input), Parquet, .npz, .npy or .mat (FILE:ARRAY picks an array).

Writes OUT/clusters.csv (row, cluster, distance, is_outlier, top_features) and
OUT/summary.json (centres, sizes, metrics, outliers, the K criteria); with
--plot also the figures as PNG; each file whole or not at all. Exit codes: 0 ran; 1 outliers found with
--fail-on-outliers; 2 bad usage or input; 3 internal error (a bug).
"""

CHOOSE_K_EXAMPLE = """
\b
Examples:
  anomalykit choose-k customers.csv --k-max 12
  anomalykit choose-k data.npz --k-min 2 --k-max 8 --json --plot
  anomalykit choose-k customers.parquet --columns fresh,milk --quiet

Prints WCSS, silhouette, Davies-Bouldin, Calinski-Harabasz and the gap
statistic per K, each criterion's pick and the verdict (a K, or "no clear K").
Exit codes: 0 ran; 2 bad usage or input; 3 internal error (a bug).
"""


class Metric(str, Enum):
    euclidean = "euclidean"
    cosine = "cosine"


FileArg = Annotated[
    str,
    typer.Argument(
        help="CSV/TSV ('-' for standard input), Parquet, .npz, .npy or .mat (FILE:ARRAY)."
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of every random choice.")]
KMinOpt = Annotated[int, typer.Option("--k-min", help="Smallest K tried.")]
KMaxOpt = Annotated[int, typer.Option("--k-max", help="Largest K tried.")]
PlotOpt = Annotated[
    bool, typer.Option("--plot", help="Also write the figures as PNG (needs the [plot] extra).")
]
MetricOpt = Annotated[
    Metric, typer.Option("--metric", help="euclidean, or cosine (spherical k-means) for text.")
]


def _parse_k(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        raise ValueError(f"--k must be a whole number or 'auto'; got {value!r}.") from None
    if k < 1:
        raise ValueError(f"--k must be at least 1; got {k}.")
    return k


def cluster(
    file: FileArg,
    k: Annotated[str, typer.Option("--k", help="Number of clusters, or 'auto'.")] = "auto",
    outliers: Annotated[
        float | None,
        typer.Option("--outliers", help="Flag rows this many sigmas beyond their cluster."),
    ] = None,
    rule: Annotated[Rule, typer.Option(help="Per-cluster threshold rule.")] = Rule.sigma,
    k_min: KMinOpt = 1,
    k_max: KMaxOpt = 10,
    metric: MetricOpt = Metric.euclidean,
    columns_arg: ColumnsOpt = None,
    seed: SeedOpt = 0,
    out: OutOpt = Path("anomalykit-output"),
    json_out: JsonOpt = False,
    plot: PlotOpt = False,
    fail_on_outliers: Annotated[
        bool, typer.Option("--fail-on-outliers", help="Exit 1 when any row is flagged.")
    ] = False,
    quiet: QuietOpt = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Cluster rows with K-means (K given or chosen), flag rows far from their own centre."""
    with cli_errors(debug):
        table = read_table(file, split_columns(columns_arg), header=header_row)
        with progress_bar("choosing K", quiet=quiet) as progress:
            report = cluster_data(
                table.X,
                k=_parse_k(k),
                ks=_k_range(k_min, k_max),
                n_sigma=outliers,
                rule=rule.value,
                metric=metric.value,
                random_state=seed,
                feature_names=table.feature_names,
                progress=progress,
            )
        summary = report.to_dict()
        summary["data"] = table.source
        summary["outputs"] = _write_cluster_outputs(report, table.X, summary, out, plot)
    typer.echo(json.dumps(summary, indent=2) if json_out else _render_cluster(report, summary))
    if fail_on_outliers and report.n_outliers:
        raise typer.Exit(1)


cluster.__doc__ = (cluster.__doc__ or "") + "\n" + CLUSTER_EXAMPLE


def choose_k(
    file: FileArg,
    k_min: KMinOpt = 1,
    k_max: KMaxOpt = 10,
    metric: MetricOpt = Metric.euclidean,
    columns_arg: ColumnsOpt = None,
    seed: SeedOpt = 0,
    out: OutOpt = Path("anomalykit-output"),
    json_out: JsonOpt = False,
    plot: PlotOpt = False,
    quiet: QuietOpt = False,
    header_row: HeaderOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare K by the elbow of WCSS, silhouette, gap statistic and more; give a verdict."""
    with cli_errors(debug):
        table = read_table(file, split_columns(columns_arg), header=header_row)
        with progress_bar("choosing K", quiet=quiet) as progress:
            selection = select_k(
                table.X,
                _k_range(k_min, k_max),
                metric=metric.value,
                random_state=seed,
                progress=progress,
            )
        summary = selection.to_dict()
        if plot:
            from ..plotting import ElbowDisplay

            out.mkdir(parents=True, exist_ok=True)
            path = out / "choose_k.png"
            _save_png(ElbowDisplay.from_selection(selection).figure_, path)
            summary["outputs"] = {"elbow_png": str(path)}
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        verdict = "no clear K" if selection.k is None else f"K = {selection.k}"
        lines = [selection.table(), "", f"verdict: {verdict}"]
        lines += [f"  - {reason}" for reason in selection.reasons]
        if plot:
            lines.append(f"wrote {summary['outputs']['elbow_png']}")
        typer.echo("\n".join(lines))


choose_k.__doc__ = (choose_k.__doc__ or "") + "\n" + CHOOSE_K_EXAMPLE


def _k_range(k_min: int, k_max: int) -> range:
    if k_min < 1 or k_max <= k_min:
        raise ValueError(
            f"need 1 <= --k-min < --k-max (K is chosen among at least two values); "
            f"got --k-min {k_min}, --k-max {k_max}."
        )
    return range(k_min, k_max + 1)


def _write_cluster_outputs(
    report: ClusteringReport, X, summary: dict, out: Path, plot: bool
) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"clusters_csv": str(out / "clusters.csv"), "summary_json": str(out / "summary.json")}
    with atomic_open(paths["clusters_csv"], newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "cluster", "distance", "is_outlier", "top_features"])
        flags = report.is_outlier
        for i, (label, dist) in enumerate(zip(report.labels, report.distances, strict=True)):
            flag = "" if flags is None else int(flags[i])
            writer.writerow([i, int(label), repr(float(dist)), flag, report.explanations[i]])
    if plot:
        from ..plotting import ClusterDisplay, ElbowDisplay, SilhouetteDisplay

        km = getattr(report.model, "clusterer_", report.model)
        metric = getattr(km, "metric", "euclidean")
        figures = {
            "clusters_png": ClusterDisplay.from_estimator(
                km, X, labels=report.labels, outliers=report.is_outlier
            ),
            "silhouette_png": SilhouetteDisplay.from_labels(X, report.labels, metric=metric)
            if report.can_score_silhouette
            else None,
            "elbow_png": None
            if report.selection is None
            else ElbowDisplay.from_selection(report.selection),
        }
        for name, display in figures.items():
            if display is not None:
                path = out / name.replace("_png", ".png")
                _save_png(display.figure_, path)
                paths[name] = str(path)
    write_text_atomic(
        paths["summary_json"], json.dumps({**summary, "outputs": paths}, indent=2) + "\n"
    )
    return paths


def _save_png(figure, path: Path) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        figure.savefig(fh, format="png", dpi=110)


def _render_cluster(report: ClusteringReport, summary: dict) -> str:
    m = report.metrics
    lines = [f"clusters    K = {report.k}" + (" (chosen)" if report.selection else "")]
    if report.selection is not None:
        lines += [f"  - {reason}" for reason in report.selection.reasons[:1]]
    lines.append("sizes       " + ", ".join(str(s) for s in report.sizes.tolist()))

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    lines.append(
        f"metrics     WCSS {fmt(m['inertia'])}  silhouette {fmt(m['silhouette'])}  "
        f"Davies-Bouldin {fmt(m['davies_bouldin'])}  Calinski-Harabasz {fmt(m['calinski_harabasz'])}"
    )
    if report.is_outlier is not None:
        lines.append(f"outliers    {report.n_outliers} of {len(report.labels)} rows")
        for o in report.top_outliers(5):
            lines.append(
                f"  row {o['row']}  cluster {o['cluster']}  distance {o['distance']:.4g}  "
                f"{o['top_features']}"
            )
    lines.append("wrote       " + ", ".join(summary["outputs"].values()))
    return "\n".join(lines)


__all__ = ["choose_k", "cluster"]
