"""Model selection for benchmarks/odds.py on data sets that are NOT in it.

``benchmarks/odds.py`` compares anomalykit with PyOD's published table on the
17 ODDS files. Choosing a detector by its mean on those same files would use
their test labels for the choice. This script is where the choice is made
instead: the same protocol (PyOD's: ten 60/40 splits with ``RandomState(i)``,
``StandardScaler`` fitted on train, rounded test ROC-AUC, mean of ten; see
``odds.py``) on the ADBench files of ``shared/data/adbench`` that share no
source with an ODDS file -- 24 data sets from thyroid tests to network
traffic, 80 to 619,326 rows, 3 to 1,555 features. Left out as ODDS relatives:
the 12 ADBench files byte-identical to ODDS ones, ADBench's own glass,
Ionosphere, Lymphography and WBC, Cardiotocography (the cardio source),
landsat (satellite) and WDBC (wbc). Files over 50,000 rows use the first
three splits only (time), which the table marks.

The rule, fixed before the ODDS run: the detector with the highest mean here
is the one ``odds.py`` names as expected best, with the settings it has here.

What this run chose (2026-11-26, 2-core EPYC; 24 files):

======================================  ========
detector                                dev mean
======================================  ========
diag                                    0.7181
full LW (Ledoit-Wolf shrinkage)         0.7302
K-means + Gaussians* (odds.py)          0.7383
robust diag                             0.7506
**robust full LW**                      **0.7683**
======================================  ========

The robust fit got to this form in three steps, each judged here first:

1. iterated reweighting alone: robust diag 0.7500, robust full LW 0.7660
   here; then its one ODDS run, 0.8191;
2. a review found that a feature shared by all the kept rows (a count that is
   mostly 0) collapsed to a zero variance, so that its other values scored as
   extreme anomalies; the fix gave such a feature the variance of all rows:
   0.7528 / 0.7680 here, 0.8231 on ODDS -- but there the refits swung between
   two states and stopped at 100 on cardio, mnist and optdigits;
3. such a feature now keeps the spread of all rows once it has collapsed, so
   the refits settle (no ConvergenceWarning in either benchmark): the table
   above, then 0.8249 on ODDS.

Steps 2 and 3 were made for the collapse and for the convergence, not for a
score, and the rule kept robust full LW at each; but the ODDS tables of the
earlier steps had been seen when they were made.

Also tried in the exploration before this script, and rejected on these files
(means over the 23 files other than InternetAds): a Yeo-Johnson power
transform before full LW 0.730; the mean of the standardised scores of full
LW and K-means + Gaussians 0.746; K-means + Gaussians with CBLOF's
large-cluster rule 0.739, or with each cluster's Gaussian reweighted 0.730;
one reweighting step (MCD's) 0.754, two steps 0.762, iterated to the fixed
point 0.769 (ten steps 0.770, not a fixed rule).

Run::

    python benchmarks/odds_dev.py                  # ~1.5 minutes on 2 cores
    python benchmarks/odds_dev.py --data PATH      # another copy of the ADBench folder
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import environment_lines, load_average, markdown_table
from odds import DETECTORS as ODDS_DETECTORS
from odds import files_present, protocol_auc

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"
#: ADBench files with no source in common with an ODDS file (see the docstring).
DEV_FILES = (
    "1_ALOI", "2_annthyroid", "4_breastw", "5_campaign", "8_celeba", "10_cover", "11_donors",
    "12_fault", "15_Hepatitis", "16_http", "17_InternetAds", "22_magic.gamma",
    "23_mammography", "27_PageBlocks", "33_skin", "34_smtp", "35_SpamBase", "37_Stamps",
    "38_thyroid", "41_Waveform", "44_Wilt", "45_wine", "46_WPBC", "47_yeast",
)  # fmt: skip
#: Files with more rows than this use only the first LARGE_SPLITS splits.
LARGE_ROWS = 50_000
LARGE_SPLITS = 3

#: odds.py's detectors, minus "full" (PyOD GMM's reproduction) and "centroid".
DETECTORS = [
    d
    for d in ODDS_DETECTORS
    if d.name in ("diag", "full LW", "K-means + Gaussians*", "robust diag", "robust full LW")
]


def load_adbench(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 and ``y`` as a flat 0/1 vector from one ADBench ``.npz`` file."""
    with np.load(path, allow_pickle=False) as data:
        return np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).ravel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA,
        help=f"folder holding the ADBench .npz files (default {DEFAULT_DATA})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not files_present(args.data, [f"{f}.npz" for f in DEV_FILES], "ADBench", "adbench"):
        return 2
    load_before = load_average()
    wall_start = time.perf_counter()
    names = [d.name for d in DETECTORS]
    rows, means = [], {n: [] for n in names}
    for file in DEV_FILES:
        X, y = load_adbench(args.data / f"{file}.npz")
        splits = LARGE_SPLITS if X.shape[0] > LARGE_ROWS else 10
        start = time.perf_counter()
        result, _, _ = protocol_auc(X, y, DETECTORS, n_splits=splits)
        for n in names:
            means[n].append(result[n])
        rows.append([
            file, str(X.shape[0]), str(X.shape[1]), f"{100 * np.mean(y == 1):.2f}", str(splits),
            *(f"{result[n]:.4f}" for n in names),
        ])  # fmt: skip
        print(f"done {file} {X.shape} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    mean = {n: float(np.mean(v)) for n, v in means.items()}
    rows.append([f"**mean ({len(DEV_FILES)})**", "", "", "", "",
                 *(f"**{mean[n]:.4f}**" for n in names)])  # fmt: skip
    print("Model selection on ADBench files outside ODDS, PyOD's protocol (see odds.py):")
    print("test ROC-AUC rounded to 4 decimals, mean over the splits.")
    print()
    print(markdown_table(["data set", "n", "d", "% out", "splits", *names], rows))
    print()
    best = max(names, key=mean.__getitem__)
    print(f"Highest mean: {best} ({mean[best]:.4f}) -- odds.py's expected best.")
    print("* = candidate implemented in benchmarks/odds.py, not in the library.")
    print()
    for line in environment_lines(load_before):
        print(line)
    print(f"wall time {time.perf_counter() - wall_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
