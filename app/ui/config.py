"""``UiConfig``: what the page needs besides the service (no Gradio here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.ui._uploads import UploadLimits, UploadSpace

__all__ = ["UiConfig"]


@dataclass(frozen=True)
class UiConfig:
    """What the page needs besides the service.

    ``max_upload_bytes``: per-file limit (also given to Gradio); ``archive_roots``: server folders
    the "index a folder" field may read; ``search_concurrency``: searches run at once (indexing
    runs one job at a time in its own queue group, so it never holds up searches);
    ``upload_limits``: per-user and total upload quotas and the cleanup of abandoned uploads;
    ``cache_dir``: Gradio's upload cache (default ``serving.gradio_cache_dir(data_dir)``);
    ``upload_space``: the server's ``UploadSpace`` when the caller made it (``upload_space()``)
    to share it with the HTTP guard; otherwise the page makes its own.
    """

    max_upload_bytes: int = 2 * 2**30
    upload_limits: UploadLimits = field(default_factory=UploadLimits)
    cache_dir: Path | None = None
    upload_space: UploadSpace | None = None
    archive_roots: tuple[Path, ...] = field(default_factory=tuple)
    search_concurrency: int = 4
    people_limit: int = 500
    title: str = "Person search across cameras"
