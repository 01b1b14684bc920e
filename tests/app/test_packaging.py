"""The wheel carries every runtime file: an installed (non-editable) copy serves its stylesheet,
finds its model and tracker configs, and holds no test kit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_holds_the_runtime_files(tmp_path):
    src = tmp_path / "src"  # built from a copy: the build leaves build/ and *.egg-info behind
    for part in ("app", "reid", "tracking", "training", "assets"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                             "--no-build-isolation", "-q", "-w", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("app/ui/ui.css", "reid/model/configs/tfclip-vit-b16.json",
                   "reid/model/configs/tfclip-tiny.json", "tracking/configs/bytetrack.yaml",
                   "tracking/configs/botsort.yaml"):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def test_runtime_files_are_found_inside_the_packages():
    from app.ui.serving import default_css_path

    css = default_css_path()
    assert css.is_file() and (ROOT / "app") in css.parents
