"""Benchmark: GaussianDetector's compiled engine (fit + score) against NumPy, SciPy,
scikit-learn and one read of the data -- the Gaussian part of issue 6.

Each cell fits a model on X (n rows, d features) and scores X; times are medians
of the repeats, the methods taking turns (one fit + score each per round, each
after 0.3 s of rest: ``_common.time_runs``):

* **ours** -- ``GaussianDetector(covariance, epsilon=1e-12, reg_covar=0)``:
  ``fit(X)`` then ``score_samples(X)`` on the compiled engine (Numba, all the
  cores this process may use). ``epsilon`` skips the contamination threshold,
  which the peers do not compute; the column "ours + threshold" is the default
  ``GaussianDetector(covariance)`` (one more scoring pass and a selection).
* **ours, NumPy engine** -- the same with the NumPy reference path.
* **NumPy** -- a straightforward vectorised implementation in blocks of 2**20
  rows (bounded memory): ``X.mean(axis=0)``, the (co)variance of the centred
  blocks, Cholesky; scores ``-1/2 (log det + d log 2 pi + |z|**2)`` with
  ``z = (x - mean) / std`` (diag) or ``solve_triangular(L, (x - mean).T)``.
* **SciPy** -- the same fit; scores ``stats.norm.logpdf(X, mean, std).sum(1)``
  (diag) or ``stats.multivariate_normal(mean, cov).logpdf(X)`` (full).
* **sklearn GMM** -- ``GaussianMixture(1, covariance_type=..., reg_covar=0)``:
  ``fit(X)`` and ``score_samples(X)``; timed once at n >= 1e7 (it takes seconds).
* **one read** -- one pass over X, a Numba sum in the engine's chunks on its
  threads ("Numba read"), and NumPy's ``X.sum()``.
* **floor** of fit + score -- two passes in one timed call, as ours makes
  them: a Numba read of X (the fit reads X once), then one pass over X that
  writes one float64 per row (the row's sum) to a new array, in the same
  chunks and threads (the least that scoring does). Fresh memory costs page
  faults on first touch: at n = 1e7, d = 2 the second pass takes 2-3 reads.
  (Timed as one call: timed separately, each pass would pay the slow first
  milliseconds of a call after a rest, and their sum came out above ours.)
* **BLAS** (full, d >= 16) -- ``Xb.T @ Xb`` and ``Xb @ P`` over blocks of X in X's
  dtype: the GEMM rate of that shape, the floor of wide rows, where the work
  (d**2 / 2 multiply-adds per row and pass) outweighs reading the row.

Ratios: "peer / ours" is the fastest peer (NumPy, SciPy, GMM) over ours, the
speed-up (target >= 5x); "ours / read" is ours over one read (target <= 3x for
d <= 16); "floor / read" is the floor of fit + score in reads: where it
exceeds 3, the read target is below the floor; "ours / floor" is how close we
come to it.

n = 1e7, d = 64 in float64 is 5 GB and SciPy and GMM make several copies of
that size: that cell runs on float32 (2.6 GB; our engine still accumulates in
float64) and without SciPy, GMM and our NumPy engine; GMM is also left out for
full at d = 64 (95 s for n = 1e6, measured once). "ours vs NumPy" is the largest
``|ours - NumPy| / max(|NumPy|, 1)`` over the scores. The machine is shared: the "other load"
column is the share of the CPU used by other processes during the cell
(0 = idle, 0.5 = one of two cores busy elsewhere), and the run first waits up
to ``--wait`` seconds for the machine to go quiet.

The first call's compile cost is measured in fresh interpreters, once with the
Numba cache of the kernels deleted and once with it on disk.

Run::

    python benchmarks/engine_gaussian.py               # the full table, ~4 minutes
    python benchmarks/engine_gaussian.py --quick       # n = 1e5 and 1e6, d = 2 8
    python benchmarks/engine_gaussian.py --sizes 1e6 --dims 8 --repeats 3 --no-compile
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from _common import (
    OtherLoad,
    environment_lines,
    fmt_n,
    fmt_time,
    load_average,
    markdown_table,
    parse_size,
    time_runs,
    wait_for_idle,
)
from numba import njit
from scipy import linalg, stats
from sklearn.mixture import GaussianMixture

from anomalykit import GaussianDetector
from anomalykit.detectors import _gaussian

DEFAULT_SIZES = (10**6, 10**7)
DEFAULT_DIMS = (2, 8, 64)
QUICK_SIZES = (10**5, 10**6)
QUICK_DIMS = (2, 8)
#: Above this many bytes in float64 a cell runs on float32, without SciPy and GMM.
BIG_BYTES = 2 * 2**30
#: Rows per block of the NumPy peer.
NUMPY_BLOCK = 2**20
LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------ the floor
@njit(nogil=True, cache=True, fastmath={"reassoc"})
def _sum_rows(X, start, stop):  # pragma: no cover - compiled
    flat = X[start:stop].reshape(-1)
    acc = 0.0
    for e in range(flat.shape[0]):
        acc += flat[e]
    return acc


def one_read(X: np.ndarray) -> float:
    """Sum of X in the engine's chunks, on its threads: one pass at memory speed."""
    return sum(_gaussian._run_chunks(lambda a, b: _sum_rows(X, a, b), X.shape[0]))


@njit(nogil=True, cache=True, fastmath={"reassoc"})
def _row_sums(X, out, start, stop):  # pragma: no cover - compiled
    d = X.shape[1]
    for i in range(start, stop):
        xr = X[i]
        acc = 0.0
        for j in range(d):
            acc += xr[j]
        out[i] = acc


def read_and_write(X: np.ndarray) -> np.ndarray:
    """Each row's sum into a new float64 array, in the engine's chunks on its
    threads: what scoring cannot do without (read X once, write n float64 values
    to fresh memory, whose first touch costs page faults)."""
    out = np.empty(X.shape[0])
    _gaussian._run_chunks(lambda a, b: _row_sums(X, out, a, b), X.shape[0])
    return out


def two_passes(X: np.ndarray) -> np.ndarray:
    """The floor of fit + score: one read of X, then :func:`read_and_write`."""
    one_read(X)
    return read_and_write(X)


def fit_score_floor(times: dict[str, float]) -> tuple[float, float]:
    """``(read, floor)``: one read of X (the faster of "Numba read" and
    ``X.sum()``), and the floor of fit + score (:func:`two_passes`)."""
    return min(times["Numba read"], times["X.sum()"]), times["floor"]


# ------------------------------------------------------------------ the peers
def numpy_moments(X: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((X.shape[1],) * (2 if full else 1))
    for start in range(0, X.shape[0], NUMPY_BLOCK):
        Xc = X[start : start + NUMPY_BLOCK] - mean
        scatter += Xc.T @ Xc if full else np.einsum("ij,ij->j", Xc, Xc)
    return mean, scatter / X.shape[0]


def numpy_fit_score(X: np.ndarray, full: bool) -> np.ndarray:
    mean, cov = numpy_moments(X, full)
    out = np.empty(X.shape[0])
    d = X.shape[1]
    if full:
        L = linalg.cholesky(cov, lower=True)
        norm = -0.5 * d * LOG_2PI - np.log(np.diag(L)).sum()
    else:
        inv_std = 1.0 / np.sqrt(cov)
        norm = -0.5 * (d * LOG_2PI + np.log(cov).sum())
    for start in range(0, X.shape[0], NUMPY_BLOCK):
        Xc = X[start : start + NUMPY_BLOCK] - mean
        if full:
            Z = linalg.solve_triangular(L, Xc.T, lower=True)
            out[start : start + NUMPY_BLOCK] = norm - 0.5 * np.einsum("ij,ij->j", Z, Z)
        else:
            Z = Xc * inv_std
            out[start : start + NUMPY_BLOCK] = norm - 0.5 * np.einsum("ij,ij->i", Z, Z)
    return out


def scipy_fit_score(X: np.ndarray, full: bool) -> np.ndarray:
    mean, cov = numpy_moments(X, full)
    if full:
        return stats.multivariate_normal(mean, cov).logpdf(X)
    return stats.norm.logpdf(X, mean, np.sqrt(cov)).sum(axis=1)


def gmm_fit_score(X: np.ndarray, covariance: str) -> np.ndarray:
    model = GaussianMixture(1, covariance_type=covariance, reg_covar=0.0, random_state=0)
    return model.fit(X).score_samples(X)


def ours_fit_score(X: np.ndarray, covariance: str, engine: str, epsilon: float | None):
    _gaussian._ENGINE = engine
    try:
        return GaussianDetector(covariance, epsilon=epsilon, reg_covar=0.0).fit(X).score_samples(X)
    finally:
        _gaussian._ENGINE = "auto"


# ------------------------------------------------------------------------ data
def make_data(n: int, d: int, dtype, rng: np.random.Generator) -> np.ndarray:
    """Correlated Gaussian rows with a non-zero mean, built in blocks (bounded memory)."""
    mixing = (np.eye(d) + rng.standard_normal((d, d)) / np.sqrt(d)).astype(dtype)
    mean = rng.uniform(-2.0, 2.0, d).astype(dtype)
    X = np.empty((n, d), dtype=dtype)
    for start in range(0, n, NUMPY_BLOCK):
        stop = min(start + NUMPY_BLOCK, n)
        Z = rng.standard_normal((stop - start, d), dtype=dtype)
        np.matmul(Z, mixing, out=X[start:stop])
        X[start:stop] += mean
    return X


def max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1.0)))


# ---------------------------------------------------------------- compile cost
_COMPILE_PROBE = """
import json, time
import numpy as np
t0 = time.perf_counter()
from anomalykit import GaussianDetector
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
X = rng.standard_normal((1000, 8)) + 1.0
w = rng.uniform(0.5, 1.5, 1000)
cases = [("diag", np.float64, None), ("full", np.float64, None), ("diag", np.float32, None),
         ("full", np.float32, None), ("diag", np.float64, w), ("full", np.float64, w)]
out = {"import anomalykit": t_import}
for cov, dtype, weights in cases:
    Xd = X.astype(dtype)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        GaussianDetector(cov, epsilon=1e-3).fit(Xd, sample_weight=weights).score_samples(Xd)
        times.append(time.perf_counter() - t)
    key = f"{cov} {np.dtype(dtype).name}{' weighted' if weights is not None else ''}"
    out[key] = times
print(json.dumps(out))
"""


def kernel_cache_files() -> list[Path]:
    cache = Path(_gaussian.__file__).parent / "__pycache__"
    return sorted(cache.glob("_gaussian_kernels.*.nb[ic]"))


def compile_cost() -> tuple[dict, dict]:
    """First-call times in a fresh interpreter: cache deleted, then cache on disk."""
    for path in kernel_cache_files():
        path.unlink(missing_ok=True)
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _COMPILE_PROBE], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


# ------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=None, metavar="N")
    parser.add_argument("--dims", nargs="+", type=int, default=None, metavar="D")
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed runs per method (default 5 at n < 1e7, 3 above; 3 with --quick)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for idle")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-cost probe")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.dims = args.dims or list(QUICK_DIMS if args.quick else DEFAULT_DIMS)
    return args


def blas_floor(X: np.ndarray) -> None:
    """The BLAS products a full model needs, ``X.T @ X`` and ``X @ P``, in X's dtype:
    the compute floor of wide rows (the GEMM rate of that shape)."""
    P = np.triu(np.ones((X.shape[1], X.shape[1]), dtype=X.dtype))
    for start in range(0, X.shape[0], NUMPY_BLOCK):
        Xb = X[start : start + NUMPY_BLOCK]
        Xb.T @ Xb
        Xb @ P


def run_cell(n: int, d: int, covariance: str, X: np.ndarray, repeats: int) -> dict:
    """Median times (s) of every method on one (n, d, covariance) cell.

    Slow methods run once where they take seconds; some are skipped (see
    :data:`SKIPPED`): the whole run stays within a few minutes.
    """
    full = covariance == "full"
    big = X.dtype == np.float32
    size = n * d
    slow = 1 if size >= 5 * 10**7 else repeats
    tasks = {
        "ours": (lambda: ours_fit_score(X, covariance, "numba", 1e-12), repeats),
        "ours + threshold": (lambda: ours_fit_score(X, covariance, "numba", None), repeats),
        "NumPy": (lambda: numpy_fit_score(X, full), 1 if size >= 5 * 10**8 else repeats),
        "Numba read": (lambda: one_read(X), repeats),
        "X.sum()": (lambda: X.sum(), repeats),
        "floor": (lambda: two_passes(X), repeats),
    }
    if full and d >= 16:
        tasks["BLAS"] = (lambda: blas_floor(X), slow)
    if not big:
        tasks["ours, NumPy engine"] = (lambda: ours_fit_score(X, covariance, "numpy", 1e-12), slow)
        tasks["SciPy"] = (lambda: scipy_fit_score(X, full), slow)
        if not (full and d >= 64):
            tasks["sklearn GMM"] = (lambda: gmm_fit_score(X, covariance), 1)
    load = OtherLoad()
    results = time_runs(tasks, repeats)
    share = load.share()
    diff = max_rel_diff(results["ours"][1], results["NumPy"][1])
    times = {name: t for name, (t, _) in results.items()}
    return {"times": times, "diff": diff, "load": share}


#: What a cell leaves out, and why (measured once on this machine, 2 cores, shared).
SKIPPED = (
    "float32 cells (n = 1e7, d = 64): SciPy and GMM copy X to float64 (5 GB, several "
    "times); our NumPy engine took 85 s for full there (float32 X @ float64 P is not a "
    "BLAS call). sklearn GMM full at d = 64 took 95 s for n = 1e6 (once): skipped."
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compile_runs = None if args.no_compile else compile_cost()
    idle = wait_for_idle(args.wait)
    load_before = load_average()
    rng = np.random.default_rng(args.seed)
    rows = []
    for n in args.sizes:
        repeats = args.repeats or (3 if args.quick or n >= 10**7 else 5)
        for d in args.dims:
            dtype = np.float32 if n * d * 8 > BIG_BYTES else np.float64
            X = make_data(n, d, dtype, rng)
            for covariance in ("diag", "full"):
                cell = run_cell(n, d, covariance, X, repeats)
                t = cell["times"]
                peers = [t[k] for k in ("NumPy", "SciPy", "sklearn GMM") if k in t]
                read, floor = fit_score_floor(t)

                def cell_time(name: str, t: dict = t) -> str:
                    return fmt_time(t[name]) if name in t else "-"

                rows.append([
                    fmt_n(n), str(d), np.dtype(dtype).name, covariance,
                    cell_time("ours"), cell_time("ours + threshold"),
                    cell_time("ours, NumPy engine"), cell_time("NumPy"), cell_time("SciPy"),
                    cell_time("sklearn GMM"), cell_time("Numba read"), cell_time("X.sum()"),
                    cell_time("floor"), cell_time("BLAS"),
                    f"{min(peers) / t['ours']:.1f}x", f"{t['ours'] / read:.1f}x",
                    f"{floor / read:.1f}x", f"{t['ours'] / floor:.2f}", f"{cell['diff']:.0e}",
                    "n/a" if cell["load"] is None else f"{cell['load']:.2f}",
                ])  # fmt: skip
                print(f"done n={n} d={d} {covariance}", file=sys.stderr, flush=True)
            del X

    print("Gaussian fit + score_samples on the training rows: compiled engine vs peers")
    for line in environment_lines(load_before):
        print(line)
    print(
        f"engine threads: {_gaussian._engine_threads()}; other load before the run: "
        + ("n/a" if idle is None else f"{idle:.2f}")
        + "; medians of 5 runs (3 at n = 1e7); GMM once; SciPy, BLAS and our NumPy engine once "
        "from n x d = 5e7, the NumPy peer from 5e8"
    )
    print("Skipped (-): " + SKIPPED)
    print()
    header = [
        "n", "d", "dtype", "cov", "ours", "ours + threshold", "ours, NumPy engine", "NumPy",
        "SciPy", "sklearn GMM", "Numba read", "X.sum()", "floor", "BLAS", "peer / ours",
        "ours / read", "floor / read", "ours / floor", "ours vs NumPy", "other load",
    ]  # fmt: skip
    print(markdown_table(header, rows, left=4))
    if compile_runs is not None:
        cold, warm = compile_runs
        print()
        print(
            "First call (fit + score_samples of 1000 x 8 rows) in a fresh interpreter, "
            f"{len(kernel_cache_files())} kernel cache files now on disk:"
        )
        table = [
            [key, fmt_time(cold[key][0]), fmt_time(warm[key][0]), fmt_time(warm[key][1])]
            for key in cold
            if key != "import anomalykit"
        ]
        print(
            markdown_table(
                ["signature", "first call, no cache", "first call, cached", "second call"], table
            )
        )
        print(
            f"import anomalykit: {fmt_time(cold['import anomalykit'])} (no Numba, no kernels); "
            "the first call includes importing Numba."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
