"""Recipe ``customers``: RFM definitions, the no-clear-K fallback, Wholesale end to end."""

import csv

import numpy as np
import pytest

from anomalykit.datasets import load_wholesale
from anomalykit.recipes import _customers
from anomalykit.recipes._base import DATA_ENV
from anomalykit.recipes._rfm import RFM_DEFINITIONS, read_cdnow, rfm, yyyymmdd_to_date

LOG = (
    "customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"  # same day: one purchase of two records
    " 00002 19970120  1    0.00\r\n"  # a $0 record is still a purchase
    " 00003 19970102  2   20.76\r\n"
    " 00003 19970130  1   10.00\r\n"
)


def test_rfm_on_a_hand_made_log(tmp_path):
    path = tmp_path / "cdnow_master.txt"
    path.write_bytes(LOG.encode("ascii"))
    r = rfm(*read_cdnow(path))
    assert r.end == np.datetime64("1997-01-30") and r.n_records == 6
    assert r.customer_id.tolist() == [1, 2, 3]
    # Recency: days from the last purchase to the log's last day (Jan 30).
    assert r.recency_days.tolist() == [29, 10, 0]
    # Frequency: distinct purchase days.
    assert r.frequency.tolist() == [1, 2, 2]
    # Monetary: total spend over all records.
    assert r.monetary.tolist() == pytest.approx([11.77, 89.0, 30.76])
    assert r.X.shape == (3, 3) and list(RFM_DEFINITIONS) == list(r.names)


def test_rfm_end_of_log_can_be_given_but_not_before_the_last_record():
    d = np.array(["1997-01-01", "1997-01-03"], "datetime64[D]")
    late = rfm([1, 2], d, [1.0, 2.0], end=np.datetime64("1997-01-10"))
    assert late.recency_days.tolist() == [9, 7]
    with pytest.raises(ValueError, match="precedes the log's last record"):
        rfm([1, 2], d, [1.0, 2.0], end=np.datetime64("1997-01-02"))


def test_impossible_dates_are_refused():
    assert str(yyyymmdd_to_date([19960229])[0]) == "1996-02-29"
    with pytest.raises(ValueError, match="19970231 is not a valid"):
        yyyymmdd_to_date([19970101, 19970231])


def test_no_clear_k_takes_the_silhouettes_k_and_says_so():
    # Log-uniform rows: the gap statistic finds no structure and elbow and
    # silhouette disagree, so cluster_data refuses to choose.
    X = np.exp(np.random.default_rng(0).uniform(0, 5, (120, 2)))
    report, choice = _customers.segment(X, ["a", "b"], ks=range(1, 7), random_state=0)
    sel = report.selection
    assert sel is not None and sel.k is None
    assert choice["rule"] == "silhouette (no clear K)"
    assert report.k == choice["k"] == sel.silhouette_k
    assert "no clear K" in choice["reason"] and f"K={report.k}" in choice["reason"]


def test_no_structure_still_segments_by_the_silhouette_and_says_so():
    # Log-normal rows in 8 dimensions: one blob, the suite says K = 1.
    X = np.exp(np.random.default_rng(0).normal(0, 1, (150, 8)))
    report, choice = _customers.segment(X, [f"f{j}" for j in range(8)], ks=range(1, 6))
    assert report.selection.k == 1 and choice["rule"] == "silhouette (no structure)"
    assert report.k == report.selection.silhouette_k >= 2
    assert "no cluster structure" in choice["reason"]


def test_wholesale_runs_without_data(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    result = _customers.run(None, tmp_path, random_state=0)
    part = result.summary["wholesale"]
    # docs/recipes/customers.md: K = 2 by consensus, a Retail-like and a Horeca-like segment.
    assert part["k"] == 2 and part["k_rule"] == "consensus"
    assert sum(s["size"] for s in part["segments"]) == 440
    assert part["vs_channel"]["adjusted_rand_index"] > 0.4
    retail = max(part["segments"], key=lambda s: s["median"]["Grocery"])
    horeca = min(part["segments"], key=lambda s: s["median"]["Grocery"])
    assert retail["median"]["Detergents_Paper"] > 5 * horeca["median"]["Detergents_Paper"]
    assert horeca["median"]["Fresh"] > retail["median"]["Fresh"]
    crosstab = part["vs_channel"]["crosstab"]
    assert crosstab[str(retail["segment"])]["Retail"] > crosstab[str(horeca["segment"])]["Retail"]
    # Profiles are in original units: the raw spend's medians (same seed, same segments).
    data = load_wholesale()
    report, _ = _customers.segment(data.X, data.feature_names, random_state=0)
    for s in part["segments"]:
        rows = data.X[report.labels == s["segment"]]
        assert len(rows) == s["size"]
        assert list(s["median"].values()) == pytest.approx(np.median(rows, axis=0).tolist())
    # Every flagged client is in the unusual table, farthest first.
    with (tmp_path / "wholesale_unusual.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == part["n_unusual"] > 0
    distances = [float(r["distance"]) for r in rows]
    assert distances == sorted(distances, reverse=True)
    assert result.summary["cdnow"]["skipped"].startswith("no --data")
    assert (tmp_path / "wholesale_segments.png").stat().st_size > 0
    assert (tmp_path / "wholesale" / "report.html").is_file()
    assert "CDNOW RFM: skipped" in result.render()


def test_cdnow_rfm_matches_the_sources_totals(shared_data):
    r = rfm(*read_cdnow(shared_data("customers") / "cdnow_master.txt"))
    # customers/SOURCES.md: 69,659 records of 23,570 customers, $2,500,315.63, to 1998-06-30.
    assert r.n_records == 69659 and r.customer_id.size == 23570
    assert r.monetary.sum() == pytest.approx(2500315.63, abs=0.01)
    assert r.end == np.datetime64("1998-06-30")
    assert r.recency_days.max() == 545  # bought only on 1997-01-01
    assert r.frequency.min() == 1 and (r.frequency == 1).sum() == 12054


def test_cdnow_segments_order_recency_against_frequency_and_spend(shared_data):
    r = rfm(*read_cdnow(shared_data("customers") / "cdnow_master.txt"))
    rows = np.random.default_rng(0).choice(r.customer_id.size, 3000, replace=False)
    report, choice = _customers.segment(r.X[rows], list(r.names), ks=range(1, 7))
    assert report.k >= 2 and choice["k"] == report.k
    med = {p["cluster"]: p["median"] for p in report.profiles}
    recent = min(med, key=lambda j: med[j]["recency_days"])
    lapsed = max(med, key=lambda j: med[j]["recency_days"])
    # The most recent buyers buy more often and spend more than the lapsed ones.
    assert med[recent]["frequency"] > med[lapsed]["frequency"]
    assert med[recent]["monetary"] > med[lapsed]["monetary"]
