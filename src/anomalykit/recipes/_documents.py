"""Recipe ``documents``: cluster the BBC News articles with spherical K-means on TF-IDF.

The articles (``--data PATH/TO/text``, file ``bbc_news.csv``; non-commercial
licence, so they are read from there and never copied into this repository)
become a sparse TF-IDF matrix; :class:`~anomalykit.KMeans` with
``metric="cosine"`` (spherical K-means) clusters it directly, without
densifying. K is chosen without the labels, by a rule fixed here:

- **the highest mean cosine silhouette** over ``KS``, computed on the sparse
  TF-IDF rows themselves (:func:`anomalykit.metrics.silhouette_score` accepts
  CSR), so the choice is made in the space that is clustered, with no
  projection to tune.

Reported beside it, not voting: the Kneedle elbow of the spherical objective
``sum(1 - cos)`` over K = 1..10 on the same matrix, and :func:`select_k`'s
verdict on a 50-component LSA projection (TruncatedSVD, rows rescaled to unit
length), since ``select_k`` needs dense rows. The 5 true topics are used only
afterwards, to score the clusterings (NMI, ARI) at K = 5 and at the chosen K,
beside scikit-learn's ``KMeans`` (Euclidean, on the same L2-normalised rows).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._base import RecipeResult, find_data
from ._plots import new_figure, save_png, write_json

__all__ = ["read_bbc", "run", "tfidf", "top_terms"]

BBC_FILE = "bbc_news.csv"
#: Candidate K for the choice (the objective's elbow also uses K = 1).
KS = range(2, 11)
TRUE_K = 5
#: Terms kept: in at least MIN_DF articles (fixed a priori, not tuned).
MIN_DF = 5
#: K-means restarts, ours and scikit-learn's alike.
N_INIT = 10
TOP_TERMS = 10
#: Dimensions of the LSA projection on which select_k cross-checks the choice,
#: and the gap statistic's reference sets there.
LSA_COMPONENTS = 50
LSA_REFS = 10


def read_bbc(path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """``bbc_news.csv`` -> (ids, labels, texts), exact duplicate texts dropped (first kept)."""
    ids, labels, texts, seen = [], [], [], set()
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["id", "label", "text"]:
            raise ValueError(
                f"{path} should have the columns id, label, text; got {reader.fieldnames}."
            )
        for row in reader:
            if row["text"] in seen:
                continue
            seen.add(row["text"])
            ids.append(row["id"])
            labels.append(row["label"])
            texts.append(row["text"])
    return ids, labels, texts


def tfidf(texts: list[str], *, min_df: int = MIN_DF) -> tuple[Any, np.ndarray]:
    """Sublinear TF-IDF, English stop words, rows of unit length: (CSR matrix, terms)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=min_df)
    X = vectorizer.fit_transform(texts).tocsr()
    empty = np.flatnonzero(np.diff(X.indptr) == 0)
    if empty.size:
        raise ValueError(
            f"{empty.size} documents have no term left after min_df={min_df} and the stop "
            f"words (first: row {int(empty[0])}); lower min_df or drop them."
        )
    return X, vectorizer.get_feature_names_out()


def top_terms(centers: np.ndarray, terms: np.ndarray, n: int = TOP_TERMS) -> list[list[str]]:
    """The ``n`` terms of highest weight in each centre.

    Examples
    --------
    >>> top_terms(np.array([[0.1, 0.9, 0.3], [0.8, 0.0, 0.1]]), np.array(["a", "b", "c"]), 2)
    [['b', 'c'], ['a', 'c']]
    """
    order = np.argsort(-np.asarray(centers), axis=1, kind="stable")[:, :n]
    return [[str(terms[j]) for j in row] for row in order]


def _external(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": float(normalized_mutual_info_score(y, labels)),
        "ari": float(adjusted_rand_score(y, labels)),
    }


def _clusters(km: Any, y: np.ndarray, terms: np.ndarray, topics: list[str]) -> list[dict[str, Any]]:
    """Per cluster: size, majority topic and its share, top terms."""
    out = []
    for j, words in enumerate(top_terms(km.cluster_centers_, terms)):
        members = y[km.labels_ == j]
        counts = {t: int(np.sum(members == t)) for t in topics}
        major = max(topics, key=lambda t: counts[t])
        out.append(
            {
                "cluster": j,
                "size": int(members.size),
                "topic": major,
                "purity": counts[major] / max(members.size, 1),
                "topics": counts,
                "top_terms": words,
            }
        )
    return out


def sweep(X: Any, y: np.ndarray, ks: range, *, random_state: Any) -> dict[int, dict[str, Any]]:
    """Spherical K-means at K = 1 and every K in ``ks``: objective, silhouette, NMI, ARI."""
    from ..cluster import KMeans
    from ..metrics import silhouette_score

    KMeans(2, metric="cosine", n_init=1, random_state=0).fit(X[:200])  # compile, untimed
    fits = {}
    for k in sorted({1, *ks}):
        start = time.perf_counter()
        km = KMeans(k, metric="cosine", n_init=N_INIT, random_state=random_state).fit(X)
        seconds = time.perf_counter() - start
        row = {"k": k, "objective": float(km.inertia_), "seconds": seconds, "model": km}
        if k > 1:
            row["silhouette"] = float(silhouette_score(X, km.labels_, metric="cosine"))
            row.update(_external(y, km.labels_))
        fits[k] = row
    return fits


def run(data: str | Path | None, out: Path, *, random_state: Any = 0) -> RecipeResult:
    """Cluster the BBC articles in ``data`` (``--data``); write into ``out``."""
    from sklearn.cluster import KMeans as SkKMeans

    from ..cluster import find_elbow

    folder = find_data("text", data, must_contain=BBC_FILE)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = random_state if isinstance(random_state, int) else 0
    ids, topics_of, texts = read_bbc(folder / BBC_FILE)
    y = np.asarray(topics_of)
    topics = sorted(set(topics_of))
    start = time.perf_counter()
    X, terms = tfidf(texts)
    tfidf_seconds = time.perf_counter() - start

    fits = sweep(X, y, KS, random_state=random_state)
    chosen = max(KS, key=lambda k: fits[k]["silhouette"])  # ties: the smallest K
    all_ks = sorted(fits)
    objective = np.minimum.accumulate([fits[k]["objective"] for k in all_ks])
    elbow = find_elbow(all_ks, objective)
    lsa = _lsa_selection(X, random_state=seed)

    results = []
    for k in sorted({TRUE_K, chosen}):
        ours = fits[k]
        sk = SkKMeans(k, n_init=N_INIT, random_state=seed)
        sk.fit(X[:200])  # warm-up, untimed
        start = time.perf_counter()
        sk.fit(X)
        sk_seconds = time.perf_counter() - start
        results.append(
            {"model": "anomalykit KMeans(metric='cosine')", "k": k,
             **{m: ours[m] for m in ("nmi", "ari", "silhouette", "seconds")}}
        )  # fmt: skip
        results.append(
            {"model": "scikit-learn KMeans (euclidean)", "k": k, **_external(y, sk.labels_),
             "silhouette": None, "seconds": sk_seconds}
        )  # fmt: skip
    clusters = {k: _clusters(fits[k]["model"], y, terms, topics) for k in sorted({TRUE_K, chosen})}

    files = {
        "k_sweep": _write_sweep(out / "k_sweep.csv", fits),
        "comparison": _write_dicts(out / "comparison.csv", results),
        "clusters": _write_clusters(out / "clusters.csv", clusters),
        "assignments": _write_assignments(
            out / "assignments.csv", ids, y, {k: fits[k]["model"].labels_ for k in clusters}
        ),
        "k_choice_png": _k_figure(out / "k_choice.png", fits, chosen, elbow),
    }
    for k in clusters:
        files[f"topics_k{k}_png"] = _topic_figure(
            out / f"topics_k{k}.png", fits[k]["model"], y, topics, terms
        )
    summary: dict[str, Any] = {
        "recipe": "documents",
        "source": str(folder / BBC_FILE),
        "n_documents": len(ids),
        "n_duplicates_dropped": _count_rows(folder / BBC_FILE) - len(ids),
        "topics": {t: int(np.sum(y == t)) for t in topics},
        "tfidf": {
            "n_terms": int(X.shape[1]),
            "nnz": int(X.nnz),
            "min_df": MIN_DF,
            "sublinear_tf": True,
            "stop_words": "english",
            "norm": "l2",
            "seconds": tfidf_seconds,
        },
        "k_rule": "highest mean cosine silhouette on the sparse TF-IDF rows, K in "
        f"{KS.start}..{KS.stop - 1}",
        "k_chosen": chosen,
        "k_true": TRUE_K,
        "elbow_k": elbow,
        "lsa_select_k": lsa,
        "n_init": N_INIT,
        "sweep": [{k: v for k, v in fits[k].items() if k != "model"} for k in all_ks],
        "comparison": results,
        "clusters": {str(k): v for k, v in clusters.items()},
    }
    summary["files"] = {name: str(path.relative_to(out)) for name, path in files.items()}
    files["summary"] = write_json(out / "summary.json", summary)
    return RecipeResult("documents", summary, _lines(summary), files)


def _lsa_selection(X: Any, *, random_state: int) -> dict[str, Any]:
    """select_k (cosine) on the rows projected on LSA_COMPONENTS SVD directions."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    from ..cluster import select_k

    Z = normalize(TruncatedSVD(LSA_COMPONENTS, random_state=random_state).fit_transform(X))
    sel = select_k(
        Z, range(1, KS.stop), n_init=3, n_refs=LSA_REFS, metric="cosine",
        random_state=random_state,
    )  # fmt: skip
    return {
        "n_components": LSA_COMPONENTS,
        "n_refs": LSA_REFS,
        "k": sel.k,
        "elbow_k": sel.elbow_k,
        "silhouette_k": sel.silhouette_k,
        "gap_k": sel.gap_k,
        "verdict": sel.reasons[0],
    }


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _write_dicts(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: repr(v) if isinstance(v, float) else ("" if v is None else v)
                 for k, v in row.items()}
            )  # fmt: skip
    return path


def _write_sweep(path: Path, fits: dict[int, dict[str, Any]]) -> Path:
    rows = [
        {m: fits[k].get(m) for m in ("k", "objective", "silhouette", "nmi", "ari", "seconds")}
        for k in sorted(fits)
    ]
    return _write_dicts(path, rows)


def _write_clusters(path: Path, clusters: dict[int, list[dict[str, Any]]]) -> Path:
    rows = [
        {"k": k, "cluster": c["cluster"], "size": c["size"], "topic": c["topic"],
         "purity": c["purity"], "top_terms": " ".join(c["top_terms"]),
         **{f"n_{t}": n for t, n in c["topics"].items()}}
        for k, cs in clusters.items() for c in cs
    ]  # fmt: skip
    return _write_dicts(path, rows)


def _write_assignments(
    path: Path, ids: list[str], y: np.ndarray, labels: dict[int, np.ndarray]
) -> Path:
    """Article id, true topic and its cluster at each reported K (ids only, no text)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "topic", *(f"cluster_k{k}" for k in labels)])
        for i, (doc, topic) in enumerate(zip(ids, y.tolist(), strict=True)):
            writer.writerow([doc, topic, *(int(lab[i]) for lab in labels.values())])
    return path


def _k_figure(path: Path, fits: dict[int, dict[str, Any]], chosen: int, elbow: Any) -> Path:
    fig = new_figure(270)
    left, right = fig.subplots(1, 2)
    ks = sorted(fits)
    left.plot(ks, [fits[k]["objective"] for k in ks], marker="o")
    if elbow is not None:
        left.axvline(elbow, color="grey", linestyle=":", label=f"elbow K={elbow}")
        left.legend(fontsize=8)
    left.set_title("spherical K-means objective, sum(1 - cos)", fontsize=9)
    left.set_xlabel("K", fontsize=9)
    k2 = [k for k in ks if k > 1]
    right.plot(k2, [fits[k]["silhouette"] for k in k2], marker="o", label="cosine silhouette")
    right.axvline(chosen, color="C0", linestyle=":", label=f"chosen K={chosen}")
    right.set_xlabel("K", fontsize=9)
    right.set_title("silhouette (chooses K) and NMI (true topics)", fontsize=9)
    twin = right.twinx()
    twin.plot(k2, [fits[k]["nmi"] for k in k2], marker="s", color="C1", label="NMI")
    twin.axvline(TRUE_K, color="C1", linestyle="--", linewidth=0.8, label=f"true K={TRUE_K}")
    handles = right.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    right.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="lower right")
    for ax in (left, right, twin):
        ax.tick_params(labelsize=8)
    return save_png(fig, path)


def _topic_figure(path: Path, km: Any, y: np.ndarray, topics: list[str], terms: np.ndarray) -> Path:
    """Cluster x topic counts, clusters named by their top 3 terms."""
    k = km.n_clusters
    table = np.array([[np.sum((km.labels_ == j) & (y == t)) for t in topics] for j in range(k)])
    fig = new_figure(60 + 34 * k)
    ax = fig.add_subplot()
    ax.imshow(table, cmap="Blues", aspect="auto")
    for j in range(k):
        for i in range(len(topics)):
            colour = "white" if table[j, i] > table.max() / 2 else "black"
            ax.text(i, j, str(table[j, i]), ha="center", va="center", fontsize=8, color=colour)
    names = [
        f"{j}: " + ", ".join(w) for j, w in enumerate(top_terms(km.cluster_centers_, terms, 3))
    ]
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xticks(range(len(topics)), topics, fontsize=8)
    ax.set_title(f"K={k} clusters (top terms) against the true topics", fontsize=9)
    return save_png(fig, path)


def _lines(s: dict[str, Any]) -> list[str]:
    t = s["tfidf"]
    lsa = s["lsa_select_k"]
    lines = [
        f"documents: BBC News, {s['n_documents']:,} articles ({s['n_duplicates_dropped']} exact "
        f"duplicates dropped), 5 topics",
        f"  TF-IDF {s['n_documents']} x {t['n_terms']:,} sparse ({t['nnz']:,} non-zeros; "
        f"min_df={t['min_df']}, sublinear tf, English stop words, unit rows)",
        f"  K chosen: {s['k_chosen']} ({s['k_rule']}); true topics: {s['k_true']}",
        f"  beside it: elbow of the objective K={s['elbow_k']}; select_k on LSA-"
        f"{lsa['n_components']}: {lsa['verdict']}",
        "",
        "  model                                  K    NMI    ARI  fit s",
    ]
    for r in s["comparison"]:
        lines.append(
            f"  {r['model']:<37} {r['k']:>2}  {r['nmi']:.3f}  {r['ari']:.3f}  {r['seconds']:5.2f}"
        )
    for k, clusters in s["clusters"].items():
        lines += ["", f"  top terms, K={k} (cluster: majority topic, purity):"]
        for c in clusters:
            lines.append(
                f"  {c['cluster']:>2} {c['topic']:<13} {c['purity']:4.0%} {c['size']:>4}  "
                + " ".join(c["top_terms"])
            )
    return lines
