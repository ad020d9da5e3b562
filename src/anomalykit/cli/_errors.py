"""Turn library errors into one clear line and exit code 2 at the CLI boundary."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import typer

#: Errors that mean "bad input or usage": one line, exit 2. Anything else is a bug
#: and keeps its traceback.
INPUT_ERRORS = (ValueError, OSError, KeyError)


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
        _print_warnings(caught)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            typer.echo(f"warning: {text}", err=True)
