"""Every command reads Parquet and standard input like CSV files, and never leaves a
half-written output file behind."""

import csv
import importlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_blobs
from typer.testing import CliRunner

from anomalykit.cli import app

runner = CliRunner()
# The package exposes the command functions under the modules' names: fetch the modules.
detect_cli = importlib.import_module("anomalykit.cli.detect")
cluster_cli = importlib.import_module("anomalykit.cli.cluster")


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def csv_text(X, names, y=None):
    lines = [",".join(list(names) + ([] if y is None else ["is_fault"]))]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row] + ([] if y is None else [str(int(y[i]))])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_parquet(path, X, names, y=None):
    columns = {n: X[:, j] for j, n in enumerate(names)}
    if y is not None:
        columns["is_fault"] = pa.array(y.astype(np.int64))
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def detect_files(tmp_path):
    rng = np.random.default_rng(1)
    names = ["temp", "pressure", "flow"]
    train = rng.normal(size=(200, 3))
    test = np.vstack([rng.normal(size=(80, 3)), rng.normal(size=(8, 3)) + 5])
    y_test = np.r_[np.zeros(80), np.ones(8)]
    files = {"names": names, "train_text": csv_text(train, names)}
    files["train_csv"] = tmp_path / "train.csv"
    files["train_csv"].write_text(files["train_text"])
    files["test_csv"] = tmp_path / "test.csv"
    files["test_csv"].write_text(csv_text(test, names, y_test))
    files["train_pq"] = write_parquet(tmp_path / "train.parquet", train, names)
    files["test_pq"] = write_parquet(tmp_path / "test.parquet", test, names, y_test)
    return files


def detect_json(*args, input=None):
    result = run("detect", *args, "--label-column", "is_fault", "--json", input=input)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    summary.pop("data"), summary.pop("outputs")
    return summary


def test_detect_reads_parquet_and_stdin_like_csv(detect_files, tmp_path):
    f = detect_files
    out = tmp_path / "out"
    reference = detect_json("--train", f["train_csv"], "--test", f["test_csv"], "--out", out)
    assert reference["flagged"]["n_flagged"] > 0
    from_parquet = detect_json("--train", f["train_pq"], "--test", f["test_pq"], "--out", out)
    assert from_parquet == reference
    from_stdin = detect_json(
        "--train", "-", "--test", f["test_pq"], "--out", out, input=f["train_text"]
    )
    assert from_stdin == reference
    saved = json.loads((out / "summary.json").read_text())
    assert saved["data"]["train"] == "<stdin>"


@pytest.fixture
def blobs(tmp_path):
    X, _ = make_blobs(150, 2, centers=[[0, 0], [9, 0], [4, 8]], cluster_std=0.6, random_state=0)
    text = csv_text(X, ["spend", "visits"])
    path = tmp_path / "c.csv"
    path.write_text(text)
    return {"X": X, "text": text, "csv": path,
            "pq": write_parquet(tmp_path / "c.pq", X, ["spend", "visits"])}  # fmt: skip


def cluster_json(source, tmp_path, input=None):
    out = tmp_path / "out"
    result = run("cluster", source, "--k", "auto", "--k-max", "5", "--outliers", "3", "--json",
                 "--out", out, input=input)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    summary.pop("data"), summary.pop("outputs")
    return summary


def test_cluster_reads_parquet_and_stdin_like_csv(blobs, tmp_path):
    reference = cluster_json(blobs["csv"], tmp_path)
    assert reference["k"] == 3
    assert cluster_json(blobs["pq"], tmp_path) == reference
    assert cluster_json("-", tmp_path, input=blobs["text"]) == reference


def test_choose_k_reads_stdin(blobs):
    from_file = run("choose-k", blobs["csv"], "--k-max", "5", "--json")
    from_stdin = run("choose-k", "-", "--k-max", "5", "--json", input=blobs["text"])
    assert from_file.exit_code == from_stdin.exit_code == 0, from_stdin.output
    assert json.loads(from_stdin.stdout) == json.loads(from_file.stdout)


@pytest.mark.parametrize(
    ("command", "stdin", "fragment"),
    [
        (["cluster", "-"], "", "<stdin> is empty: nothing was piped in"),
        (["choose-k", "-"], "a,b\n", "<stdin> has a header but no data rows"),
        (["cluster", "{bad_pq}"], None, "could not be read as a Parquet file"),
        (["detect", "--train", "{text_pq}"], None, "column 'city' is not numeric (Parquet type"),
        (["cluster", "{nan_csv}"], None, "column 'b' holds NaN (a missing value) on line 3"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, command, stdin, fragment):
    bad_pq = tmp_path / "bad.parquet"
    bad_pq.write_bytes(b"PAR1 but not really")
    text_pq = tmp_path / "text.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "city": ["Oslo", "Lima"]}), text_pq)
    nan_csv = tmp_path / "nan.csv"
    nan_csv.write_text("a,b\n1,2\n3,nan\n")
    args = [a.format(bad_pq=bad_pq, text_pq=text_pq, nan_csv=nan_csv) for a in command]
    result = run(*args, "--out", tmp_path / "out", input=stdin)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in result.output


# ------------------------------------------------------------------- atomic outputs
_csv_writer = csv.writer  # the real one: tests below replace csv.writer


class FailingWriter:
    """A csv.writer that fails after a few rows, like a full disk."""

    def __init__(self, fh, *args, **kwargs):
        self._writer = _csv_writer(fh, *args, **kwargs)
        self._rows = 0

    def writerow(self, row):
        self._rows += 1
        if self._rows > 5:
            raise OSError(28, "No space left on device")
        return self._writer.writerow(row)


def test_detect_never_leaves_a_half_written_scores_file(detect_files, tmp_path, monkeypatch):
    f = detect_files
    out = tmp_path / "out"
    monkeypatch.setattr(detect_cli.csv, "writer", FailingWriter)
    result = run("detect", "--train", f["train_csv"], "--test", f["test_csv"],
                 "--label-column", "is_fault", "--out", out)  # fmt: skip
    assert result.exit_code == 2
    assert "error: [Errno 28] No space left on device" in result.stderr
    assert list(out.iterdir()) == []  # no scores.csv, no summary.json, no temporary file


def test_cluster_never_leaves_a_half_written_file(blobs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "clusters.csv").write_text("the previous run's file\n")
    monkeypatch.setattr(cluster_cli.csv, "writer", FailingWriter)
    result = run("cluster", blobs["csv"], "--k", "3", "--out", out)
    assert result.exit_code == 2
    assert (out / "clusters.csv").read_text() == "the previous run's file\n"  # untouched
    assert [p.name for p in out.iterdir()] == ["clusters.csv"]
