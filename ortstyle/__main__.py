"""`ortstyle` and `python -m ortstyle`: the CLI, with Ctrl-C during start-up as one line."""

import importlib.util
import sys


def main(prog_name: str | None = None) -> None:
    """Import the CLI (onnxruntime and numpy take a moment) and run it."""
    if importlib.util.find_spec("onnxruntime") is None:
        print(
            "error: ONNX Runtime is not installed; pip install 'ortstyle[cpu]', or "
            "'ortstyle[gpu]' / 'ortstyle[tensorrt]' for NVIDIA GPUs",
            file=sys.stderr,
        )
        sys.exit(1)
    try:
        from ortstyle.cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main(prog_name)


if __name__ == "__main__":
    main()
