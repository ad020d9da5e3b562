"""Write output files atomically: all of the new content, or the old file untouched.

The content goes to a temporary file in the destination's folder, is flushed to
disk, then renamed over the destination with :func:`os.replace` (atomic on POSIX
and Windows within one file system). A failure part-way leaves no half-written
file behind: the temporary file is removed and the exception propagates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "write_bytes_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_open(
    path: str | Path,
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing; the file appears only when the block succeeds.

    Parameters
    ----------
    path : str or Path
        The destination. Its folder must exist.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    encoding, newline
        As for :func:`open` (text mode only).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> with atomic_open(path, newline="") as fh:
    ...     _ = fh.write("a,b\\n")
    ...     path.exists()  # not yet: the rows go to a temporary file
    False
    >>> path.read_text()
    'a,b\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only: mode must be 'w' or 'wb'; got {mode!r}.")
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(dest))
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def _mode_for(dest: Path) -> int:
    """Keep an existing file's permissions; new files get the usual ``0o666 & ~umask``
    (``mkstemp`` creates them ``0o600``)."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
