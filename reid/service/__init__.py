"""The facade that ingests videos and answers queries; the CLI and the web UI call only this.

The names below are imported on first use, so ``import reid.service`` (and
``reid.service.export``, ``reid.service.types``) loads neither torch nor FAISS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.service.names import EXPORT_FORMATS
    from reid.service.service import VIDEO_SUFFIXES, ReidService, iter_videos
    from reid.service.types import (
        IndexReport,
        Match,
        ProgressFn,
        SearchRequest,
        SearchResponse,
        ServiceStatus,
    )

_WHERE = {
    "EXPORT_FORMATS": "reid.service.names",
    "IndexReport": "reid.service.types",
    "Match": "reid.service.types",
    "ProgressFn": "reid.service.types",
    "ReidService": "reid.service.service",
    "SearchRequest": "reid.service.types",
    "SearchResponse": "reid.service.types",
    "ServiceStatus": "reid.service.types",
    "VIDEO_SUFFIXES": "reid.service.service",
    "iter_videos": "reid.service.service",
}

__all__ = [
    "EXPORT_FORMATS",
    "IndexReport",
    "Match",
    "ProgressFn",
    "ReidService",
    "SearchRequest",
    "SearchResponse",
    "ServiceStatus",
    "VIDEO_SUFFIXES",
    "iter_videos",
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
