"""Recipe ``skab``: industrial QA on the SKAB pump testbed, by SKAB's own protocol.

SKAB's outlier-detection leaderboard ("proposed leaderboard", README of
``waico/SKAB``) scores each detector the same way: for each of the 34 labelled
runs (every CSV file except ``anomaly-free``), fit on the run's first 400 rows,
flag the remaining rows, then pool the flags of all runs and compare them
row by row with the ``anomaly`` column:

- F1 = TP / (TP + (FN + FP) / 2),
- false-alarm rate FAR = 100 FP / (FP + TN) (%),
- missed-alarm rate MAR = 100 FN / (FN + TP) (%).

Every setting of every method here is fixed before the labels are read: the
threshold from the run's first 400 rows (a quantile of their log-densities)
or from a chi-square law, the features from the anomaly-free run and the
training rows. No label enters any choice; labels are read only to count
TP/FP/FN/TN at the end. ``docs/recipes/skab.md`` tells how the settings were
chosen and what else was tried.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ..detectors import GaussianDetector
from ..io import load_table, write_bytes_atomic, write_text_atomic
from ..metrics import evaluate_threshold
from ..preprocessing import FeatureScaler
from ._base import RecipeResult, find_data
from ._skab_features import SENSORS, WINDOW, window_features

__all__ = ["METHODS", "PUBLISHED", "Method", "MethodResult", "Run", "evaluate", "load_runs", "run"]

#: Rows each run is fitted on (SKAB's protocol); the rest of the run is scored.
N_TRAIN = 400
#: Labelled runs in SKAB v0.9: every CSV file except ``anomaly-free``.
N_RUNS = 34
#: The folders of labelled runs inside ``skab/``.
RUN_FOLDERS = ("valve1", "valve2", "other")
#: The label column scored by the outlier-detection leaderboard (not ``changepoint``).
LABEL = "anomaly"
#: The chi-square rule: flag a row when its squared Mahalanobis distance exceeds
#: this quantile of chi-square with one degree of freedom per feature (a 0.1 %
#: false-alarm probability per row if the features were Gaussian and stationary).
CHI2_LEVEL = 0.999
#: The share of training rows the plain model flags: its threshold is the 99 %
#: quantile of the training rows' log-densities (GaussianDetector's default).
TRAIN_CONTAMINATION = 0.01
#: Rows per pseudo-run when the anomaly-free file is cut into pieces the size of
#: a labelled run (median 1,144 rows) to measure false alarms on normal operation.
PSEUDO_RUN_ROWS = 1150
#: The run drawn in the trace figure, fixed before any result was seen: the
#: first run of the largest group (valve1, 16 of the 34 runs).
FIGURE_RUN = "valve1/0"
#: Per-row false-alarm probabilities of the chi-square rule swept for the
#: trade-off figure (after the fact: no setting is chosen from it).
TRADEOFF_ALPHAS = np.logspace(-0.5, -12, 24)
#: Resolution of the PNG figures.
DPI = 100

#: SKAB's published outlier-detection leaderboard: (algorithm, F1, FAR %, MAR %),
#: README of github.com/waico/SKAB at commit b2c0d46 (2024-08-11), "Proposed
#: Leaderboard", evaluated on the rows after each run's first 400.
PUBLISHED: tuple[tuple[str, float, float, float], ...] = (
    ("Perfect detector", 1.0, 0.0, 0.0),
    ("Conv-AE", 0.78, 13.55, 28.02),
    ("MSET", 0.78, 39.73, 14.13),
    ("T-squared+Q (PCA-based)", 0.76, 26.62, 24.92),
    ("LSTM-AE", 0.74, 29.96, 25.92),
    ("T-squared", 0.66, 19.21, 42.6),
    ("LSTM-VAE", 0.56, 9.13, 55.03),
    ("Vanilla LSTM", 0.54, 12.54, 59.53),
    ("Vanilla AE", 0.39, 2.59, 75.15),
    ("MSCRED", 0.36, 49.94, 69.88),
    ("Isolation forest", 0.29, 2.56, 82.89),
    ("Null detector", 0.0, 0.0, 100.0),
)


@dataclass(frozen=True)
class Run:
    """One labelled SKAB run: its name (``valve1/0``), sensor rows and labels."""

    name: str
    X: NDArray[np.float64]
    y: NDArray[np.int8]


@dataclass(frozen=True)
class Method:
    """One way to flag rows: which features, which threshold rule.

    ``threshold`` is ``"quantile"`` (the 99 % quantile of the training rows'
    log-densities) or ``"chi2"`` (:data:`CHI2_LEVEL` of chi-square).
    """

    key: str
    label: str
    windowed: bool
    threshold: str
    description: str


METHODS: tuple[Method, ...] = (
    Method(
        "gaussian",
        "Gaussian (plain)",
        windowed=False,
        threshold="quantile",
        description="the 8 sensors as they are; full covariance; threshold: 99% quantile "
        "of the training rows' log-densities",
    ),
    Method(
        "gaussian-chi2",
        "Gaussian, chi-square threshold",
        windowed=False,
        threshold="chi2",
        description="the 8 sensors as they are; full covariance; threshold: chi-square "
        f"{CHI2_LEVEL:g} quantile of the squared Mahalanobis distance",
    ),
    Method(
        "windowed",
        "Gaussian, window features",
        windowed=True,
        threshold="quantile",
        description=f"{WINDOW}-row window features; full covariance; threshold: 99% quantile "
        "of the training rows' log-densities",
    ),
    Method(
        "recipe",
        "Recipe: window features, chi-square",
        windowed=True,
        threshold="chi2",
        description=f"{WINDOW}-row window features; full covariance; threshold: chi-square "
        f"{CHI2_LEVEL:g} quantile of the squared Mahalanobis distance",
    ),
)


@dataclass(frozen=True)
class MethodResult:
    """A method's pooled score on SKAB's protocol, and its false alarms on the
    anomaly-free run cut into pseudo-runs (same protocol, no fault to find)."""

    key: str
    label: str
    description: str
    f1: float
    far: float
    mar: float
    tp: int
    fp: int
    fn: int
    tn: int
    normal_far: float
    per_run: tuple[dict[str, Any], ...]

    def row(self) -> dict[str, Any]:
        return {"algorithm": self.label, "f1": self.f1, "far": self.far, "mar": self.mar}


def skab_binary(tp: int, fp: int, fn: int, tn: int) -> tuple[float, float, float]:
    """SKAB's ``binary`` metric: F1, FAR % and MAR % from pooled counts (unrounded).

    Examples
    --------
    >>> skab_binary(tp=6, fp=2, fn=2, tn=8)
    (0.75, 20.0, 25.0)
    """
    f1 = tp / (tp + (fn + fp) / 2) if tp + fn + fp else 1.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return f1, far, mar


# --------------------------------------------------------------------------- data
def load_runs(folder: Path) -> tuple[list[Run], NDArray[np.float64]]:
    """The labelled runs (sorted by folder, then number) and the anomaly-free rows.

    ``folder`` holds ``skab/`` (the ``sensors`` data folder).
    """
    root = folder / "skab"
    runs = []
    for group in RUN_FOLDERS:
        files = sorted((root / group).glob("*.csv"), key=lambda p: (len(p.stem), p.stem))
        for path in files:
            table = load_table(path, columns=list(SENSORS), label_column=LABEL)
            assert table.y is not None  # the label column is required
            runs.append(Run(f"{group}/{path.stem}", table.X, table.y))
    if not runs:
        raise FileNotFoundError(f"{root} has no labelled runs in {', '.join(RUN_FOLDERS)}/.")
    free = load_table(
        root / "anomaly-free" / "anomaly-free.csv", columns=list(SENSORS), require_label=False
    )
    return runs, free.X


# ------------------------------------------------------------------------ methods
def decision_scores(X: NDArray[np.float64], method: Method) -> NDArray[np.float64]:
    """Fit ``method`` on the run's first :data:`N_TRAIN` rows and score the rest.

    Returns ``log p(x) - threshold`` for rows ``N_TRAIN:`` (negative = alarm).
    Window features are computed over the whole run from trailing windows, so
    the first test rows look back into the training rows, as a monitor would.
    """
    F = window_features(X)[0] if method.windowed else X
    train, test = F[:N_TRAIN], F[N_TRAIN:]
    scaler = FeatureScaler().fit(train)
    detector = GaussianDetector("full", contamination=TRAIN_CONTAMINATION)
    detector.fit(scaler.transform(train))
    if method.threshold == "chi2":
        # log p(x) = log p(mean) - d^2 / 2: the chi-square cut on d^2 as a log-density.
        top = float(detector.score_samples(detector.mean_[None, :])[0])
        detector.set_threshold(log_epsilon=top - 0.5 * stats.chi2.ppf(CHI2_LEVEL, F.shape[1]))
    return detector.decision_function(scaler.transform(test))


def normal_false_alarms(X_free: NDArray[np.float64], method: Method) -> float:
    """False-alarm rate (%) on the anomaly-free run cut into pseudo-runs of
    :data:`PSEUDO_RUN_ROWS` rows, each fitted on its first :data:`N_TRAIN`."""
    n = X_free.shape[0] // PSEUDO_RUN_ROWS
    flagged = total = 0
    for k in range(n):
        d = decision_scores(X_free[k * PSEUDO_RUN_ROWS : (k + 1) * PSEUDO_RUN_ROWS], method)
        flagged += int(np.sum(d < 0))
        total += d.shape[0]
    return 100.0 * flagged / total


def evaluate(
    runs: Sequence[Run], method: Method, X_free: NDArray[np.float64] | None = None
) -> tuple[MethodResult, list[NDArray[np.float64]]]:
    """Score ``method`` by SKAB's protocol; also return each run's decision scores."""
    decisions, labels, per_run = [], [], []
    for r in runs:
        d = decision_scores(r.X, method)
        y = r.y[N_TRAIN:]
        ev = evaluate_threshold(y, d, 0.0)
        f1, far, mar = skab_binary(ev.tp, ev.fp, ev.fn, ev.tn)
        per_run.append(
            {
                "run": r.name,
                "f1": f1,
                "far": far,
                "mar": mar,
                "tp": ev.tp,
                "fp": ev.fp,
                "fn": ev.fn,
                "tn": ev.tn,
            }
        )
        decisions.append(d)
        labels.append(y)
    ev = evaluate_threshold(np.concatenate(labels), np.concatenate(decisions), 0.0)
    f1, far, mar = skab_binary(ev.tp, ev.fp, ev.fn, ev.tn)
    normal = normal_false_alarms(X_free, method) if X_free is not None else float("nan")
    result = MethodResult(
        method.key,
        method.label,
        method.description,
        f1,
        far,
        mar,
        ev.tp,
        ev.fp,
        ev.fn,
        ev.tn,
        normal,
        tuple(per_run),
    )
    return result, decisions


def leaderboard(results: Sequence[MethodResult], always_alarm: dict[str, Any]) -> list[dict]:
    """Published rows and ours, by F1 (then lower FAR + MAR); ours marked ``ours=True``.

    F1 is rounded to 2 decimals and FAR/MAR to 2, as SKAB rounds them.
    """
    rows = [
        {"algorithm": a, "f1": f, "far": fa, "mar": m, "ours": False} for a, f, fa, m in PUBLISHED
    ]
    rows += [{**r.row(), "ours": True} for r in results]
    rows.append({**always_alarm, "ours": True})
    for row in rows:
        row["f1"], row["far"], row["mar"] = (round(row[k], 2) for k in ("f1", "far", "mar"))
    return sorted(rows, key=lambda r: (-r["f1"], r["far"] + r["mar"]))


def tradeoff(
    runs: Sequence[Run], decisions: Sequence[NDArray[np.float64]], n_features: int
) -> list[dict[str, float]]:
    """FAR and MAR of a chi-square method at every level of :data:`TRADEOFF_ALPHAS`.

    Drawn from the test labels *after* the settings were fixed, to show the
    whole trade-off the features allow; no setting is read off it.
    ``decisions`` are the method's scores at :data:`CHI2_LEVEL`: the squared
    distance is ``chi2(CHI2_LEVEL) - 2 * decision``.
    """
    cut = stats.chi2.ppf(CHI2_LEVEL, n_features)
    d2 = cut - 2.0 * np.concatenate(decisions)
    y = np.concatenate([r.y[N_TRAIN:] for r in runs]).astype(bool)
    rows = []
    for alpha in TRADEOFF_ALPHAS:
        flagged = d2 > stats.chi2.isf(alpha, n_features)
        tp, fp = int(np.sum(flagged & y)), int(np.sum(flagged & ~y))
        fn, tn = int(np.sum(~flagged & y)), int(np.sum(~flagged & ~y))
        f1, far, mar = skab_binary(tp, fp, fn, tn)
        rows.append({"alpha": float(alpha), "f1": f1, "far": far, "mar": mar})
    return rows


# ------------------------------------------------------------------------ figures
def _figures(
    out: Path,
    runs: Sequence[Run],
    board: list[dict],
    results: dict[str, MethodResult],
    decisions: dict[str, list[NDArray[np.float64]]],
    curves: dict[str, list[dict[str, float]]],
) -> dict[str, Path]:
    from matplotlib.figure import Figure

    files = {}

    def save(fig: Any, name: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        write_bytes_atomic(out / f"{name}.png", buf.getvalue())
        files[name] = out / f"{name}.png"

    # 1. The leaderboard as bars (without the perfect and null references).
    shown = [r for r in board if r["algorithm"] not in ("Perfect detector", "Null detector")][::-1]
    fig = Figure(figsize=(7.5, 0.3 * len(shown) + 1.0), layout="constrained")
    ax = fig.add_subplot()
    colours = [
        "tab:gray"
        if not r["ours"]
        else "navajowhite"
        if r["f1"] and r["mar"] == 0
        else "tab:orange"
        for r in shown
    ]
    ax.barh([r["algorithm"] for r in shown], [r["f1"] for r in shown], color=colours)
    for yy, r in enumerate(shown):
        ax.text(
            r["f1"] + 0.01,
            yy,
            f"{r['f1']:.2f}  FAR {r['far']:.0f}%  MAR {r['mar']:.0f}%",
            va="center",
            fontsize=7,
        )
    ax.set_xlim(0, 1.3)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("F1 (orange: anomalykit, no label used for any setting)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title("SKAB outlier detection: 34 runs, fit on each run's first 400 rows", fontsize=9)
    save(fig, "skab-leaderboard")

    # 2. One run's trace: sensors, true fault, rows flagged by the plain model and the recipe.
    index = next((i for i, r in enumerate(runs) if r.name == FIGURE_RUN), 0)
    r = runs[index]
    t = np.arange(r.X.shape[0])
    fig = Figure(figsize=(8.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    traces = ("Volume Flow RateRMS", "Current", "Accelerometer1RMS", "Thermocouple")
    for k, name in enumerate(traces):
        x = r.X[:, SENSORS.index(name)]
        z = (x - x[:N_TRAIN].mean()) / (x[:N_TRAIN].std() or 1.0)
        ax.plot(t, np.clip(z, -8, 8) / 4 + 2.5 * (len(traces) - k), lw=0.6, label=name)
    ax.fill_between(
        t,
        -1.6,
        11.5,
        where=r.y.astype(bool),
        color="tab:red",
        alpha=0.12,
        lw=0,
        label="fault (anomaly = 1)",
    )
    ax.axvline(N_TRAIN, color="k", lw=0.8, ls="--")
    ax.text(N_TRAIN / 2, 11.0, f"fit: first {N_TRAIN} rows", ha="center", fontsize=8)
    for level, key, name in ((0.0, "recipe", "recipe"), (-1.0, "gaussian", "plain")):
        flagged = t[N_TRAIN:][decisions[key][index] < 0]
        ax.plot(flagged, np.full(flagged.shape, level), "|", ms=6, color="tab:red")
        ax.text(-10, level, f"flagged, {name}", ha="right", va="center", fontsize=7)
    ax.set_yticks([])
    ax.set_xlim(-190, t[-1] + 5)
    ax.set_ylim(-1.6, 11.6)
    ax.set_xlabel(f"row (about 1 s apart) of run {r.name}; traces standardised on the fit rows")
    fig.legend(loc="outside upper center", ncols=5, fontsize=7, frameon=False)
    save(fig, "skab-run")

    # 3. Per-run F1: plain Gaussian against the recipe.
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    xs = np.arange(len(runs))
    for key, marker in (("gaussian", "o"), ("recipe", "s")):
        ax.plot(
            xs,
            [p["f1"] for p in results[key].per_run],
            marker,
            ms=4,
            ls="none",
            label=results[key].label,
        )
    ax.set_xticks(xs, [r.name for r in runs], rotation=90, fontsize=6)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("F1 of the run", fontsize=8)
    fig.legend(loc="outside upper center", ncols=2, fontsize=7, frameon=False)
    save(fig, "skab-runs")

    # 4. FAR against MAR: each method's whole threshold range, and the published points.
    fig = Figure(figsize=(6.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for key, colour in (("gaussian-chi2", "tab:blue"), ("recipe", "tab:orange")):
        c = curves[key]
        ax.plot(
            [q["far"] for q in c],
            [q["mar"] for q in c],
            "-",
            color=colour,
            lw=1,
            label=f"{'plain features' if key == 'gaussian-chi2' else 'window features'}, "
            "any chi-square level",
        )
    for key, marker in (
        ("gaussian", "o"),
        ("gaussian-chi2", "o"),
        ("windowed", "s"),
        ("recipe", "s"),
    ):
        res = results[key]
        ax.plot(res.far, res.mar, marker, color="tab:orange" if key == "recipe" else "k", ms=5)
        ax.annotate(
            res.label, (res.far, res.mar), xytext=(4, 3), textcoords="offset points", fontsize=6
        )
    for name, _, far, mar in PUBLISHED[1:-1]:
        ax.plot(far, mar, "x", color="tab:gray", ms=5)
        ax.annotate(
            name,
            (far, mar),
            xytext=(4, -8),
            textcoords="offset points",
            fontsize=6,
            color="dimgray",
        )
    ax.set_xlim(0, 70)
    ax.set_ylim(0, 90)
    ax.set_xlabel("false-alarm rate, %", fontsize=8)
    ax.set_ylabel("missed-alarm rate, %", fontsize=8)
    ax.set_title("Lower left is better; curves drawn after the settings were fixed", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    save(fig, "skab-tradeoff")
    return files


# ---------------------------------------------------------------------------- run
def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def run(data: str | Path | None, out: Path, *, random_state: int | None = 0) -> RecipeResult:
    """Score the plain Gaussian and the recipe on SKAB by SKAB's protocol.

    Parameters
    ----------
    data : str, Path or None
        The ``sensors`` folder (holding ``skab/``); default ``$ANOMALYKIT_DATA/sensors``.
    out : Path
        Folder for ``summary.json``, ``leaderboard.csv``, ``runs.csv`` and the
        figures ``skab-*.png`` (created if needed).
    random_state : ignored
        Every step is deterministic; kept for the recipes' common signature.

    Returns
    -------
    RecipeResult
    """
    folder = find_data("sensors", data, must_contain="skab/anomaly-free/anomaly-free.csv")
    runs, X_free = load_runs(folder)
    results: dict[str, MethodResult] = {}
    decisions: dict[str, list[NDArray[np.float64]]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for method in METHODS:
            results[method.key], decisions[method.key] = evaluate(runs, method, X_free)
    notes = sorted({str(w.message) for w in caught})

    y_test = np.concatenate([r.y[N_TRAIN:] for r in runs])
    n_pos = int(y_test.sum())
    n_neg = int(y_test.shape[0] - n_pos)
    f1, far, mar = skab_binary(n_pos, n_neg, 0, 0)
    always = {"algorithm": "Always alarm (reference)", "f1": f1, "far": far, "mar": mar}
    board = leaderboard(list(results.values()), always)
    n_features = {
        m.key: window_features(runs[0].X[:1])[0].shape[1] if m.windowed else runs[0].X.shape[1]
        for m in METHODS
    }
    curves = {
        m.key: tradeoff(runs, decisions[m.key], n_features[m.key])
        for m in METHODS
        if m.threshold == "chi2"
    }

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    figure_note = None
    try:
        files.update(_figures(out, runs, board, results, decisions, curves))
    except ImportError:
        figure_note = "figures skipped: matplotlib is not installed (pip install anomalykit[plot])"
    write_text_atomic(out / "leaderboard.csv", _csv(board))
    files["leaderboard"] = out / "leaderboard.csv"
    per_run = [{"method": res.key, **p} for res in results.values() for p in res.per_run]
    write_text_atomic(out / "runs.csv", _csv(per_run))
    files["runs"] = out / "runs.csv"

    summary = {
        "recipe": "skab",
        "data": str(folder),
        "protocol": {
            "runs": len(runs),
            "complete": len(runs) == N_RUNS,
            "fit_rows_per_run": N_TRAIN,
            "label": LABEL,
            "test_rows": int(y_test.shape[0]),
            "test_anomalies": n_pos,
            "metric": "pooled over runs: F1 = TP/(TP+(FN+FP)/2), FAR = 100 FP/(FP+TN), "
            "MAR = 100 FN/(FN+TP)",
        },
        "settings": {
            "window": WINDOW,
            "chi2_level": CHI2_LEVEL,
            "train_contamination": TRAIN_CONTAMINATION,
            "pseudo_run_rows": PSEUDO_RUN_ROWS,
        },
        "methods": {
            k: {key: v for key, v in asdict(res).items() if key != "per_run"}
            for k, res in results.items()
        },
        "always_alarm": always,
        "tradeoff_after_the_fact": curves,
        "leaderboard": board,
        "published_source": "github.com/waico/SKAB README @ b2c0d46 (2024-08-11), "
        "Proposed Leaderboard, outlier detection",
        "warnings": notes,
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    files["summary"] = out / "summary.json"

    plain, recipe = results["gaussian"], results["recipe"]
    lines = [
        f"SKAB, outlier detection: {len(runs)} runs, each fitted on its first {N_TRAIN} rows; "
        f"{y_test.shape[0]:,} rows scored ({n_pos:,} anomalous)."
        + ("" if len(runs) == N_RUNS else f" NOT the {N_RUNS} runs of the leaderboard."),
        "",
        f"  {'algorithm':<36} {'F1':>5} {'FAR %':>6} {'MAR %':>6}",
    ]
    for row in board:
        mark = "*" if row["ours"] else " "
        lines.append(
            f"{mark} {row['algorithm']:<36} {row['f1']:>5.2f} {row['far']:>6.2f} {row['mar']:>6.2f}"
        )
    lines += [
        "",
        "* anomalykit, every setting fixed without labels. False alarms on the anomaly-free "
        f"run (same protocol): plain {plain.normal_far:.1f}%, recipe {recipe.normal_far:.1f}%.",
        f"Recipe: {recipe.description}.",
        f"Wrote {out}/summary.json, leaderboard.csv, runs.csv"
        + (", skab-*.png" if figure_note is None else f"; {figure_note}"),
    ]
    return RecipeResult("skab", summary, lines, files)
