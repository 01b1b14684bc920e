"""The facade that ingests videos and answers queries; the CLI and the web UI call only this."""

from reid.service.export import EXPORT_FORMATS
from reid.service.service import VIDEO_SUFFIXES, ReidService, iter_videos
from reid.service.types import IndexReport, Match, ProgressFn, SearchRequest, SearchResponse, ServiceStatus

__all__ = [
    "EXPORT_FORMATS",
    "VIDEO_SUFFIXES",
    "IndexReport",
    "Match",
    "ProgressFn",
    "ReidService",
    "SearchRequest",
    "SearchResponse",
    "ServiceStatus",
    "iter_videos",
]
