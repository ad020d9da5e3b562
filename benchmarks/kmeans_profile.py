"""Profile: where one Lloyd iteration of ``anomalykit.KMeans`` spends its time.

For each case (the data and initial centres of ``benchmarks/kmeans.py``):

1. **cProfile** of ``KMeans(k, init=C0, n_init=1, max_iter=20, tol=0).fit(X)``:
   the functions with the most own time (``@`` and in-place array arithmetic
   are not calls, so their time is the own time of the function they are in).
2. **Stage timing** of the 20 iterations: a statement-by-statement copy of
   ``assign``, ``update_centers`` and ``lloyd_step`` (src/anomalykit/cluster/_lloyd.py)
   and of the per-iteration part of ``_lloyd`` (_kmeans.py), each statement
   timed with ``time.perf_counter``. The copy is checked against the real
   functions: same labels and centres after every iteration. The real
   ``lloyd_step`` is timed too, to show that the copy's total matches it.
3. **Alternatives** for the same step, on the centres of the first iteration,
   each checked against the real function's output and timed (median of
   ``--repeats`` runs): ideas only, nothing here changes src/.

Run::

    python benchmarks/kmeans_profile.py                 # cases A and B (uniform)
    python benchmarks/kmeans_profile.py --cases A B C D --kinds uniform blobs
    python benchmarks/kmeans_profile.py --quick
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import (
    OtherLoad,
    environment_lines,
    fmt_n,
    fmt_time,
    load_average,
    markdown_table,
    wait_for_idle,
)
from kmeans import CASES, QUICK_DIVISOR, initial_centers, make_data
from scipy.linalg.blas import sgemm
from threadpoolctl import threadpool_limits

import anomalykit
from anomalykit.cluster import _lloyd
from anomalykit.cluster._lloyd import assign, lloyd_step, row_norms_sq, update_centers

ITERATIONS = 20


# ------------------------------------------------------------------ 1. cProfile
def profile_fit(X: np.ndarray, C0: np.ndarray, iters: int) -> tuple[list[list[str]], float, int]:
    k = C0.shape[0]
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    km = anomalykit.KMeans(k, init=C0, n_init=1, max_iter=iters, tol=0).fit(X)
    prof.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(prof)
    entries = []
    for (path, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        where = f"{Path(path).name}:{line}" if line else "~"
        entries.append((tottime, cumtime, ncalls, f"{func} ({where})"))
    entries.sort(reverse=True)
    rows = [
        [name, str(ncalls), fmt_time(tot), fmt_time(cum), f"{100 * tot / total:.1f}%"]
        for tot, cum, ncalls, name in entries[:22]
    ]
    return rows, total, km.n_iter_


# ------------------------------------------------------------------ 2. stage timing
class Stages:
    """Accumulated seconds per named stage, in first-seen order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.t = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] += now - self.t
        self.t = now


def staged_step(
    X: np.ndarray, centers: np.ndarray, sample_weight: np.ndarray, x_sq_norms: np.ndarray, s: Stages
) -> tuple[np.ndarray, np.ndarray]:
    """``lloyd_step`` (dense, euclidean, no empty cluster) statement by statement."""
    s.mark("(timer)")
    # ---- assign
    n = X.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=centers.dtype)
    block = _lloyd._block_rows(centers.shape[0], centers.dtype.itemsize)
    s.mark("assign: setup (c_sq, empty)")
    for start in range(0, n, block):
        stop = min(start + block, n)
        D = X[start:stop] @ centers.T
        s.mark("assign: GEMM X_b @ C.T")
        D = np.asarray(D)
        D *= -2
        s.mark("assign: D *= -2")
        D += c_sq
        s.mark("assign: D += c_sq")
        lab = np.argmin(D, axis=1)
        s.mark("assign: argmin")
        labels[start:stop] = lab
        s.mark("assign: store labels")
        dist[start:stop] = D[np.arange(stop - start), lab] + x_sq_norms[start:stop]
        s.mark("assign: gather D[i, lab] + x_sq")
    np.maximum(dist, 0, out=dist)
    s.mark("assign: clip dist at 0")
    # ---- update_centers
    k = centers.shape[0]
    w32 = sample_weight.astype(X.dtype, copy=False)
    s.mark("update: weights float64->float32")
    cols = np.arange(n)
    s.mark("update: np.arange(n)")
    onehot = sp.csr_matrix((w32, (labels, cols)), shape=(k, n))
    s.mark("update: build one-hot CSR (COO->CSR)")
    sums = onehot @ X
    s.mark("update: one-hot @ X (sparse x dense)")
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    weights = np.bincount(labels, weights=sample_weight, minlength=k)
    s.mark("update: bincount (float64 weights)")
    sums = sums.astype(X.dtype, copy=False)
    # ---- lloyd_step
    empty = np.flatnonzero(weights == 0)
    if empty.size:
        raise RuntimeError("empty cluster: the staged copy does not follow that path")
    with np.errstate(invalid="ignore", divide="ignore"):
        new = sums / weights[:, np.newaxis].astype(sums.dtype)
    zero = weights <= 0
    if zero.any():
        new[zero] = centers[zero]
    new = new.astype(centers.dtype, copy=False)
    s.mark("step: empty check, sums / weights (k x d)")
    return labels, new


def staged_fit(
    X: np.ndarray, C0: np.ndarray, iters: int
) -> tuple[Stages, float, int, np.ndarray, np.ndarray]:
    """The iterations of ``KMeans.fit`` on centred data: stage times, checked step by step.

    Returns the stages, the real ``lloyd_step`` time for the same iterations,
    the iterations run, and the final centres (un-centred) and labels.
    """
    shift = X.mean(axis=0)
    Xc = X - shift
    x_sq = row_norms_sq(Xc)
    w = np.ones(X.shape[0])
    centers = C0 - shift
    labels_old = np.full(X.shape[0], -1, dtype=np.intp)
    s = Stages()
    real = 0.0
    n_iter = 0
    for n_iter in range(1, iters + 1):
        s.t = time.perf_counter()
        labels, new = staged_step(Xc, centers, w, x_sq, s)
        shift_sq = float(np.sum((new - centers) ** 2))
        s.mark("_lloyd: centre shift")
        same = np.array_equal(labels, labels_old)
        s.mark("_lloyd: array_equal(labels, old)")
        t0 = time.perf_counter()
        ref = lloyd_step(Xc, centers, w, x_sq_norms=x_sq)
        real += time.perf_counter() - t0
        if not (np.array_equal(ref.labels, labels) and np.array_equal(ref.centers, new)):
            raise RuntimeError(f"staged copy differs from lloyd_step at iteration {n_iter}")
        centers, labels_old = new, labels
        del shift_sq
        if same:
            break
    del s.seconds["(timer)"]
    return s, real, n_iter, centers + shift, labels_old


# ------------------------------------------------------------------ 3. alternatives
def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def assign_labels(
    X: np.ndarray, centers: np.ndarray, block_bytes: int, *, fold: bool, augmented: bool = False
) -> np.ndarray:
    """Labels only (no distances): ``-2`` folded into the centres, or norms in the GEMM.

    ``augmented``: ``X`` has a last column of ones and the centres become
    ``[-2 C, ||c||^2]``, so one GEMM gives ``||c||^2 - 2 x.c``.
    """
    n, k = X.shape[0], centers.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    if augmented:
        CT = np.ascontiguousarray(np.hstack([-2 * centers, c_sq[:, None]]).T)
    else:
        CT = np.ascontiguousarray((-2 * centers if fold else centers).T)
    labels = np.empty(n, dtype=np.intp)
    block = max(64, block_bytes // (4 * k))
    for start in range(0, n, block):
        D = X[start : start + block] @ CT
        if not augmented:
            if not fold:
                D *= -2
            D += c_sq
        labels[start : start + block] = np.argmin(D, axis=1)
    return labels


def assign_sgemm(X: np.ndarray, centers: np.ndarray, block_bytes: int) -> np.ndarray:
    """Labels as scikit-learn computes them: one reused buffer pre-filled with
    ``||c||^2``, and ``sgemm(alpha=-2, beta=1)`` adding ``-2 x.c`` into it in place
    (no ``D *= -2`` / ``D += c_sq`` passes, no new block per GEMM)."""
    n, k = X.shape[0], centers.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    Cf = np.asfortranarray(centers)
    block = max(64, block_bytes // (4 * k))
    buf = np.empty((block, k), dtype=np.float32)
    labels = np.empty(n, dtype=np.intp)
    for start in range(0, n, block):
        Xb = X[start : start + block]
        D = buf[: Xb.shape[0]]
        D[...] = c_sq
        # D.T (k x m, Fortran order) = -2 C @ Xb.T + D.T, written into buf
        sgemm(-2.0, Cf, Xb.T, beta=1.0, c=D.T, overwrite_c=1)
        labels[start : start + block] = np.argmin(D, axis=1)
    return labels


def onehot_csc(X: np.ndarray, labels: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """``sum_i w_i x_i`` per cluster with a CSC one-hot built without COO->CSR."""
    n = X.shape[0]
    idx = labels.astype(np.int32) if n < 2**31 else labels
    ptr = np.arange(n + 1, dtype=idx.dtype)
    onehot = sp.csc_matrix((w.astype(X.dtype, copy=False), idx, ptr), shape=(k, n))
    return np.asarray(onehot @ X)


def bincount_columns(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster sums by one float64 ``bincount`` per column (unit weights)."""
    return np.stack(
        [np.bincount(labels, weights=X[:, j], minlength=k) for j in range(X.shape[1])], axis=1
    )


def fused_threads(
    X: np.ndarray, centers: np.ndarray, k: int, n_threads: int, block_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign + per-cluster sums in ``n_threads`` Python threads over row ranges.

    Each thread walks its rows in blocks: GEMM (BLAS limited to 1 thread),
    argmin, and a CSC one-hot product of that block; partial sums are added.
    numpy's GEMM/argmin and SciPy's sparse product release the GIL.
    """
    n = X.shape[0]
    c_sq = np.einsum("ij,ij->i", centers, centers)
    CT = np.ascontiguousarray((-2 * centers).T)
    block = max(64, block_bytes // (4 * k))
    labels = np.empty(n, dtype=np.intp)

    def work(lo: int, hi: int) -> np.ndarray:
        sums = np.zeros((k, X.shape[1]), dtype=np.float32)
        for start in range(lo, hi, block):
            stop = min(start + block, hi)
            D = X[start:stop] @ CT
            D += c_sq
            lab = np.argmin(D, axis=1)
            labels[start:stop] = lab
            m = stop - start
            onehot = sp.csc_matrix(
                (np.ones(m, np.float32), lab.astype(np.int32), np.arange(m + 1, dtype=np.int32)),
                shape=(k, m),
            )
            sums += onehot @ X[start:stop]
        return sums

    bounds = np.linspace(0, n, n_threads + 1).astype(int)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(n_threads) as pool:
        parts = list(pool.map(work, bounds[:-1], bounds[1:]))
    counts = np.bincount(labels, minlength=k)
    return labels, np.sum(parts, axis=0), counts


def alternatives(X: np.ndarray, C0: np.ndarray, repeats: int) -> list[list[str]]:
    """Time the real assign/update and a few replacements on the same centred data."""
    k = C0.shape[0]
    shift = X.mean(axis=0)
    Xc = X - shift
    C = C0 - shift
    x_sq = row_norms_sq(Xc)
    w = np.ones(X.shape[0])
    rows = []

    t_assign, (labels, _) = median_time(lambda: assign(Xc, C, x_sq), repeats)
    t_update, (sums, _) = median_time(lambda: update_centers(Xc, labels, w, k), repeats)
    base = t_assign + t_update
    rows.append(["assign (real, 8 MiB blocks)", fmt_time(t_assign), "-", "reference"])
    rows.append(["update_centers (real)", fmt_time(t_update), "-", "reference"])

    def add(name: str, t: float, replaces: float, check: str) -> None:
        gain = replaces - t
        change = f"saves {fmt_time(gain)}" if gain >= 0 else f"costs {fmt_time(-gain)}"
        rows.append([name, fmt_time(t), change, check])

    def same_labels(lab: np.ndarray) -> str:
        diff = int(np.count_nonzero(lab != labels))
        return "labels identical" if diff == 0 else f"{diff} labels differ (ties/rounding)"

    for block_mib in (8, 2, 0.5):
        bb = int(block_mib * 2**20)
        t, lab = median_time(lambda bb=bb: assign_labels(Xc, C, bb, fold=False), repeats)
        add(f"assign labels only, {block_mib} MiB blocks", t, t_assign, same_labels(lab))
        t, lab = median_time(lambda bb=bb: assign_labels(Xc, C, bb, fold=True), repeats)
        add(f"  + -2 folded into C, {block_mib} MiB", t, t_assign, same_labels(lab))
    for block_mib in (8, 1):
        bb = int(block_mib * 2**20)
        t, lab = median_time(lambda bb=bb: assign_sgemm(Xc, C, bb), repeats)
        add(
            f"assign, sgemm beta=1 into |c|^2 buffer, {block_mib} MiB",
            t,
            t_assign,
            same_labels(lab),
        )
    Xa = np.hstack([Xc, np.ones((Xc.shape[0], 1), np.float32)])
    for block_mib in (8, 0.5):
        bb = int(block_mib * 2**20)
        t, lab = median_time(
            lambda bb=bb: assign_labels(Xa, C, bb, fold=True, augmented=True), repeats
        )
        add(f"assign, [X,1] @ [-2C,|c|^2].T, {block_mib} MiB", t, t_assign, same_labels(lab))

    t, s2 = median_time(lambda: onehot_csc(Xc, labels, w, k), repeats)
    err = float(np.max(np.abs(s2 - sums)))
    add("update sums: CSC one-hot (no COO->CSR)", t, t_update, f"max |diff| {err:.1e}")
    t, s3 = median_time(lambda: bincount_columns(Xc, labels, k), repeats)
    err = float(np.max(np.abs(s3 - sums)))
    add("update sums: bincount per column (f64)", t, t_update, f"max |diff| {err:.1e} (f64)")
    t_w, _ = median_time(lambda: np.bincount(labels, weights=w, minlength=k), repeats)
    rows.append(["update weights: bincount(labels, weights=w) (real)", fmt_time(t_w), "-", ""])
    t, _ = median_time(lambda: np.bincount(labels, minlength=k), repeats)
    add("update weights: bincount(labels), unit weights", t, t_w, "same counts")

    for threads in (1, 2):
        t, (lab, s4, _) = median_time(
            lambda th=threads: fused_threads(Xc, C, k, th, 2**20), repeats
        )
        err = float(np.max(np.abs(s4 - sums)))
        add(
            f"fused assign+sums, {threads} Python thread(s), BLAS 1 thread, 1 MiB",
            t,
            base,
            f"{same_labels(lab)}; sums max |diff| {err:.1e}",
        )
    return rows


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=["A", "B"])
    parser.add_argument(
        "--kinds", nargs="+", choices=("uniform", "blobs"), default=["uniform"],
        help="data kinds, where the case has them (default uniform)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"n / {QUICK_DIVISOR}")
    parser.add_argument("--repeats", type=int, default=5, help="runs per alternative (5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-alternatives", action="store_true")
    parser.add_argument(
        "--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each case, wait up to SECONDS for other processes to use < 10%% CPU",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    src = Path(_lloyd.__file__)
    digest = hashlib.md5(src.read_bytes()).hexdigest()[:12]  # identification only
    out: list[str] = []
    for case in args.cases:
        n, d, k, kinds = CASES[case]
        n = n // QUICK_DIVISOR if args.quick else n
        for kind in [kd for kd in kinds if kd in args.kinds]:
            X = make_data(kind, n, d, k, args.seed)
            C0 = initial_centers(X, k, args.seed)
            title = f"case {case} {kind}: n={fmt_n(n)}, d={d}, k={k}"
            if args.wait_idle > 0:
                wait_for_idle(args.wait_idle)
            load, others = load_average(), OtherLoad()
            prof_rows, total, n_iter = profile_fit(X, C0, ITERATIONS)
            out += [f"## {title} (load before: {load})", ""]
            out += [f"cProfile of KMeans.fit: {fmt_time(total)}, {n_iter} iterations", ""]
            out.append(
                markdown_table(
                    ["function", "calls", "own time", "cumulative", "% of fit"], prof_rows
                )
            )
            out.append("")

            stages, real, n_iter2, centers, _ = staged_fit(X, C0, ITERATIONS)
            km = anomalykit.KMeans(k, init=C0, n_init=1, max_iter=ITERATIONS, tol=0).fit(X)
            gap = float(np.max(np.abs(km.cluster_centers_ - centers)))
            per = sum(stages.seconds.values()) / n_iter2
            rows = [
                [name, fmt_time(sec / n_iter2), f"{100 * sec / n_iter2 / per:.1f}%"]
                for name, sec in stages.seconds.items()
            ]
            rows.append(["total (staged copy)", fmt_time(per), "100%"])
            rows.append(["real lloyd_step, same iterations", fmt_time(real / n_iter2), ""])
            out += [
                f"Per iteration, mean of {n_iter2} iterations (staged copy == lloyd_step at "
                f"every iteration; final centres vs KMeans.fit: max |diff| {gap:.1e})",
                "",
                markdown_table(["stage", "per iteration", "share"], rows),
                "",
            ]
            if not args.no_alternatives:
                rows = alternatives(X, C0, args.repeats)
                out += [
                    f"Alternatives, one step from C0 (median of {args.repeats}); 'saves' is "
                    "against the real assign, update_centers or both",
                    "",
                    markdown_table(["variant", "time", "saves", "check"], rows),
                    "",
                ]
            share = others.share()
            busy = "n/a" if share is None else f"{100 * share:.0f}%"
            out.append(
                f"load after: {load_average()}; other processes' CPU share meanwhile: {busy}"
            )
            out.append("")
            print(f"done {title}", file=sys.stderr, flush=True)
            del X

    print("Profile of anomalykit.KMeans (20 Lloyd iterations, tol=0, float32)")
    for line in environment_lines(load_before):
        print(line)
    print(f"{src.name} md5 {digest}; block rows = 8 MiB / (4 k) for float32")
    print()
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
