"""Network intrusion: KDD Cup 99 ``http`` and ``smtp`` (ADBench), one
full-covariance Gaussian fitted on normal connections, two ways to set its
threshold:

(a) no labels, with a guarantee: each test row's squared Mahalanobis distance
    against chi-square(3) gives a p-value; Benjamini-Hochberg at a false
    discovery rate ``q`` fixed beforehand flags rows. The same with
    conformal p-values (from held-out normal training rows) shows what an
    honest guarantee costs when the Gaussian is wrong.
(b) epsilon by F1 on labelled validation rows (:func:`detect_anomalies`).

Both are judged on the same test rows. See ``docs/recipes/intrusion.md``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from .._utils._random import as_generator
from ..detectors import GaussianDetector
from ..report import write_report
from ..thresholds import FDRResult, conformal_pvalues, fdr_threshold, mahalanobis_pvalues
from ..workflow import AnomalySplit, DetectionReport, anomaly_split, detect_anomalies
from ._base import RecipeResult, find_data

__all__ = ["run"]

FOLDER = "adbench"
#: Data set -> file in ADBench's ``Classical`` folder.
FILES = {"http": "16_http.npz", "smtp": "34_smtp.npz"}
#: The three KDD Cup 99 features ODDS kept, each already ``log(x + 0.1)`` in the files.
FEATURES = ["duration", "src_bytes", "dst_bytes"]
#: False discovery rate of the label-free threshold, fixed before any result was seen.
FDR_Q = 0.01
#: Bootstrap replicates of the test F1 interval. Fewer than the workflow's 1000:
#: each replicate resamples ~230,000 http rows, and 200 already pin the 95%
#: interval's ends to about +-0.002 of F1 there.
N_BOOTSTRAP = 200
#: Nominal q of the realised-FDR figure (not used to choose anything).
Q_GRID = np.geomspace(1e-4, 0.3, 40)


@dataclass(frozen=True)
class IntrusionResult:
    """One data set: the workflow's report and the two label-free flaggings."""

    name: str
    parts: AnomalySplit
    report: DetectionReport
    chi2: FDRResult
    conformal: FDRResult
    conformal_scores: np.ndarray
    train_d2: np.ndarray


def load(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (float64) and ``y`` (0/1) of ``http`` or ``smtp``."""
    with np.load(folder / FILES[name]) as data:
        return np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).astype(np.int8)


def detect(parts: AnomalySplit, *, random_state: Any = 0) -> DetectionReport:
    """(b): fit on the normal training rows, epsilon by F1 on validation, judged on test.

    Exactly ``detect_anomalies(X, y_train=y, covariance="full")``, with the
    split passed in so that a test can prove the test labels play no part.
    """
    report = detect_anomalies(
        parts.X_train,
        X_val=parts.X_val,
        y_val=parts.y_val,
        X_test=parts.X_test,
        y_test=parts.y_test,
        covariance="full",
        n_bootstrap=N_BOOTSTRAP,
        random_state=random_state,
        feature_names=FEATURES,
    )
    return replace(report, source_rows=parts.test_index)  # rows of the .npz file


def chi2_flags(detector: GaussianDetector, X_test: np.ndarray, q: float = FDR_Q) -> FDRResult:
    """(a): chi-square p-values of the test rows, Benjamini-Hochberg at ``q``. No labels."""
    return fdr_threshold(mahalanobis_pvalues(detector, X_test), q)


def conformal_flags(
    X_train: np.ndarray, X_test: np.ndarray, rng: np.random.Generator, q: float = FDR_Q
) -> tuple[FDRResult, np.ndarray]:
    """(a'): fit on half the normal training rows, calibrate on the other half.

    Returns the flagging and the test rows' log-densities under that model.
    """
    order = rng.permutation(X_train.shape[0])
    half = X_train.shape[0] // 2
    model = GaussianDetector("full").fit(X_train[order[:half]])
    scores = model.score_samples(X_test)
    pvalues = conformal_pvalues(model.score_samples(X_train[order[half:]]), scores)
    return fdr_threshold(pvalues, q), scores


def evaluate(name: str, X: np.ndarray, y: np.ndarray, *, random_state: Any = 0) -> IntrusionResult:
    """The whole protocol on one data set.

    ``random_state`` seeds the split and the bootstrap as in
    ``detect_anomalies(X, y_train=y, random_state=random_state)`` (same rows,
    same epsilon), and the halving of the training rows for (a').
    """
    parts = anomaly_split(X, y, random_state=random_state)
    report = detect(parts, random_state=random_state)
    conformal, conformal_scores = conformal_flags(
        parts.X_train, parts.X_test, as_generator(random_state)
    )
    return IntrusionResult(
        name=name,
        parts=parts,
        report=report,
        chi2=chi2_flags(report.detector, parts.X_test),
        conformal=conformal,
        conformal_scores=conformal_scores,
        train_d2=report.detector.mahalanobis(parts.X_train),
    )


def flag_quality(y: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """Counts, precision, recall, F1 and the realised false discovery rate of a flagging."""
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    n = tp + fp
    return {
        "n_flagged": n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / n if n else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "realised_fdr": fp / n if n else 0.0,
    }


def method_rows(res: IntrusionResult) -> list[dict[str, Any]]:
    """One row per threshold, all on the test rows."""
    y = res.parts.y_test
    ev = res.report.evaluation
    auc = {"roc_auc": ev.roc_auc, "pr_auc": ev.average_precision}
    conformal_auc = {
        "roc_auc": float(roc_auc_score(y, -res.conformal_scores)),
        "pr_auc": float(average_precision_score(y, -res.conformal_scores)),
    }
    flagged_b = res.report.is_anomaly
    return [
        {"method": f"chi-square + BH, q={FDR_Q:g}", "labels": "none",
         **flag_quality(y, res.chi2.rejected), **auc},
        {"method": f"conformal + BH, q={FDR_Q:g}", "labels": "none",
         **flag_quality(y, res.conformal.rejected), **conformal_auc},
        {"method": "epsilon by F1 on validation", "labels": "validation",
         **flag_quality(y, flagged_b), **auc},
    ]  # fmt: skip


def summarise(res: IntrusionResult, rows: list[dict[str, Any]]) -> dict[str, Any]:
    p = res.parts
    det = res.report.detector
    d = len(FEATURES)
    cut = res.chi2.pvalue_threshold
    boot = res.report.bootstrap
    return {
        "file": FILES[res.name],
        "n_rows": int(len(p.X_train) + len(p.X_val) + len(p.X_test)),
        "n_anomalies": int(p.y_val.sum() + p.y_test.sum()),
        "split": {
            "train_normal": len(p.X_train),
            "validation": len(p.X_val),
            "validation_anomalies": int(p.y_val.sum()),
            "test": len(p.X_test),
            "test_anomalies": int(p.y_test.sum()),
        },
        "mean": dict(zip(FEATURES, det.mean_.tolist(), strict=True)),
        "log_epsilon": float(det.offset_),
        "chi2": {
            **res.chi2.to_dict(),
            # the same rule as a distance: flag D2 >= this (None when nothing is flagged)
            "d2_threshold": float(stats.chi2.isf(cut, d)) if cut > 0 else None,
        },
        "conformal": {
            **res.conformal.to_dict(),
            "n_calibration": len(p.X_train) - len(p.X_train) // 2,
        },
        "train_d2_quantiles": {
            str(level): float(np.quantile(res.train_d2, level)) for level in (0.5, 0.99, 0.999)
        },
        "chi2_quantiles": {
            str(level): float(stats.chi2.ppf(level, d)) for level in (0.5, 0.99, 0.999)
        },
        "train_share_beyond_chi2_999": float(np.mean(res.train_d2 > stats.chi2.ppf(0.999, d))),
        "bootstrap_f1": None if boot is None else list(boot.f1),
        "methods": rows,
    }


def run(data: str | Path | None, out: Path, *, random_state: Any = 0) -> RecipeResult:
    """Run the recipe on ``data`` (the ADBench folder), writing into ``out``."""
    folder = find_data(FOLDER, data, must_contain=FILES["http"])
    for file in FILES.values():
        if not (folder / file).is_file():
            raise FileNotFoundError(
                f"{folder} has no {file}; the recipe needs both {' and '.join(FILES.values())} "
                "from ADBench's Classical folder (see docs/recipes/intrusion.md)."
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, table, datasets = [], [], {}
    files: dict[str, Path] = {}
    for name in FILES:
        X, y = load(folder, name)
        res = evaluate(name, X, y, random_state=random_state)
        rows = method_rows(res)
        report_files = write_report(
            out / name, detection=res.report, title=f"KDD Cup 99 {name}: full-covariance Gaussian"
        )
        files[f"{name}_report"] = report_files.html
        datasets[name] = summarise(res, rows)
        table += [{"dataset": name, **row} for row in rows]
        results.append(res)

    files.update(write_figures(results, out))
    summary = {
        "recipe": "intrusion",
        "random_state": random_state if isinstance(random_state, int) else None,
        "features": FEATURES,
        "features_note": "each feature is log(x + 0.1) in the ADBench/ODDS files; used as is",
        "model": "GaussianDetector(covariance='full'), fitted on the normal training rows",
        "q": FDR_Q,
        "datasets": datasets,
    }
    files["summary"] = out / "summary.json"
    files["summary"].write_text(
        json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    files["results"] = out / "results.csv"
    write_csv(files["results"], table)
    return RecipeResult("intrusion", summary, render(table, datasets, out), files)


CSV_COLUMNS = [
    "dataset", "method", "labels", "n_flagged", "tp", "fp", "fn",
    "precision", "recall", "f1", "realised_fdr", "roc_auc", "pr_auc",
]  # fmt: skip


def write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


def render(table: list[dict[str, Any]], datasets: dict[str, Any], out: Path) -> list[str]:
    head = (
        f"{'data':<5} {'threshold':<28} {'labels':<10} {'flagged':>7} {'prec':>6} "
        f"{'recall':>6} {'F1':>6} {'FDR':>6} {'ROC-AUC':>7} {'PR-AUC':>6}"
    )
    lines = [
        "Network intrusion, KDD Cup 99 (ADBench): full-covariance Gaussian on log duration, "
        "src_bytes, dst_bytes; every number on the test rows.",
        head,
        "-" * len(head),
    ]
    for r in table:
        lines.append(
            f"{r['dataset']:<5} {r['method']:<28} {r['labels']:<10} {r['n_flagged']:>7} "
            f"{r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f} "
            f"{r['realised_fdr']:>6.3f} {r['roc_auc']:>7.4f} {r['pr_auc']:>6.4f}"
        )
    for name, d in datasets.items():
        s = d["split"]
        lo_hi = d["bootstrap_f1"]
        ci = "" if lo_hi is None else f"; test F1 95% CI {lo_hi[0]:.3f}-{lo_hi[1]:.3f}"
        lines.append(
            f"{name}: train {s['train_normal']} normal, validation {s['validation']} "
            f"({s['validation_anomalies']} attacks), test {s['test']} ({s['test_anomalies']} "
            f"attacks){ci}; normal rows beyond chi-square's 99.9% point: "
            f"{d['train_share_beyond_chi2_999']:.2%} (0.1% if Gaussian)."
        )
    lines.append(f"FDR = realised false discovery rate on test, to compare with q = {FDR_Q:g}.")
    lines.append(f"Reports: {out / 'http' / 'report.html'}, {out / 'smtp' / 'report.html'}")
    return lines


def write_figures(results: list[IntrusionResult], out: Path) -> dict[str, Path]:
    """``intrusion-fdr.png`` (realised FDR and recall against q) and
    ``intrusion-tail.png`` (distance tails of the normal training rows)."""
    from matplotlib.figure import Figure

    d = len(FEATURES)
    fig = Figure(figsize=(7.2, 3.1), layout="constrained")
    ax_fdr, ax_rec = fig.subplots(1, 2)
    for res, colour in zip(results, ("C0", "C1"), strict=False):
        y = res.parts.y_test == 1
        for kind, result, style in (
            ("chi-square", res.chi2, "-"),
            ("conformal", res.conformal, "--"),
        ):
            fdp, rec = [], []
            for q in Q_GRID:
                flagged = result.adjusted <= q
                n = int(flagged.sum())
                fdp.append(np.sum(flagged & ~y) / n if n else 0.0)
                rec.append(np.sum(flagged & y) / y.sum())
            label = f"{res.name}, {kind}"
            ax_fdr.plot(Q_GRID, fdp, style, color=colour, label=label)
            ax_rec.plot(Q_GRID, rec, style, color=colour, label=label)
    ax_fdr.plot(Q_GRID, Q_GRID, ":", color="grey", label="realised = q")
    ax_fdr.axvline(FDR_Q, color="grey", lw=0.6)
    ax_rec.axvline(FDR_Q, color="grey", lw=0.6)
    ax_fdr.set(xscale="log", xlabel="nominal FDR q", ylabel="realised FDR on test",
               title="Does the guarantee hold?")  # fmt: skip
    ax_rec.set(xscale="log", xlabel="nominal FDR q", ylabel="recall on test",
               title="What it catches")  # fmt: skip
    ax_fdr.legend(fontsize=6.5, loc="upper left")
    paths = {"fdr_figure": out / "intrusion-fdr.png"}
    fig.savefig(paths["fdr_figure"], dpi=90, metadata={"Software": None})

    fig = Figure(figsize=(4.8, 3.1), layout="constrained")
    ax = fig.subplots()
    grid = np.geomspace(0.1, 1e4, 200)
    for res, colour in zip(results, ("C0", "C1"), strict=False):
        s = np.sort(res.train_d2)
        share = 1.0 - np.searchsorted(s, grid, side="right") / s.size
        ax.step(grid, np.where(share > 0, share, np.nan), where="post", color=colour,
                label=f"{res.name}: normal training rows")  # fmt: skip
    ax.plot(grid, stats.chi2.sf(grid, d), ":", color="black", label=f"chi-square({d})")
    ax.set(xscale="log", yscale="log", ylim=(1e-6, 1.5), xlabel="squared Mahalanobis distance D2",
           ylabel="share of rows with a larger D2", title="Tails of the normal rows")  # fmt: skip
    ax.legend(fontsize=7)
    paths["tail_figure"] = out / "intrusion-tail.png"
    fig.savefig(paths["tail_figure"], dpi=90, metadata={"Software": None})
    return paths
