import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from anomalykit import __version__
from anomalykit.cli import app
from anomalykit.datasets import load_cardio
from anomalykit.workflow import anomaly_split, detect_anomalies

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_csv(path, X, names, y=None):
    header = list(names) + ([] if y is None else ["is_fault"])
    rows = [",".join(header)]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row] + ([] if y is None else [str(int(y[i]))])
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def csv_files(tmp_path):
    rng = np.random.default_rng(0)
    names = ["temp", "pressure", "flow"]
    normal = rng.normal(size=(300, 3))
    val = np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(10, 3)) + 5])
    y_val = np.r_[np.zeros(100), np.ones(10)]
    test = np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(10, 3)) + 5])
    y_test = np.r_[np.zeros(100), np.ones(10)]
    return {
        "train": write_csv(tmp_path / "train.csv", normal, names),
        "val": write_csv(tmp_path / "val.csv", val, names, y_val),
        "test": write_csv(tmp_path / "test.csv", test, names, y_test),
        "out": tmp_path / "out",
    }


def test_builtin_json_equals_the_library_call(tmp_path):
    result = run(
        "detect", "--builtin", "cardio", "--covariance", "full", "--json", "--out", tmp_path
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    data = load_cardio()
    split = anomaly_split(data.X, data.y, random_state=0)
    report = detect_anomalies(
        data.X, y_train=data.y, covariance="full", feature_names=data.feature_names
    )
    expected = report.to_dict()
    assert summary["threshold"] == expected["threshold"]
    assert summary["evaluation"] == expected["evaluation"]
    assert summary["flagged"] == expected["flagged"]
    assert summary["evaluation"]["rows"] == "test"
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["evaluation"] == expected["evaluation"]
    lines = (tmp_path / "scores.csv").read_text().splitlines()
    assert lines[0] == "row,source_row,log_density,is_anomaly,label,top_features"
    assert len(lines) == 1 + len(split.X_test)
    source = np.array([int(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_array_equal(source, split.test_index)  # rows of the data set
    flags = np.array([int(line.split(",")[3]) for line in lines[1:]])
    np.testing.assert_array_equal(flags, report.is_anomaly.astype(int))


def test_human_summary_reports_test_scores_not_validation(tmp_path):
    result = run("detect", "--builtin", "cardio", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "chosen here, so optimistic" in result.stdout
    assert "test        F1 = " in result.stdout
    assert "ROC-AUC" in result.stdout and str(tmp_path / "scores.csv") in result.stdout


def test_csv_train_val_test(csv_files):
    f = csv_files
    result = run(
        "detect", "--train", f["train"], "--val", f["val"], "--test", f["test"],
        "--label-column", "is_fault", "--json", "--out", f["out"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"]["feature_names"] == ["temp", "pressure", "flow"]
    assert summary["threshold"]["source"] == "validation"
    assert summary["evaluation"]["f1"] > 0.9
    top = summary["flagged"]["top"][0]
    assert top["label"] == 1 and "temp=" in top["top_features"]


def test_columns_subset_and_fixed_epsilon(csv_files):
    f = csv_files
    result = run(
        "detect", "--train", f["train"], "--test", f["test"], "--label-column", "is_fault",
        "--columns", "flow,temp", "--epsilon", "1e-4", "--json", "--out", f["out"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"]["feature_names"] == ["flow", "temp"]
    assert summary["threshold"]["source"] == "epsilon"
    assert summary["threshold"]["log_epsilon"] == pytest.approx(np.log(1e-4))


def test_robust_reaches_the_workflow(csv_files, tmp_path):
    f = csv_files
    rng = np.random.default_rng(2)
    normal = np.loadtxt(f["train"], delimiter=",", skiprows=1)
    X_tr = np.vstack([normal, rng.normal(size=(15, 3)) + 12])
    train = write_csv(tmp_path / "contaminated.csv", X_tr, ["temp", "pressure", "flow"])
    args = ["detect", "--train", train, "--val", f["val"], "--test", f["test"]]
    args += ["--label-column", "is_fault", "--covariance", "full"]
    result = run(*args, "--robust", "--json", "--out", f["out"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    val = np.loadtxt(f["val"], delimiter=",", skiprows=1)
    test = np.loadtxt(f["test"], delimiter=",", skiprows=1)
    expected = detect_anomalies(
        X_tr, X_val=val[:, :3], y_val=val[:, 3], X_test=test[:, :3], y_test=test[:, 3],
        covariance="full", robust=True, feature_names=["temp", "pressure", "flow"],
    ).to_dict()  # fmt: skip
    assert summary["model"]["robust"] is True
    assert summary["model"] == expected["model"]
    assert summary["threshold"] == expected["threshold"]
    assert summary["model"]["n_train_robust_support"] <= len(normal)
    plain = json.loads(run(*args, "--json", "--out", f["out"]).stdout)
    assert plain["model"]["robust"] is False and plain["threshold"] != summary["threshold"]
    text = run(*args, "--robust", "--out", f["out"])
    assert text.exit_code == 0 and "robust: fitted on the" in text.stdout


def test_fail_on_anomalies_exit_code(csv_files):
    f = csv_files
    args = ["detect", "--train", f["train"], "--test", f["test"], "--label-column", "is_fault"]
    assert run(*args, "--out", f["out"], "--fail-on-anomalies").exit_code == 1
    assert run(*args, "--out", f["out"]).exit_code == 0
    # An epsilon so small that nothing is flagged: the opt-in flag then exits 0.
    assert (
        run(*args, "--out", f["out"], "--epsilon", "1e-300", "--fail-on-anomalies").exit_code == 0
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train", "missing.csv"], "missing.csv: no such file."),
        (["--train", "{text}"], "column 'id' is not numeric"),
        (
            ["--train", "{train}", "--val", "{val}", "--label-column", "nope"],
            "no label column 'nope'",
        ),
        (["--train", "{train}", "--val", "{val}"], "validation rows need labels"),
        (["--train", "{train}", "--test", "{other}"], "the files must share their feature columns"),
        (["--train", "{train}", "--builtin", "cardio"], "either --train FILE or --builtin NAME"),
        (["--builtin", "nope"], "No built-in data set named 'nope'"),
        (
            ["--train", "{train}", "--epsilon", "1e-3", "--contamination", "0.1"],
            "give one threshold only",
        ),
        (
            ["--train", "{train}", "--shrinkage", "lots"],
            "--shrinkage must be 'ledoit-wolf' or a number",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(csv_files, tmp_path, extra, message):
    f = dict(csv_files)
    f["text"] = tmp_path / "text.csv"
    f["text"].write_text("id,a\nq,1\nr,2\n")
    f["other"] = write_csv(tmp_path / "other.csv", np.ones((3, 2)), ["a", "b"])
    args = [a.format(**f) for a in extra]
    result = run("detect", *args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_exception(tmp_path):
    result = run("detect", "--train", tmp_path / "missing.csv", "--debug")
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError)


def test_warnings_are_one_line(tmp_path):
    X = np.c_[np.random.default_rng(0).normal(size=(50, 2)), np.full(50, 3.0)]
    path = write_csv(tmp_path / "c.csv", X, ["a", "b", "const"])
    result = run("detect", "--train", path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "warning: Constant feature(s) 'const' (column 2)" in result.stderr


def test_help_has_an_example():
    result = run("detect", "--help")
    assert result.exit_code == 0
    assert "anomalykit detect --builtin cardio" in result.stdout
    assert "Exit codes" in result.stdout


def test_module_entry_point_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "anomalykit", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"anomalykit {__version__}"


def test_course_mat_files(course_data, tmp_path):
    path = course_data / "ex8data1.mat"
    result = run(
        "detect", "--train", f"{path}:X", "--val", f"{path}:Xval", "--json", "--out", tmp_path
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["threshold"]["validation"]["f1"] == pytest.approx(0.875)
    assert summary["flagged"]["rows"] == "validation" and summary["evaluation"] is None


def test_header_options_are_refused_with_builtin_data(tmp_path):
    result = run("detect", "--builtin", "cardio", "--header", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "not a CSV file; drop --header/--no-header" in result.stderr
