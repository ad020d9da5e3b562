"""save/load: bit-identical round trips, and one clear error for every bad file."""

import dataclasses
import io
import json
import math
import os
import sys
import zipfile
from hashlib import sha256

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

import anomalykit
from anomalykit import (
    CentroidOutlierDetector,
    GaussianDetector,
    KMeans,
    MiniBatchKMeans,
    ThresholdResult,
    load,
    save,
)
from anomalykit.datasets import load_cardio
from anomalykit.io import ModelFileError
from anomalykit.io._models import FORMAT_VERSION
from anomalykit.preprocessing import FeatureScaler
from anomalykit.workflow import (
    BootstrapInterval,
    ClusteringReport,
    DetectionReport,
    anomaly_split,
    cluster_data,
    detect_anomalies,
)

# ------------------------------------------------------------------ helpers


def assert_same(a, b, where="obj"):
    """Same type, and equal bit for bit all the way down (arrays, private state, params)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif sp.issparse(a):
        assert a.shape == b.shape and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a.toarray(), b.toarray(), err_msg=where)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        ), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, np.random.Generator):
        assert_same(a.bit_generator.state, b.bit_generator.state, f"{where}.state")
    elif isinstance(a, ThresholdResult):  # the lazy curve builder is stored as the curve itself
        for f in dataclasses.fields(a):
            if f.name not in ("_curve", "_make_curve"):
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        assert_same(a.curve, b.curve, f"{where}.curve")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif hasattr(a, "get_params"):
        assert list(vars(a)) == list(vars(b)), where
        for k in vars(a):
            assert_same(vars(a)[k], vars(b)[k], f"{where}.{k}")
    else:
        assert a == b, where


def outputs(model, X):
    """Everything a fitted object computes on new rows."""
    out = {}
    for name in (
        "score_samples",
        "decision_function",
        "predict",
        "is_anomaly",
        "transform",
        "predict_cluster",
        "inverse_transform",
    ):
        if hasattr(model, name):
            out[name] = getattr(model, name)(X)
    if hasattr(model, "explain"):
        out["explain"] = model.explain(X).z
    return out


def round_trip(obj, tmp_path, name="model.akm"):
    path = tmp_path / name
    save(obj, path)
    return load(path)


def entries(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(path, changes, *, fix_manifest_checksum=False):
    """Rewrite the archive (valid zip CRCs) with some entries replaced or dropped (None)."""
    content = entries(path)
    content.update(changes)
    if fix_manifest_checksum:
        digest = sha256(content["manifest.json"]).hexdigest()
        content["manifest.json.sha256"] = f"{digest}  manifest.json\n".encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            if data is not None:
                zf.writestr(name, data)


def edit_manifest(path, edit):
    manifest = json.loads(entries(path)["manifest.json"])
    edit(manifest)
    rewrite(path, {"manifest.json": json.dumps(manifest).encode()}, fix_manifest_checksum=True)


def expect_error(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        load(path)
    assert "\n" not in str(info.value), "errors are one line"
    return str(info.value)


# ----------------------------------------------------------------- fixtures

RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 10.0, -5.0, 1.0]
X_NEW = np.r_[
    RNG.normal(size=(60, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 10.0, -5.0, 1.0],
    RNG.normal(size=(20, 4)) * 8,
]
Y_VAL = np.r_[np.zeros(60, int), np.ones(20, int)]
#: X with 5% far-away rows left in, for robust fits.
X_DIRTY = np.r_[X, RNG.normal(size=(15, 4)) + 40.0]


def _sparse(a):
    return sp.csr_matrix(np.where(np.abs(a) > 1.5, a, 0.0))


CASES = {
    "gaussian-diag": lambda: GaussianDetector().fit(X),
    "gaussian-full": lambda: GaussianDetector("full").fit(X),
    "gaussian-full-shrinkage-epsilon": lambda: GaussianDetector(
        "full", shrinkage=0.2, epsilon=1e-9
    ).fit(X),
    "gaussian-ledoit-wolf-contamination": lambda: GaussianDetector(
        "full", shrinkage="ledoit-wolf", contamination=0.05
    ).fit(X),
    "gaussian-tuned": lambda: GaussianDetector("full").fit(X).tune_threshold(X_NEW, Y_VAL),
    "gaussian-grid-tuned": lambda: (
        GaussianDetector().fit(X).tune_threshold(X_NEW, Y_VAL, method="grid", n_steps=50)
    ),
    "gaussian-robust": lambda: GaussianDetector(robust=True).fit(X_DIRTY),
    "gaussian-full-robust-ledoit-wolf": lambda: GaussianDetector(
        "full", shrinkage="ledoit-wolf", robust=True, robust_quantile=0.9
    ).fit(X_DIRTY),
    "gaussian-partial-fit": lambda: GaussianDetector().partial_fit(X[:100]).partial_fit(X[100:]),
    "kmeans": lambda: KMeans(3, random_state=0).fit(X),
    "kmeans-random-cosine": lambda: KMeans(3, init="random", metric="cosine", random_state=0).fit(
        X
    ),
    "kmeans-array-init": lambda: KMeans(2, init=X[:2].copy()).fit(X),
    "kmeans-generator-seed": lambda: KMeans(3, random_state=np.random.default_rng(7)).fit(X),
    "minibatch": lambda: MiniBatchKMeans(3, batch_size=32, random_state=0).fit(X),
    "minibatch-partial-fit": lambda: (
        MiniBatchKMeans(3, random_state=0).partial_fit(X[:150]).partial_fit(X[150:])
    ),
    "centroid": lambda: CentroidOutlierDetector(3, random_state=0).fit(X),
    "centroid-own-clusterer-chi2": lambda: CentroidOutlierDetector(
        rule="chi2", clusterer=KMeans(4, n_init=2, random_state=np.random.default_rng(3))
    ).fit(X),
    "scaler": lambda: FeatureScaler().fit(X),
    "scaler-robust": lambda: FeatureScaler("robust").fit(X),
    "pipeline": lambda: make_pipeline(FeatureScaler("robust"), GaussianDetector("full")).fit(X),
    "pipeline-centroid": lambda: make_pipeline(
        FeatureScaler(), CentroidOutlierDetector(3, rule="mad", random_state=0)
    ).fit(X),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_is_bit_identical(tmp_path, case):
    model = CASES[case]()
    loaded = round_trip(model, tmp_path)
    assert loaded is not model
    assert_same(model, loaded)  # params, fitted and private attributes, nested estimators
    expected, got = outputs(model, X_NEW), outputs(loaded, X_NEW)
    assert list(got) == list(expected) and expected
    for name in expected:
        assert_same(expected[name], got[name], name)
    assert loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()


def test_sparse_kmeans_round_trip(tmp_path):
    model = KMeans(3, random_state=0).fit(_sparse(X))
    loaded = round_trip(model, tmp_path)
    assert_same(model, loaded)
    np.testing.assert_array_equal(loaded.predict(_sparse(X_NEW)), model.predict(_sparse(X_NEW)))
    np.testing.assert_array_equal(loaded.transform(_sparse(X_NEW)), model.transform(_sparse(X_NEW)))


def test_log_scaler_round_trip(tmp_path):
    model = FeatureScaler(log=True).fit(np.abs(X))
    loaded = round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.transform(np.abs(X_NEW)), model.transform(np.abs(X_NEW)))
    assert loaded.log is True


def test_robust_detector_round_trip_keeps_its_support(tmp_path):
    model = GaussianDetector("full", robust=True).fit(X_DIRTY)
    assert not model.support_[len(X) :].any()
    loaded = round_trip(model, tmp_path)
    assert loaded.robust is True and loaded.robust_quantile == model.robust_quantile
    assert loaded.support_.dtype == bool and loaded.support_.shape == (len(X_DIRTY),)
    np.testing.assert_array_equal(loaded.support_, model.support_)
    assert type(loaded.n_robust_iter_) is type(model.n_robust_iter_)
    assert loaded.n_robust_iter_ == model.n_robust_iter_
    assert_same(model, loaded)
    np.testing.assert_array_equal(loaded.score_samples(X_NEW), model.score_samples(X_NEW))


def test_training_can_continue_after_loading(tmp_path):
    for model in (
        MiniBatchKMeans(3, random_state=0).partial_fit(X[:100]),
        GaussianDetector("full").partial_fit(X[:100]),
    ):
        loaded = round_trip(model, tmp_path)
        model.partial_fit(X[100:])
        loaded.partial_fit(X[100:])
        assert_same(model, loaded)


def test_dataframe_column_names_survive(tmp_path):
    df = pd.DataFrame(X, columns=["spend", "visits", "age", "returns"])
    new = pd.DataFrame(X_NEW, columns=df.columns)
    for model in (
        GaussianDetector("full").fit(df),
        make_pipeline(FeatureScaler(), KMeans(3, random_state=0)).fit(df),
    ):
        loaded = round_trip(model, tmp_path)
        names = loaded.feature_names_in_
        assert names.dtype == object and names.tolist() == ["spend", "visits", "age", "returns"]
        if hasattr(model, "score_samples"):
            np.testing.assert_array_equal(loaded.score_samples(new), model.score_samples(new))
        else:
            np.testing.assert_array_equal(loaded.transform(new), model.transform(new))
        with pytest.raises(ValueError, match="feature names"):
            loaded.predict(new.rename(columns={"age": "AGE"}))


def test_workflow_feature_name_hint_survives(tmp_path):
    det = GaussianDetector()
    det._feature_names = ["a", "b", "c", "d"]  # as the workflows lend them to array input
    det.fit(X)
    loaded = round_trip(det, tmp_path)
    assert loaded._feature_names == ["a", "b", "c", "d"]
    assert loaded.explain(X_NEW[:3]).to_strings(2) == det.explain(X_NEW[:3]).to_strings(2)


def test_float32_stays_float32(tmp_path):
    X32 = X.astype(np.float32)
    km = round_trip(KMeans(3, random_state=0).fit(X32), tmp_path, "km.akm")
    assert km.cluster_centers_.dtype == np.float32 and km._dtype == np.float32
    original = KMeans(3, random_state=0).fit(X32)
    assert_same(
        original.transform(X_NEW.astype(np.float32)), km.transform(X_NEW.astype(np.float32))
    )
    scaler = round_trip(FeatureScaler().fit(X32), tmp_path, "scaler.akm")
    assert scaler.transform(X_NEW.astype(np.float32)).dtype == np.float32
    det = GaussianDetector("full").fit(X32)
    loaded = round_trip(det, tmp_path, "det.akm")
    assert loaded.data_fingerprint_["dtype"] == "float32"
    assert_same(
        det.score_samples(X_NEW.astype(np.float32)), loaded.score_samples(X_NEW.astype(np.float32))
    )
    manifest = json.loads(entries(tmp_path / "km.akm")["manifest.json"])
    assert "<f4" in {a["dtype"] for a in manifest["arrays"].values()}


# ------------------------------------------------------------------ reports


@pytest.fixture(scope="module")
def detection_report():
    data = load_cardio()
    s = anomaly_split(data.X, data.y, random_state=0)
    report = detect_anomalies(
        s.X_train,
        X_val=s.X_val,
        y_val=s.y_val,
        X_test=s.X_test,
        y_test=s.y_test,
        covariance="full",
        feature_names=list(data.feature_names),
    )
    return report, s


def test_detection_report_round_trip(tmp_path, detection_report):
    report, s = detection_report
    report = dataclasses.replace(
        report, bootstrap=BootstrapInterval(0.95, 200, (0.71, 0.84), (-28.5, -23.75))
    )
    loaded = round_trip(report, tmp_path)
    assert type(loaded) is DetectionReport
    assert_same(report, loaded)
    assert repr(loaded) == repr(report)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.detector.offset_ == report.detector.offset_  # log-epsilon
    np.testing.assert_array_equal(loaded.detector.score_samples(s.X_test), report.scores)
    # One object written once: still one object after loading.
    assert loaded.validation is loaded.detector.threshold_result_
    assert_same(loaded.validation.curve, report.validation.curve)


def test_detection_report_without_validation(tmp_path):
    report = detect_anomalies(X, epsilon=1e-12, feature_names=["a", "b", "c", "d"])
    loaded = round_trip(report, tmp_path)
    assert loaded.validation is None and loaded.evaluation is None
    assert_same(report, loaded)


def test_clustering_report_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    blobs = np.r_[rng.normal(0, 0.3, (80, 2)), rng.normal(5, 0.3, (80, 2)), [[2.5, 9.0]]]
    report = cluster_data(blobs, ks=range(1, 5), n_sigma=3.0, feature_names=["u", "v"])
    loaded = round_trip(report, tmp_path)
    assert type(loaded) is ClusteringReport and loaded.selection is not None
    assert_same(report, loaded)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.labels is loaded.model.labels_  # shared arrays stay shared
    new = rng.normal(2.5, 3, (30, 2))
    np.testing.assert_array_equal(loaded.model.predict(new), report.model.predict(new))


def test_clustering_report_without_outliers_and_sparse(tmp_path):
    for data, kwargs in (
        (X, {"k": 3, "metric": "cosine"}),
        (_sparse(X), {"k": 2}),
    ):
        report = cluster_data(data, **kwargs)
        loaded = round_trip(report, tmp_path)
        assert loaded.is_outlier is None
        assert_same(report, loaded)


# ----------------------------------------------------------- file contents


def test_manifest_records_versions_fingerprint_and_checksums(tmp_path):
    det = GaussianDetector("full", epsilon=1e-7).fit(X)
    path = tmp_path / "det.akm"
    save(det, path)
    content = entries(path)
    manifest = json.loads(content["manifest.json"])
    assert manifest["format"] == "anomalykit-model"
    assert manifest["format_version"] == f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}"
    assert set(manifest["written_by"]) == {"anomalykit", "numpy", "scipy", "scikit-learn", "python"}
    assert manifest["written_by"]["anomalykit"] == anomalykit.__version__
    assert manifest["written_by"]["numpy"] == np.__version__
    assert manifest["object"] == "anomalykit.GaussianDetector"
    assert manifest["data_fingerprint"] == det.data_fingerprint_
    assert manifest["root"]["attributes"]["offset_"] == det.offset_ == math.log(1e-7)
    assert manifest["root"]["params"]["covariance"] == "full"
    digest = sha256(content["manifest.json"]).hexdigest()
    assert content["manifest.json.sha256"] == f"{digest}  manifest.json\n".encode()
    arrays = {n for n in content if n.startswith("arrays/")}
    assert arrays == set(manifest["arrays"]) and arrays
    for name in arrays:  # plain .npy, readable without pickle, checksummed
        assert manifest["arrays"][name]["sha256"] == sha256(content[name]).hexdigest()
        np.load(io.BytesIO(content[name]), allow_pickle=False)


def test_pipeline_and_report_manifests_name_the_training_data(tmp_path, detection_report):
    pipe = make_pipeline(FeatureScaler(), GaussianDetector()).fit(X)
    save(pipe, tmp_path / "p.akm")
    manifest = json.loads(entries(tmp_path / "p.akm")["manifest.json"])
    assert manifest["data_fingerprint"] == pipe[0].data_fingerprint_
    report, _ = detection_report
    save(report, tmp_path / "r.akm")
    manifest = json.loads(entries(tmp_path / "r.akm")["manifest.json"])
    assert manifest["data_fingerprint"] == report.detector.data_fingerprint_


def test_same_model_gives_the_same_bytes(tmp_path):
    det = GaussianDetector("full").fit(X)
    save(det, tmp_path / "a.akm")
    save(det, tmp_path / "b.akm")
    assert (tmp_path / "a.akm").read_bytes() == (tmp_path / "b.akm").read_bytes()


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "det.akm"
    save(GaussianDetector().fit(X), path)
    before = path.read_bytes()
    calls = []

    def failing_writestr(self, info, data, *args, **kwargs):
        calls.append(info)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return original(self, info, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="No space"):
        save(GaussianDetector("full").fit(X), path)
    monkeypatch.undo()
    assert len(calls) == 3  # it failed part-way
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["det.akm"]  # no temporary file left
    assert load(path).covariance == "diag"


# --------------------------------------------------------------- bad input


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "det.akm"
    save(GaussianDetector("full").fit(X), path)
    return path


def test_tampered_array_is_refused(saved):
    data = bytearray(entries(saved)["arrays/0.npy"])
    data[-1] ^= 0x01  # one bit of the last value
    rewrite(saved, {"arrays/0.npy": bytes(data)})  # a valid zip: only our sha256 can tell
    expect_error(
        saved, r"modified or damaged .*array arrays/0\.npy does not match its recorded sha256"
    )


def test_flipped_byte_in_the_file_is_refused(saved):
    raw = bytearray(saved.read_bytes())
    payload = entries(saved)["arrays/1.npy"]
    at = raw.find(payload) + len(payload) - 2
    raw[at] ^= 0xFF
    saved.write_bytes(bytes(raw))
    expect_error(saved, r"damaged: .*arrays/1\.npy")


def test_tampered_manifest_is_refused(saved):
    text = entries(saved)["manifest.json"].decode()
    manifest = json.loads(text)
    offset = manifest["root"]["attributes"]["offset_"]
    text = text.replace(repr(offset), repr(offset + 1.0))
    assert repr(offset + 1.0) in text
    rewrite(saved, {"manifest.json": text.encode()})  # the old checksum stays
    expect_error(saved, r"modified or damaged .*manifest\.json does not match its recorded sha256")


def test_missing_manifest_checksum_is_refused(saved):
    rewrite(saved, {"manifest.json.sha256": None})
    expect_error(saved, r"manifest\.json\.sha256 is missing")


def test_missing_array_is_refused(saved):
    rewrite(saved, {"arrays/2.npy": None})
    expect_error(saved, r"entry arrays/2\.npy is missing")


@pytest.mark.parametrize("keep", [0.5, 0.9, -1, 30])
def test_truncated_file_is_refused(saved, keep):
    raw = saved.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else (keep if keep > 0 else len(raw) + keep)
    saved.write_bytes(raw[:n])
    expect_error(saved, r"truncated or damaged.*save the model again")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "model.akm"
    path.write_bytes(b"")
    expect_error(path, r"is empty \(0 bytes\)")


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(2000),
        b"spend,visits,label\n1.0,2.0,0\n3.0,4.0,1\n",
        b"\x93NUMPY\x01\x00",
    ],
    ids=["random-bytes", "csv", "npy"],
)
def test_foreign_file_is_refused(tmp_path, content):
    path = tmp_path / "model.akm"
    path.write_bytes(content)
    message = expect_error(path, r"not an anomalykit model file \(not a zip archive")
    assert "anomalykit.save" in message


def test_zip_without_manifest_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=X)
    expect_error(path, r"a zip archive but not an anomalykit model: it has no manifest\.json")


def test_manifest_of_another_format_is_refused(saved):
    edit_manifest(saved, lambda m: m.update(format="frictionless-data-package"))
    expect_error(saved, r"of another format \('frictionless-data-package'")


def test_manifest_that_is_not_json_is_refused(saved):
    rewrite(saved, {"manifest.json": b"{'format': 'anomalykit-model',"}, fix_manifest_checksum=True)
    expect_error(saved, r"manifest\.json is not valid JSON")


def test_newer_major_format_is_refused_with_both_versions(saved):
    def newer(m):
        m["format_version"] = f"{FORMAT_VERSION[0] + 1}.0"
        m["written_by"]["anomalykit"] = "9.9.0"

    edit_manifest(saved, newer)
    message = expect_error(saved, r"upgrade anomalykit")
    assert (
        f"written by anomalykit 9.9.0 with format {FORMAT_VERSION[0] + 1}.0; this anomalykit "
        f"{anomalykit.__version__} reads format {FORMAT_VERSION[0]}.x" in message
    )


def test_older_major_format_is_refused(saved):
    edit_manifest(saved, lambda m: m.update(format_version=f"{FORMAT_VERSION[0] - 1}.3"))
    expect_error(saved, rf"with format {FORMAT_VERSION[0] - 1}\.3; .* reads format")


def test_newer_minor_format_is_read(saved):
    edit_manifest(saved, lambda m: m.update(format_version=f"{FORMAT_VERSION[0]}.99", extra=1))
    assert load(saved).covariance == "full"


@pytest.mark.parametrize("version", ["1", "one.zero", 1.0, None])
def test_malformed_format_version_is_refused(saved, version):
    edit_manifest(saved, lambda m: m.update(format_version=version))
    expect_error(saved, r"format_version .* is not MAJOR\.MINOR")


def test_unknown_class_is_refused_and_never_imported(saved, tmp_path, monkeypatch):
    # A module that would leave a trace if anything imported it.
    marker = tmp_path / "imported.txt"
    (tmp_path / "akm_payload_module.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Payload:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    for name in ("akm_payload_module.Payload", "os.system", "builtins.eval"):
        edit_manifest(saved, lambda m, name=name: m["root"].update({"class": name}))
        expect_error(saved, rf"unknown class '{name}' at root")
    # ... also as a nested object
    edit_manifest(
        saved,
        lambda m: (
            m["root"].update({"class": "anomalykit.GaussianDetector"}),
            m["root"]["params"].update(
                epsilon={
                    "type": "estimator",
                    "class": "os.system",
                    "id": 99,
                    "params": {"command": "echo hi"},
                    "attributes": {},
                }
            ),
        ),
    )
    expect_error(saved, r"unknown class 'os\.system' at root\.epsilon")
    assert calls == []
    assert not marker.exists()
    assert "akm_payload_module" not in sys.modules


def test_unknown_entry_type_is_refused(saved):
    edit_manifest(
        saved, lambda m: m["root"]["attributes"].update(offset_={"type": "pickle", "data": "gASV"})
    )
    expect_error(saved, r"unknown entry type 'pickle' at root\.offset_")


def test_pickled_array_is_refused(saved):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = buffer.getvalue()

    def swap(m):
        m["arrays"]["arrays/0.npy"].update(sha256=sha256(data).hexdigest(), dtype="|O", shape=[1])

    edit_manifest(saved, swap)
    rewrite(saved, {"arrays/0.npy": data})
    expect_error(saved, r"array arrays/0\.npy is not a plain \.npy array")


def test_array_not_matching_its_manifest_entry_is_refused(saved):
    edit_manifest(saved, lambda m: m["arrays"]["arrays/0.npy"].update(shape=[99]))
    expect_error(saved, r"array arrays/0\.npy does not match its manifest entry")


def test_report_field_from_a_newer_version_is_refused(tmp_path, detection_report):
    path = tmp_path / "report.akm"
    save(detection_report[0], path)
    edit_manifest(path, lambda m: m["root"]["fields"].update(confidence_band=[0.1, 0.2]))
    expect_error(path, r"field\(s\) \['confidence_band'\] that this anomalykit does not know")
    save(detection_report[0], path)
    edit_manifest(path, lambda m: m["root"]["fields"].pop("scores"))
    expect_error(path, r"lacks the field\(s\) \['scores'\]")


def test_estimator_parameter_from_another_version_is_refused(saved):
    edit_manifest(saved, lambda m: m["root"]["params"].update(new_knob=3))
    expect_error(saved, r"has parameters .*'new_knob'.* this version accepts")


def test_malformed_manifest_is_one_clear_error(saved):
    edit_manifest(saved, lambda m: m["root"].pop("attributes"))
    expect_error(saved, r"the manifest is malformed \(KeyError")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nowhere.akm")


# -------------------------------------------------------------- bad objects


@pytest.mark.parametrize(
    "model",
    [
        GaussianDetector(),
        KMeans(3),
        make_pipeline(FeatureScaler().fit(X), GaussianDetector()),
    ],
    ids=["detector", "kmeans", "pipeline-step"],
)
def test_unfitted_estimator_is_refused(tmp_path, model):
    with pytest.raises(NotFittedError, match=r"Cannot save an unfitted \w+: call fit first"):
        save(model, tmp_path / "m.akm")
    assert os.listdir(tmp_path) == []


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    path = tmp_path / "m.akm"
    with pytest.raises(ModelFileError, match=r"got numpy\.ndarray"):
        save(np.zeros(3), path)
    det = CentroidOutlierDetector(clusterer=SklearnKMeans(2, n_init=1, random_state=0)).fit(X)
    with pytest.raises(
        ModelFileError,
        match=r"Cannot save CentroidOutlierDetector\.clusterer: .*KMeans.* is not supported",
    ):
        save(det, path)
    det = GaussianDetector().fit(X)
    det.note_ = lambda x: x  # a callable cannot be stored as data
    with pytest.raises(ModelFileError, match=r"GaussianDetector\.note_"):
        save(det, path)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------- crafted files (review)


def test_compressed_entries_are_refused_before_inflating(saved):
    # A zip bomb: a deflated manifest padded to many times the file's size.
    content = entries(saved)
    content["manifest.json"] = content["manifest.json"] + b" " * 50_000_000
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    assert saved.stat().st_size < 1_000_000
    expect_error(saved, r"entry \S+ is compressed")


def test_entries_claiming_more_bytes_than_the_file_are_refused(saved, monkeypatch):
    from anomalykit.io import _models

    monkeypatch.setattr(_models, "_MAX_MANIFEST_BYTES", 10)
    expect_error(saved, r"manifest\.json claims \d+ bytes")


def test_npy_header_asking_for_more_than_its_bytes_is_refused(saved):
    data = bytearray(entries(saved)["arrays/0.npy"])
    header_end = data.index(b"\n") + 1
    header = data[:header_end].decode("latin1")
    old_shape = header[header.index("'shape': (") + 10 : header.index(")")]
    huge = header.replace(f"'shape': ({old_shape})", "'shape': (100000000000,)")
    huge = huge.rstrip().ljust(len(header) - 1) + "\n"
    assert len(huge) == len(header)
    crafted = huge.encode("latin1") + bytes(data[header_end:])

    def lie(m):
        m["arrays"]["arrays/0.npy"].update(sha256=sha256(crafted).hexdigest(), shape=[100000000000])

    edit_manifest(saved, lie)
    rewrite(saved, {"arrays/0.npy": crafted})
    expect_error(saved, r"header claims \d+ bytes of data")


def test_sparse_matrix_with_indices_outside_its_shape_is_refused(tmp_path):
    path = tmp_path / "km.akm"
    save(KMeans(2, random_state=0).fit(X), path)
    manifest = json.loads(entries(path)["manifest.json"])
    arrays = {}

    def array_entry(a):
        buffer = io.BytesIO()
        np.save(buffer, a)
        name = f"arrays/x{len(arrays)}.npy"
        arrays[name] = buffer.getvalue()
        manifest["arrays"][name] = {
            "sha256": sha256(arrays[name]).hexdigest(),
            "dtype": a.dtype.str,
            "shape": list(a.shape),
        }
        return {"type": "ndarray", "entry": name}

    evil = {
        "type": "csr_matrix",
        "shape": [2, 4],
        "data": array_entry(np.array([1.0])),
        "indices": array_entry(np.array([10**7], dtype=np.int32)),
        "indptr": array_entry(np.array([0, 1, 1], dtype=np.int32)),
    }
    manifest["root"]["attributes"]["cluster_centers_"] = evil
    arrays["manifest.json"] = json.dumps(manifest).encode()
    rewrite(path, arrays, fix_manifest_checksum=True)
    expect_error(path, r"malformed")


def test_attribute_replacing_a_method_is_refused(saved):
    edit_manifest(saved, lambda m: m["root"]["attributes"].update(score_samples=1.0))
    expect_error(saved, r"attribute 'score_samples' of \S+ would replace a method")


def test_overflowing_scalar_is_one_clear_error(saved):
    edit_manifest(
        saved,
        lambda m: m["root"]["attributes"].update(
            offset_={"type": "scalar", "dtype": "<i8", "value": 2**70}
        ),
    )
    expect_error(saved, r"malformed \(OverflowError")
