"""Write the report folder: HTML page, PNG figures, JSON numbers, CSV tables; atomically."""

from __future__ import annotations

import csv
import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..plotting._base import require_matplotlib
from ..workflow import ClusteringReport, DetectionReport
from . import _html
from ._figures import ReportFigure, clustering_figures, detection_figures

__all__ = ["REPORT_ENTRIES", "ReportFiles", "write_report"]

#: What a report folder may hold. An existing ``out_dir`` is replaced only when
#: it holds nothing else, so a report never deletes files it did not write.
REPORT_ENTRIES = frozenset(
    {
        "report.html",
        "summary.json",
        "anomalies.csv",
        "scores.csv",
        "clusters.csv",
        "outliers.csv",
        "figures",
    }
)


#: What a report's ``figures/`` folder may hold (see ``_figures.py``).
FIGURE_FILES = frozenset(
    f"{name}.png"
    for name in (
        "threshold_curve",
        "precision_recall",
        "score_histogram",
        "density_contours",
        "k_selection",
        "silhouette",
        "clusters",
    )
)


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` put each file.

    Attributes
    ----------
    html : Path
        ``report.html``, the self-contained page.
    json : Path
        ``summary.json``: the reports' ``to_dict()`` and the file list.
    csvs : dict of str to Path
        Tables by name: ``anomalies``, ``scores`` (detection), ``clusters``,
        ``outliers`` (clustering, when outliers were flagged).
    figures : dict of str to Path
        PNG files by figure name, e.g. ``threshold_curve``, ``clusters``.
    """

    html: Path
    json: Path
    csvs: dict[str, Path]
    figures: dict[str, Path]


def write_report(
    out_dir: str | os.PathLike[str],
    *,
    detection: DetectionReport | None = None,
    clustering: ClusteringReport | None = None,
    title: str = "anomalykit report",
) -> ReportFiles:
    """Write a report a person can read: one HTML page, its figures, numbers and tables.

    Parameters
    ----------
    out_dir : str or path-like
        The folder to create. An existing folder is replaced only when it holds
        nothing but an earlier report's files; otherwise it is an error.
    detection : DetectionReport, default=None
        From :func:`anomalykit.workflow.detect_anomalies`.
    clustering : ClusteringReport, default=None
        From :func:`anomalykit.workflow.cluster_data`. At least one of the two.
    title : str, default="anomalykit report"

    Returns
    -------
    ReportFiles
        Paths of everything written, under ``out_dir``.

    Notes
    -----
    ``out_dir`` receives:

    - ``report.html``: one self-contained page (inline CSS, figures as base64
      PNG data URIs, no script, nothing fetched): a summary of the key numbers,
      then the figures and tables. Open it offline, mail it, archive it.
    - ``figures/*.png``: the same figures as files.
    - ``summary.json``: ``detection.to_dict()`` and ``clustering.to_dict()``,
      and the list of files.
    - ``anomalies.csv`` (every flagged row, most anomalous first, with its
      explanation and values) and ``scores.csv`` (every scored row);
      ``clusters.csv`` (one row per cluster) and ``outliers.csv``.

    Everything is first written to a hidden folder next to ``out_dir`` and
    then renamed into place, so an error never leaves a half-written report
    (nor destroys the previous one). Needs matplotlib (``anomalykit[plot]``).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from anomalykit.report import write_report
    >>> from anomalykit.workflow import cluster_data
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))] + np.arange(10)[:, None] * 0.01
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> files = write_report(out, clustering=cluster_data(X, k=2))
    >>> files.html.name, sorted(files.figures), sorted(files.csvs)
    ('report.html', ['clusters', 'silhouette'], ['clusters'])
    """
    if detection is None and clustering is None:
        raise ValueError(
            "write_report needs something to report: pass detection= (from "
            "detect_anomalies) and/or clustering= (from cluster_data)."
        )
    if detection is not None and not isinstance(detection, DetectionReport):
        raise TypeError(
            "detection must be a DetectionReport (from anomalykit.workflow.detect_anomalies); "
            f"got {type(detection).__name__}."
        )
    if clustering is not None and not isinstance(clustering, ClusteringReport):
        raise TypeError(
            "clustering must be a ClusteringReport (from anomalykit.workflow.cluster_data); "
            f"got {type(clustering).__name__}."
        )
    require_matplotlib()
    out = Path(out_dir)
    target = Path(os.path.abspath(out))
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created with the default mode (umask applies), unlike tempfile.mkdtemp's 0700.
    tmp = target.parent / f".{target.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        import matplotlib

        # Column names are text, never maths: "$x$" stays "$x$" instead of failing to parse.
        with matplotlib.rc_context({"text.parse_math": False}):
            written = _write_all(tmp, detection=detection, clustering=clustering, title=title)
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportFiles(
        html=out / written["html"],
        json=out / written["json"],
        csvs={k: out / v for k, v in written["csvs"].items()},
        figures={k: out / v for k, v in written["figures"].items()},
    )


def _check_replaceable(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(
            f"{str(target)!r} exists and is not a folder; choose another out_dir."
        )
    foreign = sorted(p.name for p in target.iterdir() if p.name not in REPORT_ENTRIES)
    figures = target / "figures"
    if figures.is_dir():
        foreign += sorted(
            f"figures/{p.name}" for p in figures.iterdir() if p.name not in FIGURE_FILES
        )
    elif figures.exists():
        foreign.append("figures")
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise FileExistsError(
            f"{str(target)!r} already holds files that are not part of a report ({shown}); "
            "choose a new out_dir or empty it. A folder holding only an earlier report is "
            "replaced."
        )


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an earlier report there is swapped out, then deleted."""
    if not target.exists():
        os.rename(tmp, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_all(
    folder: Path,
    *,
    detection: DetectionReport | None,
    clustering: ClusteringReport | None,
    title: str,
) -> dict[str, Any]:
    """Write every file into ``folder``; return their paths relative to it."""
    figures_dir = folder / "figures"
    figures_dir.mkdir()
    csvs: dict[str, str] = {}
    figs: dict[str, str] = {}
    summaries, sections = [], []
    payload: dict[str, Any] = {"title": title, "anomalykit_version": __version__}
    colours = _cycle_colours()

    def save_figures(items: list[ReportFigure]) -> None:
        for fig in items:
            rel = f"figures/{fig.name}.png"
            if f"{fig.name}.png" not in FIGURE_FILES:  # pragma: no cover - a developer's slip
                raise RuntimeError(f"add {fig.name}.png to FIGURE_FILES")
            (folder / rel).write_bytes(fig.png)
            figs[fig.name] = rel

    if detection is not None:
        summary = detection.to_dict()
        boot = getattr(detection, "bootstrap", None)
        if boot is not None and summary.get("bootstrap") is None:
            summary["bootstrap"] = boot.to_dict()
        payload["detection"] = summary
        log_epsilon = float(summary["threshold"]["log_epsilon"])
        det_figs = detection_figures(detection, log_epsilon)
        save_figures(det_figs)
        ranked = detection.top_anomalies(detection.n_flagged)
        csvs["anomalies"] = _write_anomalies(folder / "anomalies.csv", detection, ranked)
        csvs["scores"] = _write_scores(folder / "scores.csv", detection)
        summaries.append(_html.detection_summary(detection, summary))
        sections.append(_html.detection_section(detection, det_figs, ranked))

    if clustering is not None:
        summary = clustering.to_dict()
        profiles = getattr(clustering, "profiles", None)
        if profiles and summary.get("profiles") is None:
            summary["profiles"] = profiles
        payload["clustering"] = summary
        cl_figs = clustering_figures(clustering)
        save_figures(cl_figs)
        csvs["clusters"] = _write_clusters(folder / "clusters.csv", clustering)
        outliers = clustering.top_outliers(clustering.n_outliers)
        if clustering.is_outlier is not None:
            csvs["outliers"] = _write_outliers(folder / "outliers.csv", outliers)
        summaries.append(_html.clustering_summary(clustering))
        sections.append(_html.clustering_section(clustering, cl_figs, outliers, colours))

    files = {
        "html": "report.html",
        "json": "summary.json",
        "csvs": dict(csvs),
        "figures": dict(figs),
    }
    payload["files"] = files
    (folder / "summary.json").write_text(
        json.dumps(_plain(payload), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    listing = ["summary.json", *csvs.values(), *figs.values()]
    page = _html.render_page(title, summaries=summaries, sections=sections, files=listing)
    (folder / "report.html").write_text(page, encoding="utf-8")
    return files


def _cycle_colours() -> list[str]:
    """The colours matplotlib gives C0, C1, ...: cluster j has colour Cj in every figure."""
    import matplotlib
    from matplotlib.colors import to_hex

    return [to_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]


def _plain(obj: Any) -> Any:
    """JSON-ready: NumPy scalars and arrays, tuples and paths as plain types; NaN as null."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _write_csv(path: Path, header: list[str], rows: Any) -> str:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path.name


def _write_anomalies(path: Path, detection: DetectionReport, ranked: list[dict]) -> str:
    """Every flagged row, most anomalous first, with its explanation and its values."""
    X = getattr(detection, "rows", None)
    names = list(detection.feature_names) if X is not None else []
    if X is not None and len(names) != np.shape(X)[1]:
        names = [f"x{j}" for j in range(np.shape(X)[1])]
    rows = []
    for rank, a in enumerate(ranked, start=1):
        values = [repr(float(v)) for v in X[a["row"]]] if X is not None else []
        label = "" if a["label"] is None else a["label"]
        rows.append(
            [rank, a["source_row"], repr(a["log_density"]), label, a["top_features"], *values]
        )
    header = ["rank", "source_row", "log_density", "label", "top_features", *names]
    return _write_csv(path, header, rows)


def _write_scores(path: Path, detection: DetectionReport) -> str:
    """Every scored row, as ``anomalykit detect`` writes ``scores.csv``."""
    labels = detection.labels
    source = detection.source_rows
    rows = (
        [i, int(i if source is None else source[i]), repr(float(s)), int(flag),
         "" if labels is None else int(labels[i]), detection.explanations[i]]
        for i, (s, flag) in enumerate(zip(detection.scores, detection.is_anomaly, strict=True))
    )  # fmt: skip
    header = ["row", "source_row", "log_density", "is_anomaly", "label", "top_features"]
    return _write_csv(path, header, rows)


def _write_clusters(path: Path, clustering: ClusteringReport) -> str:
    """One row per cluster: size, share, distinctive features and centre (when profiled)."""
    profiles = list(getattr(clustering, "profiles", None) or [])
    if not profiles:
        sizes = np.asarray(clustering.sizes)
        total = max(int(sizes.sum()), 1)
        rows = [[j, int(s), repr(float(s / total))] for j, s in enumerate(sizes)]
        return _write_csv(path, ["cluster", "size", "share"], rows)
    names = list(profiles[0].get("center") or {})
    rows = []
    for p in profiles:
        distinctive = "; ".join(f"{n}={float(z):+.2f}σ" for n, z in p.get("distinctive") or [])
        centre = [repr(float(p["center"][n])) for n in names]
        rows.append([p["cluster"], p["size"], repr(float(p["share"])), distinctive, *centre])
    header = ["cluster", "size", "share", "distinctive", *(f"center_{n}" for n in names)]
    return _write_csv(path, header, rows)


def _write_outliers(path: Path, outliers: list[dict]) -> str:
    rows = [[o["row"], o["cluster"], repr(o["distance"]), o["top_features"]] for o in outliers]
    return _write_csv(path, ["row", "cluster", "distance", "top_features"], rows)
