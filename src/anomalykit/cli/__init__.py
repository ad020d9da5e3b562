"""The ``anomalykit`` command line: one module per command, no maths here.

Commands: ``demo`` (the whole workflow on built-in data), ``report`` (both
workflows on one table, as an HTML report), ``detect`` (the whole Gaussian
workflow), ``fit`` and ``score`` (save a model, apply it to new rows),
``cluster`` and ``choose-k`` (K-means), ``recipe`` (the guide's applications on
real data).

Exit codes, the same for every command:

- 0: ran clean (also when it flagged rows, unless asked to fail on them);
- 1: ran and flagged rows, only with ``--fail-on-anomalies`` (``--fail-on-outliers``
  for ``cluster``);
- 2: bad usage or bad input (or a missing optional extra): one ``error: ...``
  line on stderr naming the problem and the fix; a traceback only with ``--debug``;
- 3: an internal error, i.e. a bug in anomalykit (one line; ``--debug`` shows the
  traceback). Never 1, so a crash is never read as "rows flagged".
"""

from __future__ import annotations

import typer

from .. import __version__
from .cluster import choose_k, cluster
from .demo import demo
from .detect import detect
from .fit import fit
from .recipe import recipe
from .report import report
from .score import score

app = typer.Typer(
    name="anomalykit",
    help="Gaussian-density anomaly detection and K-means clustering from the shell. "
    "Run a command with --help for an example.\n\n"
    "Exit codes: 0 ran clean; 1 rows flagged, only with --fail-on-anomalies "
    "(--fail-on-outliers for cluster); 2 bad usage or input (one 'error:' line; "
    "a traceback only with --debug); 3 internal error (a bug).",
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


app.command(name="demo")(demo)
app.command(name="report")(report)
app.command(name="recipe")(recipe)
app.command(name="detect", no_args_is_help=False)(detect)
app.command(name="fit")(fit)
app.command(name="score")(score)
app.command(name="cluster")(cluster)
app.command(name="choose-k")(choose_k)


def main() -> None:
    """Entry point of the ``anomalykit`` script and ``python -m anomalykit``."""
    app(prog_name="anomalykit")


__all__ = ["app", "main"]
