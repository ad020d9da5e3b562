import json

import numpy as np
import pytest
from typer.testing import CliRunner

from anomalykit.cli import app
from anomalykit.datasets import load_cardio, load_wholesale
from anomalykit.workflow import cluster_data, detect_anomalies

pytest.importorskip("matplotlib")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_demo_runs_both_workflows_and_prints_the_report_path(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()
    assert result.output.rstrip().endswith(f"report     {out / 'report.html'}")
    # The printed numbers are the library's, for the same seed.
    cardio = load_cardio()
    found = detect_anomalies(cardio.X, y_train=cardio.y, covariance="full", n_bootstrap=0)
    assert f"F1 = {found.evaluation.f1:.3f}" in result.output
    shops = load_wholesale()
    segments = cluster_data(shops.X, ks=range(1, 9), n_sigma=3.0, scale="standard", log=True)
    assert f"K = {segments.k} " in result.output
    assert f"{segments.n_outliers} clients beyond 3 sigma" in result.output


def test_demo_json_is_machine_readable(tmp_path):
    result = run("demo", "--out", tmp_path / "d", "--json", "--seed", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["anomalies"]["evaluation"]["rows"] == "test"
    assert summary["anomalies"]["bootstrap"]["n_resamples"] > 0
    assert summary["clusters"]["k"] >= 1 and summary["report"].endswith("report.html")


def _labelled_csv(path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(20, 2)) + np.array([4, -4])])
    y = np.r_[np.zeros(300, int), np.ones(20, int)]
    lines = ["a,b,fault"] + [
        f"{float(r[0])!r},{float(r[1])!r},{t}" for r, t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return X, y


def test_report_on_a_labelled_file_splits_detects_and_clusters(tmp_path):
    X, y = _labelled_csv(tmp_path / "data.csv")
    out = tmp_path / "rep"
    result = run("report", tmp_path / "data.csv", "--label-column", "fault", "--k", "2",
                 "--bootstrap", "50", "--out", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected = detect_anomalies(X, y_train=y, covariance="full", n_bootstrap=0)
    assert summary["anomalies"]["evaluation"]["f1"] == expected.evaluation.f1
    assert summary["clusters"]["k"] == 2
    html = (out / "report.html").read_text()
    assert "<img" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert (out / "figures").is_dir()


def test_report_robust_reaches_the_detector(tmp_path):
    X, _ = _labelled_csv(tmp_path / "data.csv")
    out = tmp_path / "rep"
    result = run("report", tmp_path / "data.csv", "--columns", "a,b", "--robust", "--no-cluster",
                 "--out", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["anomalies"]["model"]
    expected = detect_anomalies(X, covariance="full", robust=True, n_bootstrap=0)
    assert model["robust"] is True
    assert model["n_train_robust_support"] == int(expected.detector.support_.sum()) < len(X)
    assert "robust: fitted on the" in (out / "report.html").read_text()


def test_report_without_labels_and_with_only_one_half(tmp_path):
    _labelled_csv(tmp_path / "data.csv")
    result = run("report", tmp_path / "data.csv", "--columns", "a,b", "--no-cluster",
                 "--out", tmp_path / "r1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "threshold from contamination" in result.output and "clusters" not in result.output
    result = run("report", tmp_path / "data.csv", "--columns", "a,b", "--no-detect", "--k", "2",
                 "--out", tmp_path / "r2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "K = 2" in result.output and "anomalies" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give either a FILE or --builtin"),
        (("--builtin", "cardio", "--no-detect", "--no-cluster"), "leave nothing to report"),
        (("--builtin", "nope"), "No built-in data set named 'nope'"),
        (("missing.csv",), "missing.csv"),
        (("--builtin", "cardio", "--label-column", "y"), "has its own labels"),
        (("--builtin", "cardio", "--columns", "LB,nope"), "has no column 'nope'"),
    ],
)
def test_report_bad_usage_is_one_line_and_exit_2(tmp_path, args, message):
    result = run("report", *args, "--out", tmp_path / "x")
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()  # nothing half written


def test_report_builtin_columns_are_used(tmp_path):
    result = run("report", "--builtin", "cardio", "--columns", "LB,AC", "--no-cluster",
                 "--bootstrap", "0", "--out", tmp_path / "r", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["anomalies"]["model"]["n_features"] == 2


def test_report_falls_back_to_the_silhouette_when_k_is_unclear(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "u.csv"
    rows = ["a,b"] + [f"{a!r},{b!r}" for a, b in rng.uniform(size=(300, 2)).tolist()]
    path.write_text("\n".join(rows) + "\n")
    result = run("report", path, "--no-detect", "--k-max", "5", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "highest silhouette" in result.output and "tentative" in result.output
    assert "highest silhouette" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--builtin", "cardio", "--label-column", "y"), "has its own labels"),
        (("--builtin", "cardio", "--n-steps", "50"), "--n-steps applies to --method grid"),
    ],
)
def test_detect_refuses_options_it_would_ignore(tmp_path, args, message):
    result = run("detect", *args, "--out", tmp_path / "x")
    assert result.exit_code == 2 and message in result.output


def test_an_internal_error_exits_3_with_one_line(tmp_path, monkeypatch):
    import sys

    report_cli = sys.modules["anomalykit.cli.report"]  # the module, not the command function

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(report_cli, "detect_anomalies", broken)
    result = run("report", "--builtin", "cardio", "--no-cluster", "--out", tmp_path / "x")
    assert result.exit_code == 3
    assert "internal error (RuntimeError: boom)" in result.output
    assert "Traceback" not in result.output and "--debug" in result.output
    result = run(
        "report", "--builtin", "cardio", "--no-cluster", "--debug", "--out", tmp_path / "x"
    )
    assert isinstance(result.exception, RuntimeError)
