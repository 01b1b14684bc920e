"""Cross-camera person search over the gallery store, with filters and optional re-ranking."""

from reid.model.rerank import average_query_expansion, k_reciprocal_rerank
from reid.search._search import overlaps_on_camera, search_tracklet, search_vectors
from reid.search._types import SearchFilters, SearchOptions, SearchResponse, SearchResult

__all__ = [
    "SearchFilters",
    "SearchOptions",
    "SearchResponse",
    "SearchResult",
    "average_query_expansion",
    "k_reciprocal_rerank",
    "overlaps_on_camera",
    "search_tracklet",
    "search_vectors",
]
