"""Recipe ``customers``: segment customers with K-means, profile the segments, flag the unusual.

Two data sets:

- UCI Wholesale customers (shipped with the package: runs without ``--data``):
  440 clients' annual spend in six categories.
- CDNOW (``--data PATH/TO/customers``, file ``cdnow_master.txt``): a purchase
  log of 23,570 customers, turned into recency, frequency and monetary value
  (RFM) per customer (definitions in ``_rfm.RFM_DEFINITIONS``).

Both are clustered the same way: ``log1p`` then standardised features, K chosen
by the K suite (elbow, silhouette, gap statistic) over ``KS``, outliers at
``N_SIGMA`` from their own centre. When the suite finds no clear K (or says
"no structure", K = 1), the silhouette's K is taken and the reason is written
into the summary: never silently.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._base import DATA_ENV, RecipeResult, find_data
from ._plots import new_figure, save_png, write_json
from ._rfm import RFM_DEFINITIONS, read_cdnow, rfm

__all__ = ["run", "segment"]

#: Candidate K for both data sets, fixed before looking at the results.
KS = range(1, 11)
#: Customers farther than this many standard deviations of their segment's
#: distances from its centre are flagged (CentroidOutlierDetector, rule "sigma").
N_SIGMA = 3.0
#: Marker of cluster_data's "no clear K" error (its message ends with this advice).
CDNOW_FILE = "cdnow_master.txt"


def segment(
    X: np.ndarray,
    names: list[str],
    *,
    ks: range = KS,
    random_state: Any = 0,
) -> tuple[Any, dict[str, Any]]:
    """Choose K, cluster and flag outliers; say how K was chosen.

    Returns the :class:`~anomalykit.workflow.ClusteringReport` and
    ``{"k", "rule", "reason"}``: ``rule`` is ``"consensus"`` when the K suite
    agreed, ``"silhouette (no clear K)"`` when its criteria disagreed, and
    ``"silhouette (no structure)"`` when it found K = 1 (one segment is no
    segmentation; the silhouette's K is then a description of the spread, not
    a claim that groups exist).
    """
    from ..workflow import cluster_data

    options = dict(
        n_sigma=N_SIGMA, scale="standard", log=True, feature_names=names,
        random_state=random_state,
    )  # fmt: skip
    report = cluster_data(X, k="auto", ks=ks, no_clear_k="silhouette", **options)
    if report.selection_note is not None:  # the criteria disagreed: the silhouette's K
        selection, k = report.selection, report.k
        reason = (
            f"The K suite found no clear K ({selection.reasons[0]}) so the segments use the "
            f"silhouette's K={k} (mean silhouette {_silhouette_at(selection, k):.3f}); "
            "treat them as a description, not as natural groups."
        )
        return report, {"k": k, "rule": "silhouette (no clear K)", "reason": reason}
    selection = report.selection
    if report.k == 1:
        k = _silhouette_k(selection)
        report = dataclasses.replace(cluster_data(X, k=k, **options), selection=selection)
        reason = (
            f"The K suite found no cluster structure ({selection.reasons[0]}); one segment "
            f"is no segmentation, so the silhouette's K={k} is used to describe the spread."
        )
        return report, {"k": k, "rule": "silhouette (no structure)", "reason": reason}
    return report, {"k": report.k, "rule": "consensus", "reason": selection.reasons[0]}


def _silhouette_k(selection: Any) -> int:
    if selection.silhouette_k is None:  # every candidate K was degenerate
        raise ValueError(
            " ".join(selection.reasons) + " The silhouette has no answer either; pass "
            "candidate K values above 1 that the data can support."
        )
    return int(selection.silhouette_k)


def _silhouette_at(selection: Any, k: int) -> float:
    return float(selection.silhouette[list(selection.ks).index(k)])


def run(data: str | Path | None, out: Path, *, random_state: Any = 0) -> RecipeResult:
    """Segment Wholesale (always) and CDNOW RFM (with ``--data``); write into ``out``."""
    from ..datasets import load_wholesale

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    lines = [
        "customers: K-means segments of log1p + standardised features; K from the K suite "
        f"over K={KS.start}..{KS.stop - 1}; unusual = over {N_SIGMA:g} sigma from the centre",
        "",
    ]
    summary: dict[str, Any] = {
        "recipe": "customers",
        "ks": list(KS),
        "n_sigma": N_SIGMA,
        "scaling": "log1p, then standardised (profiles in original units)",
    }

    wholesale = load_wholesale()
    part = _segment_part(
        "wholesale", wholesale.X, wholesale.feature_names, out, files, random_state,
        row_ids=np.arange(1, wholesale.X.shape[0] + 1), id_name="csv_row",
        units=dict.fromkeys(wholesale.feature_names, "m.u./year"),
    )  # fmt: skip
    from sklearn.metrics import adjusted_rand_score

    channel = np.where(wholesale.y == 1, "Retail", "Horeca")
    labels = np.asarray(part.pop("_labels"))
    part.pop("_is_outlier")
    part["vs_channel"] = {
        "adjusted_rand_index": float(adjusted_rand_score(channel, labels)),
        "crosstab": {
            str(j): {c: int(np.sum((labels == j) & (channel == c))) for c in ("Horeca", "Retail")}
            for j in range(part["k"])
        },
    }
    summary["wholesale"] = part
    lines += _part_lines(
        f"Wholesale customers ({wholesale.X.shape[0]} clients, annual spend in 6 categories, "
        "monetary units)",
        part,
        "clients",
    )
    cross = "; ".join(
        f"segment {j}: {v['Horeca']} Horeca, {v['Retail']} Retail"
        for j, v in part["vs_channel"]["crosstab"].items()
    )
    lines.append(
        f"  vs the sales channel: ARI {part['vs_channel']['adjusted_rand_index']:.3f} ({cross})"
    )
    lines.append("")

    folder = _cdnow_folder(data)
    if folder is None:
        summary["cdnow"] = {
            "skipped": f"no --data given and ${DATA_ENV} is not set; pass --data PATH/TO/customers"
        }
        lines.append(
            f"CDNOW RFM: skipped (pass --data PATH/TO/customers, the folder with {CDNOW_FILE})"
        )
    else:
        ids, dates, usd = read_cdnow(folder / CDNOW_FILE)
        features = rfm(ids, dates, usd)
        part = _segment_part(
            "cdnow", features.X, list(features.names), out, files, random_state,
            row_ids=features.customer_id, id_name="customer_id",
            units={"recency_days": "days", "frequency": "purchases", "monetary": "USD"},
        )  # fmt: skip
        labels, unusual = part.pop("_labels"), part.pop("_is_outlier")
        files["cdnow_rfm"] = _write_rfm(out / "cdnow_rfm.csv", features, labels, unusual)
        part["source"] = str(folder / CDNOW_FILE)
        part["n_records"] = features.n_records
        part["log_start"] = str(dates.min())
        part["log_end"] = str(features.end)
        part["rfm_definitions"] = RFM_DEFINITIONS
        summary["cdnow"] = part
        lines += _part_lines(
            f"CDNOW RFM ({features.customer_id.size:,} customers, {features.n_records:,} "
            f"records, {dates.min()} to {features.end})",
            part,
            "customers",
        )
    summary["files"] = {name: str(path.relative_to(out)) for name, path in files.items()}
    files["summary"] = write_json(out / "summary.json", summary)
    return RecipeResult("customers", summary, lines, files)


def _cdnow_folder(data: str | Path | None) -> Path | None:
    """The CDNOW folder, None when no data location was given at all."""
    import os

    if data is None and not os.environ.get(DATA_ENV):
        return None
    return find_data("customers", data, must_contain=CDNOW_FILE)


def _segment_part(
    name: str,
    X: np.ndarray,
    names: list[str],
    out: Path,
    files: dict[str, Path],
    random_state: Any,
    *,
    row_ids: np.ndarray,
    id_name: str,
    units: dict[str, str],
) -> dict[str, Any]:
    """Segment one data set; write its report, profile table, figure and unusual rows."""
    from ..report import write_report

    report, choice = segment(X, names, random_state=random_state)
    written = write_report(
        out / name, clustering=report, title=f"anomalykit recipe customers: {name}"
    )
    files[f"{name}_report"] = written.html
    profiles = _profiles(report)
    files[f"{name}_segments"] = _write_profiles(out / f"{name}_segments.csv", profiles, names)
    files[f"{name}_segments_png"] = _profile_figure(
        report, out / f"{name}_segments.png", title=f"{name}: segments in original units",
        units=units,
    )  # fmt: skip
    unusual = _unusual(report, row_ids, id_name)
    files[f"{name}_unusual"] = _write_unusual(out / f"{name}_unusual.csv", unusual, names, id_name)
    sel = report.selection
    return {
        "n": int(X.shape[0]),
        "features": names,
        "k": report.k,
        "k_rule": choice["rule"],
        "k_reason": choice["reason"],
        "votes": {
            "elbow": sel.elbow_k,
            "silhouette": sel.silhouette_k,
            "gap": sel.gap_k,
            "davies_bouldin": sel.davies_bouldin_k,
            "calinski_harabasz": sel.calinski_harabasz_k,
        },
        "selection": sel.to_dict(),
        "metrics": report.metrics,
        "segments": profiles,
        "n_unusual": report.n_outliers,
        "unusual": unusual[:10],
        "_labels": report.labels,
        "_is_outlier": report.is_outlier,
    }


def _profiles(report: Any) -> list[dict[str, Any]]:
    """Per segment: size, share, and per feature the median, quartiles and mean (original units)."""
    X, labels = np.asarray(report.X), report.labels
    out = []
    for p in report.profiles:
        rows = X[labels == p["cluster"]]
        q1, q3 = (np.percentile(rows, q, axis=0) for q in (25, 75))
        out.append(
            {
                "segment": p["cluster"],
                "size": p["size"],
                "share": p["share"],
                "median": p["median"],
                "q1": dict(zip(report.feature_names, q1.tolist(), strict=True)),
                "q3": dict(zip(report.feature_names, q3.tolist(), strict=True)),
                "mean": p["mean"],
                "distinctive": p["distinctive"],
            }
        )
    return out


def _unusual(report: Any, row_ids: np.ndarray, id_name: str) -> list[dict[str, Any]]:
    """Every flagged row, farthest from its centre first, with its values."""
    X = np.asarray(report.X)
    out = []
    for o in report.top_outliers(report.n_outliers):
        i = o["row"]
        out.append(
            {
                id_name: int(row_ids[i]),
                "segment": o["cluster"],
                "distance": o["distance"],
                "why": o["top_features"],
                "values": dict(zip(report.feature_names, X[i].tolist(), strict=True)),
            }
        )
    return out


def _write_profiles(path: Path, profiles: list[dict[str, Any]], names: list[str]) -> Path:
    header = ["segment", "size", "share"]
    header += [f"{s}_{n}" for s in ("median", "q1", "q3", "mean") for n in names]
    header.append("distinctive")
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for p in profiles:
            values = [repr(float(p[s][n])) for s in ("median", "q1", "q3", "mean") for n in names]
            why = "; ".join(f"{n}={z:+.2f}sd" for n, z in p["distinctive"])
            writer.writerow([p["segment"], p["size"], repr(float(p["share"])), *values, why])
    return path


def _write_unusual(path: Path, unusual: list[dict[str, Any]], names: list[str], id_name: str):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([id_name, "segment", "distance", "why", *names])
        for u in unusual:
            values = [repr(float(u["values"][n])) for n in names]
            writer.writerow([u[id_name], u["segment"], repr(u["distance"]), u["why"], *values])
    return path


def _write_rfm(path: Path, features: Any, labels: np.ndarray, unusual: np.ndarray) -> Path:
    """Every customer: RFM, segment, and whether it was flagged as unusual."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["customer_id", *features.names, "segment", "unusual"])
        writer.writerows(
            zip(
                features.customer_id.tolist(),
                features.recency_days.tolist(),
                features.frequency.tolist(),
                features.monetary.tolist(),
                labels.tolist(),
                unusual.astype(int).tolist(),
                strict=True,
            )
        )
    return path


def _profile_figure(report: Any, path: Path, *, title: str, units: dict[str, str]) -> Path:
    """One panel per feature: each segment's median (dot) and quartiles (line), log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = report.feature_names
    X, labels = np.asarray(report.X), report.labels
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(50 + 170 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    segments = [p["cluster"] for p in report.profiles if p["size"]]
    for f, (ax, name) in enumerate(zip(axes, names, strict=False)):
        cols = [X[labels == j, f] for j in segments]
        lo, med, hi = (np.array([np.percentile(c, q) for c in cols]) for q in (25, 50, 75))
        pos = np.arange(len(segments))
        ax.vlines(pos, lo, hi, colors=[f"C{j}" for j in segments], linewidth=3, alpha=0.5)
        ax.scatter(pos, med, c=[f"C{j}" for j in segments], s=40, zorder=3)
        if lo.min() > 0:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(
                FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
            )
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:  # a quartile at 0 (recency of last-day buyers): linear near 0, log above
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xticks(pos, [str(j) for j in segments])
        ax.set_xlim(-0.6, len(segments) - 0.4)
        ax.set_title(f"{name} ({units.get(name, '')})" if units.get(name) else name, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.supxlabel("segment (dot: median; bar: quartiles)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def _part_lines(title: str, part: dict[str, Any], who: str) -> list[str]:
    names = part["features"]
    widths = [max(len(n), 7) for n in names]
    lines = [title, f"  K={part['k']} ({part['k_rule']}): {part['k_reason']}"]
    head = ["segment", " size", " share", *(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  " + "  ".join(head) + "   (medians)")
    for p in part["segments"]:
        cells = [f"{p['segment']:>7}", f"{p['size']:>5}", f"{p['share']:>6.1%}"]
        cells += [_short(p["median"][n]).rjust(w) for n, w in zip(names, widths, strict=True)]
        lines.append("  " + "  ".join(cells))
    lines.append(
        f"  {part['n_unusual']} unusual {who} (over {N_SIGMA:g} sigma from their centre); "
        f"silhouette {part['metrics']['silhouette']:.3f}"
    )
    return lines


def _short(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"
