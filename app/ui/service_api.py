"""What the web UI needs of the service: ``UiService``, a typed protocol.

The page (``app.ui.layout`` and its tabs) and the JSON API (``app.ui.rest``) call only these
methods and attributes, with the plain records of the service boundary: ``TrackletInfo`` and
``VideoInfo`` (read-only rows), ``SearchRequest``/``SearchResponse``, ``IndexReport`` and
``ServiceStatus``. ``reid.service.ReidService`` satisfies it, and so does the in-memory fake of the
UI tests; ``tests/ui/test_service_api.py`` compares the method names and parameter names of both
with this protocol, so that neither can drift from what the UI calls. The UI never reaches the
gallery (``service.store``) itself.

Nothing heavy is imported here: the record types are for annotations only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import datetime as dt

    import numpy as np

    from reid.service.types import (
        IndexReport,
        ProgressFn,
        SearchRequest,
        SearchResponse,
        ServiceStatus,
    )
    from reid.store import TrackletInfo, VideoInfo

__all__ = ["UiService"]


@runtime_checkable
class UiService(Protocol):
    """The service methods the web UI calls (``actor`` names who acts, for the audit log)."""

    @property
    def data_dir(self) -> Path:
        """The gallery folder (uploads are kept under its ``uploads/``)."""
        ...

    # -- gallery contents
    def list_cameras(self) -> list[str]:
        """Camera names in the gallery."""
        ...

    def list_videos(self) -> list[VideoInfo]:
        """Every indexed video (its ``path`` is the source file as indexed)."""
        ...

    def list_tracklets(self, camera: str | None = None, video_id: int | None = None,
                       limit: int | None = 500) -> list[TrackletInfo]:
        """Tracklets of ``camera`` / ``video_id`` (None: all), at most ``limit``."""
        ...

    def get_tracklet(self, tracklet_id: int) -> TrackletInfo:
        """One tracklet; ``KeyError`` when there is none with that id."""
        ...

    def status(self) -> ServiceStatus:
        """Models in use, gallery counts and notes for the Status tab."""
        ...

    # -- search and what follows it
    def search(self, request: SearchRequest, actor: str = "cli") -> SearchResponse:
        """Run a search; ``KeyError``/``ValueError`` for a bad query or filter."""
        ...

    def add_feedback(self, query_id: int, candidate_id: int, same: bool, actor: str = "cli") -> None:
        """Save "same person" / "not this person" for a pair."""
        ...

    def render_clip(self, tracklet_id: int) -> Path:
        """A short clip of the tracklet with its box drawn (a file under the data dir)."""
        ...

    def render_frames(self, tracklet_id: int, n: int = 6) -> list[np.ndarray]:
        """``n`` annotated RGB frames ``(H, W, 3)`` uint8 of the tracklet."""
        ...

    def export(self, response: SearchResponse, fmt: str, actor: str = "cli") -> Path:
        """Write the matches as ``fmt`` (``reid.service.names.EXPORT_FORMATS``) under the data dir."""
        ...

    def resolve_data_path(self, path: str | Path) -> Path:
        """``path`` if it lies inside the data dir; ``ValueError`` otherwise."""
        ...

    # -- ingest
    def index_video(self, path: str | Path, camera: str | None = None,
                    start_time: dt.datetime | None = None, progress: ProgressFn | None = None,
                    actor: str = "cli") -> IndexReport:
        """Index one file; a bad file gives a ``"failed"`` report, not an exception."""
        ...

    def index_folder(self, root: str | Path, progress: ProgressFn | None = None,
                     actor: str = "cli") -> list[IndexReport]:
        """Index every video under ``root`` (camera = first sub-folder name)."""
        ...
