"""Benchmark of the compiled engine (issue 6): one table, one run.

Four parts, each against its peers in the same process on the same data, with
the ratio to the issue's target and, where a target is missed, the measured
floor:

* **Lloyd** -- the cases of ``benchmarks/kmeans.py`` (A, B uniform and blobs,
  C blobs and uniform, D): ``anomalykit.KMeans`` against scikit-learn's lloyd
  and elkan and faiss, same float32 data, same initial centres, 20 iterations,
  tol=0 (the methods and their settings are ``kmeans.lloyd_methods``). Target:
  the fastest peer's time over ours >= 2. Floors, per case, for 20 plain
  iterations: 20 x one ``X @ C.T`` (float32, BLAS on all cores: the GEMM rate
  of the shape) and 20 x one read pass over X (``X.sum(axis=0)``: memory).
  The bounded engine may go below the GEMM floor (it skips distances);
  ``ours / GEMM floor`` shows how close the engine came to it. A third
  floor is the machine's: the multiply-adds of those products (``2 n k d``
  FLOP an iteration) at the FMA peak of every core (:func:`_common.fma_peak`
  x cores), which skipped distances can beat. Where the target asks for less
  time than that and ours took at least that long, the check says so ("2x
  needs N: under the FMA floor").
* **k-means++** on case B (uniform and blobs): ``anomalykit.kmeans_plusplus``
  against ``sklearn.cluster.kmeans_plusplus``, ``random_state=0`` (different
  generators: different draws, so the inertias are compared, not the centres).
  Target >= 5x at equal inertia. Floors: k steps x one read pass over X, and
  k steps x one ``X @ C.T`` with ``2 + log k`` candidates (the BLAS rate of a
  step's product), and those products' multiply-adds at the FMA peak.
* **silhouette** at n = 2e4 and 5e4 (``make_blobs(n, 10, centers=8)``, float64):
  ``anomalykit.metrics.silhouette_score`` against
  ``sklearn.metrics.silhouette_score``; both values and their difference
  (target <= 1e-10), time (target >= 3x) and peak RSS increase (target < 1 GB).
* **Gaussian** fit + score at n = 1e6 and 1e7, d = 2, 8, 64, diag and full:
  ``GaussianDetector(covariance, epsilon=1e-12, reg_covar=0)`` ``fit(X)`` then
  ``score_samples(X)`` against NumPy, SciPy and scikit-learn's
  ``GaussianMixture(1)`` (the cells and the peers' code are
  ``benchmarks/engine_gaussian.py``'s, which prints more columns: our NumPy
  engine, the default threshold). Target: the fastest peer over ours >= 5x,
  and ours within 3x of one read of X for d <= 16. Floors: one read of X (the
  faster of a Numba sum on the engine's threads and ``X.sum()``), and the
  floor of fit + score ("2 passes"): one read of X (the fit) then one pass
  that reads X and writes a float64 per row to a new array (the score), timed
  as one call (``engine_gaussian.two_passes``). Where that floor is more than
  3 reads, the check says so ("floor N reads"). "value" is the largest relative
  difference of our scores from the NumPy peer's. Float64, except n = 1e7,
  d = 64 (float32, 2.6 GB; SciPy and GMM left out there, as in
  ``engine_gaussian.py``).

Times are medians of ``--repeats`` runs (``--fast-repeats`` in the cells of a
few milliseconds: Lloyd C and D, Gaussian at 1e6 x 2 and 8), the methods
taking turns, each call after 0.3 s of rest (see ``_common.time_runs``); "peak RSS +" is
measured as in ``benchmarks/kmeans.py``. The machine may be shared: under the
tables, every section's load average and the CPU share other processes took
during its runs are printed (``--wait-idle SECONDS`` waits for a quiet machine
before each section).

Run::

    python benchmarks/engine.py                 # everything, about 6 minutes
    python benchmarks/engine.py --quick         # n / 10: a smoke test
    python benchmarks/engine.py --parts lloyd --cases A C
    python benchmarks/engine.py --parts gaussian --gaussian-sizes 1e6
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import engine_gaussian
import numpy as np
from _common import (
    SETTLE_SECONDS,
    OtherLoad,
    best_time,
    environment_lines,
    fma_peak,
    fmt_n,
    fmt_time,
    load_average,
    markdown_table,
    parse_size,
)
from _common import wait_for_idle as _wait_for_idle
from kmeans import (
    CASES,
    LLOYD_METHODS,
    QUICK_DIVISOR,
    fmt_bytes,
    inertia64,
    initial_centers,
    lloyd_methods,
    make_data,
    plusplus_methods,
    print_machine_notes,
    time_methods,
    warm_up,
)
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score as sk_silhouette_score

import anomalykit
from anomalykit._utils._threads import engine_threads
from anomalykit.metrics import silhouette_score

ITERATIONS = 20
PP_CASE = "B"
SILHOUETTE_SIZES = (20_000, 50_000)
SILHOUETTE_SHAPE = (10, 8)  # features, clusters
TARGETS = {"lloyd": 2.0, "k-means++": 5.0, "silhouette": 3.0, "gaussian": 5.0, "read": 3.0}
GAUSSIAN_PEERS = ("NumPy", "SciPy", "sklearn GMM")
PEERS = [m for m in LLOYD_METHODS if m != "anomalykit"]


# ------------------------------------------------------------------ floors
def gemm_time(X: np.ndarray, m: int) -> float:
    """One ``X @ C.T`` with ``m`` rows of X as C (float32, BLAS's own threads)."""
    C = np.ascontiguousarray(X[:m])
    out = np.empty((X.shape[0], m), dtype=X.dtype)
    return best_time(lambda: np.dot(X, C.T, out=out))


def read_time(X: np.ndarray) -> float:
    """One pass reading every value of X: the faster of ``np.add.reduce`` (one
    thread, 22 GB/s on 2e5 x 128 float32) and the engine's threaded read
    (:func:`engine_gaussian.one_read`, 33-39 GB/s there), as for the Gaussian cells."""
    flat = X.reshape(-1)
    return min(
        best_time(lambda: np.add.reduce(flat)), best_time(lambda: engine_gaussian.one_read(X))
    )


@functools.cache
def machine_fma_peak() -> float:
    """FLOP/s of every core at the FMA peak: one thread's, measured once, x the cores."""
    return fma_peak() * engine_threads()


def fma_time(products: float) -> float:
    """The least time for ``products`` multiply-adds (``products`` x 2 FLOP)."""
    return 2 * products / machine_fma_peak()


def floor_note(ours: float, gemm: float, read: float, fma: float) -> str:
    """The floors of a K-means row and how close ours came to them."""
    return (
        f"GEMM {fmt_time(gemm)} ({ours / gemm:.2f}); read {fmt_time(read)} ({ours / read:.1f}); "
        f"FMA {fmt_time(fma)} ({ours / fma:.2f})"
    )


def target_check(target: float, peer: float, ours: float, fma: float) -> str:
    """``>= Nx: yes/no``; where it is missed, ours took at least the FMA floor
    (no sign of work skipped) and the target's time is under that floor, that."""
    check = f">= {target:g}x: {'yes' if peer / ours >= target else 'no'}"
    if peer / ours < target and peer / target < fma <= ours:
        check += f" ({target:g}x needs {fmt_time(peer / target)}: under the FMA floor)"
    return check


# ------------------------------------------------------------------ sections
class Section:
    """Timed runs of one section, with the machine's load around them."""

    def __init__(self, name: str, wait: float) -> None:
        self.name = name
        self.waited = _wait_for_idle(wait) if wait > 0 else None
        self.load = load_average()
        self.others = OtherLoad()

    def note(self) -> str:
        share = self.others.share()
        text = f"{self.name}: load {self.load} before, {load_average()} after"
        if share is not None:
            text += f"; other processes used {100 * share:.0f}% of the CPU time"
        if self.waited is not None:
            text += f" (waited for idle: {100 * self.waited:.0f}% busy at start)"
        return text


def warm_engine() -> None:
    """Compile (or load from Numba's cache) every kernel the timed runs use."""
    rng = np.random.default_rng(0)
    for d, k in ((32, 16), (2, 8)):
        X = rng.random((9000, d), dtype=np.float32)
        anomalykit.KMeans(k, init=X[:k], max_iter=3, tol=0).fit(X)
        anomalykit.kmeans_plusplus(X, k, random_state=0)
    X, y = make_blobs(600, 3, centers=3, random_state=0)
    silhouette_score(X, y)
    for dtype in (np.float64, np.float32):
        for cov in ("diag", "full"):
            engine_gaussian.ours_fit_score(X.astype(dtype), cov, "numba", 1e-12)


#: Cells of at most this many values (Lloyd C and D, Gaussian 1e6 x 2 and 8) take
#: milliseconds to a few hundred per call and are repeated ``--fast-repeats`` times.
FAST_CELL_VALUES = 8 * 10**6


def repeats_for(args, values: int) -> int:
    """Timed runs per method for a cell of ``values`` values: short cells get more,
    as their medians move most with the machine (full Gaussian 1e6 x 8, 11 rounds
    against NumPy: per-round ratios 3.6x to 25x, median 6.2x)."""
    return max(args.repeats, args.fast_repeats) if values <= FAST_CELL_VALUES else args.repeats


def lloyd_rows(args, loads: list[str]) -> list[list[str]]:
    rows = []
    for case in [c for c in CASES if c in args.cases]:
        n, d, k, kinds = CASES[case]
        n = n // QUICK_DIVISOR if args.quick else n
        for kind in kinds:
            X = make_data(kind, n, d, k, args.seed)
            C0 = initial_centers(X, k, args.seed)
            sec = Section(f"lloyd {case} {kind}", args.wait_idle)
            repeats = repeats_for(args, n * d)
            res = time_methods(lloyd_methods(C0, n, ITERATIONS, args.seed), X, repeats)
            gemm, read = ITERATIONS * gemm_time(X, k), ITERATIONS * read_time(X)
            fma = fma_time(ITERATIONS * n * k * d)
            loads.append(sec.note())
            inertia = {name: inertia64(X, res[name][1][0]) for name in LLOYD_METHODS}
            ours = res["anomalykit"][0]
            fastest = min(PEERS, key=lambda peer, res=res: res[peer][0])
            speedup = res[fastest][0] / ours
            check = target_check(TARGETS["lloyd"], res[fastest][0], ours, fma)
            for name in LLOYD_METHODS:
                t, (_, n_iter), peak = res[name]
                rows.append([
                    "Lloyd", f"{case} {kind}", f"{fmt_n(n)} x {d}, k={k}", name,
                    fmt_time(t), str(n_iter), f"{inertia[name] / inertia['sklearn lloyd'] - 1:+.1e}",
                    fmt_bytes(peak),
                    f"{speedup:.2f}x vs {fastest}" if name == "anomalykit" else "",
                    check if name == "anomalykit" else "",
                    floor_note(ours, gemm, read, fma) if name == "anomalykit" else "",
                ])  # fmt: skip
            print(f"done lloyd {case} {kind} ({load_average()})", file=sys.stderr, flush=True)
            del X, res
    return rows


def plusplus_rows(args, loads: list[str]) -> list[list[str]]:
    rows = []
    n, d, k, kinds = CASES[PP_CASE]
    n = n // QUICK_DIVISOR if args.quick else n
    trials = 2 + int(np.log(k))
    for kind in kinds:
        X = make_data(kind, n, d, k, args.seed)
        sec = Section(f"k-means++ {PP_CASE} {kind}", args.wait_idle)
        res = time_methods(plusplus_methods(k), X, args.repeats)
        gemm, read = k * gemm_time(X, trials), k * read_time(X)
        fma = fma_time(k * n * trials * d)
        loads.append(sec.note())
        ours, ref = res["anomalykit"][0], res["sklearn"][0]
        ref_inertia = inertia64(X, res["sklearn"][1])
        for name, (t, centers, peak) in res.items():
            inertia = inertia64(X, centers)
            mine = name == "anomalykit"
            rows.append([
                "k-means++", f"{PP_CASE} {kind}", f"{fmt_n(n)} x {d}, k={k}", name, fmt_time(t),
                "", f"{inertia:.5e} ({inertia / ref_inertia - 1:+.1e})", fmt_bytes(peak),
                f"{ref / ours:.2f}x vs sklearn" if mine else "",
                target_check(TARGETS["k-means++"], ref, ours, fma) if mine else "",
                floor_note(ours, gemm, read, fma) if mine else "",
            ])  # fmt: skip
        print(f"done k-means++ {kind} ({load_average()})", file=sys.stderr, flush=True)
        del X, res
    return rows


def silhouette_rows(args, loads: list[str]) -> list[list[str]]:
    rows = []
    d, k = SILHOUETTE_SHAPE
    for n in SILHOUETTE_SIZES:
        n = n // QUICK_DIVISOR if args.quick else n
        X, y = make_blobs(n, d, centers=k, random_state=args.seed)
        sec = Section(f"silhouette n={n}", args.wait_idle)
        methods = {
            "anomalykit": lambda X, y=y: silhouette_score(X, y),
            "sklearn": lambda X, y=y: sk_silhouette_score(X, y),
        }
        res = time_methods(methods, X, args.repeats)
        loads.append(sec.note())
        ours, ref = res["anomalykit"][0], res["sklearn"][0]
        diff = abs(res["anomalykit"][1] - res["sklearn"][1])
        for name, (t, value, peak) in res.items():
            mine = name == "anomalykit"
            speed_ok = ref / ours >= TARGETS["silhouette"]
            mem_ok = peak < 1e9
            rows.append([
                "silhouette", f"blobs, {k} clusters", f"{fmt_n(n)} x {d}", name, fmt_time(t), "",
                f"{value:.12f}" + (f" (|diff| {diff:.1e})" if mine else ""), fmt_bytes(peak),
                f"{ref / ours:.2f}x vs sklearn" if mine else "",
                f">= 3x: {'yes' if speed_ok else 'no'}; < 1 GB: {'yes' if mem_ok else 'no'}; "
                f"<= 1e-10: {'yes' if diff <= 1e-10 else 'no'}" if mine else "",
                "",
            ])  # fmt: skip
        print(f"done silhouette {n} ({load_average()})", file=sys.stderr, flush=True)
    return rows


def gaussian_rows(args, loads: list[str]) -> list[list[str]]:
    rows = []
    rng = np.random.default_rng(args.seed)
    for n in args.gaussian_sizes:
        n = n // QUICK_DIVISOR if args.quick else n
        for d in (2, 8) if args.quick else engine_gaussian.DEFAULT_DIMS:
            big = n * d * 8 > engine_gaussian.BIG_BYTES
            dtype = np.float32 if big else np.float64
            X = engine_gaussian.make_data(n, d, dtype, rng)
            for cov in ("diag", "full"):
                sec = Section(f"gaussian {fmt_n(n)} x {d} {cov}", args.wait_idle)
                cell = engine_gaussian.run_cell(n, d, cov, X, repeats_for(args, n * d))
                loads.append(sec.note())
                t = cell["times"]
                ours = t["ours"]
                peers = [p for p in GAUSSIAN_PEERS if p in t]
                fastest = min(peers, key=t.__getitem__)
                speedup = t[fastest] / ours
                read, floor = engine_gaussian.fit_score_floor(t)
                checks = f">= {TARGETS['gaussian']:g}x: {'yes' if speedup >= 5 else 'no'}"
                if d <= 16:
                    checks += f"; <= 3x read: {'yes' if ours / read <= 3 else 'no'}"
                    if floor / read > TARGETS["read"]:
                        checks += f" (floor {floor / read:.1f} reads)"
                for name in ("ours", *peers):
                    mine = name == "ours"
                    rows.append([
                        "Gaussian", f"{cov}, {np.dtype(dtype).name}", f"{fmt_n(n)} x {d}",
                        "anomalykit" if mine else name, fmt_time(t[name]), "",
                        f"{cell['diff']:.0e} vs NumPy" if mine else "", "",
                        f"{speedup:.2f}x vs {fastest}" if mine else "",
                        checks if mine else "",
                        f"read {fmt_time(read)} ({ours / read:.1f}); "
                        f"2 passes {fmt_time(floor)} ({ours / floor:.2f})"
                        + (f"; BLAS {fmt_time(t['BLAS'])} ({ours / t['BLAS']:.1f})"
                           if "BLAS" in t else "") if mine else "",
                    ])  # fmt: skip
                print(f"done gaussian {n} {d} {cov} ({load_average()})", file=sys.stderr)
            del X
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts", nargs="+", choices=["lloyd", "pp", "silhouette", "gaussian"],
        default=["lloyd", "pp", "silhouette", "gaussian"], help="sections to run (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--gaussian-sizes", nargs="+", type=parse_size, default=list(engine_gaussian.DEFAULT_SIZES),
        metavar="N", help="rows of the Gaussian cells (default 1e6 1e7)",
    )  # fmt: skip
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (3)")
    parser.add_argument(
        "--fast-repeats",
        type=int,
        default=7,
        help="timed runs per method in cells of at most 8e6 values (7)",
    )
    parser.add_argument("--quick", action="store_true", help=f"n / {QUICK_DIVISOR} everywhere")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each section wait up to SECONDS for other processes to use < 10%% CPU",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    started = time.perf_counter()
    warm_up(args.seed)
    warm_engine()
    rows: list[list[str]] = []
    loads: list[str] = []
    if "lloyd" in args.parts:
        rows += lloyd_rows(args, loads)
    if "pp" in args.parts:
        rows += plusplus_rows(args, loads)
    if "silhouette" in args.parts:
        rows += silhouette_rows(args, loads)
    if "gaussian" in args.parts:
        rows += gaussian_rows(args, loads)

    print(
        "Compiled engine (issue 6): Lloyd, k-means++, silhouette (float32 K-means data), Gaussian"
    )
    for line in environment_lines(load_before):
        print(line)
    print(
        f"seed {args.seed}; medians of {args.repeats} runs ({args.fast_repeats} in cells of "
        f"at most {FAST_CELL_VALUES:.0e} values), methods take turns, "
        f"{SETTLE_SECONDS} s of rest before each; "
        f"Lloyd: {ITERATIONS} iterations, tol=0, same initial centres"
        + ("; --quick: n / 10" if args.quick else "")
    )
    print()
    header = [
        "part", "case", "shape", "method", "time", "iters", "inertia / value", "peak RSS +",
        "speed-up", "target", "floor (ours / floor)",
    ]  # fmt: skip
    print(markdown_table(header, rows, left=4))
    if "gaussian" in args.parts:
        print("Gaussian peers not run: " + engine_gaussian.SKIPPED)
    print()
    print_machine_notes("section", loads)
    print(f"total run time: {fmt_time(time.perf_counter() - started)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
