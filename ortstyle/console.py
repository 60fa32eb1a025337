"""Where the commands print: results to stdout, notes and errors to stderr, one line each."""

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> None:
    """Print one error line to stderr and exit non-zero."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)
