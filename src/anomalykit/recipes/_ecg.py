"""Healthcare: abnormal heartbeats. A full-covariance Gaussian with Ledoit-Wolf
shrinkage fitted on normal beats, epsilon chosen by F1 on validation rows,
reported on test rows never used for any choice:

- UCR ECG200 (96 samples a beat): the archive's TRAIN/TEST split is kept;
  normal TRAIN beats are fitted, epsilon is chosen on a validation part carved
  out of TRAIN, TEST only reports.
- UCR ECG5000, TRAIN file only (140 samples a beat): the workflow's split.
- ODDS arrhythmia (274 ECG-derived measurements, 452 patients): the
  workflow's split; features standardised on the training rows.

See ``docs/recipes/ecg.md``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._utils._random import as_generator
from ..report import write_report
from ..workflow import AnomalySplit, DetectionReport, anomaly_split, detect_anomalies
from ._base import RecipeResult, find_data

__all__ = ["run"]

FOLDER = "ecg"
ECG200 = ("ECG200_TRAIN.txt", "ECG200_TEST.txt")
ECG5000 = "ECG5000_TRAIN.txt"
ARRHYTHMIA = "arrhythmia.mat"
#: Share of ECG200's normal TRAIN beats that fit the density; the other normal
#: TRAIN beats and every abnormal TRAIN beat form the validation rows.
FIT_SHARE = 0.6
#: Bootstrap replicates of the test F1 interval (the workflow's default).
N_BOOTSTRAP = 1000
#: The model, fixed before any result was seen: full covariance, shrunk (d is
#: close to or above the number of normal training beats).
MODEL = {"covariance": "full", "shrinkage": "ledoit-wolf"}
TITLES = {
    "ecg200": "UCR ECG200 (given TRAIN/TEST split)",
    "ecg5000": "UCR ECG5000 (TRAIN file, workflow split)",
    "arrhythmia": "ODDS arrhythmia (workflow split)",
}


@dataclass(frozen=True)
class HeartbeatResult:
    """One data set: its report and how its rows were used."""

    name: str
    report: DetectionReport
    counts: dict[str, int]
    n_features: int
    dropped_features: int = 0


def load_ucr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A UCR text file: the class in column 0, then the samples of one beat."""
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    return table[:, 1:], table[:, 0]


def load_arrhythmia(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    mat = loadmat(path)
    return np.asarray(mat["X"], dtype=np.float64), np.asarray(mat["y"]).ravel().astype(np.int8)


def carve_validation(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fit rows (a random ``FIT_SHARE`` of the normal rows) and validation rows
    (the other normal rows and every anomaly): positions into ``y``."""
    normal = rng.permutation(np.flatnonzero(y == 0))
    n_fit = round(FIT_SHARE * normal.size)
    fit = np.sort(normal[:n_fit])
    val = np.sort(np.concatenate((normal[n_fit:], np.flatnonzero(y == 1))))
    return fit, val


def beat_names(n: int) -> list[str]:
    return [f"t{j}" for j in range(n)]


def ecg200(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    random_state: Any = 0,
) -> HeartbeatResult:
    """Fit on normal TRAIN beats, choose epsilon on the rest of TRAIN, report on TEST.

    Labels are 0/1 (1 = myocardial infarction). TEST rows enter only the
    final scoring.
    """
    fit, val = carve_validation(y_train, as_generator(random_state))
    report = detect_anomalies(
        X_train[fit],
        X_val=X_train[val],
        y_val=y_train[val],
        X_test=X_test,
        y_test=y_test,
        n_bootstrap=N_BOOTSTRAP,
        random_state=random_state,
        feature_names=beat_names(X_train.shape[1]),
        **MODEL,
    )
    counts = {
        "train_normal": int(fit.size),
        "validation": int(val.size),
        "validation_anomalies": int(y_train[val].sum()),
        "test": int(y_test.size),
        "test_anomalies": int(y_test.sum()),
    }
    return HeartbeatResult("ecg200", report, counts, X_train.shape[1])


def detect(
    name: str,
    parts: AnomalySplit,
    *,
    random_state: Any = 0,
    scale: str | None = None,
    drop_constant: bool = False,
) -> HeartbeatResult:
    """The workflow on a given split (``anomaly_split``): exactly
    ``detect_anomalies(X, y_train=y, ...)``, with the split passed in so that a
    test can prove the test labels play no part.

    ``drop_constant`` leaves out the features that are constant on the normal
    training rows (they carry no variation to model; decided from the training
    rows only).
    """
    keep = np.arange(parts.X_train.shape[1])
    if drop_constant:
        keep = np.flatnonzero(np.ptp(parts.X_train, axis=0) > 0)
    dropped = parts.X_train.shape[1] - keep.size
    report = detect_anomalies(
        parts.X_train[:, keep],
        X_val=parts.X_val[:, keep],
        y_val=parts.y_val,
        X_test=parts.X_test[:, keep],
        y_test=parts.y_test,
        scale=scale,
        n_bootstrap=N_BOOTSTRAP,
        random_state=random_state,
        feature_names=[f"x{j}" for j in keep],  # columns of the data file
        **MODEL,
    )
    counts = {
        "train_normal": len(parts.X_train),
        "validation": len(parts.X_val),
        "validation_anomalies": int(parts.y_val.sum()),
        "test": len(parts.X_test),
        "test_anomalies": int(parts.y_test.sum()),
    }
    report = replace(report, source_rows=parts.test_index)  # rows of the data file
    return HeartbeatResult(name, report, counts, parts.X_train.shape[1], dropped)


def evaluate_all(folder: Path, odds: Path, *, random_state: Any = 0) -> list[HeartbeatResult]:
    """The three data sets, each with its own protocol."""
    X_tr, c_tr = load_ucr(folder / ECG200[0])
    X_te, c_te = load_ucr(folder / ECG200[1])
    # ECG200: 1 = normal, -1 = myocardial infarction.
    results = [
        ecg200(X_tr, (c_tr == -1).astype(np.int8), X_te, (c_te == -1).astype(np.int8),
               random_state=random_state)
    ]  # fmt: skip
    X, c = load_ucr(folder / ECG5000)
    y = (c != 1).astype(np.int8)  # 1 = normal; 2-5 are abnormal beat types
    parts = anomaly_split(X, y, random_state=random_state)
    results.append(detect("ecg5000", parts, random_state=random_state))
    X, y = load_arrhythmia(odds)
    parts = anomaly_split(X, y, random_state=random_state)
    results.append(
        detect("arrhythmia", parts, random_state=random_state, scale="standard", drop_constant=True)
    )
    return results


def locate(data: str | Path | None) -> tuple[Path, Path]:
    """The UCR folder, and ``arrhythmia.mat`` (in that folder or in ``../odds``)."""
    folder = find_data(FOLDER, data, must_contain=ECG200[0])
    for file in (*ECG200, ECG5000):
        if not (folder / file).is_file():
            raise FileNotFoundError(
                f"{folder} has no {file}; the recipe needs {', '.join((*ECG200, ECG5000))} "
                "(see docs/recipes/ecg.md)."
            )
    for candidate in (folder / ARRHYTHMIA, folder.parent / "odds" / ARRHYTHMIA):
        if candidate.is_file():
            return folder, candidate
    raise FileNotFoundError(
        f"{ARRHYTHMIA} (ODDS) was found neither in {folder} nor in {folder.parent / 'odds'}; "
        "put it next to the ECG files (see docs/recipes/ecg.md)."
    )


def row_of(res: HeartbeatResult) -> dict[str, Any]:
    ev = res.report.evaluation
    boot = res.report.bootstrap
    return {
        "dataset": res.name,
        **res.counts,
        "n_features": res.n_features - res.dropped_features,
        "shrinkage": float(res.report.detector.shrinkage_),
        "log_epsilon": float(res.report.detector.offset_),
        "validation_f1": float(res.report.validation.f1),
        "test_precision": ev.precision,
        "test_recall": ev.recall,
        "test_f1": ev.f1,
        "test_f1_ci_low": None if boot is None else boot.f1[0],
        "test_f1_ci_high": None if boot is None else boot.f1[1],
        "test_roc_auc": ev.roc_auc,
        "test_pr_auc": ev.average_precision,
    }


def run(data: str | Path | None, out: Path, *, random_state: Any = 0) -> RecipeResult:
    """Run the recipe on ``data`` (the ECG folder), writing into ``out``."""
    folder, odds = locate(data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = evaluate_all(folder, odds, random_state=random_state)
    files: dict[str, Path] = {}
    table = []
    for res in results:
        written = write_report(out / res.name, detection=res.report, title=TITLES[res.name])
        files[f"{res.name}_report"] = written.html
        table.append(row_of(res))
    files.update(write_figures(results, folder, out))
    summary = {
        "recipe": "ecg",
        "random_state": random_state if isinstance(random_state, int) else None,
        "model": "GaussianDetector(covariance='full', shrinkage='ledoit-wolf')",
        "features": {
            "ecg200": "the 96 samples of each beat (z-normalised by UCR), as they are",
            "ecg5000": "the 140 samples of each beat (z-normalised by UCR), as they are",
            "arrhythmia": "the 274 ODDS features, standardised on the normal training rows; "
            "features constant on those rows dropped",
        },
        "protocol": {
            "ecg200": "fit: 60% of TRAIN's normal beats; epsilon: F1 on the other TRAIN "
            "beats; report: TEST",
            "ecg5000": "anomaly_split 60/20/20 of the normal beats, abnormal beats 50/50 "
            "between validation and test",
            "arrhythmia": "as ecg5000",
        },
        "datasets": {row["dataset"]: row for row in table},
    }
    files["summary"] = out / "summary.json"
    files["summary"].write_text(
        json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    files["results"] = out / "results.csv"
    with open(files["results"], "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(table[0]), lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return RecipeResult("ecg", summary, render(table, out), files)


def render(table: list[dict[str, Any]], out: Path) -> list[str]:
    head = (
        f"{'data':<10} {'fit':>4} {'val (abn)':>11} {'test (abn)':>11} {'d':>4} "
        f"{'prec':>6} {'recall':>6} {'F1':>6} {'F1 95% CI':>12} {'ROC-AUC':>7}"
    )
    lines = [
        "Abnormal heartbeats: full-covariance Gaussian (Ledoit-Wolf) on normal beats, "
        "epsilon by F1 on validation; scores on test rows.",
        head,
        "-" * len(head),
    ]
    for r in table:
        ci = f"{r['test_f1_ci_low']:.2f}-{r['test_f1_ci_high']:.2f}"
        lines.append(
            f"{r['dataset']:<10} {r['train_normal']:>4} "
            f"{r['validation']:>5} ({r['validation_anomalies']:>3}) "
            f"{r['test']:>5} ({r['test_anomalies']:>3}) {r['n_features']:>4} "
            f"{r['test_precision']:>6.3f} {r['test_recall']:>6.3f} {r['test_f1']:>6.3f} "
            f"{ci:>12} {r['test_roc_auc']:>7.4f}"
        )
    lines.append("Reports: " + ", ".join(str(out / r["dataset"] / "report.html") for r in table))
    return lines


def write_figures(results: list[HeartbeatResult], folder: Path, out: Path) -> dict[str, Path]:
    """``ecg-beats.png`` (normal band and the most anomalous test beats) and
    ``ecg-scores.png`` (test log-densities by class, relative to epsilon, on a
    symmetric log axis: the abnormal tail is hundreds of units long)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 3.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, res in zip(axes, results[:2], strict=True):
        det = res.report.detector
        mean, sd = det.mean_, np.sqrt(det.var_)
        t = np.arange(mean.size)
        ax.fill_between(t, mean - 2 * sd, mean + 2 * sd, color="0.85", label="normal: mean ± 2 sd")
        ax.plot(t, mean, color="0.4", lw=1)
        top = res.report.top_anomalies(3)
        n_abnormal = sum(entry["label"] == 1 for entry in top)
        for k, entry in enumerate(top):
            label = (
                f"{len(top)} lowest-density test beats ({n_abnormal} abnormal)" if k == 0 else None
            )
            ax.plot(t, res.report.rows[entry["row"]], lw=1, color=f"C{k + 1}", label=label)
        ax.set(title=TITLES[res.name].split(" (")[0], xlabel="sample")
        ax.legend(fontsize=6.5, loc="upper right", framealpha=0.9)
    axes[0].set_ylabel("z-normalised amplitude")
    paths = {"beats_figure": out / "ecg-beats.png"}
    fig.savefig(paths["beats_figure"], dpi=90, metadata={"Software": None})

    fig = Figure(figsize=(7.2, 2.6), layout="constrained")
    axes = fig.subplots(1, len(results))
    for ax, res in zip(axes, results, strict=True):
        r = res.report
        margin = r.scores - r.detector.offset_  # < 0: flagged
        ends = _symlog(np.array([margin.min(), margin.max()]))
        bins = _symlog_inverse(np.linspace(ends[0], ends[1], 30))
        for label, colour, name in ((0, "C0", "normal"), (1, "C3", "abnormal")):
            ax.hist(margin[r.labels == label], bins=bins, alpha=0.6, color=colour, label=name)
        ax.axvline(0.0, color="black", lw=1, label="epsilon")
        ax.set_xscale("symlog", linthresh=1.0)
        ticks = [t for t in (-1e4, -1e2, -1.0, 0.0, 1.0, 1e2) if bins[0] <= t <= bins[-1]]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7)
        ax.set(title=res.name, xlabel="log p(x) - log epsilon (test)")
    axes[0].set_ylabel("test rows")
    axes[0].legend(fontsize=6.5)
    paths["scores_figure"] = out / "ecg-scores.png"
    fig.savefig(paths["scores_figure"], dpi=90, metadata={"Software": None})
    return paths


def _symlog(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log10(1.0 + np.abs(v))


def _symlog_inverse(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * (10.0 ** np.abs(v) - 1.0)
