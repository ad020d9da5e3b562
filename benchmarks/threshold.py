"""Benchmark: exact F1 threshold selection against the guide's 1000-step scan.

Measured, on the same labelled scores at each size n:

* **guide loop** -- the product guide's scan, written out as the guide does it:
  ``for eps in np.linspace(p.min(), p.max(), 1000)``, predictions ``p < eps``,
  tp/fp/fn by ``np.sum`` over boolean masks, precision and recall, F1 as
  ``2 P R / (P + R)``, and the first strictly better F1 wins. Run on densities p.
* **sklearn PR curve** -- ``sklearn.metrics.precision_recall_curve(y, -log_p)``
  followed by the argmax of F1 over its points.
* **grid (ours)** -- ``select_threshold(y, p, method="grid")`` (1000 steps).
* **exact (ours)** -- ``select_threshold(y, log_p)``, i.e. ``method="exact"``.
* **exact + curve** -- the same, then reading ``.curve``, the metric at every
  distinct score (which the choice itself may not need; scikit-learn's curve
  above is always built).

Data: the scores of a d=20 standard Gaussian model. Normal rows are N(0, I);
about 2% are anomalies shifted by 1.5 sigma in every feature. The Mahalanobis
term is drawn from its closed form instead of fitting a model: for normal rows
the sum of d squared standard normals (chi-square, d degrees of freedom), for
anomalies the sum of d squared N(1.5, 1) (non-central chi-square,
non-centrality 20 * 1.5**2 = 45). Then ``log_p = -(d log(2 pi) + m) / 2`` and
``p = exp(log_p)``; these densities span some 20 orders of magnitude, which is
the case where a linear grid misses the optimum.

Each time is the median of ``--repeats`` runs (``time.perf_counter``); by
default the methods take turns, one run each per round, each after 0.3 s of
rest (``_common.time_runs``; ``--order blocked`` runs each method's repeats
back to back instead). The guide loop makes 1000 passes
over the data; above ``--max-loop-n`` rows it is timed on a single run
(``--large-loop once``, the default) or skipped (``--large-loop skip``). The F1 columns are each method's best F1 on the data.

Run::

    python benchmarks/threshold.py              # n = 1e4, 1e5, 1e6, 1e7
    python benchmarks/threshold.py --quick      # n = 1e4, 1e5; a few seconds
    python benchmarks/threshold.py --sizes 1e6 --repeats 3 --large-loop skip
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from _common import (
    environment_lines,
    fmt_n,
    fmt_time,
    load_average,
    markdown_table,
    parse_size,
    time_runs,
)
from sklearn.metrics import precision_recall_curve

from anomalykit import select_threshold

DIM = 20
ANOMALY_RATE = 0.02
SHIFT = 1.5
GUIDE_STEPS = 1000
DEFAULT_SIZES = (10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**4, 10**5)
# The expectation, checked at this size.
TARGET_N = 10**6
TARGET_SPEEDUP = 100.0


def make_scores(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (int8, 1 = anomaly), log-densities and densities of n rows."""
    y = (rng.random(n) < ANOMALY_RATE).astype(np.int8)
    anomaly = y == 1
    n_anomalies = int(anomaly.sum())
    maha = np.empty(n)
    maha[~anomaly] = rng.chisquare(DIM, n - n_anomalies)
    maha[anomaly] = rng.noncentral_chisquare(DIM, DIM * SHIFT**2, n_anomalies)
    log_p = -0.5 * (DIM * math.log(2.0 * math.pi) + maha)
    return y, log_p, np.exp(log_p)


def guide_loop(yval: np.ndarray, pval: np.ndarray) -> tuple[float, float]:
    """The guide's threshold scan, as written there: (best epsilon, best F1)."""
    best_epsilon = 0.0
    best_f1 = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where nothing is flagged
        for epsilon in np.linspace(pval.min(), pval.max(), GUIDE_STEPS):
            predictions = pval < epsilon
            tp = np.sum((predictions == 1) & (yval == 1))
            fp = np.sum((predictions == 1) & (yval == 0))
            fn = np.sum((predictions == 0) & (yval == 1))
            precision = tp / (tp + fp)
            recall = tp / (tp + fn)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                best_epsilon = epsilon
    return float(best_epsilon), float(best_f1)


def sklearn_pr_curve(y: np.ndarray, log_p: np.ndarray) -> tuple[float, float]:
    """Best F1 over scikit-learn's precision-recall curve: (log-threshold, F1).

    scikit-learn flags ``-log_p >= t``; the last curve point (P=1, R=0) has no threshold.
    """
    precision, recall, thresholds = precision_recall_curve(y, -log_p)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2.0 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    return float(-thresholds[best]), float(f1[best])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", type=parse_size, default=None, metavar="N",
        help="numbers of rows (default: 1e4 1e5 1e6 1e7; 1e4 1e5 with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed runs per method and size; the median is reported (default 5; 3 with --quick)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument(
        "--max-loop-n", type=parse_size, default=10**6, metavar="N",
        help="above this many rows the guide loop runs once or not at all (default 1e6)",
    )  # fmt: skip
    parser.add_argument(
        "--large-loop", choices=("once", "skip"), default="once",
        help="the guide loop above --max-loop-n: one timed run, or skipped (default once)",
    )  # fmt: skip
    parser.add_argument(
        "--order", choices=("turns", "blocked"), default="turns",
        help="methods take turns each round (default), or each runs its repeats back to back",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


SINGLE_RUN = "¹"


def measure(n: int, args: argparse.Namespace, rng: np.random.Generator) -> dict:
    """Time every method on one freshly drawn data set of n rows; run the checks."""
    y, log_p, p = make_scores(n, rng)
    repeats = args.repeats
    out: dict = {"n": n, "anomalies": int(y.sum()), "notes": [], "failures": []}

    loop_repeats = repeats if n <= args.max_loop_n else 1
    run_loop = n <= args.max_loop_n or args.large_loop == "once"
    tasks = {
        "loop": (lambda: guide_loop(y, p), loop_repeats if run_loop else 0),
        "sklearn": (lambda: sklearn_pr_curve(y, log_p), repeats),
        "grid": (lambda: select_threshold(y, p, method="grid"), repeats),
        "exact": (lambda: select_threshold(y, log_p), repeats),
        "exact_curve": (lambda: select_threshold(y, log_p).curve, repeats),
    }
    if not run_loop:
        del tasks["loop"]
    timed = time_runs(tasks, repeats, args.order)
    if run_loop:
        t_loop, (eps_loop, f1_loop) = timed["loop"]
    else:
        t_loop = eps_loop = f1_loop = None
    out.update(t_loop=t_loop, loop_single_run=run_loop and loop_repeats < repeats, f1_loop=f1_loop)
    out["t_sklearn"], (_, out["f1_sklearn"]) = timed["sklearn"]
    out["t_grid"], grid = timed["grid"]
    out["t_exact"], exact = timed["exact"]
    out["t_exact_curve"], curve = timed["exact_curve"]
    out["f1_grid"], out["f1_exact"] = grid.f1, exact.f1

    # Checks, not timed.
    on_p = select_threshold(y, p)
    if (on_p.f1, on_p.n_flagged) != (exact.f1, exact.n_flagged):
        out["failures"].append(
            f"n={fmt_n(n)}: exact on p gives F1 {on_p.f1!r} ({on_p.n_flagged} flagged), "
            f"on log p {exact.f1!r} ({exact.n_flagged} flagged)"
        )
    if not math.isclose(float(np.max(curve.fscore)), exact.score, rel_tol=1e-12):
        out["failures"].append(
            f"n={fmt_n(n)}: the best F1 on .curve, {float(np.max(curve.fscore))!r}, is not "
            f"the chosen one, {exact.score!r}"
        )
    if out["f1_sklearn"] > exact.f1 + 1e-12:
        out["failures"].append(
            f"n={fmt_n(n)}: sklearn's F1 {out['f1_sklearn']!r} exceeds exact's {exact.f1!r}"
        )
    if f1_loop is not None:
        # The guide's linspace(min, max, 1000) makes 999 steps.
        same = select_threshold(y, p, method="grid", n_steps=GUIDE_STEPS - 1)
        out["grid_999_matches_loop"] = math.isclose(
            same.f1, f1_loop, rel_tol=1e-12
        ) and math.isclose(same.threshold, eps_loop, rel_tol=1e-12)
        if not out["grid_999_matches_loop"]:
            out["notes"].append(
                f"n={fmt_n(n)}: select_threshold(method='grid', n_steps=999) gives F1 "
                f"{same.f1:.6f} at {same.threshold:.6g}; the guide loop {f1_loop:.6f} "
                f"at {eps_loop:.6g}."
            )
    return out


def table_row(r: dict) -> list[str]:
    if r["t_loop"] is None:
        loop_cell = "skipped"
    else:
        loop_cell = fmt_time(r["t_loop"]) + (SINGLE_RUN if r["loop_single_run"] else "")
    return [
        fmt_n(r["n"]),
        str(r["anomalies"]),
        loop_cell,
        fmt_time(r["t_sklearn"]),
        fmt_time(r["t_grid"]),
        fmt_time(r["t_exact"]),
        fmt_time(r["t_exact_curve"]),
        "-" if r["t_loop"] is None else f"{r['t_loop'] / r['t_exact']:.0f}x",
        "-" if r["f1_loop"] is None else f"{r['f1_loop']:.4f}",
        f"{r['f1_sklearn']:.4f}",
        f"{r['f1_grid']:.4f}",
        f"{r['f1_exact']:.4f}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    load_before = load_average()
    results = []
    for n in args.sizes:
        results.append(measure(n, args, rng))
        print(f"done n={fmt_n(n)}", file=sys.stderr, flush=True)

    header = [
        "n", "anomalies", "guide loop", "sklearn PR curve", "grid (ours)", "exact (ours)",
        "exact + curve", "exact vs loop", "F1 loop", "F1 sklearn", "F1 grid", "F1 exact",
    ]  # fmt: skip
    print("Threshold selection: best-F1 threshold on labelled scores")
    for line in environment_lines(load_before):
        print(line)
    print(
        f"data: d={DIM} Gaussian scores, ~{ANOMALY_RATE:.0%} anomalies shifted {SHIFT} sigma "
        f"per feature, seed {args.seed}; times are medians of {args.repeats} runs, "
        f"order: {args.order}"
    )
    print()
    print(markdown_table(header, [table_row(r) for r in results]))
    print()
    if any(r["loop_single_run"] for r in results):
        print(f"{SINGLE_RUN} guide loop timed on a single run (n > --max-loop-n).")
    if any(r["t_loop"] is None for r in results):
        print("skipped: guide loop not run (n > --max-loop-n and --large-loop skip).")
    print("guide loop and grid (ours) score densities p; sklearn PR curve and exact, log p.")
    failures = [f for r in results for f in r["failures"]]
    print(
        "exact gives the same F1 and flagged count on p as on log p: "
        + ("NO (below)." if any("exact on p" in f for f in failures) else "yes, at every n.")
    )
    compared = [r for r in results if "grid_999_matches_loop" in r]
    if compared and all(r["grid_999_matches_loop"] for r in compared):
        print(
            "select_threshold(method='grid', n_steps=999) reproduces the guide loop's F1 "
            "and threshold (to 1e-12 relative) at every n where the loop ran."
        )
    for r in results:
        for note in r["notes"]:
            print(note)
        if r["n"] == TARGET_N and r["t_loop"] is not None:
            speedup = r["t_loop"] / r["t_exact"]
            met = speedup >= TARGET_SPEEDUP and r["f1_exact"] >= r["f1_loop"]
            print(
                f"Expectation at n=1e6, exact >= {TARGET_SPEEDUP:.0f}x faster than the guide "
                f"loop with F1 >= the loop's: {'met' if met else 'NOT met'} "
                f"({speedup:.0f}x; F1 {r['f1_exact']:.4f} vs {r['f1_loop']:.4f})."
            )
    for failure in failures:
        print("CHECK FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
