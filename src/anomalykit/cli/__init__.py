"""The ``anomalykit`` command line: one module per command, no maths here.

Exit codes: 0 ran; 1 ran and found anomalies (only with ``--fail-on-anomalies``);
2 bad usage or bad input (one line on stderr; a traceback only with ``--debug``).
"""

from __future__ import annotations

import typer

from .. import __version__
from .cluster import choose_k, cluster
from .detect import detect

app = typer.Typer(
    name="anomalykit",
    help="Gaussian-density anomaly detection and K-means clustering from the shell. "
    "Run a command with --help for an example.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"anomalykit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """anomalykit: Gaussian-density anomaly detection and K-means clustering."""


app.command(name="detect", no_args_is_help=False)(detect)
app.command(name="cluster")(cluster)
app.command(name="choose-k")(choose_k)


def main() -> None:
    """Entry point of the ``anomalykit`` script and ``python -m anomalykit``."""
    app(prog_name="anomalykit")


__all__ = ["app", "main"]
