import numpy as np
import pytest
import scipy.io

from anomalykit.io import TableError, load_table, split_key


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.csv", "a,b,label\n1,2,0\n3.5,-4e-3,1\n"),
        ("a.tsv", "a\tb\tlabel\n1\t2\t0\n3.5\t-4e-3\t1\n"),
        ("a.txt", "a;b;label\n1;2;0\n3.5;-4e-3;1\n"),
        ("a.csv", "a|b|label\n1|2|0\n3.5|-4e-3|1\n"),
        ("a.csv", "# comment\n\na, b, label\n1, 2, 0\n3.5, -4e-3, 1\n"),
    ],
)
def test_delimiter_and_header_are_detected(tmp_path, name, text):
    t = load_table(write(tmp_path, name, text), label_column="label")
    np.testing.assert_array_equal(t.X, [[1, 2], [3.5, -4e-3]])
    np.testing.assert_array_equal(t.y, [0, 1])
    assert t.feature_names == ["a", "b"]


def test_headerless_file_gets_positional_names(tmp_path):
    t = load_table(write(tmp_path, "a.csv", "1,2\n3,4\n5,6\n"))
    assert t.feature_names == ["x0", "x1"]
    assert t.X.shape == (3, 2) and t.y is None


def test_columns_by_name_skip_text_columns(tmp_path):
    t = load_table(write(tmp_path, "a.csv", "id,b,a\nq,2,1\nr,4,3\n"), columns=["a", "b"])
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])
    assert t.feature_names == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("id,a\nq,1\nr,2\n", {}, r"column 'id' is not numeric \(data row 1 holds 'q'\)"),
        ("a,b\n1,2\n3,\n", {}, r"column 'b' has an empty cell in data row 2"),
        ("a,b\n1,2\n3,nan\n", {}, r"column 'b' holds nan in data row 2"),
        ("a,b\n1,2\n3,inf\n", {}, r"column 'b' holds inf in data row 2"),
        ("a,b\n", {}, "has a header but no data rows"),
        ("\n\n# only comments\n", {}, "has no rows"),
        ("a,b\n1,2\n3,4,5\n", {}, "3 fields where the header has 2"),
        ("a,b\n1,2\n", {"columns": ["c"]}, r"no column\(s\) \['c'\]; columns are \['a', 'b'\]"),
        ("a,b\n1,2\n", {"label_column": "y"}, "no label column 'y'"),
        (
            "a,y\n1,0\n2,2\n",
            {"label_column": "y"},
            r"label column .y. must hold only 0 \(normal\) and 1 \(anomaly\); found \[2.0\]",
        ),
        ("a,a\n1,2\n", {}, "duplicated column name"),
    ],
)
def test_bad_text_files_name_the_problem(tmp_path, text, kwargs, match):
    with pytest.raises(TableError, match=match):
        load_table(write(tmp_path, "bad.csv", text), **kwargs)


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        load_table(tmp_path / "nope.csv")
    with pytest.raises(TableError, match="is empty"):
        load_table(write(tmp_path, "e.csv", ""))
    with pytest.raises(TableError, match="is a directory"):
        load_table(tmp_path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x82")
    with pytest.raises(TableError, match="not UTF-8 text"):
        load_table(binary)


def test_npz_npy_and_mat(tmp_path):
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 0, 0, 0, 1, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y, Xval=X[:3], yval=y[:3])
    t = load_table(tmp_path / "d.npz")
    np.testing.assert_array_equal(t.X, X)
    np.testing.assert_array_equal(t.y, y)
    t = load_table(tmp_path / "d.npz", key="Xval")
    assert t.X.shape == (3, 2) and t.y.tolist() == [0, 0, 0]
    np.save(tmp_path / "d.npy", X)
    assert load_table(tmp_path / "d.npy").y is None
    scipy.io.savemat(tmp_path / "d.mat", {"X": X, "Xval": X[:4], "yval": y[:4, None]})
    t = load_table(tmp_path / "d.mat", key="Xval")
    assert t.X.shape == (4, 2) and t.y.shape == (4,)
    t = load_table(tmp_path / "d.mat", columns=["x1"])
    np.testing.assert_array_equal(t.X[:, 0], X[:, 1])


def test_array_file_errors(tmp_path):
    np.savez(tmp_path / "d.npz", A=np.ones((3, 2)), B=np.ones((3, 2)), s=np.array(["a", "b"]))
    with pytest.raises(TableError, match="which array"):
        load_table(tmp_path / "d.npz")
    with pytest.raises(TableError, match="no array 'C'"):
        load_table(tmp_path / "d.npz", key="C")
    with pytest.raises(TableError, match="not numeric"):
        load_table(tmp_path / "d.npz", key="s")
    with pytest.raises(TableError, match="no label array 'lab'"):
        load_table(tmp_path / "d.npz", key="A", label_column="lab")
    np.savez(tmp_path / "n.npz", X=np.array([[1.0, np.nan]]))
    with pytest.raises(TableError, match="column 'x1' holds nan"):
        load_table(tmp_path / "n.npz")
    for suffix in ("npz", "mat", "npy"):
        corrupt = tmp_path / f"c.{suffix}"
        corrupt.write_bytes(b"this is not an array file at all")
        with pytest.raises(TableError, match="Is it corrupt"):
            load_table(corrupt)


def test_split_key():
    assert split_key("data.mat:Xval") == ("data.mat", "Xval")
    assert split_key("dir/d.npz:X") == ("dir/d.npz", "X")
    assert split_key("plain.csv") == ("plain.csv", None)
    assert split_key("C:/x.csv") == ("C:/x.csv", None)
