"""Benchmark: GaussianDetector fit + score throughput against scikit-learn and SciPy.

Measured, on the same float64 matrix X of n rows and d features (d = 2, 8, 16,
32, 64 by default), each model fitted on X and then scoring X:

* **anomalykit diag / full** -- ``GaussianDetector(covariance=...)``: ``fit(X)``,
  then ``score_samples(X)``. With the default ``contamination="auto"`` the fit
  also sets the threshold, which scores the training rows once more and selects
  their contamination quantile; the rows marked "epsilon given" pass ``epsilon=`` and skip that step,
  as the competitors do not set a threshold at all.
* **sklearn GMM diag / full** -- ``GaussianMixture(n_components=1,
  covariance_type=...)``: ``fit(X)`` (k-means initialisation and EM, defaults),
  then ``score_samples(X)``.
* **SciPy full** -- fit: ``X.mean(axis=0)``, ``np.cov(X, rowvar=False, ddof=0)``
  and the frozen ``scipy.stats.multivariate_normal(mean, cov)`` (its
  factorisation); score: ``.logpdf(X)``.

All models estimate the same maximum-likelihood Gaussian: ``ddof=0`` and
``reg_covar=0`` everywhere, so the scores can be compared. The last column is
the largest relative difference, ``|a - ref| / max(|ref|, 1)`` over the rows,
from a SciPy reference of the same model: the SciPy row's ``logpdf`` for full
covariances, ``scipy.stats.norm.logpdf`` summed over features (per-feature
mean and standard deviation) for diagonal ones. The check that our full model
matches SciPy to 1e-9 is printed under the table; the script exits with status
1 if it fails.

Data: ``X = Z A + mu`` with standard normal Z, a random well-conditioned A
(correlated features) and a random mean; a new X for each d.

Times are medians over ``--repeats`` runs (``time.perf_counter``) of fit, of
score and of fit + score; rows/s is n divided by the last. By default the
models take turns, one fit + score each per round; ``--order blocked`` runs each
model's repeats back to back. The order matters for SciPy, whose ``logpdf``
allocates several n x d temporaries per call: right after another model it
pays for fresh memory, back to back it runs warm.

Run::

    python benchmarks/gaussian.py              # n = 1e6, d = 2 8 16 32 64
    python benchmarks/gaussian.py --quick      # n = 1e5, d = 2 8 16
    python benchmarks/gaussian.py --sizes 1e6 --dims 16 64 --repeats 3 --order blocked
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _common import (
    environment_lines,
    fmt_n,
    fmt_rate,
    fmt_time,
    load_average,
    markdown_table,
    parse_size,
    schedule,
)
from scipy import stats
from sklearn.mixture import GaussianMixture

from anomalykit import GaussianDetector

DEFAULT_SIZES = (10**6,)
DEFAULT_DIMS = (2, 8, 16, 32, 64)
QUICK_SIZES = (10**5,)
QUICK_DIMS = (2, 8, 16)
TOLERANCE = 1e-9


@dataclass
class Competitor:
    """A model as two steps: ``fit(X) -> model`` and ``score(model, X) -> log-densities``."""

    name: str
    kind: str  # "diag" or "full": which SciPy reference its scores are compared with
    fit: Callable[[np.ndarray], Any]
    score: Callable[[Any, np.ndarray], np.ndarray]


def _anomalykit(covariance: str, epsilon: float | None) -> Competitor:
    suffix = ", epsilon given" if epsilon is not None else ""
    return Competitor(
        name=f"anomalykit {covariance}{suffix}",
        kind=covariance,
        fit=lambda X: GaussianDetector(covariance, epsilon=epsilon, reg_covar=0.0).fit(X),
        score=lambda model, X: model.score_samples(X),
    )


def _gmm(covariance: str) -> Competitor:
    return Competitor(
        name=f"sklearn GMM {covariance}",
        kind=covariance,
        fit=lambda X: GaussianMixture(
            n_components=1, covariance_type=covariance, reg_covar=0.0, random_state=0
        ).fit(X),
        score=lambda model, X: model.score_samples(X),
    )


def _scipy_fit(X: np.ndarray) -> Any:
    mean = X.mean(axis=0)
    cov = np.cov(X, rowvar=False, ddof=0)
    return stats.multivariate_normal(mean, cov)


COMPETITORS = [
    _anomalykit("diag", None),
    _anomalykit("diag", 1e-12),
    _gmm("diag"),
    _anomalykit("full", None),
    _anomalykit("full", 1e-12),
    _gmm("full"),
    Competitor("SciPy full", "full", _scipy_fit, lambda model, X: model.logpdf(X)),
]


def make_data(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Correlated Gaussian rows with a non-zero mean, float64, C-contiguous."""
    mixing = np.eye(d) + rng.standard_normal((d, d)) / np.sqrt(d)
    mean = rng.uniform(-2.0, 2.0, d)
    X = rng.standard_normal((n, d)) @ mixing
    X += mean
    return X


def diag_reference(X: np.ndarray) -> np.ndarray:
    """Log-densities of the independent-features MLE Gaussian, by SciPy."""
    out = np.zeros(X.shape[0])
    mean, std = X.mean(axis=0), X.std(axis=0)
    for j in range(X.shape[1]):  # one column at a time: no n x d temporaries
        out += stats.norm.logpdf(X[:, j], mean[j], std[j])
    return out


def max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1.0)))


def time_competitors(
    competitors: list[Competitor], X: np.ndarray, repeats: int, order: str
) -> dict:
    """Median fit, score and fit + score times, and the last scores, of each competitor."""
    by_name = {c.name: c for c in competitors}
    runs: dict[str, dict[str, list[float]]] = {
        name: {"fit": [], "score": [], "total": []} for name in by_name
    }
    last: dict[str, np.ndarray | None] = {}
    for name in schedule(list(by_name), repeats, order):
        c = by_name[name]
        last[name] = None  # free the previous scores first
        t0 = time.perf_counter()
        model = c.fit(X)
        t1 = time.perf_counter()
        last[name] = c.score(model, X)
        t2 = time.perf_counter()
        del model
        for key, value in (("fit", t1 - t0), ("score", t2 - t1), ("total", t2 - t0)):
            runs[name][key].append(value)
    return {
        name: {key: statistics.median(v) for key, v in r.items()} | {"scores": last[name]}
        for name, r in runs.items()
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", type=parse_size, default=None, metavar="N",
        help="numbers of rows (default 1e6; 1e5 with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--dims", nargs="+", type=int, default=None, metavar="D",
        help="numbers of features (default 2 8 16 32 64; 2 8 16 with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed runs per model; medians are reported (default 5; 3 with --quick)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument(
        "--order", choices=("turns", "blocked"), default="turns",
        help="models take turns each round (default), or each runs its repeats back to back",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.dims = args.dims or list(QUICK_DIMS if args.quick else DEFAULT_DIMS)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 1 or min(args.dims) < 1:
        parser.error("--repeats and --dims must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    load_before = load_average()
    rows, checks = [], []
    for n in args.sizes:
        for d in args.dims:
            X = make_data(n, d, rng)
            results = time_competitors(COMPETITORS, X, args.repeats, args.order)
            references = {"full": results["SciPy full"]["scores"], "diag": diag_reference(X)}
            for c in COMPETITORS:
                r = results[c.name]
                diff = max_rel_diff(r["scores"], references[c.kind])
                rows.append([
                    fmt_n(n), str(d), c.name,
                    fmt_time(r["fit"]), fmt_time(r["score"]), fmt_time(r["total"]),
                    fmt_rate(n / r["total"]), "ref" if c.name == "SciPy full" else f"{diff:.1e}",
                ])  # fmt: skip
                if c.name == "anomalykit full":
                    checks.append((n, d, diff))
            print(f"done n={n} d={d}", file=sys.stderr, flush=True)
            del X, results, references

    print("Gaussian density: fit + score_samples on the training rows, float64")
    for line in environment_lines(load_before):
        print(line)
    print(f"seed {args.seed}; times are medians of {args.repeats} runs, order: {args.order}")
    print()
    header = [
        "n", "d", "method", "fit", "score", "fit + score", "rows/s (fit + score)",
        "max rel diff vs SciPy",
    ]  # fmt: skip
    print(markdown_table(header, rows, left=3))
    print()
    failed = [(n, d, diff) for n, d, diff in checks if not diff <= TOLERANCE]
    worst = max(diff for _, _, diff in checks)
    print(
        f"anomalykit full == SciPy multivariate_normal.logpdf to {TOLERANCE:g} relative: "
        + (f"yes at every n and d (worst {worst:.1e})." if not failed else "NO")
    )
    for n, d, diff in failed:
        print(f"CHECK FAILED: n={n}, d={d}: max rel diff {diff:.2e} > {TOLERANCE:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
