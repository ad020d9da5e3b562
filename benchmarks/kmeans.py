"""Benchmark: KMeans (Lloyd) against scikit-learn (lloyd, elkan) and faiss, plus k-means++.

Measured, per case, on the same float32 matrix X and from the SAME initial
centres C0 (k distinct rows of X drawn with a fixed seed), 20 Lloyd iterations
with tolerance 0:

* **anomalykit** -- ``anomalykit.KMeans(k, init=C0, n_init=1, max_iter=20, tol=0).fit(X)``.
* **sklearn lloyd / elkan** -- ``sklearn.cluster.KMeans(k, init=C0, n_init=1,
  max_iter=20, tol=0, algorithm="lloyd" | "elkan", random_state=0).fit(X)``.
* **faiss** -- ``faiss.Kmeans(d, k, niter=20, spherical=False, seed=0,
  max_points_per_centroid=n // k + 1, min_points_per_centroid=1,
  early_stop_threshold=0).train(X, init_centroids=C0)``. With
  ``max_points_per_centroid = n // k + 1`` we have ``k * max_points_per_centroid
  > n``, so faiss trains on ALL rows (its default of 256 points per centroid
  would subsample every case here); ``min_points_per_centroid=1`` only
  silences its too-few-points warning; ``early_stop_threshold=0`` keeps all
  ``niter`` iterations.

anomalykit and scikit-learn stop before ``max_iter`` when the labels stop
changing (strict convergence, even with ``tol=0``); faiss always runs ``niter``
iterations. The iteration count of every run is therefore printed, with the
time per iteration (total time / iterations: it still includes each library's
fixed costs -- validation, centring, the final assignment).

The inertia column is recomputed by this script, in float64 on the full data,
from each library's final centres: the sum over rows of the squared distance
to the nearest centre (faiss's own objective is that of the last assignment,
and on its subsample when it subsamples, faiss issue #2511; scikit-learn's and
ours are float32 sums). "vs lloyd" is that inertia relative to sklearn lloyd's.

"peak RSS +" is the largest increase of the process's resident set during one
call of the method over the resident set just before it (the data X is
already resident). Before each timed call (outside the timed interval) the
heap memory freed by earlier calls is handed back to the kernel
(``malloc_trim(0)``) and the kernel's high-water mark is reset
(``/proc/self/clear_refs``); after it ``VmHWM`` is read. So every timed call
faults in its working memory afresh, as a single call in a program would.
"n/a" where the kernel does not allow the reset.

A second table times k-means++ initialisation alone on case B:
``anomalykit.kmeans_plusplus(X, k, random_state=0)`` against
``sklearn.cluster.kmeans_plusplus(X, k, random_state=0)``, with the inertia of
the centres each returns (float64, full data, as above). The two draw
different random numbers, so their centres differ.

Data: "uniform" is U[0, 1)^d; "blobs" is ``sklearn.datasets.make_blobs(n, d,
centers=k)``; both float32. Times are medians over ``--repeats`` runs
(``time.perf_counter``); the methods take turns, one run each per round, each after
0.3 s of rest (``_common.time_runs``: the previous library's BLAS threads stop spinning).
Every library runs with its default thread pools (listed in the header).
On a shared machine, ``--wait-idle SECONDS`` waits before each case until
other processes use under 10% of the CPU; under the tables, each case's
load average and the CPU share other processes took during its runs are
printed, so a disturbed case can be seen and re-run (``--cases``).

Run::

    python benchmarks/kmeans.py                   # cases A B C D and k-means++ on B
    python benchmarks/kmeans.py --quick           # n / 10, for a smoke test
    python benchmarks/kmeans.py --cases A B --repeats 5
    python benchmarks/kmeans.py --cases pp        # k-means++ only
    python benchmarks/kmeans.py --wait-idle 300   # shared machine: wait for quiet
"""

from __future__ import annotations

import argparse
import ctypes
import sys
from collections.abc import Callable
from typing import Any

try:
    import faiss
except ImportError:  # the peer comes with the [bench] extra
    raise SystemExit("benchmarks/kmeans.py needs faiss: pip install -e '.[bench]'") from None
import numpy as np
from _common import (
    SETTLE_SECONDS,
    OtherLoad,
    environment_lines,
    fmt_n,
    fmt_time,
    load_average,
    markdown_table,
    time_runs,
    wait_for_idle,
)
from sklearn.cluster import KMeans as SKKMeans
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import make_blobs

import anomalykit

#: name -> (n, d, k, data kinds)
CASES: dict[str, tuple[int, int, int, tuple[str, ...]]] = {
    "A": (10**6, 32, 64, ("uniform",)),
    "B": (2 * 10**5, 128, 256, ("uniform", "blobs")),
    "C": (10**6, 2, 8, ("blobs", "uniform")),
    "D": (10**5, 64, 10, ("uniform",)),
}
PP_CASE = "B"  # the case whose data k-means++ is timed on
QUICK_DIVISOR = 10
ITERATIONS = 20
LLOYD_METHODS = ("anomalykit", "sklearn lloyd", "sklearn elkan", "faiss")

Result = tuple[np.ndarray, int]  # final centres, iterations run


# ------------------------------------------------------------------ data
def make_data(kind: str, n: int, d: int, k: int, seed: int) -> np.ndarray:
    """``n x d`` float32, C-contiguous: U[0, 1) or ``make_blobs`` with ``k`` centres."""
    if kind == "uniform":
        return np.random.default_rng(seed).random((n, d), dtype=np.float32)
    if kind == "blobs":
        X, _ = make_blobs(n_samples=n, n_features=d, centers=k, random_state=seed)
        return np.ascontiguousarray(X, dtype=np.float32)
    raise ValueError(f"unknown data kind {kind!r}")


def initial_centers(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` distinct random rows of ``X`` (distinct as rows, not only as indices)."""
    rng = np.random.default_rng(seed + 1)
    idx = rng.choice(X.shape[0], size=k, replace=False)
    C0 = np.array(X[idx], dtype=np.float32)
    if np.unique(C0, axis=0).shape[0] != k:
        raise RuntimeError("the drawn initial rows are not distinct; change --seed")
    return C0


def inertia64(X: np.ndarray, centers: np.ndarray, block: int = 65536) -> float:
    """Sum of squared distances to the nearest centre, in float64 on all rows.

    The nearest centre is found with the expanded formula in float64; the
    distance to it is then computed directly as ``sum((x - c)^2)``.
    """
    C = np.asarray(centers, dtype=np.float64)
    c_sq = np.einsum("ij,ij->i", C, C)
    total = 0.0
    for start in range(0, X.shape[0], block):
        Xb = X[start : start + block].astype(np.float64)
        D = Xb @ C.T
        D *= -2
        D += c_sq
        diff = Xb - C[np.argmin(D, axis=1)]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


# ------------------------------------------------------------------ methods
def lloyd_methods(C0: np.ndarray, n: int, iters: int, seed: int) -> dict[str, Callable]:
    k, d = C0.shape

    def ours(X: np.ndarray) -> Result:
        km = anomalykit.KMeans(k, init=C0, n_init=1, max_iter=iters, tol=0).fit(X)
        return km.cluster_centers_, km.n_iter_

    def sklearn(algorithm: str) -> Callable[[np.ndarray], Result]:
        def fit(X: np.ndarray) -> Result:
            km = SKKMeans(
                k, init=C0, n_init=1, max_iter=iters, tol=0, algorithm=algorithm, random_state=0
            ).fit(X)
            return km.cluster_centers_, km.n_iter_

        return fit

    def faiss_kmeans(X: np.ndarray) -> Result:
        km = faiss.Kmeans(
            d,
            k,
            niter=iters,
            spherical=False,
            seed=seed,
            max_points_per_centroid=n // k + 1,  # k * this > n: no subsampling
            min_points_per_centroid=1,
            early_stop_threshold=0.0,
            verbose=False,
        )
        km.train(X, init_centroids=C0)
        return km.centroids, len(km.obj)

    return {
        "anomalykit": ours,
        "sklearn lloyd": sklearn("lloyd"),
        "sklearn elkan": sklearn("elkan"),
        "faiss": faiss_kmeans,
    }


def plusplus_methods(k: int) -> dict[str, Callable]:
    return {
        "anomalykit": lambda X: anomalykit.kmeans_plusplus(X, k, random_state=0)[0],
        "sklearn": lambda X: sk_kmeans_plusplus(X, k, random_state=0)[0],
    }


# ------------------------------------------------------------------ peak memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _malloc_trim() -> Callable[[], Any]:
    """glibc's ``malloc_trim(0)``, or a no-op where there is none."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):
        return lambda: None


class PeakMemory:
    """``before``/``after`` hooks for :func:`_common.time_runs`: the peak RSS
    increase of each call over the resident set just before it.

    Before each call, freed heap memory is handed back to the kernel
    (``malloc_trim``) and the high-water mark is reset (``/proc/self/clear_refs``),
    so that memory the allocator kept from an earlier call does not hide this
    call's use; after it, ``VmHWM`` is read. NaN where the kernel refuses.
    """

    def __init__(self) -> None:
        self.trim = _malloc_trim()
        self.by_name: dict[str, list[float]] = {}
        self.process_peak = 0.0
        self._rss = 0

    def before(self, name: str) -> None:
        self.trim()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            self._rss = _status_kib("VmRSS")
        except OSError:
            self._rss = -1

    def after(self, name: str) -> None:
        hwm = _status_kib("VmHWM")
        self.process_peak = max(self.process_peak, hwm * 1024.0)
        peak = float("nan") if self._rss < 0 else (hwm - self._rss) * 1024.0
        self.by_name.setdefault(name, []).append(peak)

    def peak(self, name: str) -> float:
        return max(self.by_name.get(name, [float("nan")]))


MEMORY = PeakMemory()


def fmt_bytes(b: float) -> str:
    if b != b:  # NaN
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


# ------------------------------------------------------------------ runs
def time_methods(
    methods: dict[str, Callable], X: np.ndarray, repeats: int
) -> dict[str, tuple[float, Any, float]]:
    """Median time, last result and largest peak RSS increase of each method on ``X``."""
    tasks = {name: (lambda fn=fn: fn(X), repeats) for name, fn in methods.items()}
    MEMORY.by_name.clear()
    timed = time_runs(tasks, repeats, order="turns", before=MEMORY.before, after=MEMORY.after)
    return {name: (t, result, MEMORY.peak(name)) for name, (t, result) in timed.items()}


def warm_up(seed: int) -> None:
    """One small run of every method: library loading and thread start-up are not timed."""
    X = make_data("uniform", 2000, 8, 4, seed)
    C0 = initial_centers(X, 4, seed)
    for fn in lloyd_methods(C0, X.shape[0], 3, seed).values():
        fn(X)
    for fn in plusplus_methods(4).values():
        fn(X)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases", nargs="+", choices=[*CASES, "pp"], default=[*CASES, "pp"],
        help="Lloyd cases to run, and 'pp' for k-means++ on case B (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per method; medians (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help=f"n / {QUICK_DIVISOR} in every case")
    parser.add_argument("--iters", type=int, default=ITERATIONS, help="Lloyd iterations (20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each case, wait up to SECONDS until other processes use < 10%% of the "
        "CPU (a shared machine); default 0: do not wait",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.iters < 1:
        parser.error("--repeats and --iters must be at least 1")
    return args


def note(what: str, load: str, share: float | None, waited: float | None) -> str:
    """One line on the machine's load around a case's timed runs."""
    text = f"{what}: load {load} before, {load_average()} after"
    if share is not None:
        text += f"; other processes used {100 * share:.0f}% of the CPU time during the runs"
    if waited is not None:
        text += f" (waited for idle: {100 * waited:.0f}% busy at start)"
    return text


def case_size(name: str, quick: bool) -> tuple[int, int, int, tuple[str, ...]]:
    n, d, k, kinds = CASES[name]
    return (n // QUICK_DIVISOR if quick else n), d, k, kinds


def print_machine_notes(per: str, loads: list[str]) -> None:
    """The load around each timed part and the largest resident set of any timed call."""
    print(f"machine load per {per} (load average 1/5/15 min; CPU share of other processes):")
    for line in loads:
        print(f"  {line}")
    print(f"largest resident set during any timed call: {fmt_bytes(MEMORY.process_peak)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    warm_up(args.seed)
    rows, pp_rows, loads = [], [], []

    for case in [c for c in CASES if c in args.cases]:
        n, d, k, kinds = case_size(case, args.quick)
        for kind in kinds:
            X = make_data(kind, n, d, k, args.seed)
            C0 = initial_centers(X, k, args.seed)
            waited = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
            load, others = load_average(), OtherLoad()
            res = time_methods(lloyd_methods(C0, n, args.iters, args.seed), X, args.repeats)
            loads.append(note(f"{case} {kind}", load, others.share(), waited))
            inertia = {name: inertia64(X, res[name][1][0]) for name in LLOYD_METHODS}
            ref_t, (_, ref_it), _ = res["sklearn lloyd"]
            for name in LLOYD_METHODS:
                t, (_, n_iter), peak = res[name]
                rel = inertia[name] / inertia["sklearn lloyd"] - 1
                rows.append([
                    case, kind, fmt_n(n), str(d), str(k), name,
                    fmt_time(t), str(n_iter), fmt_time(t / n_iter),
                    f"{t / ref_t:.2f}", f"{(t / n_iter) / (ref_t / ref_it):.2f}",
                    f"{inertia[name]:.7e}", f"{rel:+.1e}", fmt_bytes(peak),
                ])  # fmt: skip
            print(f"done {case} {kind} (load {load_average()})", file=sys.stderr, flush=True)
            del X, res

    if "pp" in args.cases:
        n, d, k, kinds = case_size(PP_CASE, args.quick)
        for kind in kinds:
            X = make_data(kind, n, d, k, args.seed)
            waited = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
            load, others = load_average(), OtherLoad()
            res = time_methods(plusplus_methods(k), X, args.repeats)
            loads.append(note(f"k-means++ {PP_CASE} {kind}", load, others.share(), waited))
            ref_t = res["sklearn"][0]
            ref_inertia = inertia64(X, res["sklearn"][1])
            for name, (t, centers, peak) in res.items():
                inertia = inertia64(X, centers)
                pp_rows.append([
                    PP_CASE, kind, fmt_n(n), str(d), str(k), name, fmt_time(t),
                    f"{t / ref_t:.2f}", f"{inertia:.7e}", f"{inertia / ref_inertia - 1:+.1e}",
                    fmt_bytes(peak),
                ])  # fmt: skip
            print(f"done k-means++ {kind} (load {load_average()})", file=sys.stderr, flush=True)
            del X, res

    print(f"K-means: {args.iters} Lloyd iterations, tol=0, same float32 data and initial centres")
    for line in environment_lines(load_before):
        print(line)
    print(
        f"faiss {faiss.__version__} (OpenMP threads: {faiss.omp_get_max_threads()}); "
        f"seed {args.seed}; times are medians of {args.repeats} runs, methods take turns "
        f"({SETTLE_SECONDS} s of rest before each)" + ("; --quick: n / 10" if args.quick else "")
    )
    print()
    if rows:
        header = [
            "case", "data", "n", "d", "k", "method", "time", "iters", "time/iter",
            "time / lloyd", "time/iter / lloyd", "inertia (float64)", "vs lloyd", "peak RSS +",
        ]  # fmt: skip
        print(markdown_table(header, rows, left=2))
        print()
    if pp_rows:
        print(f"k-means++ initialisation alone (greedy, random_state=0), case {PP_CASE}")
        print()
        header = [
            "case", "data", "n", "d", "k", "method", "time", "time / sklearn",
            "inertia (float64)", "vs sklearn", "peak RSS +",
        ]  # fmt: skip
        print(markdown_table(header, pp_rows, left=2))
        print()
    print_machine_notes("case", loads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
