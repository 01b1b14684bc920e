"""The Gradio page: tabs, components and the wiring of events to ``app.ui.callbacks``.

``build_app(service, config)`` returns a ``gr.Blocks``; nothing is launched here (see
``app.ui.serving``). Every event goes through ``_guard`` so that a ``UiError`` becomes a visible
message and any other exception becomes a short message with a reference, its traceback going to
the log only.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from app.ui import callbacks as cb
from app.ui._format import html_text, md_text, plain_text
from app.ui._uploads import VIDEO_EXTENSIONS, UploadLimits, UploadRejectedError, UploadSpace
from app.ui.serving import gradio_cache_dir

logger = logging.getLogger(__name__)

__all__ = ["UiConfig", "build_app"]

_SEARCH_GROUP = "search"
_INDEX_GROUP = "index"
_RENDER_GROUP = "render"


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


def _guard(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Wrap an event handler: user errors become ``gr.Error``; others are logged with a reference."""

    def translate(exc: BaseException) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        # user_facing: a GalleryError (read-only, locked or damaged gallery) says what to do
        if isinstance(exc, (cb.UiError, UploadRejectedError)) or getattr(exc, "user_facing", False):
            # Toasts render HTML: the message quotes user text (names, times), so it is escaped.
            return gr.Error(html_text(exc, 1000), print_exception=False)
        ref = uuid.uuid4().hex[:8]
        logger.error("%s failed (ref %s)", what, ref, exc_info=exc)
        return gr.Error(f"{what} failed because of an internal error (ref {ref}); "
                        "the details are in the server log.", print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise translate(exc) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise translate(exc) from None
    return wrapper


def _actor(request: gr.Request | None) -> str:
    """Who acts, for the audit log: the logged-in user, else ``web``."""
    name = getattr(request, "username", None) if request is not None else None
    return f"web:{plain_text(name, 64)}" if name else "web"


def _quota_user(request: gr.Request | None) -> str:
    """Whose upload quota an upload counts against: the login, else the browser session."""
    name = getattr(request, "username", None) if request is not None else None
    if name:
        return f"user:{name}"
    session = getattr(request, "session_hash", None) if request is not None else None
    return f"session:{session}" if session else "anonymous"


def _md(value: str = "", **kwargs: Any) -> gr.Markdown:
    """A Markdown component for text that quotes user data (already passed through ``md_text``):
    no LaTeX rendering, HTML sanitised."""
    return gr.Markdown(value, latex_delimiters=[], sanitize_html=True, **kwargs)


def _camera_choices(cameras: list[str]) -> list[tuple[str, str]]:
    """Dropdown choices ``(shown label, camera name)``: labels stripped of control characters."""
    return [(plain_text(c, 64), c) for c in cameras]


def _photo_input(**kwargs: Any) -> gr.Image:
    """An image input that hands the callback the uploaded file's path, unread.

    Gradio decodes an upload before any event handler runs (a decompression bomb or a corrupt
    file would fail there with a bare "Error"). Here Gradio only opens the header, its failures
    become a message, and ``reid.service.photos.load_photo`` checks and decodes the file. (A
    wrapper on the instance, not a subclass: Gradio writes a ``.pyi`` next to every module that
    defines a component class.)
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    preprocess = image.preprocess

    def guarded(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception as exc:
            logger.info("photo upload refused: %s: %s", type(exc).__name__, exc)
            raise gr.Error("Search by photo: the photo could not be read: it is not a JPEG, PNG, "
                           "WebP or BMP image, or it declares too many pixels (crop or shrink it "
                           "to the person).", print_exception=False) from None

    image.preprocess = guarded  # type: ignore[method-assign]
    return image


def build_app(service: Any, config: UiConfig | None = None) -> gr.Blocks:
    """The whole page for ``service`` (a ``ReidService`` or anything with its methods)."""
    config = config or UiConfig()
    space = config.upload_space or upload_space(service, config)
    with gr.Blocks(title=config.title, analytics_enabled=False,
                   delete_cache=(3600, 24 * 3600)) as demo:
        _md(f"# {md_text(config.title)}", elem_id="reid-title")
        banner = gr.HTML(elem_id="reid-banner")
        with gr.Tabs(selected="people") as tabs:
            people = _people_tab(config)
            search = _search_tab()
            ingest = _ingest_tab(config)
            with gr.Tab("Status", id="status"):
                status_md = _md(elem_id="reid-status")
                refresh_status = gr.Button("Refresh", size="sm")
        _wire_status(service, demo, banner, status_md, refresh_status, people, search, tabs)
        _wire_people(service, config, people, search, tabs)
        _wire_search(service, config, search)
        _wire_ingest(service, config, space, ingest, people, search, banner, status_md)
    return demo


def upload_space(service: Any, config: UiConfig) -> UploadSpace:
    """The server's upload quotas and cleanup; abandoned uploads are swept once here (start)."""
    data_dir = Path(service.data_dir)

    def indexed_paths() -> list[str]:
        return [v.path for v in service.list_videos()]

    space = UploadSpace(data_dir / "uploads", config.cache_dir or gradio_cache_dir(data_dir),
                        indexed_paths, config.upload_limits)
    try:
        space.sweep(force=True)
    except Exception:  # a failed cleanup must not stop the server
        logger.exception("sweeping abandoned uploads failed")
    return space


# ------------------------------------------------------------------------------------ components

def _people_tab(config: UiConfig) -> dict[str, Any]:
    with gr.Tab("People", id="people"):
        gr.Markdown("Everyone the cameras saw. **Click a person** to search for them on every camera.")
        with gr.Row():
            camera = gr.Dropdown([cb.ALL_CAMERAS], value=cb.ALL_CAMERAS, label="Camera",
                                 allow_custom_value=True, scale=3, elem_id="reid-people-camera")
            refresh = gr.Button("Refresh", size="sm", scale=1)
        summary = _md(elem_id="reid-people-summary")
        gallery = gr.Gallery(label="People", columns=8, height=460, object_fit="contain",
                             allow_preview=False, fit_columns=False, elem_id="reid-people")
        timeline = gr.HTML(elem_id="reid-people-timeline")
        ids = gr.State([])
    return dict(camera=camera, refresh=refresh, summary=summary, gallery=gallery,
                timeline=timeline, ids=ids)


def _search_controls() -> dict[str, Any]:
    with gr.Accordion("Filters", open=True):
        threshold = gr.Slider(-1.0, 1.0, value=0.0, step=0.01, label="Minimum score",
                              info="cosine similarity of gallery-centred descriptors: about 0 for "
                                   "unrelated people, so 0 hides those less alike than an average "
                                   "pair; raise it to keep only close matches")
        top_k = gr.Slider(1, 200, value=30, step=1, label="Number of results")
        cameras = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                              label="Cameras (empty = all)", elem_id="reid-filter-cameras")
        with gr.Row():
            time_from = gr.DateTime(label="From (UTC)", include_time=True, type="string")
            time_to = gr.DateTime(label="To (UTC)", include_time=True, type="string")
        with gr.Row():
            rerank = gr.Checkbox(False, label="Re-rank (k-reciprocal + query expansion)")
            exclude_cam = gr.Checkbox(False, label="Other cameras only")
    return dict(threshold=threshold, top_k=top_k, cameras=cameras, time_from=time_from,
                time_to=time_to, rerank=rerank, exclude_cam=exclude_cam)


def _search_tab() -> dict[str, Any]:
    with gr.Tab("Search", id="search"):
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                query_image = gr.Image(label="Query person", interactive=False, height=180,
                                       elem_id="reid-query-image")
                query_caption = _md("Click a person in the People tab, or upload a photo.")
                query_id = gr.Number(label="Person #", precision=0, minimum=0,
                                     elem_id="reid-query-id")
                search_btn = gr.Button("Search this person", variant="primary",
                                       elem_id="reid-search-btn")
                photo = _photo_input(label="…or a photo of a person", sources=["upload", "clipboard"],
                                     height=180, elem_id="reid-photo")
                photo_btn = gr.Button("Search by photo", elem_id="reid-photo-btn")
                controls = _search_controls()
            with gr.Column(scale=3):
                summary = _md(elem_id="reid-results-summary")
                results = gr.Gallery(label="Matches (best first)", columns=6, height=420,
                                     object_fit="contain", allow_preview=False,
                                     fit_columns=False, elem_id="reid-results")
                timeline = gr.HTML(elem_id="reid-results-timeline")
                with gr.Row():
                    clip = gr.Video(label="Selected match", height=300, elem_id="reid-clip")
                    frames = gr.Gallery(label="Frames", columns=3, height=300, allow_preview=True)
                play_caption = _md(elem_id="reid-play-caption")
                with gr.Row():
                    same_btn = gr.Button("✓ Same person", size="sm")
                    not_btn = gr.Button("✗ Not this person", size="sm")
                table = gr.Dataframe(headers=cb.ResultsView([], [], "", "").headers,
                                     interactive=False, type="array", label="Matches as a table",
                                     max_height=300)
                with gr.Row():
                    csv_btn = gr.Button("Export CSV", size="sm")
                    json_btn = gr.Button("Export JSON", size="sm")
                    zip_btn = gr.Button("Export crops + clips (zip)", size="sm")
                export_file = gr.File(label="Export", interactive=False, height=80)
        response = gr.State(None)
        candidate = gr.State(0)
    return dict(query_image=query_image, query_caption=query_caption, query_id=query_id,
                search_btn=search_btn, photo=photo, photo_btn=photo_btn, summary=summary,
                results=results, timeline=timeline, clip=clip, frames=frames,
                play_caption=play_caption, same_btn=same_btn, not_btn=not_btn, table=table,
                csv_btn=csv_btn, json_btn=json_btn, zip_btn=zip_btn, export_file=export_file,
                response=response, candidate=candidate, **controls)


def _ingest_tab(config: UiConfig) -> dict[str, Any]:
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
    return dict(files=files, table=table, index_btn=index_btn, progress=progress,
                folder=folder, folder_btn=folder_btn)



# ------------------------------------------------------------------------------------ wiring

def _wire_status(service: Any, demo: gr.Blocks, banner: gr.HTML, status_md: gr.Markdown,
                 refresh: gr.Button, people: dict, search: dict, tabs: gr.Tabs) -> None:
    def show_status() -> tuple[str, str]:
        return cb.status_view(service)

    def on_load() -> tuple[Any, ...]:
        banner_html, text = cb.status_view(service)
        cams = cb.camera_choices(service)
        view = cb.list_people(service, None)
        start_tab = "people" if view.ids else "ingest"
        return (banner_html, text, gr.Dropdown(choices=[cb.ALL_CAMERAS, *_camera_choices(cams)]),
                gr.Dropdown(choices=_camera_choices(cams)), view.items, view.ids, view.timeline,
                view.summary, gr.Tabs(selected=start_tab))

    refresh.click(_guard(show_status, "Reading the status"), None, [banner, status_md],
                  api_name="status")
    demo.load(_guard(on_load, "Loading the page"), None,
              [banner, status_md, people["camera"], search["cameras"], people["gallery"],
               people["ids"], people["timeline"], people["summary"], tabs],
              api_visibility="private")


def _wire_people(service: Any, config: UiConfig, people: dict, search: dict,
                 tabs: gr.Tabs) -> None:
    def list_people(camera: str) -> tuple[Any, ...]:
        view = cb.list_people(service, camera, limit=config.people_limit)
        return view.items, view.ids, view.timeline, view.summary

    def pick(ids: list[int], evt: gr.SelectData) -> tuple[Any, ...]:
        tid = cb.pick_id(ids, evt.index)
        image, caption = cb.query_preview(service, tid)
        return tid, image, caption, None, gr.Tabs(selected="search")

    outputs = [people["gallery"], people["ids"], people["timeline"], people["summary"]]
    list_fn = _guard(list_people, "Listing people")
    people["camera"].change(list_fn, people["camera"], outputs, api_name="list_people")
    people["refresh"].click(list_fn, people["camera"], outputs, api_visibility="private")
    picked = people["gallery"].select(
        _guard(pick, "Choosing the person"), people["ids"],
        [search["query_id"], search["query_image"], search["query_caption"], search["photo"], tabs],
        api_visibility="private")
    picked.success(**_search_event(service, search, by_photo=False,
                                   limit=config.search_concurrency),
                   api_name="search_picked", api_visibility="private")


def _form(threshold: float, top_k: float, cameras: list[str], time_from: str | None,
          time_to: str | None, rerank: bool, exclude_cam: bool) -> cb.SearchForm:
    return cb.SearchForm(threshold=float(threshold), top_k=int(top_k), cameras=cameras,
                         time_from=time_from, time_to=time_to, rerank=rerank,
                         exclude_same_camera=exclude_cam)


def _search_event(service: Any, s: dict, *, by_photo: bool, limit: int,
                  quiet: bool = False) -> dict[str, Any]:
    """Keyword arguments of an event listener that runs a search (by person # or by photo).

    ``quiet``: with no query yet, do nothing instead of asking for one (slider moves).
    """
    def search(query: Any, threshold: float, top_k: float, cameras: list[str],
               time_from: str | None, time_to: str | None, rerank: bool, exclude_cam: bool,
               request: gr.Request) -> tuple[Any, ...]:
        # ``query`` is a photo's file path (by photo) or a number (by person #); never compare an
        # array or a path with a number.
        missing = (query is None or (isinstance(query, str) and not query.strip())
                   or (not by_photo and isinstance(query, (int, float)) and query == 0))
        if missing:
            if quiet:
                return tuple(gr.skip() for _ in range(9))
            if by_photo:
                raise cb.UiError("Upload a photo of a person first.")
        form = _form(threshold, top_k, cameras, time_from, time_to, rerank, exclude_cam)
        req = (cb.build_request(form, image=query) if by_photo
               else cb.build_request(form, tracklet_id=query))
        response = cb.run_search(service, req, actor=_actor(request))
        view = cb.results_view(response)
        return (response, view.items, view.rows, view.timeline, view.summary,
                None, [], "", 0)

    controls = [s[k] for k in ("threshold", "top_k", "cameras", "time_from", "time_to",
                               "rerank", "exclude_cam")]
    return dict(
        fn=_guard(search, "Searching"),
        inputs=[s["photo"] if by_photo else s["query_id"], *controls],
        outputs=[s["response"], s["results"], s["table"], s["timeline"], s["summary"],
                 s["clip"], s["frames"], s["play_caption"], s["candidate"]],
        concurrency_limit=limit, concurrency_id=_SEARCH_GROUP,
    )


def _wire_search(service: Any, config: UiConfig, s: dict) -> None:
    limit = config.search_concurrency
    by_id = _search_event(service, s, by_photo=False, limit=limit)
    s["search_btn"].click(**by_id, api_name="search")
    s["query_id"].submit(**by_id, api_name="search_submit", api_visibility="private")
    s["threshold"].release(**_search_event(service, s, by_photo=False, limit=limit, quiet=True),
                           api_name="search_threshold", api_visibility="private")
    s["photo_btn"].click(**_search_event(service, s, by_photo=True, limit=limit),
                         api_name="search_photo")

    def preview(query_id: Any) -> tuple[Any, str]:
        return cb.query_preview(service, query_id)
    s["query_id"].submit(_guard(preview, "Showing the query"), s["query_id"],
                         [s["query_image"], s["query_caption"]], api_visibility="private")
    s["search_btn"].click(_guard(preview, "Showing the query"), s["query_id"],
                          [s["query_image"], s["query_caption"]], api_visibility="private")

    def play(response: Any, evt: gr.SelectData) -> tuple[Any, ...]:
        clip, frames, caption, cid = cb.play_match(service, response, evt.index)
        return clip, frames, caption, cid

    s["results"].select(_guard(play, "Playing the match"), s["response"],
                        [s["clip"], s["frames"], s["play_caption"], s["candidate"]],
                        concurrency_limit=2, concurrency_id=_RENDER_GROUP,
                        api_visibility="private")

    for button, same in ((s["same_btn"], True), (s["not_btn"], False)):
        def feedback(response: Any, candidate: Any, request: gr.Request,
                     _same: bool = same) -> None:
            gr.Info(html_text(cb.give_feedback(service, response, candidate, _same, _actor(request))))
        button.click(_guard(feedback, "Saving feedback"), [s["response"], s["candidate"]], None,
                     api_name="feedback_same" if same else "feedback_not")

    for button, fmt in ((s["csv_btn"], "csv"), (s["json_btn"], "json"), (s["zip_btn"], "zip")):
        def export(response: Any, request: gr.Request, _fmt: str = fmt) -> str:
            return cb.export_results(service, response, _fmt, _actor(request))
        button.click(_guard(export, f"Exporting {fmt.upper()}"), s["response"], s["export_file"],
                     concurrency_limit=1, concurrency_id=f"export-{fmt}", api_name=f"export_{fmt}")


def _wire_ingest(service: Any, config: UiConfig, space: UploadSpace, ing: dict, people: dict,
                 search: dict, banner: gr.HTML, status_md: gr.Markdown) -> None:
    def rows(files: list[str] | None, request: gr.Request) -> list[list[str]]:
        for message in cb.check_uploads(space, _quota_user(request), files):
            gr.Warning(html_text(message, 1000))
        return cb.rows_for_files(files)

    def index_files(files: list[str] | None, table: list[list[Any]] | None,
                    request: gr.Request) -> Any:
        yield from cb.index_uploads(service, files, table, actor=_actor(request),
                                    max_bytes=config.max_upload_bytes, space=space,
                                    user=_quota_user(request))

    def index_folder(folder: str, request: gr.Request) -> Any:
        yield from cb.index_server_folder(service, folder, config.archive_roots,
                                          actor=_actor(request))

    def refresh_all() -> tuple[Any, ...]:
        banner_html, text = cb.status_view(service)
        cams = cb.camera_choices(service)
        view = cb.list_people(service, None, limit=config.people_limit)
        return (banner_html, text, gr.Dropdown(choices=[cb.ALL_CAMERAS, *_camera_choices(cams)],
                                                value=cb.ALL_CAMERAS),
                gr.Dropdown(choices=_camera_choices(cams)), view.items, view.ids, view.timeline, view.summary)

    after = dict(fn=_guard(refresh_all, "Refreshing"), inputs=None,
                 outputs=[banner, status_md, people["camera"], search["cameras"],
                          people["gallery"], people["ids"], people["timeline"],
                          people["summary"]], api_visibility="private")
    ing["files"].upload(_guard(rows, "Reading the uploads"), ing["files"], ing["table"],
                        api_visibility="private")
    ing["index_btn"].click(_guard(index_files, "Indexing"), [ing["files"], ing["table"]],
                           ing["progress"], concurrency_limit=1, concurrency_id=_INDEX_GROUP,
                           api_name="index_files").then(**after)
    ing["folder_btn"].click(_guard(index_folder, "Indexing the folder"), ing["folder"],
                            ing["progress"], concurrency_limit=1, concurrency_id=_INDEX_GROUP,
                            api_name="index_folder").then(**after)
