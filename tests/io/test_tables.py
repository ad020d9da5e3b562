import io
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
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


YEARS = "2019,2020,2021\n0.5,1.5,2\n1,2,3.5\n0.25,0.5,1\n"


def test_a_header_of_numbers_is_read_as_data_with_a_warning(tmp_path):
    path = write(tmp_path, "years.csv", YEARS)
    with pytest.warns(UserWarning, match=r"first row \(2019, 2020, 2021\).*pass --header"):
        t = load_table(path)
    assert t.feature_names == ["x0", "x1", "x2"] and t.X.shape == (4, 3)
    named = load_table(path, header=True)
    assert named.feature_names == ["2019", "2020", "2021"]
    np.testing.assert_array_equal(named.X, t.X[1:])


@pytest.mark.parametrize(
    "text",
    [
        "1,2\n3,4\n5,6\n",  # too few columns to say
        "1,2,3\n1,2,3\n4,5,6\n7,8,9\n",  # inside the columns' ranges
        "10,20,31\n1,2,3\n1,2,3\n1,2,3\n",  # not in steps of one size
        "2019,2020,2021\n1,2,3\n4,5,6\n",  # too few rows below
        "1,2,3\n2,4,6\n3,6,9\n4,8,12\n",  # just outside the ranges, not far
        "0.0e+00,1.0e+00,2.0e+00\n3.0e+00,4.0e+00,5.0e+00\n6,7,8\n9,10,11\n",  # np.savetxt
    ],
)
def test_ordinary_first_rows_of_numbers_give_no_warning(tmp_path, text):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = load_table(write(tmp_path, "a.csv", text))
    assert t.feature_names[0] == "x0"


def test_header_can_be_forced_either_way(tmp_path):
    t = load_table(write(tmp_path, "a.csv", "a,b\n1,2\n"), header=True)
    assert t.feature_names == ["a", "b"]
    with pytest.raises(
        TableError, match=r"column 'x0' mixes numbers and text: line 1 \(data row 1\) holds 'a'"
    ):
        load_table(write(tmp_path, "a.csv", "a,b\n1,2\n"), header=False)
    with pytest.raises(TableError, match="has an empty name"):
        load_table(write(tmp_path, "b.csv", "a,,c\n1,2,3\n"), header=True)
    np.save(tmp_path / "x.npy", np.eye(3))
    with pytest.raises(TableError, match="apply to CSV/TSV files"):
        load_table(tmp_path / "x.npy", header=True)


def test_header_refuses_numbers_below_a_commented_header(tmp_path):
    # np.savetxt(..., header="a,b,c") writes "# a,b,c": --header would eat a data row
    path = tmp_path / "saved.csv"
    np.savetxt(path, np.arange(12.0).reshape(4, 3), delimiter=",", header="a,b,c")
    with pytest.raises(TableError, match=r"looks like the header\. Remove its '#'"):
        load_table(path, header=True)
    assert load_table(path).X.shape == (4, 3)  # detected: all four rows are data


def test_columns_by_name_skip_text_columns(tmp_path):
    t = load_table(write(tmp_path, "a.csv", "id,b,a\nq,2,1\nr,4,3\n"), columns=["a", "b"])
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])
    assert t.feature_names == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("id,a\nq,1\nr,2\n", {}, r"column 'id' is not numeric: line 2 \(data row 1\) holds 'q'\."),
        ("a,b\n1,2\n3,\n", {}, r"column 'b' has an empty cell on line 3 \(data row 2\)\. Impute"),
        (
            "a,b\n1,2\n3,NA\n",
            {},
            r"column 'b' has a missing value \('NA'\) on line 3 \(data row 2\)",
        ),
        (
            "a,b\n1,2\n3,nan\n",
            {},
            r"column 'b' holds NaN \(a missing value\) on line 3 \(data row 2\)",
        ),
        ("a,b\n1,2\n3,inf\n", {}, r"column 'b' holds inf on line 3 \(data row 2\)"),
        ("a,b\n", {}, r"has a header but no data rows \(columns a, b\)"),
        ("\n\n# only comments\n", {}, "has no rows"),
        ("a,b\n1,2\n3,4,5\n", {}, "3 fields where the header has 2"),
        ("a,b\n1,2\n", {"columns": ["c"]}, r"no column\(s\) \['c'\]; columns are \['a', 'b'\]"),
        ("a,b\n1,2\n", {"label_column": "y"}, "no label column 'y'"),
        (
            "a,y\n1,0\n2,2\n3,1\n4,-1\n",
            {"label_column": "y"},
            r"label column 'y' must hold only 0 \(normal\) and 1 \(anomaly\); it holds the "
            r"values \{-1, 0, 1, 2\} \(2 row\(s\) are neither 0 nor 1\)\. Map the labels",
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
    with pytest.raises(
        TableError, match=r"column 'x1' holds NaN \(a missing value\) on data row 1"
    ):
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


# ------------------------------------------------------------ messages name the fix
def test_every_message_names_the_file_first(tmp_path):
    path = write(tmp_path, "bad.csv", "a,b\n1,x\n")
    with pytest.raises(TableError) as info:
        load_table(path)
    assert str(info.value).startswith(f"{path}: ")


def test_mixed_types_name_column_line_and_value(tmp_path):
    # line numbers count the blank and comment lines, as an editor shows them
    text = "# exported 2024\na,b\n1,2\n\n3,4\n5,oops\n"
    with pytest.raises(TableError) as info:
        load_table(write(tmp_path, "m.csv", text))
    message = str(info.value)
    assert "column 'b' mixes numbers and text: line 6 (data row 3) holds 'oops'" in message
    assert "leave the column out with --columns" in message


def test_headerless_row_width_error_names_the_line(tmp_path):
    with pytest.raises(TableError, match=r"line 3 \(data row 3\): 1 fields where the first row"):
        load_table(write(tmp_path, "w.csv", "1,2\n3,4\n5\n"))


def test_text_labels_show_the_distinct_values(tmp_path):
    text = "a,class\n1,normal\n2,anomaly\n3,normal\n"
    with pytest.raises(TableError) as info:
        load_table(write(tmp_path, "l.csv", text), label_column="class")
    assert "it holds the values {'anomaly', 'normal'} (3 row(s) are neither 0 nor 1)" in str(
        info.value
    )


def test_labels_may_be_written_as_floats(tmp_path):
    t = load_table(write(tmp_path, "l.csv", "a,y\n1,0.0\n2,1.0\n"), label_column="y")
    assert t.y.tolist() == [0, 1] and t.y.dtype == np.int8


# ------------------------------------------------------------------ standard input
def set_stdin(monkeypatch, data: bytes, tty=False):
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    if tty:
        stream.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", stream)


@pytest.mark.parametrize(
    "data",
    [b"a,b,label\n1,2,0\n3.5,-4e-3,1\n", b"\xef\xbb\xbfa\tb\tlabel\n1\t2\t0\n3.5\t-4e-3\t1\n"],
)
def test_dash_reads_csv_or_tsv_from_stdin(monkeypatch, data):
    set_stdin(monkeypatch, data)
    t = load_table("-", label_column="label")
    np.testing.assert_array_equal(t.X, [[1, 2], [3.5, -4e-3]])
    assert t.y.tolist() == [0, 1] and t.feature_names == ["a", "b"] and t.source == "<stdin>"


def test_stdin_without_header(monkeypatch):
    set_stdin(monkeypatch, b"1 2\n3 4\n")
    t = load_table("-")
    assert t.feature_names == ["x0", "x1"] and t.X.tolist() == [[1, 2], [3, 4]]


def test_stdin_errors_name_stdin(monkeypatch):
    set_stdin(monkeypatch, b"a,b\n1,\n")
    with pytest.raises(TableError, match=r"^<stdin>: column 'b' has an empty cell on line 2"):
        load_table("-")


def test_empty_stdin(monkeypatch):
    set_stdin(monkeypatch, b"")
    with pytest.raises(TableError, match=r"<stdin> is empty: nothing was piped in"):
        load_table("-")


def test_stdin_from_a_terminal_does_not_wait(monkeypatch):
    set_stdin(monkeypatch, b"a\n1\n", tty=True)
    with pytest.raises(TableError, match="nothing is piped in"):
        load_table("-")


# ------------------------------------------------------------------------ Parquet
def write_parquet(tmp_path, columns, name="d.parquet"):
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("suffix", ["parquet", "pq"])
def test_parquet_numeric_columns_and_labels(tmp_path, suffix):
    path = write_parquet(
        tmp_path,
        {
            "id": ["r1", "r2", "r3"],
            "a": pa.array([1, 2, 3], pa.int32()),
            "b": [0.5, -1.0, 2.5],
            "flag": pa.array([False, True, False]),
        },
        f"d.{suffix}",
    )
    t = load_table(path, columns=["b", "a"], label_column="flag")
    np.testing.assert_array_equal(t.X, [[0.5, 1], [-1, 2], [2.5, 3]])
    assert t.X.dtype == np.float64 and t.y.tolist() == [0, 1, 0]
    assert t.feature_names == ["b", "a"] and t.source == str(path)


def test_parquet_text_column_is_named(tmp_path):
    path = write_parquet(tmp_path, {"a": [1.0, 2.0], "city": ["Oslo", "Lima"]})
    with pytest.raises(TableError) as info:
        load_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: column 'city' is not numeric (Parquet type string)")
    assert "--columns" in message


def test_parquet_null_names_column_and_row(tmp_path):
    path = write_parquet(tmp_path, {"a": [1.0, 2.0, 3.0], "b": pa.array([1, None, None])})
    with pytest.raises(
        TableError, match=r"column 'b' has a missing value \(null\) in row 2 \(2 in"
    ):
        load_table(path)


def test_parquet_nan_names_column_and_row(tmp_path):
    path = write_parquet(tmp_path, {"a": [1.0, float("inf")]})
    with pytest.raises(TableError, match=r"column 'a' holds inf on data row 2"):
        load_table(path)


def test_parquet_labels_not_0_1(tmp_path):
    path = write_parquet(tmp_path, {"a": [1.0, 2.0, 3.0], "y": [0, 1, 3]})
    with pytest.raises(TableError, match=r"it holds the values \{0, 1, 3\}"):
        load_table(path, label_column="y")


def test_parquet_without_rows(tmp_path):
    path = write_parquet(tmp_path, {"a": pa.array([], pa.float64())})
    with pytest.raises(TableError, match="has columns but no rows"):
        load_table(path)


def test_corrupt_parquet(tmp_path):
    good = write_parquet(tmp_path, {"a": [1.0, 2.0]})
    for data in (b"not parquet at all", good.read_bytes()[:-20]):
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(data)
        with pytest.raises(TableError, match=r"could not be read as a Parquet file .* corrupt"):
            load_table(bad)


def test_key_only_for_npz_and_mat(tmp_path):
    path = write(tmp_path, "a.csv", "a\n1\n")
    with pytest.raises(TableError, match=r"selects an array in \.npz/\.mat files only"):
        load_table(path, key="X")


def test_label_column_among_the_features_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n")
    with pytest.raises(TableError, match="label column 'y' is also listed"):
        load_table(path, columns=["a", "y"], label_column="y")


def test_first_row_with_a_missing_value_is_data_not_a_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,,3\n4,5,6\n7,8,9\n")
    with pytest.raises(TableError, match="missing"):
        load_table(path)


def test_errors_name_the_right_line_after_a_field_that_spans_lines(tmp_path):
    text = 'note,a,b\n"two\nlines",1,2\nok,3,4\nx,oops,6\n'
    with pytest.raises(TableError, match=r"line 5 \(data row 3\) holds 'oops'"):
        load_table(write(tmp_path, "q.csv", text), columns=["a", "b"])
