"""`ortstyle` and `python -m ortstyle`: the CLI, with Ctrl-C during start-up as one line."""

import sys


def main() -> None:
    """Import the CLI (onnxruntime and numpy take a moment) and run it."""
    try:
        from ortstyle.cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
