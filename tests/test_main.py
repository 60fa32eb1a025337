"""The `ortstyle` entry point before the CLI is imported."""

import importlib.util

import pytest

from ortstyle.__main__ import main


def test_without_onnx_runtime_it_says_which_extra_to_install(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "onnxruntime" else real_find_spec(name, *args),
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "ortstyle[cpu]" in message and "ortstyle[gpu]" in message


def test_no_command_shows_the_help_and_no_error_line(monkeypatch, capsys):
    from ortstyle import cli

    monkeypatch.setattr("sys.argv", ["ortstyle"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    printed = capsys.readouterr()
    assert "Usage" in printed.out and "error" not in printed.err
