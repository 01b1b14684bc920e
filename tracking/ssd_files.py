"""Where the SSDLite person graph lives on disk, in the standard library only.

:mod:`tracking.ssd` (which loads OpenCV) re-exports these names; ``reid status`` and
:mod:`tracking.describe` use them to say which detector the settings would build without
importing OpenCV.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["GRAPH_FILE", "MAX_GRAPH_BYTES", "SUBDIR", "find_ssd_graph", "ssd_weights_dir"]

GRAPH_FILE = "frozen_inference_graph.pb"
SUBDIR = "ssdlite-person"
MAX_GRAPH_BYTES = 64 << 20
"""A larger ``.pb`` is not the expected graph (the real one is ~3 MB)."""


def ssd_weights_dir() -> Path:
    """The folder holding ``frozen_inference_graph.pb`` and its text graph (may not exist yet):
    ``$REID_WEIGHTS_DIR/ssdlite-person``, else under ``$XDG_CACHE_HOME/reid/weights`` (default
    ``~/.cache/reid/weights``)."""
    base = os.environ.get("REID_WEIGHTS_DIR", "").strip()
    if base:
        root = Path(base).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = (Path(cache).expanduser() if cache else Path.home() / ".cache") / "reid" / "weights"
    return root / SUBDIR


def find_ssd_graph() -> Path | None:
    """Path of the frozen graph when it is on this machine (a regular file of sane size), or None."""
    path = ssd_weights_dir() / GRAPH_FILE
    try:
        if path.is_file() and 0 < path.stat().st_size <= MAX_GRAPH_BYTES:
            return path
    except OSError:
        pass
    return None
