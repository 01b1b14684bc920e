"""What the web UI does, as plain functions of the service (no Gradio here, so they unit-test).

Each function takes the ``ReidService`` (or anything with the same methods) and plain values, and
returns plain values that ``app.ui.layout`` puts into components. A problem the user can fix
raises ``UiError`` with a message for them; ``layout`` turns it into a visible error and sends any
other exception's details to the log only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.ui._format import (
    FileProgress,
    match_caption,
    md_text,
    plain_text,
    progress_html,
    status_banner_html,
    status_markdown,
    timeline_html,
    tracklet_caption,
    tracklet_when,
)
from app.ui._uploads import (
    UploadRejectedError,
    UploadSpace,
    check_video_file,
    default_camera_name,
    parse_time,
    persist_upload,
    start_time_from_name,
)
from reid.service.photos import WORK_SIDE, PhotoRejectedError, load_photo
from reid.service.types import IndexReport, SearchRequest, SearchResponse

logger = logging.getLogger(__name__)

__all__ = [
    "ALL_CAMERAS",
    "EXPORT_FORMATS",
    "PeopleView",
    "ResultsView",
    "SearchForm",
    "UiError",
    "build_request",
    "camera_choices",
    "check_uploads",
    "export_results",
    "give_feedback",
    "index_server_folder",
    "index_uploads",
    "list_people",
    "pick_id",
    "play_match",
    "query_preview",
    "results_view",
    "rows_for_files",
    "run_search",
    "status_view",
]

ALL_CAMERAS = "All cameras"
EXPORT_FORMATS = ("csv", "json", "zip")
_POLL_S = 0.4


class UiError(Exception):
    """A problem the user can fix; the message is shown to them as is."""


# ----------------------------------------------------------------------------------------- status

def status_view(service: Any) -> tuple[str, str]:
    """(fallback banner HTML, Status tab Markdown) from ``service.status()``."""
    status = service.status()
    return status_banner_html(status), status_markdown(status)


def camera_choices(service: Any) -> list[str]:
    """Cameras in the gallery, sorted (for the filters)."""
    return sorted(service.list_cameras())


# ----------------------------------------------------------------------------------------- people

@dataclass
class PeopleView:
    """The People tab: gallery items ``(image path, caption)``, their tracklet ids, a timeline."""

    items: list[tuple[str, str]]
    ids: list[int]
    timeline: str
    summary: str


def list_people(service: Any, camera: str | None, limit: int = 500) -> PeopleView:
    """Thumbnails of the tracklets of ``camera`` (None or ``ALL_CAMERAS``: every camera).

    Ordered by camera then start time; tracklets without a thumbnail or crop are counted but not
    shown. At most ``limit`` tracklets are listed (the summary says when the list is cut).
    """
    cam = None if camera in (None, "", ALL_CAMERAS) else camera
    if cam is not None and cam not in service.list_cameras():
        raise UiError(f"No camera named {plain_text(repr(cam), 80)}; "
                      f"cameras: {_names(service.list_cameras())}.")
    tracklets = service.list_tracklets(camera=cam, limit=limit)
    tracklets = sorted(tracklets, key=lambda t: (t.camera, t.start_time is None,
                                                 t.start_time or t.start_s, t.start_s, t.id))
    items: list[tuple[str, str]] = []
    ids: list[int] = []
    for t in tracklets:
        image = t.thumbnail_path or (t.crop_paths[0] if t.crop_paths else None)
        if image is None:
            continue
        items.append((str(image), tracklet_caption(t)))
        ids.append(t.id)
    where = f"camera **{md_text(cam, 64)}**" if cam else "all cameras"
    summary = f"{len(ids)} people tracklets on {where}."
    if len(tracklets) >= limit:
        summary += f" Showing the first {limit}; pick one camera to narrow the list."
    if not tracklets:
        summary = f"No people found on {where} yet: index some footage in the Ingest tab."
    return PeopleView(items, ids, timeline_html(tracklets, title="When people were seen"), summary)


def pick_id(ids: Sequence[int], index: Any) -> int:
    """The tracklet id at gallery position ``index`` (from a select event)."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    if not isinstance(index, int) or not 0 <= index < len(ids):
        raise UiError("That thumbnail is no longer in the list; refresh the page's people list.")
    return int(ids[index])


def query_preview(service: Any, tracklet_id: float | int | None) -> tuple[str | None, str]:
    """(thumbnail path, caption) of the query person ``tracklet_id``."""
    tid = _tracklet_id(tracklet_id)
    t = _get_tracklet(service, tid)
    image = t.thumbnail_path or (t.crop_paths[0] if t.crop_paths else None)
    return (str(image) if image else None), f"Query: {tracklet_caption(t, md_text)}"


def _tracklet_id(value: float | int | str | None) -> int:
    if value is None or value == "":
        raise UiError("Pick a person first: click a thumbnail in the People tab, or upload a photo.")
    shown = plain_text(repr(value), 40)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UiError(f"{shown} is not a person number.") from None
    if not number.is_integer() or not 1 <= number < 2**63:
        raise UiError(f"{shown} is not a person number (they are whole numbers from 1).")
    return int(number)


def _names(names: Sequence[str], limit: int = 20, text: Callable[..., str] = plain_text) -> str:
    """A short, safe list of names for a message (the first ``limit``, each through ``text``)."""
    shown = [text(n, 64) for n in list(names)[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (", ".join(shown) or "none") + more


def _get_tracklet(service: Any, tid: int) -> Any:
    try:
        return service.get_tracklet(tid)
    except (KeyError, LookupError, ValueError) as exc:
        raise UiError(f"No person #{tid} in the gallery ({exc}).") from None


# ----------------------------------------------------------------------------------------- search

@dataclass
class SearchForm:
    """The search controls as the user set them (times as text, ISO 8601; empty = no bound)."""

    threshold: float | None = None
    top_k: int = 50
    cameras: list[str] | None = None
    time_from: str | None = None
    time_to: str | None = None
    rerank: bool = False
    exclude_same_camera: bool = False
    use_feedback: bool = True


def build_request(form: SearchForm, tracklet_id: float | int | None = None,
                  image: np.ndarray | str | Path | None = None) -> SearchRequest:
    """A ``SearchRequest`` from the form, by photo when ``image`` is given.

    ``image``: the uploaded photo's file path (read with ``reid.service.photos.load_photo``: size,
    format and pixel count checked before decoding) or an RGB(A) uint8 ``(H, W, 3|4)`` array.
    """
    start = parse_time(form.time_from, "From")
    end = parse_time(form.time_to, "To")
    if start and end and end < start:
        raise UiError("The time window ends before it starts: swap From and To.")
    top_k = int(form.top_k)
    if not 1 <= top_k <= 1000:
        raise UiError(f"Number of results must be between 1 and 1000, got {top_k}.")
    common = dict(top_k=top_k, cameras=list(form.cameras) if form.cameras else None,
                  time_from=start, time_to=end, score_threshold=form.threshold,
                  rerank=bool(form.rerank), query_expansion=bool(form.rerank),
                  exclude_same_camera=bool(form.exclude_same_camera),
                  use_feedback=form.use_feedback)
    if image is not None:
        return SearchRequest(images=[_photo_array(image)], **common)
    return SearchRequest(tracklet_id=_tracklet_id(tracklet_id), **common)


def _photo_array(image: np.ndarray | str | Path) -> np.ndarray:
    """The query photo as RGB uint8 ``(H, W, 3)``, longer side at most ``WORK_SIDE``."""
    if isinstance(image, (str, Path)):
        try:
            return load_photo(image)
        except PhotoRejectedError as exc:
            raise UiError(f"Search by photo: {exc}.") from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise UiError("The photo must be a colour image of a person, at least 8x8 pixels.")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number):
            raise UiError("The photo must be an 8-bit colour image.")
        array = np.nan_to_num(array.astype(np.float64)).clip(0, 255).astype(np.uint8)
    array = np.ascontiguousarray(array[:, :, :3])
    scale = WORK_SIDE / max(array.shape[:2])
    if scale < 1.0:
        import cv2

        size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array


def run_search(service: Any, request: SearchRequest, actor: str) -> SearchResponse:
    """Run ``request``; a missing query person or an invalid filter becomes a ``UiError``."""
    unknown = sorted(set(request.cameras or ()) - set(service.list_cameras()))
    if unknown:
        raise UiError(f"No camera named {_names(unknown, 5)}; cameras: "
                      f"{_names(service.list_cameras())}.")
    if request.tracklet_id is not None:
        _get_tracklet(service, request.tracklet_id)
    try:
        return service.search(request, actor=actor)
    except (KeyError, LookupError, ValueError) as exc:
        raise UiError(f"Search refused: {plain_text(exc)}") from None


@dataclass
class ResultsView:
    """Search results for the UI: gallery items, a table, the query person's timeline, a summary."""

    items: list[tuple[str, str]]
    rows: list[list[Any]]
    timeline: str
    summary: str
    headers: list[str] = field(default_factory=lambda: [
        "rank", "person", "camera", "start", "duration s", "score", "feedback"])


def results_view(response: SearchResponse | None) -> ResultsView:
    """Turn a ``SearchResponse`` into gallery items, table rows and a per-camera timeline."""
    if response is None:
        return ResultsView([], [], timeline_html([], title="Where the query person was seen"),
                           "No search yet.")
    items, rows = [], []
    for m in response.matches:
        t = m.tracklet
        image = t.thumbnail_path or (t.crop_paths[0] if t.crop_paths else None)
        if image is not None:
            items.append((str(image), match_caption(m)))
        rows.append([m.rank, t.id, plain_text(t.camera, 64), tracklet_when(t), round(t.duration_s, 1),
                     round(float(m.score), 4), {True: "same", False: "not", None: ""}[m.feedback]])
    seen = [m.tracklet for m in response.matches]
    query_ids: list[int] = []
    if response.query is not None:
        seen = [response.query, *seen]
        query_ids = [response.query.id]
    cams = sorted({m.tracklet.camera for m in response.matches})
    summary = (f"{len(response.matches)} matches on {len(cams)} camera(s) "
               f"({_names(cams, text=md_text)}) in {response.elapsed_s * 1000:.0f} ms.")
    if response.query is not None:
        summary = f"Query: {tracklet_caption(response.query, md_text)}. " + summary
    if not response.matches:
        summary += " Lower the score threshold or widen the filters."
    if response.notes:
        summary += "\n\n" + "\n".join(f"- {md_text(n, 1000)}" for n in response.notes)
    title = "Where the query person was seen" if response.query is not None \
        else "Where the matches were seen"
    timeline = timeline_html(seen, highlight=query_ids, title=title)
    return ResultsView(items, rows, timeline, summary)


def _visible_matches(response: SearchResponse) -> list[Any]:
    """Matches in gallery order (those with an image), the order select events index into."""
    return [m for m in response.matches
            if m.tracklet.thumbnail_path or m.tracklet.crop_paths]


def play_match(service: Any, response: SearchResponse | None,
               index: Any) -> tuple[str | None, list[np.ndarray], str, int]:
    """(clip MP4 path, annotated RGB frames, caption, candidate id) of result ``index``.

    When the clip cannot be rendered the frames still show; when neither can, ``UiError``.
    """
    if response is None:
        raise UiError("Run a search first.")
    visible = _visible_matches(response)
    match = visible[pick_id(list(range(len(visible))), index)]
    tid = match.tracklet.id
    clip: str | None = None
    try:
        clip = str(service.render_clip(tid))
    except Exception:  # the frame strip below is the fallback; the reason goes to the log
        logger.exception("rendering the clip of tracklet %d failed", tid)
    try:
        frames = list(service.render_frames(tid, n=6))
    except Exception:
        logger.exception("rendering the frames of tracklet %d failed", tid)
        frames = []
    if clip is None and not frames:
        raise UiError(f"Cannot play person #{tid}: its video is missing or unreadable.")
    return clip, frames, f"Playing {match_caption(match, md_text)}", tid


def give_feedback(service: Any, response: SearchResponse | None, candidate_id: float | int | None,
                  same: bool, actor: str) -> str:
    """Save "same person" / "not this person" for (query, candidate); returns a confirmation."""
    if response is None or response.query is None:
        raise UiError("Feedback needs a search by a person from the gallery (not by photo).")
    if candidate_id in (None, "", 0):
        raise UiError("Click a result first, then say whether it is the same person.")
    cid = int(candidate_id)
    service.add_feedback(response.query.id, cid, same, actor=actor)
    verdict = "the same person as" if same else "not the same person as"
    return f"Saved: #{cid} is {verdict} #{response.query.id}. Later searches use it."


def export_results(service: Any, response: SearchResponse | None, fmt: str, actor: str) -> str:
    """Write the last results as ``fmt`` (csv, json or zip) under the data dir; returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise UiError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    if response is None:
        raise UiError("Run a search first: the export holds the current results.")
    path = Path(service.export(response, fmt, actor=actor))
    return str(service.resolve_data_path(path))


# ----------------------------------------------------------------------------------------- ingest

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


def _index_one(service: Any, job: _Job, actor: str) -> None:
    prog = job.progress

    def on_progress(fraction: float, message: str) -> None:
        prog.fraction, prog.message = float(fraction), str(message)

    prog.state = "running"
    try:
        prog.message = "storing the upload"
        path = persist_upload(job.path, Path(service.data_dir) / "uploads")
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


def index_uploads(service: Any, files: Sequence[str] | None, table: Sequence[Sequence[Any]] | None,
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


def index_server_folder(service: Any, folder: str, roots: Sequence[Path], *, actor: str,
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
