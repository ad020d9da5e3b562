"""Recipe ``documents``: spherical K-means on sparse TF-IDF, toy corpus and BBC News."""

import csv

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score

from anomalykit import KMeans
from anomalykit.metrics import silhouette_score
from anomalykit.recipes import _documents
from anomalykit.recipes._base import DATA_ENV

SPORT = [
    "the team won the match and the cup final",
    "a late goal won the match for the home team",
    "the coach picked the team for the cup match",
    "players and coach celebrate the cup win after the match",
    "the home team lost the final match to a late goal",
    "injured players miss the cup final match",
]
MONEY = [
    "shares fell as the bank raised interest rates",
    "the bank reported profits and shares rose",
    "interest rates and inflation worry the bank",
    "profits at the bank beat forecasts and shares rose",
    "inflation pushed interest rates up and shares down",
    "the central bank held interest rates as profits fell",
]


def test_spherical_kmeans_separates_a_toy_corpus_from_sparse_tfidf():
    X, terms = _documents.tfidf(SPORT + MONEY, min_df=2)
    assert sp.issparse(X) and np.allclose(sp.linalg.norm(X, axis=1), 1.0)
    km = KMeans(2, metric="cosine", n_init=5, random_state=0).fit(X)
    truth = [0] * len(SPORT) + [1] * len(MONEY)
    assert normalized_mutual_info_score(truth, km.labels_) == pytest.approx(1.0)
    words = _documents.top_terms(km.cluster_centers_, terms, 3)
    sport = int(km.labels_[0])
    assert {"match", "team", "cup"} & set(words[sport])
    assert {"bank", "shares", "rates", "interest"} & set(words[1 - sport])
    # The cosine silhouette runs on the CSR matrix as it is.
    assert silhouette_score(X, km.labels_, metric="cosine") > 0


def test_read_bbc_drops_exact_duplicates_and_keeps_multiline_text(tmp_path):
    path = tmp_path / "bbc_news.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "text"])
        writer.writerow(["sport/001", "sport", "Headline\n\nBody, with a comma."])
        writer.writerow(["sport/002", "sport", "Headline\n\nBody, with a comma."])
        writer.writerow(["tech/001", "tech", "Other\n\ntext"])
    ids, labels, texts = _documents.read_bbc(path)
    assert ids == ["sport/001", "tech/001"] and labels == ["sport", "tech"]
    assert texts[0] == "Headline\n\nBody, with a comma."


def test_the_recipe_needs_data(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="--data"):
        _documents.run(None, tmp_path)


def test_bbc_news_clusters_match_the_topics(shared_data, tmp_path, monkeypatch):
    # A shorter sweep and a lighter cross-check than the recipe's, same rules.
    monkeypatch.setattr(_documents, "KS", range(5, 7))
    monkeypatch.setattr(_documents, "LSA_REFS", 2)
    monkeypatch.setattr(_documents, "N_INIT", 5)
    result = _documents.run(shared_data("text"), tmp_path, random_state=0)
    s = result.summary
    assert s["n_documents"] == 2127 and s["n_duplicates_dropped"] == 98
    assert s["tfidf"]["min_df"] == 5 and s["tfidf"]["n_terms"] > 5000
    sweep = {r["k"]: r for r in s["sweep"]}
    assert sorted(sweep) == [1, 5, 6]
    assert s["k_chosen"] == max(range(5, 7), key=lambda k: sweep[k]["silhouette"])
    # The spherical objective falls as K grows.
    objective = [sweep[k]["objective"] for k in sorted(sweep)]
    assert objective == sorted(objective, reverse=True)
    # docs/recipes/documents.md: at K = 5, NMI and ARI above 0.80, ours and scikit-learn's.
    at5 = [r for r in s["comparison"] if r["k"] == 5]
    assert len(at5) == 2
    for r in at5:
        assert r["nmi"] > 0.80 and r["ari"] > 0.80
    # Each of the 5 clusters has a different majority topic: the 5 topics.
    k5 = s["clusters"]["5"]
    assert sorted(c["topic"] for c in k5) == sorted(s["topics"])
    assert all(c["purity"] > 0.85 and len(c["top_terms"]) == 10 for c in k5)
    # Only ids and labels are written out, never the articles' text.
    with (tmp_path / "assignments.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header[:2] == ["id", "topic"] and "text" not in header
    assert (tmp_path / "k_choice.png").stat().st_size > 0
