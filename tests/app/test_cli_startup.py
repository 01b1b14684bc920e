"""A CLI that answers at once: ``reid --help`` and ``reid models`` load no heavy package, ``reid
status`` and ``reid videos`` build no model, and the choice lists the parsers offer are the very
tuples the factories validate against."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser

HEAVY = ("torch", "torchvision", "open_clip", "faiss", "gradio", "cv2", "ultralytics", "sqlalchemy",
         "numpy")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages of HEAVY that a fresh interpreter holds after running ``code``."""
    probe = code + ("\nimport json, sys\n"
                    f"print(json.dumps(sorted(set({HEAVY!r}) & {{m.split('.')[0] for m in sys.modules}})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          timeout=300, env=env)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_probe_sees_a_heavy_import() -> None:
    assert _loaded_after("import cv2") >= {"cv2", "numpy"}


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["track", "--help"], ["search", "--help"]])
def test_light_commands_load_no_heavy_package(argv: list[str]) -> None:
    """Not even numpy: the parsers and the model registry need none of it."""
    code = ("import contextlib, io\nfrom app.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n")
    assert _loaded_after(code) == set()


_REFUSED_SERVE = ("import contextlib, io, os\nos.environ.pop('REID_AUTH', None)\nfrom app.cli import main\n"
                  "with contextlib.redirect_stderr(io.StringIO()) as err:\n"
                  "    assert main(['serve', '--host', '0.0.0.0']) == 1\n"
                  "assert 'refusing to serve' in err.getvalue(), err.getvalue()\n")


def test_a_refused_serve_never_reaches_the_composition_root() -> None:
    probe = _REFUSED_SERVE + "import sys\nprint('app.compose' in sys.modules)\n"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          timeout=300)
    assert proc.stdout.split() == ["False"]


def test_a_refused_serve_loads_no_heavy_package() -> None:
    assert _loaded_after(_REFUSED_SERVE) == set()


@pytest.mark.parametrize("command", ["status", "videos"])
def test_status_and_videos_build_no_model(tmp_path: Path, command: str) -> None:
    """Offline, on a small gallery: the store (SQLAlchemy, FAISS, numpy) but no torch, open_clip,
    ultralytics or OpenCV; which models the settings would use is decided from their files."""
    from tests.app.test_status_light import make_gallery

    make_gallery(tmp_path, {"model": "m", "weights": "w", "dim": 8, "preprocess": {}})
    env = {**os.environ, "YOLO_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = ("import contextlib, io\nfrom app.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    assert main([{command!r}, '--data-dir', {str(tmp_path)!r}]) == 0\n"
            "assert 'north' in out.getvalue(), out.getvalue()\n")
    assert _loaded_after(code, env) <= {"sqlalchemy", "faiss", "numpy"}


def test_package_faces_are_light() -> None:
    code = ("import app, reid, reid.adapt, reid.embed, reid.model, reid.search, reid.service, "
            "reid.weights, tracking, training, training.datasets\n"
            "from reid.embed.names import EMBEDDER_CHOICES\n"
            "from reid.index_kinds import INDEX_KINDS\nfrom reid.model import list_models\n"
            "from tracking.names import DETECTOR_NAMES, TRACKER_NAMES\n")
    assert _loaded_after(code) == set()


def test_lazy_names_resolve_to_the_defining_module() -> None:
    import reid.embed
    import tracking
    import training
    from reid.embed.factory import create_embedder
    from tracking.pipeline import track_video
    from training.metrics import evaluate_rank

    assert reid.embed.create_embedder is create_embedder
    assert tracking.track_video is track_video
    assert training.evaluate_rank is evaluate_rank
    assert "create_embedder" in dir(reid.embed)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = tracking.nope


@pytest.mark.parametrize("package", ["reid.adapt", "reid.embed", "reid.model", "reid.search",
                                     "reid.service", "reid.weights", "tracking", "training",
                                     "training.datasets"])
def test_every_lazy_name_resolves(package: str) -> None:
    """A name moved or renamed in a submodule would otherwise fail only when first used."""
    import importlib

    module = importlib.import_module(package)
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> object:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices[command]._actions if option in a.option_strings).choices


def test_choice_lists_are_imported_not_copied() -> None:
    from reid.embed import factory
    from reid.embed.names import EMBEDDER_CHOICES
    from reid.index_kinds import INDEX_KINDS
    from reid.service import export
    from reid.service.names import EXPORT_FORMATS
    from tracking import config, detect
    from tracking.names import DETECTOR_NAMES, TRACKER_NAMES

    parser = build_parser()
    assert _choices(parser, "index", "--embedder") is EMBEDDER_CHOICES
    assert _choices(parser, "index", "--detector") is DETECTOR_NAMES
    assert _choices(parser, "track", "--detector") is DETECTOR_NAMES
    assert _choices(parser, "index", "--index") is INDEX_KINDS
    assert _choices(parser, "search", "--export") is EXPORT_FORMATS
    assert factory.EMBEDDER_CHOICES is EMBEDDER_CHOICES
    assert export.EXPORT_FORMATS is EXPORT_FORMATS
    assert detect.DETECTOR_NAMES is DETECTOR_NAMES
    assert config.TRACKER_NAMES is TRACKER_NAMES


def test_index_kinds_are_the_ones_the_store_accepts() -> None:
    from reid.index_kinds import INDEX_KINDS
    from reid.store import IndexConfig

    for kind in INDEX_KINDS:
        assert IndexConfig(kind=kind).kind == kind
    with pytest.raises(ValueError, match="unknown"):
        IndexConfig(kind="nope")
