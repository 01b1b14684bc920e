"""Cross-camera person search over the gallery store, with filters and optional re-ranking.

The names below are imported on first use, so ``import reid.search`` loads no FAISS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.model.rerank import average_query_expansion, k_reciprocal_rerank
    from reid.search._search import overlaps_on_camera, search_tracklet, search_vectors
    from reid.search._types import Match, Ranking, SearchFilters, SearchOptions

_WHERE = {
    "SearchFilters": "reid.search._types",
    "SearchOptions": "reid.search._types",
    "Match": "reid.search._types",
    "Ranking": "reid.search._types",
    "average_query_expansion": "reid.model.rerank",
    "k_reciprocal_rerank": "reid.model.rerank",
    "overlaps_on_camera": "reid.search._search",
    "search_tracklet": "reid.search._search",
    "search_vectors": "reid.search._search",
}

__all__ = [
    "Match",
    "Ranking",
    "SearchFilters",
    "SearchOptions",
    "average_query_expansion",
    "k_reciprocal_rerank",
    "overlaps_on_camera",
    "search_tracklet",
    "search_vectors",
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
