"""Where each model weight comes from, whether it is on this machine, and fetching it.

Library code only reads local files; downloads happen here, when the user asks
(``reid weights fetch NAME``), and fail fast offline with a message that says what to do.
YOLO and CLIP are fetched over HTTP by :mod:`reid.weights.download` (resume, SHA-256, mirrors:
``REID_WEIGHTS_MIRROR``, ``REID_WEIGHTS_URL_<NAME>``).

The names below are imported on first use (the submodules themselves are light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.weights.download import ChecksumError, DownloadError
    from reid.weights.sources import WEIGHT_SOURCES, WeightSource, WeightStatus, fetch_weights, weights_status

_WHERE = {
    "ChecksumError": "reid.weights.download",
    "DownloadError": "reid.weights.download",
    "WEIGHT_SOURCES": "reid.weights.sources",
    "WeightSource": "reid.weights.sources",
    "WeightStatus": "reid.weights.sources",
    "fetch_weights": "reid.weights.sources",
    "weights_status": "reid.weights.sources",
}

__all__ = [
    "ChecksumError",
    "DownloadError",
    "WEIGHT_SOURCES",
    "WeightSource",
    "WeightStatus",
    "fetch_weights",
    "weights_status",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
