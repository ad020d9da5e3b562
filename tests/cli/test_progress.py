import contextlib
import importlib
import io

import numpy as np
import pytest
from rich.console import Console
from sklearn.datasets import make_blobs
from typer.testing import CliRunner

from anomalykit.cli import _progress, app

# The package exposes the command functions under the modules' names: fetch the modules.
cluster_cli = importlib.import_module("anomalykit.cli.cluster")
detect_cli = importlib.import_module("anomalykit.cli.detect")

runner = CliRunner()


def terminal():
    buffer = io.StringIO()
    return buffer, Console(file=buffer, force_terminal=True, width=100)


def test_bar_is_drawn_on_a_terminal_for_long_work():
    buffer, console = terminal()
    with _progress.progress_bar("choosing K", console=console, show_after=0) as progress:
        for done in range(1, 5):
            progress(done, 4)
    drawn = buffer.getvalue()
    assert "choosing K" in drawn and "4/4" in drawn


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quiet": True, "show_after": 0},  # --quiet
        {"show_after": 60},  # quick work never shows a bar
    ],
)
def test_no_bar_when_quiet_or_quick(kwargs):
    buffer, console = terminal()
    with _progress.progress_bar("choosing K", console=console, **kwargs) as progress:
        for done in range(1, 5):
            progress(done, 4)
    assert buffer.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, width=100)  # a pipe or a log file
    with _progress.progress_bar("choosing K", console=console, show_after=0) as progress:
        progress(1, 4)
    assert buffer.getvalue() == ""


def test_bar_stops_when_the_work_fails():
    buffer, console = terminal()
    with (
        pytest.raises(RuntimeError),
        _progress.progress_bar("choosing K", console=console, show_after=0) as progress,
    ):
        progress(1, 4)
        raise RuntimeError
    assert "\x1b[?25h" in buffer.getvalue()  # the bar stopped: the cursor is shown again


# ------------------------------------------------------------- wiring in commands
@pytest.fixture
def calls(monkeypatch):
    """Record what each command gives its progress bar and what the library reports."""
    record = []

    @contextlib.contextmanager
    def fake(description, *, quiet=False, **kwargs):
        entry = {"description": description, "quiet": quiet, "ticks": []}
        record.append(entry)
        yield lambda done, total: entry["ticks"].append((done, total))

    for module in (cluster_cli, detect_cli):
        monkeypatch.setattr(module, "progress_bar", fake)
    return record


@pytest.fixture
def blobs(tmp_path):
    X, _ = make_blobs(120, 2, centers=[[0, 0], [8, 0], [4, 7]], cluster_std=0.5, random_state=0)
    path = tmp_path / "blobs.csv"
    path.write_text("a,b\n" + "\n".join(f"{float(x)!r},{float(y)!r}" for x, y in X) + "\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["choose-k", "{path}", "--k-max", "4"],
        ["cluster", "{path}", "--k", "auto", "--k-max", "4", "--out", "{out}"],
    ],
)
def test_choosing_k_reports_every_fit(calls, blobs, tmp_path, args):
    argv = [a.format(path=blobs, out=tmp_path / "out") for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    (entry,) = calls
    assert entry["description"] == "choosing K" and entry["quiet"] is False
    ticks = entry["ticks"]
    total = ticks[0][1]
    assert total == 4 * (1 + 10)  # 4 values of K, each with 10 reference sets for the gap
    assert ticks == [(done, total) for done in range(1, total + 1)]


def test_quiet_reaches_the_bar(calls, blobs):
    result = runner.invoke(app, ["choose-k", str(blobs), "--k-max", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert calls[0]["quiet"] is True


def test_detect_reports_bootstrap_replicates(calls, tmp_path):
    result = runner.invoke(app, ["detect", "--builtin", "cardio", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    (entry,) = calls
    assert entry["quiet"] is True
    assert entry["ticks"][-1] == (1000, 1000)


def test_no_bar_in_captured_output(blobs):
    result = runner.invoke(app, ["choose-k", str(blobs), "--k-max", "3"])
    assert result.exit_code == 0, result.output
    assert "━" not in result.output and "\x1b[" not in result.output
    np.testing.assert_equal(result.stderr, "")
