"""Where the commands print: results to stdout, notes and errors to stderr, one line each."""

import os
import sys

import typer
from rich.console import Console

# Piped or redirected, rich would fit tables into 80 columns and cut their figures short;
# a file gets the full width (COLUMNS still wins where it is set).
PIPED_WIDTH = 200
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(
    highlight=False,
    soft_wrap=True,
    width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPED_WIDTH,
)


def fail(message: str, code: int = 1) -> None:
    """Print one error line to stderr and exit non-zero."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)
