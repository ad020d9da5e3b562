"""How exact are the Gaussian log-densities? Ours and the peers against long double.

``benchmarks/engine.py`` reports the largest relative difference of our scores
from the NumPy peer's (``max |ours - NumPy| / max(|NumPy|, 1)``). On correlated
data that difference is mostly the error of one of the two, amplified by the
covariance's condition number; this script says whose. It fits and scores the
same data as ``engine_gaussian.py`` (``make_data``: correlated rows, non-zero
mean) with our compiled engine, the NumPy peer and SciPy, and compares each
with a reference computed in long double (80-bit on x86): the mean and
covariance over all rows, a Cholesky factor and the triangular solves, on
``--check`` rows drawn at random. Prints, per cell, the condition number of
the covariance and each method's largest relative error
(``|score - exact| / max(|exact|, 1)``).

The reference holds two n x d long-double arrays (1 GB at 1e6 x 32) and its
products run without BLAS (tens of seconds). Where long double is float64
(ARM macOS, Windows) it is no reference: the script says so and stops.

Run::

    python benchmarks/gaussian_accuracy.py                  # n = 1e6, d = 2, 8, 32
    python benchmarks/gaussian_accuracy.py --n 1e5 --dims 8 64
"""

from __future__ import annotations

import argparse
import sys

import engine_gaussian
import numpy as np
from _common import environment_lines, fmt_n, load_average, markdown_table, parse_size

from anomalykit import GaussianDetector


def exact_scores(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, float]:
    """Full-covariance log-densities of ``X[rows]`` in long double (the maximum
    likelihood fit on all of X), and the condition number of the covariance."""
    L = X.astype(np.longdouble)
    n, d = L.shape
    centred = L - L.sum(axis=0) / n
    S = (centred.T @ centred) / n
    chol = np.zeros((d, d), dtype=np.longdouble)
    for i in range(d):
        for j in range(i + 1):
            s = S[i, j] - np.dot(chol[i, :j], chol[j, :j])
            chol[i, j] = np.sqrt(s) if i == j else s / chol[j, j]
    Z = np.zeros((rows.size, d), dtype=np.longdouble)
    C = centred[rows]
    for i in range(d):  # forward substitution: chol @ z = x - mean
        Z[:, i] = (C[:, i] - Z[:, :i] @ chol[i, :i]) / chol[i, i]
    log_det = 2 * np.sum(np.log(np.diag(chol)))
    two_pi = 2 * np.longdouble(np.pi)
    scores = -0.5 * (d * np.log(two_pi) + log_det + np.einsum("ij,ij->i", Z, Z))
    return scores.astype(np.float64), float(np.linalg.cond(S.astype(np.float64)))


def largest_error(scores: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(np.abs(scores - exact) / np.maximum(np.abs(exact), 1.0)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=parse_size, default=10**6, help="rows (default 1e6)")
    parser.add_argument(
        "--dims", type=int, nargs="+", default=[2, 8, 32], help="features (default 2 8 32)"
    )
    parser.add_argument("--check", type=int, default=20000, help="rows compared (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        print("long double is float64 on this platform: no more exact reference", file=sys.stderr)
        return 2
    load = load_average()
    rows = []
    for d in args.dims:
        rng = np.random.default_rng(args.seed)
        X = engine_gaussian.make_data(args.n, d, np.float64, rng)
        check = rng.choice(args.n, size=min(args.check, args.n), replace=False)
        exact, cond = exact_scores(X, check)
        ours = GaussianDetector("full", epsilon=1e-12, reg_covar=0.0).fit(X).score_samples(X)
        numpy_peer = engine_gaussian.numpy_fit_score(X, True)
        scipy_peer = engine_gaussian.scipy_fit_score(X, True)
        rows.append([
            f"{fmt_n(args.n)} x {d}", f"{cond:.1e}",
            f"{largest_error(ours[check], exact):.1e}",
            f"{largest_error(numpy_peer[check], exact):.1e}",
            f"{largest_error(scipy_peer[check], exact):.1e}",
            f"{largest_error(ours, numpy_peer):.1e}",
        ])  # fmt: skip
        print(f"done d={d}", file=sys.stderr)
    print("Full-covariance log-densities against a long-double reference (largest relative error)")
    print(*environment_lines(load), sep="\n")
    print()
    header = ["shape", "cond(cov)", "anomalykit", "NumPy peer", "SciPy", "anomalykit vs NumPy"]
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
