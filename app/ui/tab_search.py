"""The Search tab: find a person (picked in People, typed as a number, or a photo) on every camera.

``build`` makes the tab and wires its events: search, query preview, playback of a match,
feedback and export. ``search_event`` is also what the People tab's click runs. The plain
functions (``build_request``, ``run_search``, ``results_view``, ``play_match``, ``give_feedback``,
``export_results``) take the service and plain values, so they unit-test without Gradio events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from app.ui._events import RENDER_GROUP, SEARCH_GROUP, actor_of, guard, markdown
from app.ui._format import (
    html_text,
    match_caption,
    md_text,
    plain_text,
    timeline_html,
    tracklet_caption,
    tracklet_when,
)
from app.ui._photo import photo_array, photo_input
from app.ui._shared import UiError, get_tracklet, names, picture, tracklet_id
from app.ui._uploads import parse_time
from app.ui.config import UiConfig
from app.ui.file_links import file_links
from app.ui.service_api import UiService
from app.ui.tab_people import pick_id, query_preview
from reid.service.names import EXPORT_FORMATS
from reid.service.types import Match, SearchRequest, SearchResponse

logger = logging.getLogger(__name__)

__all__ = ["ResultsView", "SearchForm", "SearchTab", "build", "build_request", "export_results",
           "give_feedback", "play_match", "results_view", "run_search", "search_event"]


# ------------------------------------------------------------------------------------ callbacks

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
    common: dict[str, Any] = dict(
        top_k=top_k, cameras=list(form.cameras) if form.cameras else None, time_from=start,
        time_to=end, score_threshold=form.threshold, rerank=bool(form.rerank),
        query_expansion=bool(form.rerank), exclude_same_camera=bool(form.exclude_same_camera),
        use_feedback=form.use_feedback)
    if image is not None:
        return SearchRequest(images=[photo_array(image)], **common)
    return SearchRequest(tracklet_id=_checked_id(tracklet_id), **common)


_checked_id = tracklet_id  # ``build_request``'s parameter shadows the helper's name


def run_search(service: UiService, request: SearchRequest, actor: str) -> SearchResponse:
    """Run ``request``; a missing query person or an invalid filter becomes a ``UiError``."""
    unknown = sorted(set(request.cameras or ()) - set(service.list_cameras()))
    if unknown:
        raise UiError(f"No camera named {names(unknown, 5)}; cameras: "
                      f"{names(service.list_cameras())}.")
    if request.tracklet_id is not None:
        get_tracklet(service, request.tracklet_id)
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


def results_view(response: SearchResponse | None,
                 link: Callable[[str], str] | None = None) -> ResultsView:
    """Turn a ``SearchResponse`` into gallery items, table rows and a per-camera timeline.

    ``link`` maps a picture's path to what the gallery gets (``app.ui.file_links``: its URL);
    default the path itself."""
    if response is None:
        return ResultsView([], [], timeline_html([], title="Where the query person was seen"),
                           "No search yet.")
    items, rows = [], []
    for m in response.matches:
        t = m.tracklet
        image = picture(t)
        if image is not None:
            items.append((image if link is None else link(image), match_caption(m)))
        rows.append([m.rank, t.id, plain_text(t.camera, 64), tracklet_when(t), round(t.duration_s, 1),
                     round(float(m.score), 4), {True: "same", False: "not", None: ""}[m.feedback]])
    seen = [m.tracklet for m in response.matches]
    query_ids: list[int] = []
    if response.query is not None:
        seen = [response.query, *seen]
        query_ids = [response.query.id]
    cams = sorted({m.tracklet.camera for m in response.matches})
    summary = (f"{len(response.matches)} matches on {len(cams)} camera(s) "
               f"({names(cams, text=md_text)}) in {response.elapsed_s * 1000:.0f} ms.")
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


def _visible_matches(response: SearchResponse) -> list[Match]:
    """Matches in gallery order (those with an image), the order select events index into."""
    return [m for m in response.matches if picture(m.tracklet) is not None]


def play_match(service: UiService, response: SearchResponse | None,
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


def give_feedback(service: UiService, response: SearchResponse | None,
                  candidate_id: float | int | None, same: bool, actor: str) -> str:
    """Save "same person" / "not this person" for (query, candidate); returns a confirmation."""
    if response is None or response.query is None:
        raise UiError("Feedback needs a search by a person from the gallery (not by photo).")
    if candidate_id in (None, "", 0):
        raise UiError("Click a result first, then say whether it is the same person.")
    cid = int(candidate_id)
    service.add_feedback(response.query.id, cid, same, actor=actor)
    verdict = "the same person as" if same else "not the same person as"
    return f"Saved: #{cid} is {verdict} #{response.query.id}. Later searches use it."


def export_results(service: UiService, response: SearchResponse | None, fmt: str,
                   actor: str) -> str:
    """Write the last results as ``fmt`` (csv, json or zip) under the data dir; returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise UiError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    if response is None:
        raise UiError("Run a search first: the export holds the current results.")
    path = Path(service.export(response, fmt, actor=actor))
    return str(service.resolve_data_path(path))


# ------------------------------------------------------------------------------------ components

@dataclass(frozen=True)
class SearchTab:
    """The Search tab's components (``response``: the last ``SearchResponse``; ``candidate``: the
    tracklet id of the match being played, for feedback)."""

    query_image: gr.Image
    query_caption: gr.Markdown
    query_id: gr.Number
    search_btn: gr.Button
    photo: gr.Image
    photo_btn: gr.Button
    threshold: gr.Slider
    top_k: gr.Slider
    cameras: gr.Dropdown
    time_from: gr.DateTime
    time_to: gr.DateTime
    rerank: gr.Checkbox
    exclude_cam: gr.Checkbox
    summary: gr.Markdown
    results: gr.Gallery
    timeline: gr.HTML
    clip: gr.Video
    frames: gr.Gallery
    play_caption: gr.Markdown
    same_btn: gr.Button
    not_btn: gr.Button
    table: gr.Dataframe
    csv_btn: gr.Button
    json_btn: gr.Button
    zip_btn: gr.Button
    export_file: gr.File
    response: gr.State
    candidate: gr.State

    @property
    def controls(self) -> list[Any]:
        """The filter components, in the order of ``_form``'s parameters."""
        return [self.threshold, self.top_k, self.cameras, self.time_from, self.time_to,
                self.rerank, self.exclude_cam]


def _controls() -> dict[str, Any]:
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


def _components() -> SearchTab:
    with gr.Tab("Search", id="search"):
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                query_image = gr.Image(label="Query person", interactive=False, height=180,
                                       elem_id="reid-query-image")
                query_caption = markdown("Click a person in the People tab, or upload a photo.")
                query_id = gr.Number(label="Person #", precision=0, minimum=0,
                                     elem_id="reid-query-id")
                search_btn = gr.Button("Search this person", variant="primary",
                                       elem_id="reid-search-btn")
                photo = photo_input(label="…or a photo of a person", sources=["upload", "clipboard"],
                                    height=180, elem_id="reid-photo")
                photo_btn = gr.Button("Search by photo", elem_id="reid-photo-btn")
                controls = _controls()
            with gr.Column(scale=3):
                summary = markdown(elem_id="reid-results-summary")
                results = gr.Gallery(label="Matches (best first)", columns=6, height=420,
                                     object_fit="contain", allow_preview=False,
                                     fit_columns=False, elem_id="reid-results")
                timeline = gr.HTML(elem_id="reid-results-timeline")
                with gr.Row():
                    clip = gr.Video(label="Selected match", height=300, elem_id="reid-clip")
                    frames = gr.Gallery(label="Frames", columns=3, height=300, allow_preview=True)
                play_caption = markdown(elem_id="reid-play-caption")
                with gr.Row():
                    same_btn = gr.Button("✓ Same person", size="sm")
                    not_btn = gr.Button("✗ Not this person", size="sm")
                table = gr.Dataframe(headers=ResultsView([], [], "", "").headers,
                                     interactive=False, type="array", label="Matches as a table",
                                     max_height=300)
                with gr.Row():
                    csv_btn = gr.Button("Export CSV", size="sm")
                    json_btn = gr.Button("Export JSON", size="sm")
                    zip_btn = gr.Button("Export crops + clips (zip)", size="sm")
                export_file = gr.File(label="Export", interactive=False, height=80)
        response = gr.State(None)
        candidate = gr.State(0)
    return SearchTab(query_image=query_image, query_caption=query_caption, query_id=query_id,
                     search_btn=search_btn, photo=photo, photo_btn=photo_btn, summary=summary,
                     results=results, timeline=timeline, clip=clip, frames=frames,
                     play_caption=play_caption, same_btn=same_btn, not_btn=not_btn, table=table,
                     csv_btn=csv_btn, json_btn=json_btn, zip_btn=zip_btn,
                     export_file=export_file, response=response, candidate=candidate, **controls)


# ------------------------------------------------------------------------------------ wiring

def _form(threshold: float, top_k: float, cameras: list[str], time_from: str | None,
          time_to: str | None, rerank: bool, exclude_cam: bool) -> SearchForm:
    return SearchForm(threshold=float(threshold), top_k=int(top_k), cameras=cameras,
                      time_from=time_from, time_to=time_to, rerank=rerank,
                      exclude_same_camera=exclude_cam)


def search_event(service: UiService, s: SearchTab, *, by_photo: bool, limit: int,
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
                raise UiError("Upload a photo of a person first.")
        form = _form(threshold, top_k, cameras, time_from, time_to, rerank, exclude_cam)
        req = (build_request(form, image=query) if by_photo
               else build_request(form, tracklet_id=query))
        response = run_search(service, req, actor=actor_of(request))
        view = results_view(response, file_links(request))
        return (response, view.items, view.rows, view.timeline, view.summary,
                None, [], "", 0)

    return dict(
        fn=guard(search, "Searching"),
        inputs=[s.photo if by_photo else s.query_id, *s.controls],
        outputs=[s.response, s.results, s.table, s.timeline, s.summary,
                 s.clip, s.frames, s.play_caption, s.candidate],
        concurrency_limit=limit, concurrency_id=SEARCH_GROUP,
    )


def build(service: UiService, config: UiConfig) -> SearchTab:
    """Make the tab (inside a ``gr.Tabs``) and wire search, preview, playback, feedback, export."""
    s = _components()
    limit = config.search_concurrency
    by_id = search_event(service, s, by_photo=False, limit=limit)
    s.search_btn.click(**by_id, api_name="search")
    s.query_id.submit(**by_id, api_name="search_submit", api_visibility="private")
    s.threshold.release(**search_event(service, s, by_photo=False, limit=limit, quiet=True),
                        api_name="search_threshold", api_visibility="private")
    s.photo_btn.click(**search_event(service, s, by_photo=True, limit=limit),
                      api_name="search_photo")

    def preview(query_id: Any) -> tuple[Any, str]:
        return query_preview(service, query_id)
    s.query_id.submit(guard(preview, "Showing the query"), s.query_id,
                      [s.query_image, s.query_caption], api_visibility="private")
    s.search_btn.click(guard(preview, "Showing the query"), s.query_id,
                       [s.query_image, s.query_caption], api_visibility="private")

    def play(response: Any, evt: gr.SelectData) -> tuple[Any, ...]:
        return play_match(service, response, evt.index)

    s.results.select(guard(play, "Playing the match"), s.response,
                     [s.clip, s.frames, s.play_caption, s.candidate],
                     concurrency_limit=2, concurrency_id=RENDER_GROUP, api_visibility="private")

    for button, same in ((s.same_btn, True), (s.not_btn, False)):
        def feedback(response: Any, candidate: Any, request: gr.Request,
                     _same: bool = same) -> None:
            gr.Info(html_text(give_feedback(service, response, candidate, _same, actor_of(request))))
        button.click(guard(feedback, "Saving feedback"), [s.response, s.candidate], None,
                     api_name="feedback_same" if same else "feedback_not")

    for button, fmt in ((s.csv_btn, "csv"), (s.json_btn, "json"), (s.zip_btn, "zip")):
        def export(response: Any, request: gr.Request, _fmt: str = fmt) -> str:
            return export_results(service, response, _fmt, actor_of(request))
        button.click(guard(export, f"Exporting {fmt.upper()}"), s.response, s.export_file,
                     concurrency_limit=1, concurrency_id=f"export-{fmt}", api_name=f"export_{fmt}")
    return s
