"""The ``reid`` console script: version, model listing, errors as one line."""

from __future__ import annotations

import subprocess
import sys

from app import __version__
from app.cli import main


def test_version_and_models(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out
    assert main(["models"]) == 0
    listed = capsys.readouterr().out.split()
    assert "tfclip-vit-b16" in listed and "tfclip-tiny" in listed


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "app", "models"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "tfclip-vit-b16" in result.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: reid" in capsys.readouterr().out
