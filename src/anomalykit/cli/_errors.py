"""Turn errors into one clear line at the CLI boundary: exit code 2 for bad input
or usage (or a missing optional dependency), 3 for an internal error (a bug).
Exit code 1 stays reserved for "rows flagged" (``--fail-on-anomalies``), so a
script never mistakes a crash for a finding."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import typer

#: Errors that mean "bad input or usage" (or a missing extra): one line, exit 2.
INPUT_ERRORS = (ValueError, OSError, KeyError, ImportError)
#: Exit code of an unexpected error: a bug in anomalykit.
INTERNAL_ERROR = 3


@contextlib.contextmanager
def cli_errors(debug: bool) -> Iterator[None]:
    """Print warnings as ``warning: ...`` lines and input errors as ``error: ...``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except INPUT_ERRORS as exc:
            _print_warnings(caught)
            if debug:
                raise
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            _print_warnings(caught)
            if debug:
                raise
            typer.echo(
                f"error: internal error ({type(exc).__name__}: {exc}). This is a bug in "
                "anomalykit: rerun with --debug for the traceback and report it.",
                err=True,
            )
            raise typer.Exit(INTERNAL_ERROR) from None
        _print_warnings(caught)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            typer.echo(f"warning: {text}", err=True)
