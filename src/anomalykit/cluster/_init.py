"""Initial centres: greedy k-means++ and the guide's K distinct random rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._utils._engine import compiled_module
from .._utils._random import as_generator
from .._utils._threads import dot_unthreaded, engine_threads
from .._utils._validation import check_real, check_sample_weight
from ._lloyd import _chunks, _run_blocks, row_norms_sq

__all__ = ["kmeans_plusplus", "random_rows"]


def _rows(X: np.ndarray | sp.csr_matrix, idx: np.ndarray) -> np.ndarray:
    out = X[idx]
    return out.toarray() if sp.issparse(out) else np.array(out)


def _sq_dist_to(X: np.ndarray | sp.csr_matrix, x_sq: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared distances (len(points), n) from each point to every row, clipped at 0."""
    D = np.asarray(X @ points.T).T
    D *= -2
    D += x_sq
    D += np.einsum("ij,ij->i", points, points)[:, np.newaxis]
    np.maximum(D, 0, out=D)
    return D


#: Rows per block of the trial pass: one product with a step's candidates (512 KiB
#: of float32 rows at 128 features, in L2). Against 512 rows, median of 5: case B
#: uniform 1.20 -> 1.15 s, blobs 0.99 -> 0.96 s; 5e5 x 8, 2e5 x 32 and 5e4 x 512
#: blobs 1-4% faster (fewer blocks to set up, and a smaller share of each block's
#: first rows read before their prefetch).
_GATHER_ROWS = 1024
#: Rows per block of the draws' cumulative sums (see :func:`_draw`).
_DRAW_BLOCK = 1024


def greedy_kmeans_plusplus(
    X: np.ndarray | sp.csr_matrix,
    n_clusters: int,
    sample_weight: np.ndarray,
    rng: np.random.Generator,
    x_sq_norms: np.ndarray | None = None,
    n_local_trials: int | None = None,
    *,
    engine: str | None = None,
    threads: int | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, as in scikit-learn).

    Each new centre is the best of ``n_local_trials`` (default ``2 + log k``)
    rows drawn with probability proportional to weight x squared distance to
    the nearest chosen centre: the one that lowers the total most. Prior
    validation is assumed. ``x_sq_norms``: the rows' squared norms, read by
    the NumPy path only (computed there when None; the compiled path forms
    its own in float64).

    ``engine``: None or "auto" evaluates all the candidates of a step in one
    compiled pass over dense rows (:mod:`._numba_init`: threaded over chunks
    of rows, one product per block of rows with all the candidates -- by
    register panels for 16 or more features on AVX-512, else BLAS -- and
    float64 distances; rows that no candidate can bring closer, by the
    triangle inequality, are not read); "numpy" (also the path of sparse rows)
    forms the candidates' distance matrix with one BLAS product per step, in
    X's dtype.
    Both draw the same random numbers, in the same order, so they pick the same
    candidates but where rounding moves a draw across a row's boundary in the
    cumulative sum.

    ``shift`` (dense rows; X's dtype): the distances are those of ``X -
    shift`` (distances by ``||x||^2 - 2 x.c + ||c||^2`` lose digits far from
    the origin: pass the mean). The compiled path subtracts it from each row
    as it reads it, with no centred copy of X (which, for 2e5 x 128 float32,
    is 102 MB and took 17 ms to write, about 220 ms where its huge pages had
    to be assembled first: see :mod:`anomalykit._utils._memory`); the NumPy
    path makes the copy. The centres returned are rows of ``X``.
    """
    n = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = rng.choice(n, p=sample_weight / sample_weight.sum())
    kernels = None if sp.issparse(X) else _compiled_init(engine)
    if kernels is not None:
        _greedy_compiled(kernels, X, shift, indices, sample_weight, rng, n_local_trials, threads)
        return _rows(X, indices), indices
    original = X
    if shift is not None:
        X, x_sq_norms = X - shift, None
    if x_sq_norms is None:
        x_sq_norms = row_norms_sq(X)
    closest = _sq_dist_to(X, x_sq_norms, _rows(X, indices[:1]))[0]
    potential = dot_unthreaded(closest, sample_weight)
    for c in range(1, n_clusters):
        cum = np.cumsum(sample_weight * closest)
        draws = rng.uniform(size=n_local_trials) * potential
        candidates = np.minimum(np.searchsorted(cum, draws), n - 1)
        trial = _sq_dist_to(X, x_sq_norms, _rows(X, candidates))
        np.minimum(closest, trial, out=trial)
        pots = np.einsum("ij,j->i", trial, sample_weight)  # (no BLAS threads: see dot_unthreaded)
        best = int(np.argmin(pots))
        potential, closest = pots[best], trial[best]
        indices[c] = candidates[best]
    return _rows(original, indices), indices


def _greedy_compiled(
    kernels,
    X: np.ndarray,
    shift: np.ndarray | None,
    indices: np.ndarray,
    w: np.ndarray,
    rng: np.random.Generator,
    n_trials: int,
    threads: int | None,
) -> None:
    """:func:`greedy_kmeans_plusplus` after its first centre, by compiled passes:
    fills ``indices[1:]``.

    Per step, one threaded pass evaluates every candidate
    (:func:`._numba_init.trial_chunk`: float64 distances, each candidate's
    gain; rows a candidate cannot bring closer are skipped by the triangle
    inequality) and a light one (:func:`._numba_init.update_chunk`) moves the
    rows the chosen candidate brings closer and sums ``w * closest`` per block
    of rows for the next draws (:func:`_draw`). Chunk sums are added in chunk
    order: the result does not depend on the number of threads.
    """
    X = np.ascontiguousarray(X)
    w = np.ascontiguousarray(w, dtype=np.float64)
    (n, d), k = X.shape, indices.shape[0]
    shift = np.zeros(0, X.dtype) if shift is None else np.ascontiguousarray(shift, dtype=X.dtype)
    blocks = _chunks(n, n_trials * d)
    threads = engine_threads() if threads is None else threads
    x_sq = np.empty(n)
    _run_blocks(
        lambda start, stop: kernels.shifted_sq_norms_chunk(X, shift, x_sq, start, stop),
        blocks, threads,
    )  # fmt: skip
    index = {start: b for b, (start, _) in enumerate(blocks)}
    # the draws' blocks: each chunk's rows in blocks of _DRAW_BLOCK, in row order
    starts = np.concatenate([np.arange(a, b, _DRAW_BLOCK) for a, b in blocks])
    first_block = {a: int(np.searchsorted(starts, a)) for a, _ in blocks}
    block_sums = np.empty(len(starts))
    closest = np.full(n, np.inf)
    near = np.zeros(n, dtype=np.int64)
    lanes = -(-n_trials // kernels.LANES) * kernels.LANES  # candidates, padded (see trial_chunk)
    mins = np.empty((lanes, n))
    better = np.empty(n, dtype=np.uint8)  # per row: which candidates bring it closer
    chosen = np.empty((k, d))  # float64 copies of the chosen rows, and their norms
    chosen_sq = np.empty(k)

    def step(c: int, candidates: np.ndarray) -> int:
        """Evaluate the candidates for centre ``c``; keep the best; return its position."""
        t = len(candidates)
        cands = np.zeros((lanes, d), dtype=X.dtype)
        cands[:t] = X[candidates] - shift if len(shift) else X[candidates]
        c_sq = np.full(lanes, np.inf)
        c_sq[:t] = x_sq[candidates]
        cand64 = cands[:t].astype(np.float64)
        Cp, _ = kernels.panels_for(cands, np.einsum("ij,ij->i", cands, cands))
        cdT = np.zeros((max(c, 1), lanes))  # no centre yet: closest is inf
        if c > 0:
            cdist2 = c_sq[:t, np.newaxis] + chosen_sq[np.newaxis, :c] - 2 * cand64 @ chosen[:c].T
            np.maximum(cdist2, 0, out=cdist2)
            cdT[:, :t] = cdist2.T
        nearest2 = cdT[:, :t].min(axis=1)  # per chosen centre: the closest candidate
        parts = np.zeros((len(blocks), lanes))

        def trial(start: int, stop: int) -> None:
            kernels.trial_chunk(
                X, shift, x_sq, w, closest, near, cands, Cp, c_sq, cdT, nearest2, mins, better,
                parts[index[start]], start, stop, _GATHER_ROWS,
            )  # fmt: skip

        _run_blocks(trial, blocks, threads)
        gains = np.zeros(t)
        for part in parts:  # chunk order
            gains += part[:t]
        best = int(np.argmax(gains))  # the lowest potential; the first of equals

        def update(start: int, stop: int) -> None:
            kernels.update_chunk(
                closest, near, better, mins, best, c, w, block_sums[first_block[start]:],
                start, stop, _DRAW_BLOCK,
            )  # fmt: skip

        _run_blocks(update, blocks, threads)
        chosen[c] = cand64[best]
        chosen_sq[c] = c_sq[best]  # (best < t)
        indices[c] = candidates[best]
        return best

    step(0, indices[:1])
    stops = np.append(starts[1:], n)
    for c in range(1, k):
        step(c, _draw(rng, n_trials, w, closest, block_sums, starts, stops))


def _draw(
    rng: np.random.Generator,
    size: int,
    w: np.ndarray,
    closest: np.ndarray,
    block_sums: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
) -> np.ndarray:
    """``size`` rows drawn with probability ``w * closest`` (normalised), as
    ``searchsorted(cumsum(w * closest), uniform * total)`` but from the sums of
    blocks of rows (``block_sums[b]`` over rows ``starts[b]:stops[b]``): each
    draw finds its block from their cumulative sum, then its row in that
    block's own. The same random numbers as the NumPy path; the cumulative
    values differ from one running sum over all rows only by rounding (a draw
    within rounding of a block's end takes that block's last row of positive
    weight). Saves a pass over every row per centre (0.6 ms of 7 ms at
    2e5 rows)."""
    cum = np.cumsum(block_sums)
    draws = rng.uniform(size=size) * cum[-1]
    found = np.minimum(np.searchsorted(cum, draws), len(cum) - 1)
    rows = np.empty(size, dtype=np.intp)
    for j, (draw, b) in enumerate(zip(draws, found, strict=True)):
        lo, hi = starts[b], stops[b]
        local = np.cumsum(w[lo:hi] * closest[lo:hi])
        target = min(max(draw - (cum[b - 1] if b else 0.0), 0.0), local[-1])
        rows[j] = lo + np.searchsorted(local, target)
    return rows


def _compiled_init(engine: str | None):
    """The compiled k-means++ kernels, or None for the NumPy path."""
    return compiled_module(f"{__package__}._numba_init", engine, owner="kmeans_plusplus")


def random_rows(
    X: np.ndarray | sp.csr_matrix,
    n_clusters: int,
    sample_weight: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The guide's initialisation: ``n_clusters`` distinct rows drawn at random
    (with probability proportional to weight)."""
    p = sample_weight / sample_weight.sum()
    indices = rng.choice(X.shape[0], size=n_clusters, replace=False, p=p)
    return _rows(X, indices), indices


def kmeans_plusplus(
    X: ArrayLike,
    n_clusters: int,
    *,
    sample_weight: ArrayLike | None = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose initial centres by greedy k-means++.

    Parameters
    ----------
    X : array-like or CSR matrix of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), default=None
    random_state : None, int or numpy.random.Generator, default=None
    n_local_trials : int, default=None
        Candidates tried per centre; ``2 + int(log(n_clusters))`` by default.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
        ``X[indices] == centers``.

    Examples
    --------
    >>> import numpy as np
    >>> from anomalykit.cluster import kmeans_plusplus
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> centers, idx = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(int(i) // 2 for i in idx)  # one centre in each pair
    [0, 1]
    """
    from sklearn.utils import check_array

    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    check_real(n_clusters, name="n_clusters", owner="kmeans_plusplus", low=1, integer=True)
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if n_local_trials is not None:
        check_real(
            n_local_trials, name="n_local_trials", owner="kmeans_plusplus", low=1, integer=True
        )
    w = check_sample_weight(sample_weight, X.shape[0])
    w = np.ones(X.shape[0]) if w is None else w
    check_enough_weighted_rows(w, n_clusters)
    # Distances by ||x||^2 - 2 x.c + ||c||^2 lose digits far from the origin: centred.
    shift = None if sp.issparse(X) else X.mean(axis=0)
    return greedy_kmeans_plusplus(
        X, n_clusters, w, as_generator(random_state), None, n_local_trials, shift=shift
    )


def check_enough_weighted_rows(sample_weight: np.ndarray, n_clusters: int) -> None:
    """Initial centres are drawn from rows of positive weight: there must be enough."""
    positive = int(np.count_nonzero(sample_weight > 0))
    if positive < n_clusters:
        raise ValueError(
            f"Only {positive} rows have a positive sample_weight; n_clusters={n_clusters} "
            "initial centres cannot be drawn from them. Lower n_clusters or give more rows weight."
        )
