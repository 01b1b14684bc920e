"""The one JSON shape of a tracklet, a match and a search response.

The JSON API (``app/ui/rest.py``), the exports (``reid.service.export``: JSON, CSV, zip) and
``reid search`` all write these dicts, so a tracklet is the same object, under the same id, in every
one of them. Where they differ is only how a thumbnail is referred to (``thumbnail``: a URL on the
API, a file path in an export), chosen by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from reid.service.types import Match, SearchResponse
from reid.store import TrackletInfo

__all__ = ["ThumbnailRef", "match_fields", "response_fields", "thumbnail_path", "tracklet_fields"]

ThumbnailRef = Callable[[TrackletInfo], str | None]
"""How a surface refers to a tracklet's thumbnail (None: it has none)."""


def thumbnail_path(t: TrackletInfo) -> str | None:
    """The thumbnail's file path (the exports' choice)."""
    return str(t.thumbnail_path) if t.thumbnail_path is not None else None


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def tracklet_fields(t: TrackletInfo, thumbnail: ThumbnailRef = thumbnail_path) -> dict[str, Any]:
    """One stored tracklet: ids, camera, seconds from its video's start, absolute ISO 8601 times
    (None without a video start time), frame span, quality and the thumbnail reference."""
    return {
        "tracklet_id": t.id, "video_id": t.video_id, "camera": t.camera, "track_id": t.track_id,
        "start_s": round(t.start_s, 3), "end_s": round(t.end_s, 3),
        "duration_s": round(t.duration_s, 3), "start_time": _iso(t.start_time),
        "end_time": _iso(t.end_time), "first_frame": t.first_frame, "last_frame": t.last_frame,
        "quality": round(float(t.quality), 4), "thumbnail": thumbnail(t),
    }


def match_fields(m: Match, thumbnail: ThumbnailRef = thumbnail_path) -> dict[str, Any]:
    """One search hit: ``rank`` (1-based), cosine ``score``, the tracklet's fields and ``feedback``
    (True: confirmed the same person, False: rejected, None: none)."""
    return {"rank": m.rank, "score": round(float(m.score), 5), **tracklet_fields(m.tracklet, thumbnail),
            "feedback": m.feedback}


def response_fields(r: SearchResponse, thumbnail: ThumbnailRef = thumbnail_path) -> dict[str, Any]:
    """A whole search: the query tracklet (None for a photo search), the matches best first, the
    notes and the time it took."""
    return {
        "query": None if r.query is None else tracklet_fields(r.query, thumbnail),
        "count": len(r.matches),
        "matches": [match_fields(m, thumbnail) for m in r.matches],
        "notes": list(r.notes), "elapsed_ms": round(r.elapsed_s * 1000, 2),
    }
