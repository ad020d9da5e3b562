import base64
import csv
import dataclasses
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from anomalykit.report import ReportFiles, write_report
from anomalykit.report import _write as report_write
from anomalykit.workflow import BootstrapInterval, anomaly_split, cluster_data, detect_anomalies


class Page(HTMLParser):
    """Tags, attributes and text of a page (stdlib parser: no dependency)."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.attrs, self.chunks = [], [], []
        self._skip = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        self._skip += tag == "style"

    def handle_endtag(self, tag):
        self._skip -= tag == "style"

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)

    @property
    def text(self):
        return re.sub(r"\s+", " ", " ".join(self.chunks))

    def values(self, name):
        return [a[name] for _, a in self.attrs if name in a]


def read(files):
    html = files.html.read_text(encoding="utf-8")
    return html, Page(html), json.loads(files.json.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def both(tmp_path_factory, cardio_detection, cardio_clustering):
    out = tmp_path_factory.mktemp("both") / "report"
    return write_report(
        out, detection=cardio_detection, clustering=cardio_clustering, title="Cardio exams"
    )


def test_writes_every_file_and_lists_them(both):
    assert isinstance(both, ReportFiles)
    out = both.html.parent
    assert both.html == out / "report.html" and both.json == out / "summary.json"
    assert set(both.csvs) == {"anomalies", "scores", "clusters", "outliers"}
    assert set(both.figures) == {
        "threshold_curve",
        "precision_recall",
        "score_histogram",
        "silhouette",
        "clusters",
    }
    for path in [both.html, both.json, *both.csvs.values(), *both.figures.values()]:
        assert path.is_file() and path.stat().st_size > 0
    for path in both.figures.values():
        assert path.parent == out / "figures" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, _, summary = read(both)
    listed = summary["files"]
    assert listed["html"] == "report.html" and listed["json"] == "summary.json"
    assert {k: out / v for k, v in listed["csvs"].items()} == both.csvs
    assert {k: out / v for k, v in listed["figures"].items()} == both.figures
    # nothing else is left next to the report (the temporary folder was renamed)
    assert sorted(p.name for p in out.parent.iterdir()) == ["report"]


def test_html_is_self_contained(both):
    html, page, _ = read(both)
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, flags=re.I)
    assert "link" not in page.tags  # no stylesheet, font or icon to fetch
    for src in page.values("src"):
        assert src.startswith("data:image/png;base64,")
    for href in page.values("href"):
        assert href.startswith("#")
    csp = [a for t, a in page.attrs if t == "meta" and a.get("http-equiv")]
    assert "default-src 'none'" in csp[0]["content"]


def test_every_figure_is_embedded(both):
    _, page, _ = read(both)
    embedded = page.values("src")
    assert len(embedded) == len(both.figures)
    for path in both.figures.values():
        assert "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() in embedded


def test_summary_numbers_are_the_reports_numbers(both, cardio_detection, cardio_clustering):
    _, page, summary = read(both)
    text = page.text
    ev = cardio_detection.evaluation
    for value in (ev.f1, ev.precision, ev.recall, ev.roc_auc, ev.average_precision):
        assert f"{value:.3f}" in text
    for count in (ev.tp, ev.fp, ev.fn, ev.tn):
        assert re.search(rf"\b{count} (TP|FP|FN|TN)\b", text)
    log_eps = cardio_detection.detector.offset_
    assert f"log ε = {log_eps:.6g}" in text
    assert f"{cardio_detection.n_flagged} of {len(cardio_detection.scores)} test rows" in text
    boot = cardio_detection.bootstrap
    assert f"test F1 in [{boot.f1[0]:.3f}, {boot.f1[1]:.3f}]" in text
    m = cardio_clustering.metrics
    assert f"{m['silhouette']:.3f}" in text and f"{m['davies_bouldin']:.3f}" in text
    assert f"{cardio_clustering.n_outliers} of {len(cardio_clustering.labels)} rows" in text
    for size in cardio_clustering.sizes:
        assert str(int(size)) in text
    # summary.json is the reports' to_dict() (as JSON), plus the file list
    assert summary["detection"] == json.loads(json.dumps(cardio_detection.to_dict()))
    assert summary["clustering"]["metrics"] == m
    assert summary["clustering"]["k"] == 3


def test_tables_hold_the_flagged_rows_and_clusters(both, cardio_detection, cardio_clustering):
    with both.csvs["anomalies"].open(encoding="utf-8") as fh:
        anomalies = list(csv.DictReader(fh))
    assert len(anomalies) == cardio_detection.n_flagged
    top = cardio_detection.top_anomalies(3)
    assert [int(r["source_row"]) for r in anomalies[:3]] == [a["source_row"] for a in top]
    assert anomalies[0]["top_features"] == top[0]["top_features"]
    assert float(anomalies[0]["LB"]) == cardio_detection.rows[top[0]["row"], 0]
    with both.csvs["scores"].open(encoding="utf-8") as fh:
        scores = list(csv.DictReader(fh))
    np.testing.assert_array_equal(
        [float(r["log_density"]) for r in scores], cardio_detection.scores
    )
    with both.csvs["clusters"].open(encoding="utf-8") as fh:
        clusters = list(csv.DictReader(fh))
    assert [int(r["size"]) for r in clusters] == cardio_clustering.sizes.tolist()
    with both.csvs["outliers"].open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == cardio_clustering.n_outliers
    _, page, _ = read(both)
    assert top[0]["top_features"].split("; ")[0] in page.text


def test_two_features_get_the_density_contours_and_more_do_not(
    tmp_path, both, detection_2d, clustering_2d
):
    files = write_report(tmp_path / "r", detection=detection_2d, clustering=clustering_2d)
    assert "density_contours" in files.figures and "k_selection" in files.figures
    assert "density_contours" not in both.figures
    _, page, _ = read(files)
    assert "K=3: elbow and silhouette and gap agree." in page.text
    assert "latency (ms)" in page.text  # feature names reach the tables


def test_only_detection(tmp_path, detection_2d):
    files = write_report(tmp_path / "r", detection=detection_2d)
    html, page, summary = read(files)
    assert set(files.csvs) == {"anomalies", "scores"} and "clustering" not in summary
    assert 'id="detection"' in html and 'id="clustering"' not in html
    assert f"{detection_2d.evaluation.f1:.3f}" in page.text


def test_only_clustering(tmp_path, clustering_2d):
    files = write_report(tmp_path / "r", clustering=clustering_2d)
    html, _, summary = read(files)
    assert set(files.csvs) == {"clusters", "outliers"} and "detection" not in summary
    assert set(files.figures) == {"k_selection", "silhouette", "clusters"}
    assert 'id="clustering"' in html and 'id="detection"' not in html


def test_optional_pieces_may_be_missing(tmp_path, cardio):
    """No labels, no validation, no bootstrap; K given, no outliers, no silhouette."""
    s = anomaly_split(cardio.X, cardio.y, random_state=0)
    det = detect_anomalies(s.X_train, X_test=s.X_test, n_bootstrap=0)
    assert det.labels is None and det.validation is None and det.threshold_source == "contamination"
    one = cluster_data(cardio.X[:200], k=1)
    assert one.selection is None and one.is_outlier is None and not one.can_score_silhouette
    files = write_report(tmp_path / "r", detection=det, clustering=one)
    assert set(files.figures) == {"score_histogram", "clusters"}
    assert set(files.csvs) == {"anomalies", "scores", "clusters"}
    _, page, _ = read(files)
    text = page.text
    assert "the test rows have no labels" in text and "training rows score below it" in text
    assert "K = 1 was given" in text and "undefined (one cluster)" in text
    assert "not flagged" in text


def test_validation_rows_are_not_scored_as_if_they_were_test_rows(tmp_path, cardio):
    s = anomaly_split(cardio.X, cardio.y, random_state=0)
    det = detect_anomalies(s.X_train, X_val=s.X_val, y_val=s.y_val, n_bootstrap=0)
    assert det.flagged_on == "validation" and det.evaluation is None
    files = write_report(tmp_path / "r", detection=det)
    _, page, _ = read(files)
    assert "rows chose epsilon" in page.text and "PR-AUC" not in page.text


def test_scaled_two_feature_model_is_drawn_in_original_units(tmp_path, planted):
    X, y = planted(1)
    X = X * [1.0, 1000.0]  # units far apart: the workflow scales inside the model
    det = detect_anomalies(X, y_train=y, covariance="full", scale="standard", n_bootstrap=0)
    files = write_report(tmp_path / "r", detection=det)
    assert "density_contours" in files.figures
    _, page, summary = read(files)
    assert summary["detection"]["model"]["scaler"]["method"] == "standard"
    assert "standard scaling" in page.text


def test_profiles_and_bootstrap_are_rendered_and_escaped(tmp_path, clustering_2d, detection_2d):
    profiles = [
        {"cluster": 0, "size": 3, "share": 0.5, "center": {"<b>x</b>": 1.25, "y": 2.0},
         "distinctive": [("<b>x</b>", 1.5)]},
        {"cluster": 1, "size": 3, "share": 0.5, "center": {"<b>x</b>": -1.0, "y": 0.0},
         "distinctive": [("y", -0.75)]},
    ]  # fmt: skip
    clustering = dataclasses.replace(clustering_2d, profiles=profiles)
    detection = dataclasses.replace(
        detection_2d, bootstrap=BootstrapInterval(0.9, 250, (0.61, 0.82), (-12.5, -8.25))
    )
    title = "<script>alert('x')</script> & report"
    files = write_report(tmp_path / "r", detection=detection, clustering=clustering, title=title)
    html, page, _ = read(files)
    assert "<script" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert title in page.text and "<b>x</b>=+1.50σ" in page.text  # shown as written
    assert "y=-0.75σ" in page.text and "1.25" in page.text
    assert "90% bootstrap" in page.text and "test F1 in [0.610, 0.820]" in page.text
    assert "log ε in [-12.5, -8.25]" in page.text and "250 resamples" in page.text
    with files.csvs["clusters"].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["center_<b>x</b>"] == "1.25" and rows[0]["distinctive"] == "<b>x</b>=+1.50σ"


def test_a_failure_midway_leaves_no_report(tmp_path, monkeypatch, detection_2d):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_write._html, "render_page", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(tmp_path / "r", detection=detection_2d)
    assert list(tmp_path.iterdir()) == []  # neither the report nor its temporary folder


def test_a_failure_keeps_the_earlier_report(tmp_path, monkeypatch, detection_2d, clustering_2d):
    out = tmp_path / "r"
    write_report(out, clustering=clustering_2d)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(report_write, "_write_scores", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_report(out, detection=detection_2d)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_an_earlier_report_is_replaced_but_other_files_are_never_touched(
    tmp_path, detection_2d, clustering_2d
):
    out = tmp_path / "r"
    write_report(out, clustering=clustering_2d)
    files = write_report(out, detection=detection_2d)
    assert set(files.csvs) == {"anomalies", "scores"}
    assert not (out / "clusters.csv").exists()  # the old report went, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        write_report(out, detection=detection_2d)
    assert (out / "notes.txt").read_text() == "mine"


def test_needs_a_report_of_the_right_type(tmp_path, detection_2d):
    with pytest.raises(ValueError, match="needs something to report"):
        write_report(tmp_path / "r")
    with pytest.raises(TypeError, match="clustering must be a ClusteringReport"):
        write_report(tmp_path / "r", clustering=detection_2d)
    assert not (tmp_path / "r").exists()


def test_scores_csv_points_back_into_the_data(tmp_path, cardio):

    from anomalykit.workflow import anomaly_split

    found = detect_anomalies(cardio.X, y_train=cardio.y, covariance="full", n_bootstrap=0)
    files = write_report(tmp_path / "r", detection=found)
    with open(files.csvs["scores"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    split = anomaly_split(cardio.X, cardio.y, random_state=0)
    assert [int(r["source_row"]) for r in rows] == split.test_index.tolist()
    assert [int(r["row"]) for r in rows] == list(range(len(rows)))


def test_files_of_the_user_inside_figures_are_never_deleted(tmp_path, cardio_detection):
    out = tmp_path / "rep"
    write_report(out, detection=cardio_detection)
    (out / "figures" / "my_thesis_plot.png").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"figures/my_thesis_plot\.png"):
        write_report(out, detection=cardio_detection)
    assert (out / "figures" / "my_thesis_plot.png").read_bytes() == b"precious"


def test_column_names_that_look_like_maths_are_plain_text(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 2)), rng.normal(size=(10, 2)) + 5])
    y = np.r_[np.zeros(200, int), np.ones(10, int)]
    names = [r"$\frac{a$", "cost $"]
    found = detect_anomalies(X, y_train=y, feature_names=names, n_bootstrap=0)
    files = write_report(tmp_path / "r", detection=found)
    assert "density_contours" in files.figures  # the 2-D figure with both names as labels
