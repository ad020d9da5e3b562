"""``anomalykit demo``: the whole workflow on data shipped with anomalykit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..datasets import load_cardio, load_wholesale
from ..workflow import ClusteringReport, DetectionReport, cluster_data, detect_anomalies
from ._errors import cli_errors
from ._options import DebugOpt, JsonOpt, QuietOpt
from ._progress import progress_bar

EXAMPLE = """
\b
Examples:
  anomalykit demo
  anomalykit demo --out /tmp/demo --json

Anomalies: the cardio exams (1831 x 21, 176 pathologic) are split 60/20/20
(normal rows to fit, validation to choose epsilon by F1, test to report with a
bootstrap interval), a full-covariance Gaussian is fitted and the test rows are
flagged and explained. Clusters: the wholesale clients (440 x 6 spend
categories) are log-scaled, K is chosen by the K criteria, each segment is
profiled and clients beyond 3 sigma of their segment are flagged. Writes
OUT/report.html (open it in a browser), the figures as PNG, summary.json and
CSV tables. Exit codes: 0 ran; 2 bad usage; 3
internal error (a bug).
"""


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report and its files.")] = Path(
        "anomalykit-demo"
    ),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random choice.")] = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run the full workflow (anomalies and clusters) on built-in data and write the report."""
    from ..report import write_report

    with cli_errors(debug):
        cardio = load_cardio()
        with progress_bar("bootstrap", quiet=quiet) as progress:
            detection = detect_anomalies(
                cardio.X,
                y_train=cardio.y,
                covariance="full",
                random_state=seed,
                feature_names=cardio.feature_names,
                progress=progress,
            )
        wholesale = load_wholesale()
        with progress_bar("choosing K", quiet=quiet) as progress:
            clustering = cluster_data(
                wholesale.X,
                ks=range(1, 9),
                n_sigma=3.0,
                scale="standard",
                log=True,
                random_state=seed,
                feature_names=wholesale.feature_names,
                progress=progress,
                no_clear_k="silhouette",
            )
        files = write_report(
            out,
            detection=detection,
            clustering=clustering,
            title="anomalykit demo: cardio exams and wholesale clients",
        )
    if json_out:
        summary = {
            "anomalies": detection.to_dict(),
            "clusters": clustering.to_dict(),
            "report": str(files.html),
        }
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(render_demo(detection, clustering, files.html))


demo.__doc__ = (demo.__doc__ or "") + "\n" + EXAMPLE


def render_demo(detection: DetectionReport, clustering: ClusteringReport, html: Path) -> str:
    """A few lines a person reads first: what was found, how good, where to look."""
    det = detection.detector
    e = detection.evaluation
    lines = [
        f"anomalies  cardio: {det.covariance} Gaussian on {detection.n_train} normal exams x "
        f"{det.n_features_in_} features; epsilon chosen on validation by F1 "
        f"(log epsilon = {det.offset_:.4g})",
    ]
    if e is not None:
        ci = detection.bootstrap
        interval = (
            ""
            if ci is None
            else f" ({ci.level:.0%} CI {ci.f1[0]:.3f}-{ci.f1[1]:.3f}, {ci.n_resamples} resamples)"
        )
        lines.append(
            f"           test: F1 = {e.f1:.3f}{interval}, precision = {e.precision:.3f}, "
            f"recall = {e.recall:.3f}, ROC-AUC = {e.roc_auc:.3f}; flagged {detection.n_flagged} "
            f"of {len(detection.scores)} exams"
        )
    top = detection.top_anomalies(1)
    if top:
        lines.append(
            f"           most anomalous: exam {top[0]['source_row']} ({top[0]['top_features']})"
        )
    verdict = (
        ""
        if clustering.selection is None
        else f" ({clustering.selection_note or clustering.selection.reasons[0]})"
    )
    sizes = ", ".join(str(int(s)) for s in clustering.sizes)
    lines.append(f"clusters   wholesale: K = {clustering.k}{verdict}")
    lines.append(
        f"           sizes {sizes}; {clustering.n_outliers} clients beyond 3 sigma of their segment"
    )
    for p in clustering.profiles:
        apart = (
            ", ".join(f"{name} {z:+.1f} sd" for name, z in p["distinctive"]) or "close to average"
        )
        lines.append(f"           segment {p['cluster']} ({p['share']:.0%}): {apart}")
    lines.append(f"report     {html}")
    return "\n".join(lines)


__all__ = ["demo"]
