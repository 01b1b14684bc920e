"""The Ingest tab: upload footage from several cameras (camera and start time per file), or index a
folder on the server; a progress table follows each job.

``build`` makes the tab and wires its events; it returns the tab with its two indexing events, which
the page chains to a refresh of the other tabs (``app.ui.tab_status.page_refresh``). The plain
functions (``rows_for_files``, ``check_uploads``, ``index_uploads``, ``check_folder``,
``index_server_folder``) take the service and plain values, so they unit-test without Gradio.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui._events import INDEX_GROUP, actor_of, guard, quota_user
from app.ui._format import FileProgress, html_text, plain_text, progress_html
from app.ui._shared import UiError
from app.ui._uploads import (
    VIDEO_EXTENSIONS,
    UploadRejectedError,
    UploadSpace,
    check_video_file,
    default_camera_name,
    parse_time,
    persist_upload,
    start_time_from_name,
)
from app.ui.config import UiConfig
from app.ui.service_api import UiService
from app.ui.serving import gradio_cache_dir
from reid.service.types import IndexReport
from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["IngestTab", "build", "check_folder", "check_uploads", "index_server_folder",
           "index_uploads", "rows_for_files", "upload_space"]

_POLL_S = 0.4


def upload_space(service: UiService, config: UiConfig) -> UploadSpace:
    """The server's upload quotas and cleanup; abandoned uploads are swept once here (start)."""
    data_dir = Path(service.data_dir)

    def indexed_paths() -> list[str]:
        return [v.path for v in service.list_videos()]

    space = UploadSpace(GalleryLayout(data_dir).uploads,
                        config.cache_dir or gradio_cache_dir(data_dir), indexed_paths,
                        config.upload_limits)
    try:
        space.sweep(force=True)
    except Exception:  # a failed cleanup must not stop the server
        logger.exception("sweeping abandoned uploads failed")
    return space


# ------------------------------------------------------------------------------------ callbacks

def rows_for_files(files: Sequence[str] | None) -> list[list[str]]:
    """Table rows ``[file name, camera, start time]`` proposed for freshly uploaded files."""
    return [[plain_text(Path(f).name, 120), default_camera_name(f), start_time_from_name(f)]
            for f in files or []]


@dataclass
class _Job:
    progress: FileProgress
    path: str
    camera: str
    start: Any


def check_uploads(space: UploadSpace | None, user: str, files: Sequence[str] | None) -> list[str]:
    """Charge freshly uploaded ``files`` to ``user``'s quota; returns a message per refused file.

    Refused files are removed from the upload cache at once. Also runs the (throttled) sweep of
    abandoned uploads.
    """
    if space is None:
        return []
    messages = []
    for path in files or []:
        try:
            space.charge(user, path)
        except UploadRejectedError as exc:
            messages.append(str(exc))
            space.discard(path)
        except OSError:
            messages.append(f"{plain_text(Path(path).name, 120)}: the upload is gone; upload it again")
    space.sweep()
    return messages


def _plan_jobs(files: Sequence[str], table: Sequence[Sequence[Any]] | None, max_bytes: int,
               space: UploadSpace | None = None, user: str = "") -> list[_Job]:
    """One job per file; a refused file or row becomes a failed job (others still run)."""
    rows = [list(r) if isinstance(r, (list, tuple)) else [] for r in (table or [])]
    jobs = []
    for i, path in enumerate(files):
        name = plain_text(Path(path).name, 120)
        row = rows[i] if i < len(rows) and len(rows[i]) >= 3 else [name, "", ""]
        typed = "" if row[1] is None else plain_text(row[1], 200).strip()
        camera = default_camera_name(typed) if typed else default_camera_name(Path(path).name)
        job = _Job(FileProgress(name, camera), str(path), camera, None)
        try:
            check_video_file(path, max_bytes)
            job.start = parse_time(row[2] if row[2] is not None else "", f"{name} start time")
            if space is not None:
                space.charge(user, path)
        except (UploadRejectedError, OSError) as exc:
            job.progress.state = "failed"
            job.progress.message = str(exc) if isinstance(exc, UploadRejectedError) \
                else f"{name}: the upload is gone; upload it again"
        jobs.append(job)
    return jobs


def _index_one(service: UiService, job: _Job, actor: str) -> None:
    prog = job.progress

    def on_progress(fraction: float, message: str) -> None:
        prog.fraction, prog.message = float(fraction), str(message)

    prog.state = "running"
    try:
        prog.message = "storing the upload"
        path = persist_upload(job.path, GalleryLayout(Path(service.data_dir)).uploads)
        report: IndexReport = service.index_video(path, camera=job.camera,
                                                  start_time=job.start, progress=on_progress,
                                                  actor=actor)
    except Exception as exc:  # one bad file must not stop the others; details to the log
        logger.exception("indexing %s failed", job.path)
        prog.state, prog.message = "failed", (str(exc) or type(exc).__name__)[:300]
        return
    prog.state = report.status if report.status in ("indexed", "duplicate", "failed") else "indexed"
    if report.status == "failed":
        prog.message = (report.error or "indexing failed")[:300]
    elif report.status == "duplicate":
        prog.message = f"same content already indexed as video {report.video_id}"
    else:
        prog.message = (f"{report.tracklets} people tracklets from {report.video_seconds:.0f} s "
                        f"of video in {report.elapsed_s:.0f} s")


def _poll(work: Callable[[], None], render: Callable[[], str], poll_s: float) -> Iterator[str]:
    """Run ``work`` in a thread and yield ``render()`` until it ends (and once after)."""
    thread = threading.Thread(target=work, name="reid-ui-index", daemon=True)
    thread.start()
    yield render()
    while thread.is_alive():
        thread.join(poll_s)
        yield render()


def index_uploads(service: UiService, files: Sequence[str] | None, table: Sequence[Sequence[Any]] | None,
                  *, actor: str, max_bytes: int, space: UploadSpace | None = None,
                  user: str | None = None, poll_s: float = _POLL_S) -> Iterator[str]:
    """Index uploaded files one after another, yielding the per-file progress table (HTML).

    ``table`` rows are ``[file name, camera, start time]`` in the order of ``files`` (from
    ``rows_for_files``, possibly edited). Refused files or rows (type, size, start time, quota of
    ``user`` in ``space``) are marked failed with the reason; the others go on. Abandoned uploads
    are swept when the batch ends.
    """
    if not files:
        raise UiError("Choose one or more video files to upload first.")
    jobs = _plan_jobs(files, table, max_bytes, space, user if user is not None else actor)

    def work() -> None:
        try:
            for job in jobs:
                if job.progress.state == "queued":
                    _index_one(service, job, actor)
        finally:
            if space is not None:
                try:
                    space.sweep(force=True)
                except Exception:  # cleanup must never fail the batch
                    logger.exception("sweeping abandoned uploads failed")

    yield from _poll(work, lambda: progress_html([j.progress for j in jobs]), poll_s)


def check_folder(folder: str, roots: Sequence[Path]) -> Path:
    """Resolve ``folder`` and refuse it unless it is a directory inside one of ``roots``."""
    if not str(folder or "").strip():
        raise UiError("Type the path of a folder on the server (one sub-folder per camera).")
    shown = plain_text(folder, 200)
    try:
        path = Path(str(folder).strip()).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise UiError(f"{shown}: not a usable folder path.") from None
    if not any(path == r or r in path.parents for r in (Path(r).resolve() for r in roots)):
        allowed = ", ".join(str(r) for r in roots) or "none"
        raise UiError(f"{shown}: outside the folders this server may index ({allowed}); "
                      "start `reid serve --archive-root DIR` to allow another.")
    if not path.is_dir():
        raise UiError(f"{shown}: no such folder on the server.")
    return path


def index_server_folder(service: UiService, folder: str, roots: Sequence[Path], *, actor: str,
                        poll_s: float = _POLL_S) -> Iterator[str]:
    """Index a server-side folder tree (camera = sub-folder), yielding a progress table (HTML)."""
    path = check_folder(folder, roots)
    prog = FileProgress(str(path), "(sub-folders)")
    reports: list[IndexReport] = []

    def on_progress(fraction: float, message: str) -> None:
        prog.fraction, prog.message = float(fraction), str(message)

    def work() -> None:
        prog.state = "running"
        try:
            reports.extend(service.index_folder(path, progress=on_progress, actor=actor))
        except Exception as exc:
            logger.exception("indexing folder %s failed", path)
            prog.state, prog.message = "failed", (str(exc) or type(exc).__name__)[:300]
            return
        prog.state, prog.fraction = "indexed", 1.0
        prog.message = f"{len(reports)} files"

    def render() -> str:
        done = [FileProgress(Path(r.path).name, r.camera,
                             r.status if r.status in ("indexed", "duplicate") else "failed", 1.0,
                             r.error or f"{r.tracklets} tracklets") for r in reports]
        return progress_html([prog, *done])

    yield from _poll(work, render, poll_s)


# ------------------------------------------------------------------------------------ components

@dataclass(frozen=True)
class IngestTab:
    """The Ingest tab's components, and its two indexing events (``.then`` chains after them)."""

    files: gr.File
    table: gr.Dataframe
    index_btn: gr.Button
    progress: gr.HTML
    folder: gr.Textbox
    folder_btn: gr.Button
    indexing: tuple[Any, ...] = ()


def build(service: UiService, config: UiConfig, space: UploadSpace) -> IngestTab:
    """Make the tab (inside a ``gr.Tabs``) and wire the upload table and both indexing buttons."""
    limit_mb = config.max_upload_bytes / 2**20
    with gr.Tab("Ingest", id="ingest"):
        quota_gib = config.upload_limits.per_user_bytes / 2**30
        gr.Markdown(f"Upload footage from several cameras at once (video files up to "
                    f"{limit_mb:.0f} MB each, {quota_gib:.0f} GiB per user in 24 hours). Set each "
                    "file's **camera** and, if known, its **start time** (UTC), then press *Index*.")
        files = gr.File(file_count="multiple", file_types=list(VIDEO_EXTENSIONS),
                        label="Video files", elem_id="reid-upload")
        table = gr.Dataframe(headers=["file", "camera", "start time (UTC, optional)"],
                             column_count=3, type="array", interactive=True, static_columns=[0],
                             label="Camera and start time per file", elem_id="reid-upload-table")
        index_btn = gr.Button("Index", variant="primary", elem_id="reid-index-btn")
        progress = gr.HTML(elem_id="reid-index-progress")
        with gr.Accordion("Index a folder on the server (archives)", open=False):
            roots = ", ".join(str(r) for r in config.archive_roots) or "none configured"
            folder = gr.Textbox(label="Folder (one sub-folder per camera)",
                                info=f"allowed under: {roots}")
            folder_btn = gr.Button("Index folder")

    def rows(files: list[str] | None, request: gr.Request) -> list[list[str]]:
        for message in check_uploads(space, quota_user(request), files):
            gr.Warning(html_text(message, 1000))
        return rows_for_files(files)

    def index_files(files: list[str] | None, table: list[list[Any]] | None,
                    request: gr.Request) -> Any:
        yield from index_uploads(service, files, table, actor=actor_of(request),
                                 max_bytes=config.max_upload_bytes, space=space,
                                 user=quota_user(request))

    def index_folder(folder: str, request: gr.Request) -> Any:
        yield from index_server_folder(service, folder, config.archive_roots,
                                       actor=actor_of(request))

    files.upload(guard(rows, "Reading the uploads"), files, table, api_visibility="private")
    by_files = index_btn.click(guard(index_files, "Indexing"), [files, table], progress,
                               concurrency_limit=1, concurrency_id=INDEX_GROUP,
                               api_name="index_files")
    by_folder = folder_btn.click(guard(index_folder, "Indexing the folder"), folder, progress,
                                 concurrency_limit=1, concurrency_id=INDEX_GROUP,
                                 api_name="index_folder")
    return IngestTab(files, table, index_btn, progress, folder, folder_btn, (by_files, by_folder))
