import os
import stat

import pytest

from anomalykit.io import atomic_open, write_bytes_atomic, write_text_atomic


class Boom(RuntimeError):
    pass


def test_failure_mid_write_leaves_no_file(tmp_path):
    path = tmp_path / "scores.csv"
    with pytest.raises(Boom), atomic_open(path, newline="") as fh:
        fh.write("row,score\n" + "0,1.0\n" * 10_000)
        fh.flush()
        raise Boom("disk full")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # and no temporary file left behind


def test_failure_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old\n")
    with pytest.raises(Boom), atomic_open(path) as fh:
        fh.write("new, half written")
        raise Boom
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_content_appears_only_when_the_block_ends(tmp_path):
    path = tmp_path / "a.txt"
    with atomic_open(path) as fh:
        fh.write("hello\n")
        assert not path.exists()
    assert path.read_text() == "hello\n"


def test_text_and_bytes_helpers_replace_the_file(tmp_path):
    path = tmp_path / "a.bin"
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_text_atomic(path, "x\ny\n")
    assert path.read_bytes() == b"x\ny\n"  # no newline translation


def test_new_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644  # not mkstemp's 0o600


def test_missing_folder_is_an_oserror_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "nope" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_read_modes_are_refused(tmp_path):
    with (
        pytest.raises(ValueError, match="mode must be 'w' or 'wb'"),
        atomic_open(tmp_path / "a", "r"),
    ):
        pass
