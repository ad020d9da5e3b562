"""The report page: one self-contained HTML file (inline CSS, figures as data URIs, no script).

Every string that comes from data (feature names, explanations, reasons, the
title) goes through :func:`html.escape`; numbers are formatted by the helpers
below, so the page and its tests agree on how a number reads.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import numpy as np

from .. import __version__
from ._figures import ReportFigure

__all__ = [
    "clustering_section",
    "clustering_summary",
    "detection_section",
    "detection_summary",
    "fmt_log_epsilon",
    "fmt_metric",
    "render_page",
]

#: Rows of the top-anomalies and outliers tables shown on the page (the CSVs hold all).
TABLE_ROWS = 20
#: Features above which the cluster-centre table starts folded.
FOLD_CENTRES_ABOVE = 8


def fmt_metric(value: float | None) -> str:
    """Scores in [0, 1] (F1, precision, recall, AUCs, shares): three decimals."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def fmt_log_epsilon(value: float) -> str:
    """Log-epsilon (and other log-densities) as the CLI prints them: six significant digits."""
    return f"{value:.6g}"


def fmt_number(value: float | None, spec: str = ".4g") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _fmt_epsilon(log_epsilon: float) -> str:
    """Epsilon itself as HTML, ``1.34 × 10<sup>-10</sup>``; from its logarithm when it underflows."""
    eps = math.exp(log_epsilon)
    if eps > 0 and 1e-3 <= eps < 1e4:
        return escape(f"{eps:.4g}")
    exponent = math.floor(log_epsilon / math.log(10))
    mantissa = float(f"{10 ** (log_epsilon / math.log(10) - exponent):.3g}")
    if mantissa >= 10:  # 9.9996 rounds to 10
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.3g} &times; 10<sup>{exponent}</sup>"


def _tile(value: str, label: str, *, note: str = "") -> str:
    extra = f'<span class="note">{note}</span>' if note else ""
    return (
        f'<div class="tile"><span class="value">{value}</span>'
        f'<span class="label">{label}</span>{extra}</div>'
    )


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", raw: bool = False
) -> str:
    """A table; cells are escaped unless ``raw`` (when the caller built safe HTML)."""
    cell = (lambda c: c) if raw else escape
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chips(text: str) -> str:
    """``"DS=+4.1σ; AC=-3.2σ"`` as one escaped chip per feature."""
    parts = [p.strip() for p in str(text).split(";") if p.strip()]
    return "".join(f'<span class="chip">{escape(p)}</span>' for p in parts) or "&ndash;"


def _figure(fig: ReportFigure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="fig-{escape(fig.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(fig.title)}" width="832" height="546">'
        f"<figcaption><strong>{escape(fig.title)}.</strong> {escape(fig.caption)}"
        f'<span class="file">figures/{escape(fig.name)}.png</span></figcaption></figure>'
    )


def _figures(figs: Sequence[ReportFigure]) -> str:
    return f'<div class="figures">{"".join(_figure(f) for f in figs)}</div>' if figs else ""


def _swatch(j: int, colours: Sequence[str]) -> str:
    colour = escape(colours[j % len(colours)])
    return f'<span class="swatch" style="background:{colour}"></span>{j}'


# ---------------------------------------------------------------------------- detection


def _threshold_story(detection: Any, summary: dict[str, Any]) -> str:
    source = detection.threshold_source
    validation = detection.validation
    if source == "validation" and validation is not None:
        name = "F1" if validation.metric == "f1" else f"F-beta (beta = {validation.beta:g})"
        n_val = validation.tp + validation.fp + validation.fn + validation.tn
        return (
            f"chosen on {n_val} labelled validation rows, where it gives the highest "
            f"{escape(name)} ({escape(validation.method)} search; validation {escape(name)} "
            f"{fmt_metric(validation.score)}, optimistic since these rows chose it)"
        )
    if source == "epsilon":
        return "given explicitly"
    if source == "contamination":
        from ..detectors._gaussian import DEFAULT_CONTAMINATION

        rate = getattr(detection.detector, "contamination", "auto")
        rate = DEFAULT_CONTAMINATION if rate == "auto" else float(rate)
        return (
            f"set so that {rate:.1%} of the {summary['model']['n_train']} training rows "
            "score below it (contamination; no labelled rows chose it)"
        )
    return f"from {escape(str(source))}"


def detection_summary(detection: Any, summary: dict[str, Any]) -> str:
    """The detection card at the top: threshold, flags, test quality, confusion, bootstrap."""
    th = summary["threshold"]
    model = summary["model"]
    flagged = summary["flagged"]
    rows = escape(detection.flagged_on)
    cov = {"diag": "Independent-feature", "full": "Full-covariance"}.get(
        str(model.get("covariance")), escape(str(model.get("covariance")))
    )
    dropped = (
        f" ({model['n_train_dropped_anomalies']} labelled anomalies left out)"
        if model.get("n_train_dropped_anomalies")
        else ""
    )
    scaler = model.get("scaler")
    if scaler:
        steps = ["log1p"] if scaler.get("log") else []
        if scaler.get("method") not in (None, "none"):
            steps.append(f"{scaler['method']} scaling")
        dropped += f", on {escape(' then '.join(steps) or 'unscaled')} features"
    if model.get("n_train_robust_support") is not None:
        dropped += f"; robust: fitted on the {model['n_train_robust_support']} most typical rows"
    share = flagged["n_flagged"] / flagged["n_rows"] if flagged["n_rows"] else 0.0
    facts = [
        ("Model", f"{cov} Gaussian fitted on {model['n_train']} normal rows &times; "
                  f"{model['n_features']} features{dropped}"),
        ("Threshold", f"log &epsilon; = <b>{escape(fmt_log_epsilon(th['log_epsilon']))}</b> "
                      f"(&epsilon; = {_fmt_epsilon(th['log_epsilon'])})"),
        ("Where from", _threshold_story(detection, summary)),
        ("Flagged", f"<b>{flagged['n_flagged']}</b> of {flagged['n_rows']} {rows} rows "
                    f"({share:.1%})"),
    ]  # fmt: skip
    ev = summary.get("evaluation")
    boot = getattr(detection, "bootstrap", None)
    if boot is not None:
        level = f"{boot.level:.0%}"
        facts.append(
            (
                f"{level} bootstrap",
                f"test F1 in [{fmt_metric(boot.f1[0])}, {fmt_metric(boot.f1[1])}], "
                f"log &epsilon; in [{escape(fmt_log_epsilon(boot.log_epsilon[0]))}, "
                f"{escape(fmt_log_epsilon(boot.log_epsilon[1]))}] "
                f"({boot.n_resamples} resamples of the validation and test rows)",
            )
        )
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    parts = [f'<dl class="facts">{dl}</dl>']
    if ev is not None:
        tiles = [
            _tile(fmt_metric(ev["f1"]), f"{rows} F1"),
            _tile(fmt_metric(ev["precision"]), "precision"),
            _tile(fmt_metric(ev["recall"]), "recall"),
            _tile(fmt_metric(ev["roc_auc"]), "ROC-AUC"),
            _tile(fmt_metric(ev["average_precision"]), "PR-AUC"),
        ]
        parts.append(
            f'<p class="lead">Quality on the {rows} rows, which did not choose epsilon:</p>'
            f'<div class="tiles">{"".join(tiles)}</div>'
        )
        parts.append(_confusion(ev))
    elif detection.labels is not None:
        parts.append(
            f'<p class="muted">No quality figures: the {rows} rows chose epsilon, so their '
            "F1 would flatter the model. Give separate test rows to measure it.</p>"
        )
    else:
        parts.append(f'<p class="muted">No quality figures: the {rows} rows have no labels.</p>')
    return (
        '<div class="card"><h3><a href="#detection">Anomaly detection</a></h3>'
        + "".join(parts)
        + "</div>"
    )


def _confusion(ev: dict[str, Any]) -> str:
    return (
        '<table class="confusion"><caption>Confusion matrix</caption>'
        "<thead><tr><th></th><th>flagged</th><th>not flagged</th></tr></thead><tbody>"
        f'<tr><th>labelled anomaly</th><td class="good">{ev["tp"]}<small>TP</small></td>'
        f'<td class="bad">{ev["fn"]}<small>FN</small></td></tr>'
        f'<tr><th>labelled normal</th><td class="bad">{ev["fp"]}<small>FP</small></td>'
        f'<td class="good">{ev["tn"]}<small>TN</small></td></tr>'
        "</tbody></table>"
    )


def detection_section(
    detection: Any, figs: Sequence[ReportFigure], top: list[dict[str, Any]]
) -> str:
    """Figures and the top-anomalies table."""
    rows = escape(detection.flagged_on)
    n = detection.n_flagged
    if top:
        label = {None: "&ndash;", 1: "anomaly", 0: "normal"}
        body = [
            (
                str(i + 1),
                str(a["source_row"]),
                escape(fmt_log_epsilon(a["log_density"])),
                label[a["label"]],
                _chips(a["top_features"]),
            )
            for i, a in enumerate(top[:TABLE_ROWS])
        ]
        which = f"The {len(body)} lowest-scored of the {n}" if n > len(body) else f"All {n}"
        table = (
            f"<p>{which} flagged {rows} rows, "
            "most anomalous first, with the features that push each one out (the "
            "z-score of each feature; for a full covariance, given the other features). "
            "All flagged rows, with their values, are in <code>anomalies.csv</code>.</p>"
            + _table(
                ("#", "row in data", "log-density", "label", "top features"),
                body,
                cls="data",
                raw=True,
            )
        )
    else:
        table = f"<p>No {rows} row scored below epsilon: nothing is flagged.</p>"
    return (
        '<section id="detection"><h2>Anomaly detection</h2>'
        + _figures(figs)
        + f'<h3 id="top-anomalies">Top anomalies</h3>{table}</section>'
    )


# ---------------------------------------------------------------------------- clustering


def _why_k(clustering: Any) -> str:
    selection = clustering.selection
    if selection is None:
        return f"K = {clustering.k} was given, not chosen from the criteria."
    note = getattr(clustering, "selection_note", None)
    if note:  # no clear K: the fallback says which K it took and why
        return escape(note)
    return escape(selection.reasons[0]) if selection.reasons else f"K = {clustering.k}."


def clustering_summary(clustering: Any) -> str:
    """The clustering card at the top: K and why, sizes, indices, outliers."""
    sizes = np.asarray(clustering.sizes)
    total = int(sizes.sum())
    size_text = ", ".join(f"{int(s)} ({s / max(total, 1):.1%})" for s in sizes)
    m = clustering.metrics
    facts = [
        ("Why this K", _why_k(clustering)),
        ("Sizes", f"{size_text} rows"),
        ("WCSS", escape(fmt_number(m.get("inertia"), ".6g"))),
    ]
    if clustering.is_outlier is None:
        outliers = "not flagged (no outlier rule was asked for)"
    else:
        outliers = (
            f"<b>{clustering.n_outliers}</b> of {total} rows, far from their own centre "
            "by their own cluster's spread"
        )
    facts.append(("Outliers", outliers))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    undefined = "undefined (one cluster)" if not clustering.can_score_silhouette else "n/a"
    tiles = [
        _tile(str(clustering.k), "clusters (K)"),
        _tile(fmt_number(m.get("silhouette"), ".3f"), "silhouette",
              note="-1 to 1, higher is better"),
        _tile(fmt_number(m.get("davies_bouldin"), ".3f"), "Davies-Bouldin",
              note="lower is better"),
        _tile(fmt_number(m.get("calinski_harabasz"), ".4g"), "Calinski-Harabasz",
              note="higher is better"),
    ]  # fmt: skip
    note = (
        ""
        if m.get("silhouette") is not None
        else f'<p class="muted">Silhouette, Davies-Bouldin and Calinski-Harabasz: {undefined}.</p>'
    )
    return (
        '<div class="card"><h3><a href="#clustering">Clustering</a></h3>'
        f'<dl class="facts">{dl}</dl><div class="tiles">{"".join(tiles)}</div>{note}</div>'
    )


def _criteria_table(selection: Any, k: int) -> str:
    votes = {
        "elbow": selection.elbow_k,
        "silhouette": selection.silhouette_k,
        "gap": selection.gap_k,
        "Davies-Bouldin": selection.davies_bouldin_k,
        "Calinski-Harabasz": selection.calinski_harabasz_k,
    }
    rows = []
    for i, kk in enumerate(np.asarray(selection.ks)):
        picked = ", ".join(name for name, v in votes.items() if v == kk)
        cls = ' class="chosen"' if int(kk) == k else ""
        cells = (
            str(int(kk)),
            fmt_number(float(selection.wcss[i]), ".6g"),
            fmt_number(float(selection.silhouette[i]), ".3f"),
            fmt_number(float(selection.davies_bouldin[i]), ".3f"),
            fmt_number(float(selection.calinski_harabasz[i]), ".4g"),
            fmt_number(float(selection.gap[i]), ".3f"),
            picked,
        )
        rows.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in ("K", "WCSS", "silhouette", "Davies-Bouldin", "Calinski-Harabasz", "gap",
                  "picked by")
    )  # fmt: skip
    reasons = "".join(f"<li>{escape(r)}</li>" for r in selection.reasons)
    return (
        f'<ul class="reasons">{reasons}</ul>'
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _profiles(clustering: Any, colours: Sequence[str]) -> str:
    profiles = list(getattr(clustering, "profiles", None) or [])
    if not profiles:
        sizes = np.asarray(clustering.sizes)
        total = max(int(sizes.sum()), 1)
        body = [(_swatch(j, colours), str(int(s)), f"{s / total:.1%}") for j, s in enumerate(sizes)]
        return _table(("cluster", "size", "share"), body, cls="data", raw=True)
    body = []
    for p in profiles:
        distinctive = "".join(
            f'<span class="chip">{escape(str(name))}={float(z):+.2f}&sigma;</span>'
            for name, z in list(p.get("distinctive") or [])[:4]
        )
        body.append(
            (
                _swatch(int(p["cluster"]), colours),
                str(int(p["size"])),
                f"{float(p['share']):.1%}",
                distinctive or "&ndash;",
            )
        )
    html = _table(
        ("cluster", "size", "share", "what sets it apart (centre vs overall mean, in SD)"),
        body,
        cls="data",
        raw=True,
    )
    names = list(profiles[0].get("center") or {})
    if names:
        head = ["feature", *(f"cluster {int(p['cluster'])}" for p in profiles)]
        rows = [
            (name, *(fmt_number(float(p["center"][name]), ".4g") for p in profiles))
            for name in names
        ]
        opened = "" if len(names) > FOLD_CENTRES_ABOVE else " open"
        html += (
            f"<details{opened}><summary>Centres in original units ({len(names)} features)"
            f"</summary>{_table(head, rows, cls='data narrow')}</details>"
        )
    return html


def clustering_section(
    clustering: Any,
    figs: Sequence[ReportFigure],
    outliers: list[dict[str, Any]],
    colours: Sequence[str],
) -> str:
    """Criteria, figures, profiles and the outlier table."""
    parts = ['<section id="clustering"><h2>Clustering</h2>']
    if clustering.selection is not None:
        parts.append("<h3>Choosing K</h3>" + _criteria_table(clustering.selection, clustering.k))
    parts.append(_figures(figs))
    parts.append('<h3 id="profiles">Cluster profiles</h3>' + _profiles(clustering, colours))
    if clustering.is_outlier is not None:
        parts.append('<h3 id="outliers">Outliers</h3>')
        if outliers:
            body = [
                (str(o["row"]), _swatch(o["cluster"], colours),
                 escape(fmt_number(o["distance"], ".4g")), _chips(o["top_features"]))
                for o in outliers[:TABLE_ROWS]
            ]  # fmt: skip
            parts.append(
                f"<p>{clustering.n_outliers} rows are outliers; the farthest from their "
                "centre first (all are in <code>outliers.csv</code>).</p>"
                + _table(("row", "cluster", "distance", "top features"), body, cls="data", raw=True)
            )
        else:
            parts.append("<p>No row is far enough from its centre to be an outlier.</p>")
    parts.append("</section>")
    return "".join(parts)


# ---------------------------------------------------------------------------- page


def render_page(
    title: str,
    *,
    summaries: Sequence[str],
    sections: Sequence[str],
    files: Sequence[str],
) -> str:
    """Assemble the page. ``summaries`` and ``sections`` are HTML built above."""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " &middot; ".join(
        f'<a href="#{i}">{label}</a>'
        for i, label in (("detection", "Anomaly detection"), ("clustering", "Clustering"))
        if any(f'id="{i}"' in s for s in sections)
    )
    file_list = "".join(f"<li><code>{escape(f)}</code></li>" for f in files)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="anomalykit {escape(__version__)}">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{escape(title)}</h1>
<p class="meta">anomalykit {escape(__version__)} &middot; {when} &middot; {nav}</p></header>
<main>
<section id="summary"><h2>Summary</h2><div class="cards">{"".join(summaries)}</div></section>
{"".join(sections)}
<section id="files"><h2>Files</h2><p>Next to this page (it needs none of them):</p>
<ul class="files">{file_list}</ul></section>
</main>
</body>
</html>
"""


CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #dfe3ea; --bg: #f6f7f9; --card: #fff;
        --accent: #1f5fa8; --good: #e7f4ea; --bad: #fbeaea; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
             Arial, sans-serif; }
header { background: #18324f; color: #fff; padding: 20px 32px 14px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 600; }
header .meta { margin: 0; color: #c9d6e6; font-size: 13px; }
header a { color: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 32px 40px; }
h2 { font-size: 21px; margin: 30px 0 12px; padding-bottom: 6px;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 22px 0 8px; }
a { color: var(--accent); }
code { font: 13px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 4px 20px 16px; }
.card h3 a { color: inherit; text-decoration: none; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0 0 10px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.lead { margin: 10px 0 6px; color: var(--muted); }
.muted { color: var(--muted); }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; margin: 6px 0 10px; }
.tile { flex: 1 1 80px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
        padding: 6px 10px; display: flex; flex-direction: column; }
.tile .value { font-size: 21px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .label { font-size: 12px; color: var(--muted); }
.tile .note { font-size: 11px; color: var(--muted); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.data { width: 100%; background: var(--card); border: 1px solid var(--line); font-size: 14px; }
table.data.narrow { width: auto; }
table.data th, table.data td { padding: 5px 10px; border-bottom: 1px solid var(--line);
                               text-align: left; vertical-align: top; }
table.data th { background: #eef1f5; font-weight: 600; }
table.data tbody tr:nth-child(even) { background: #fafbfc; }
table.data tr.chosen { background: #fff6d6; font-weight: 600; }
table.confusion { margin: 4px 0 6px; font-size: 14px; }
table.confusion caption { text-align: left; color: var(--muted); font-size: 13px; padding-bottom: 3px; }
table.confusion th, table.confusion td { border: 1px solid var(--line); padding: 4px 12px; }
table.confusion th { background: #eef1f5; font-weight: 600; }
table.confusion td { text-align: right; min-width: 86px; font-size: 16px; }
table.confusion td small { color: var(--muted); margin-left: 6px; font-size: 11px; }
table.confusion td.good { background: var(--good); }
table.confusion td.bad { background: var(--bad); }
.chip { display: inline-block; background: #eef1f5; border: 1px solid var(--line);
        border-radius: 10px; padding: 0 8px; margin: 1px 4px 1px 0; font-size: 13px;
        white-space: nowrap; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
          margin-right: 6px; vertical-align: -1px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 18px; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
         padding: 10px; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 13.5px; color: #39414e; margin-top: 6px; }
figcaption .file { display: block; color: var(--muted); font-size: 12px; margin-top: 2px; }
.reasons { margin: 0 0 10px; padding-left: 20px; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--accent); }
ul.files { columns: 2; }
"""
