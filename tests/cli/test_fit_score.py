import csv
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from anomalykit import CentroidOutlierDetector, GaussianDetector
from anomalykit.io import load
from anomalykit.workflow import cluster_data, detect_anomalies

runner = CliRunner()
NAMES = ["temp", "pressure", "flow"]


def run(*args, input=None):
    from anomalykit.cli import app

    return runner.invoke(app, [str(a) for a in args], input=input)


def csv_text(X, names, y=None, label="is_fault"):
    header = list(names) + ([] if y is None else [label])
    lines = [",".join(header)]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row] + ([] if y is None else [str(int(y[i]))])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def read_scores(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return rows, np.array([float(r["log_density"]) for r in rows])


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 3)) * [1.0, 2.0, 0.5] + [10.0, 0.0, 3.0]
    val = np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(10, 3)) + 4])
    val = val * [1.0, 2.0, 0.5] + [10.0, 0.0, 3.0]
    y_val = np.r_[np.zeros(100), np.ones(10)]
    test = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(6, 3)) + 4])
    test = test * [1.0, 2.0, 0.5] + [10.0, 0.0, 3.0]
    paths = {
        "train": tmp_path / "train.csv",
        "val": tmp_path / "val.csv",
        "test": tmp_path / "test.csv",
        "model": tmp_path / "model.akm",
    }
    paths["train"].write_text(csv_text(train, NAMES))
    paths["val"].write_text(csv_text(val, NAMES, y_val))
    # new rows: other column order, plus an id column the model never saw
    paths["test"].write_text(
        "id,flow,temp,pressure\n"
        + "\n".join(f"n{i},{r[2]!r},{r[0]!r},{r[1]!r}" for i, r in enumerate(test.tolist()))
        + "\n"
    )
    return {"X_train": train, "X_val": val, "y_val": y_val, "X_test": test, **paths}


def library_model(d, **kwargs):
    return detect_anomalies(
        d["X_train"], X_val=d["X_val"], y_val=d["y_val"], split=False, n_bootstrap=0,
        feature_names=NAMES, **kwargs,
    ).model  # fmt: skip


# ---------------------------------------------------------------------- round trips
def test_fit_then_score_csv_equals_the_library(data, tmp_path):
    d = data
    fitted = run("fit", d["train"], "--val", d["val"], "--label-column", "is_fault",
                 "--model", d["model"], "--json")  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    expected_model = library_model(d)
    assert summary["threshold"]["source"] == "validation"
    assert summary["threshold"]["log_epsilon"] == expected_model.offset_
    assert summary["model"]["feature_names"] == NAMES

    out = tmp_path / "scores.csv"
    scored = run("score", d["model"], d["test"], "--out", out)
    assert scored.exit_code == 0, scored.output
    rows, scores = read_scores(out.read_text())
    expected = expected_model.score_samples(d["X_test"])
    np.testing.assert_array_equal(scores, expected)  # repr round-trips every float
    np.testing.assert_array_equal(scores, load(d["model"]).score_samples(d["X_test"]))
    flags = np.array([int(r["is_anomaly"]) for r in rows])
    np.testing.assert_array_equal(flags, expected_model.is_anomaly(d["X_test"]))
    assert flags[-6:].sum() >= 5 and flags[:60].sum() <= 2
    explained = expected_model.explain(d["X_test"]).to_strings(3)
    assert [r["top_features"] for r in rows] == explained
    assert list(rows[0]) == ["row", "log_density", "is_anomaly", "top_features"]
    # the summary on stderr: rows scored, rows flagged, the output
    assert f"scored 66 rows of {d['test']}" in scored.stderr
    assert f": {flags.sum()} flagged" in scored.stderr
    assert scored.stdout == ""


def test_fit_then_score_parquet_with_scaling(data, tmp_path):
    d = data
    train_pq, test_pq = tmp_path / "train.parquet", tmp_path / "test.pq"
    pq.write_table(pa.table(dict(zip(NAMES, d["X_train"].T, strict=True))), train_pq)
    columns = {"flow": d["X_test"][:, 2], "id": [f"n{i}" for i in range(66)],
               "temp": d["X_test"][:, 0], "pressure": d["X_test"][:, 1]}  # fmt: skip
    pq.write_table(pa.table(columns), test_pq)
    fitted = run("fit", train_pq, "--scale", "robust", "--contamination", "0.05",
                 "--model", d["model"])  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    assert "scaled (robust)" in fitted.stdout
    model = load(d["model"])
    assert isinstance(model, Pipeline) and isinstance(model[-1], GaussianDetector)
    scored = run("score", d["model"], test_pq, "--out", tmp_path / "s.csv")
    assert scored.exit_code == 0, scored.output
    _, scores = read_scores((tmp_path / "s.csv").read_text())
    expected = detect_anomalies(
        d["X_train"], scale="robust", contamination=0.05, split=False, n_bootstrap=0
    ).model.score_samples(d["X_test"])
    np.testing.assert_array_equal(scores, expected)


def test_fit_and_score_from_stdin_to_stdout(data):
    d = data
    fitted = run("fit", "-", "--covariance", "full", "--model", d["model"],
                 input=csv_text(d["X_train"], NAMES))  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    scored = run("score", d["model"], "-", "--out", "-", input=d["test"].read_text())
    assert scored.exit_code == 0, scored.output
    _, scores = read_scores(scored.stdout)  # stdout holds the CSV and nothing else
    expected = GaussianDetector("full").fit(d["X_train"]).score_samples(d["X_test"])
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    np.testing.assert_array_equal(scores, load(d["model"]).score_samples(d["X_test"]))
    assert "scored 66 rows of <stdin>" in scored.stderr


def test_score_json_summary(data, tmp_path):
    d = data
    assert run("fit", d["train"], "--epsilon", "1e-4", "--model", d["model"]).exit_code == 0
    scored = run("score", d["model"], d["test"], "--out", tmp_path / "s.csv", "--json")
    assert scored.exit_code == 0, scored.output
    summary = json.loads(scored.stdout)
    model = load(d["model"])
    expected_flags = model.is_anomaly(d["X_test"])
    assert summary["n_rows"] == 66 and summary["n_flagged"] == int(expected_flags.sum()) > 0
    assert summary["columns"] == NAMES and summary["model"] == "gaussian"
    lowest = int(np.argmin(model.score_samples(d["X_test"])))
    assert summary["top"][0]["row"] == lowest


def test_fit_robust_reaches_the_saved_model(data, tmp_path):
    d = data
    rng = np.random.default_rng(1)
    far = rng.normal(size=(15, 3)) + 30.0  # anomalies left in the training rows
    X_tr = np.vstack([d["X_train"], far])
    train = tmp_path / "contaminated.csv"
    train.write_text(csv_text(X_tr, NAMES))
    fitted = run("fit", train, "--covariance", "full", "--robust", "--model", d["model"], "--json")
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    model = load(d["model"])
    assert isinstance(model, GaussianDetector) and model.robust is True
    assert model.support_.shape == (len(X_tr),) and not model.support_[-len(far) :].any()
    assert isinstance(model.n_robust_iter_, int)
    assert summary["model"]["robust"] is True
    assert summary["model"]["n_train_robust_support"] == int(model.support_.sum())
    expected = detect_anomalies(
        X_tr, covariance="full", robust=True, split=False, n_bootstrap=0, feature_names=NAMES
    ).model
    np.testing.assert_array_equal(model.support_, expected.support_)
    np.testing.assert_array_equal(model.score_samples(X_tr), expected.score_samples(X_tr))
    text = run("fit", train, "--robust", "--model", d["model"])
    assert text.exit_code == 0, text.output
    assert "robust: fitted on the" in text.stdout
    plain = run("fit", train, "--model", d["model"])
    assert plain.exit_code == 0 and "robust:" not in plain.stdout
    assert load(d["model"]).robust is False and not hasattr(load(d["model"]), "support_")


def test_kmeans_with_outliers_round_trip(data, tmp_path):
    d = data
    fitted = run("fit", d["train"], "--kind", "kmeans", "--k", "2", "--outliers", "2.5",
                 "--model", d["model"], "--json")  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["k"] == 2
    model = load(d["model"])
    assert isinstance(model, CentroidOutlierDetector)
    expected = cluster_data(d["X_train"], k=2, n_sigma=2.5, feature_names=NAMES).model
    np.testing.assert_array_equal(model.cluster_centers_, expected.cluster_centers_)
    scored = run("score", d["model"], d["test"], "--out", "-")
    assert scored.exit_code == 0, scored.output
    rows = list(csv.DictReader(io.StringIO(scored.stdout)))
    assert list(rows[0]) == ["row", "cluster", "score", "is_anomaly", "top_features"]
    np.testing.assert_array_equal(
        [float(r["score"]) for r in rows], expected.score_samples(d["X_test"])
    )
    np.testing.assert_array_equal(
        [int(r["cluster"]) for r in rows], expected.predict_cluster(d["X_test"])
    )


def test_plain_kmeans_scores_new_rows_by_column_name(data):
    # the test file has its columns in another order, and an id column: a model
    # that knew only positions read it by position (the wrong clusters, silently)
    d = data
    fitted = run("fit", d["train"], "--kind", "kmeans", "--k", "3", "--model", d["model"])
    assert fitted.exit_code == 0, fitted.output
    model = load(d["model"])
    scored = run("score", d["model"], d["test"], "--out", "-")
    assert scored.exit_code == 0, scored.output
    rows = list(csv.DictReader(io.StringIO(scored.stdout)))
    np.testing.assert_array_equal([int(r["cluster"]) for r in rows], model.predict(d["X_test"]))


def test_score_says_why_a_table_has_no_names(data, tmp_path):
    d = data
    assert run("fit", d["train"], "--epsilon", "1e-4", "--model", d["model"]).exit_code == 0
    given = run("score", d["model"], d["train"], "--no-header", "--out", "-")
    assert given.exit_code == 2
    assert "--no-header was given" in given.stderr and "Leave --no-header out" in given.stderr
    years = tmp_path / "years.csv"
    rng = np.random.default_rng(0)
    years.write_text(csv_text(rng.normal(size=(50, 3)), ["2019", "2020", "2021"]))
    named = tmp_path / "years.akm"
    fitted = run("fit", years, "--header", "--epsilon", "1e-4", "--model", named)
    assert fitted.exit_code == 0, fitted.output
    guessed = run("score", named, years, "--out", "-")
    assert guessed.exit_code == 2
    assert "its first line was read as data" in guessed.stderr and "Pass --header" in guessed.stderr
    assert run("score", named, years, "--header", "--out", "-").exit_code == 0


# ------------------------------------------------------------------------ exit codes
def test_fail_on_anomalies_exits_1_only_when_rows_are_flagged(data, tmp_path):
    d = data
    out = tmp_path / "s.csv"
    assert run("fit", d["train"], "--epsilon", "1e-4", "--model", d["model"]).exit_code == 0
    assert run("score", d["model"], d["test"], "--out", out, "--fail-on-anomalies").exit_code == 1
    assert run("score", d["model"], d["test"], "--out", out).exit_code == 0
    calm = tmp_path / "calm.akm"
    assert run("fit", d["train"], "--epsilon", "1e-300", "--model", calm).exit_code == 0
    assert run("score", calm, d["test"], "--out", out, "--fail-on-anomalies").exit_code == 0


def one_error_line(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_wrong_columns_name_the_missing_and_extra_ones(data, tmp_path):
    d = data
    assert run("fit", d["train"], "--model", d["model"]).exit_code == 0
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("temp,press,flow\n1,2,3\n")
    result = run("score", d["model"], wrong, "--out", tmp_path / "s.csv")
    one_error_line(result, "lacks column(s) ['pressure']", "column(s) ['press']",
                   "temp, pressure, flow")  # fmt: skip
    assert not (tmp_path / "s.csv").exists()


def test_headerless_rows_need_a_header_or_columns(data, tmp_path):
    d = data
    assert run("fit", d["train"], "--model", d["model"]).exit_code == 0
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join(",".join(map(repr, r)) for r in d["X_test"].tolist()) + "\n")
    one_error_line(run("score", d["model"], bare), "has no column names", "--columns x0,x1,x2")
    ok = run("score", d["model"], bare, "--columns", "x0,x1,x2", "--out", "-")
    assert ok.exit_code == 0, ok.output
    _, scores = read_scores(ok.stdout)
    np.testing.assert_array_equal(scores, load(d["model"]).score_samples(d["X_test"]))


def test_unnamed_model_checks_the_number_of_columns(data, tmp_path):
    d = data
    npy = tmp_path / "train.npy"
    np.save(npy, d["X_train"][:, :2])
    assert run("fit", npy, "--model", d["model"]).exit_code == 0
    result = run("score", d["model"], d["val"], "--out", tmp_path / "s.csv")
    one_error_line(result, "has 4 columns", "fitted on 2 unnamed columns", "--columns")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"garbage, not a model", "is not an anomalykit model file"),
        (b"", "is empty"),
        ("truncated", "truncated or damaged"),
    ],
)
def test_corrupt_model_file_is_exit_2(data, tmp_path, content, fragment):
    d = data
    assert run("fit", d["train"], "--model", d["model"]).exit_code == 0
    bad = tmp_path / "bad.akm"
    bad.write_bytes(d["model"].read_bytes()[:200] if content == "truncated" else content)
    one_error_line(run("score", bad, d["test"]), str(bad), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["score", "{tmp}/nope.akm", "{test}"], "no such model file"),
        (["score", "{tmp}", "{test}"], "is a directory"),
        (["score", "{model}", "{test}", "--out", "-", "--json"], "both write to standard output"),
        (["fit", "{train}", "--model", "{tmp}/no/such/dir/m.akm"], "does not exist"),
        (["fit", "{train}", "--k", "3", "--model", "{model}"], "--k applies to --kind kmeans"),
        (
            ["fit", "{train}", "--kind", "kmeans", "--val", "{val}", "--model", "{model}"],
            "--val applies to --kind gaussian",
        ),
        (
            ["fit", "{train}", "--kind", "kmeans", "--robust", "--model", "{model}"],
            "--robust applies to --kind gaussian only; drop it or add --kind gaussian.",
        ),
        (
            [
                "fit",
                "{train}",
                "--val",
                "{val}",
                "--label-column",
                "is_fault",
                "--epsilon",
                "1e-3",
                "--model",
                "{model}",
            ],
            "cannot be combined with --epsilon",
        ),
        (
            ["fit", "{val}", "--label-column", "nope", "--model", "{model}"],
            "no label column 'nope'",
        ),
        (["fit", "{test}", "--model", "{model}"], "column 'id' is not numeric"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(data, tmp_path, args, fragment):
    d = data
    assert run("fit", d["train"], "--model", d["model"]).exit_code == 0
    values = {k: d[k] for k in ("train", "val", "test", "model")}
    result = run(*[a.format(tmp=tmp_path, **values) for a in args])
    one_error_line(result, fragment)


def test_debug_shows_the_traceback(data, tmp_path):
    bad = tmp_path / "bad.akm"
    bad.write_bytes(b"garbage")
    result = run("score", bad, data["test"], "--debug")
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "ModelFileError"


def test_a_saved_workflow_report_scores_with_its_model(data, tmp_path):
    from anomalykit.io import save

    d = data
    report = detect_anomalies(d["X_train"], epsilon=1e-4, feature_names=NAMES, n_bootstrap=0)
    save(report, tmp_path / "report.akm")
    scored = run("score", tmp_path / "report.akm", d["test"], "--out", "-")
    assert scored.exit_code == 0, scored.output
    _, scores = read_scores(scored.stdout)
    np.testing.assert_array_equal(scores, report.model.score_samples(d["X_test"]))
