import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from typer.testing import CliRunner

from anomalykit.cli import app
from anomalykit.cluster import select_k
from anomalykit.workflow import cluster_data

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def csv_file(tmp_path):
    X, _ = make_blobs(300, 2, centers=[[0, 0], [10, 0], [5, 9]], cluster_std=0.6, random_state=0)
    X = np.r_[X, [[14.0, 0.0]]]
    lines = ["id,spend,visits"] + [f"c{i},{float(a)!r},{float(b)!r}" for i, (a, b) in enumerate(X)]
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, X


def test_cluster_json_equals_the_library_call(csv_file, tmp_path):
    path, X = csv_file
    out = tmp_path / "out"
    result = run("cluster", path, "--columns", "spend,visits", "--k", "auto", "--outliers", "3",
                 "--json", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected = cluster_data(X, k="auto", n_sigma=3.0, feature_names=["spend", "visits"]).to_dict()
    assert summary["k"] == expected["k"] == 3
    assert summary["clusters"] == expected["clusters"]
    assert summary["outliers"] == expected["outliers"]
    assert summary["outliers"][0]["row"] == 300
    rows = (out / "clusters.csv").read_text().splitlines()
    assert rows[0] == "row,cluster,distance,is_outlier,top_features"
    assert len(rows) == 1 + len(X) and rows[301].split(",")[3] == "1"


def test_cluster_plots_and_fail_on_outliers(csv_file, tmp_path):
    pytest.importorskip("matplotlib")
    path, _ = csv_file
    out = tmp_path / "out"
    result = run("cluster", path, "--columns", "spend,visits", "--k", "3", "--outliers", "3",
                 "--plot", "--fail-on-outliers", "--out", out)  # fmt: skip
    assert result.exit_code == 1, result.output
    for name in ("clusters.png", "silhouette.png"):
        assert (out / name).stat().st_size > 5000
    assert "outliers    " in result.stdout


def test_choose_k_prints_the_table_and_verdict(csv_file):
    path, X = csv_file
    result = run("choose-k", path, "--columns", "spend,visits", "--k-max", "6")
    assert result.exit_code == 0, result.output
    expected = select_k(X, range(1, 7), random_state=0)
    assert expected.table() in result.stdout
    assert "verdict: K = 3" in result.stdout
    js = run("choose-k", path, "--columns", "spend,visits", "--k-max", "6", "--json")
    assert json.loads(js.stdout) == json.loads(json.dumps(expected.to_dict()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cluster", "{path}"], "column 'id' is not numeric"),
        (
            ["cluster", "{path}", "--columns", "spend,visits", "--k", "x"],
            "--k must be a whole number",
        ),
        (["cluster", "{path}", "--columns", "spend,visits", "--k", "0"], "--k must be at least 1"),
        (
            ["cluster", "{path}", "--columns", "spend,visits", "--k", "900"],
            "n_samples=301 should be >= n_clusters=900",
        ),
        (
            ["choose-k", "{path}", "--columns", "spend", "--k-min", "5", "--k-max", "2"],
            "--k-min < --k-max",
        ),
        (["cluster", "{flat}", "--k", "2"], "rows are identical"),
    ],
)
def test_bad_input_exits_2_with_one_line(csv_file, tmp_path, args, message):
    path, _ = csv_file
    flat = tmp_path / "flat.csv"
    flat.write_text("a,b\n" + "1,2\n" * 5)
    result = run(*[a.format(path=path, flat=flat) for a in args], "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_plot_works_when_the_silhouette_is_undefined(tmp_path):
    pytest.importorskip("matplotlib")
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("a,b\n0,0\n5,5\n")
    result = run("cluster", tiny, "--k", "2", "--plot", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "summary.json").exists()
    assert (tmp_path / "o" / "clusters.png").exists()
    assert not (tmp_path / "o" / "silhouette.png").exists()


def test_negative_seed_is_a_usage_error(csv_file, tmp_path):
    path, _ = csv_file
    result = run("cluster", path, "--columns", "spend,visits", "--k", "3", "--seed", "-5")
    assert result.exit_code == 2
    assert "--seed" in result.output


def test_a_header_of_years_can_be_named_on_the_command_line(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (60, 3)), rng.normal(8, 1, (60, 3))]
    lines = ["2019,2020,2021"] + [",".join(repr(float(v)) for v in row) for row in X]
    path = tmp_path / "years.csv"
    path.write_text("\n".join(lines) + "\n")
    guessed = run("cluster", path, "--k", 2, "--out", tmp_path / "a", "--json")
    assert guessed.exit_code == 0, guessed.output
    assert "warning:" in guessed.stderr and "pass --header" in guessed.stderr
    named = run("cluster", path, "--k", 2, "--out", tmp_path / "b", "--json", "--header")
    assert named.exit_code == 0, named.output
    assert "warning:" not in named.stderr
    assert '"2019"' in named.stdout
