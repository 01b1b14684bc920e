"""The People tab: everyone the cameras saw, as thumbnails; a click searches for that person.

``build`` makes the tab and wires its own events; ``connect`` links a click on a person to the
Search tab (called once both tabs exist). The plain functions (``list_people``, ``pick_id``,
``query_preview``) take the service and plain values, so they unit-test without Gradio events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.ui._events import guard, markdown
from app.ui._format import md_text, plain_text, timeline_html, tracklet_caption
from app.ui._shared import ALL_CAMERAS, UiError, get_tracklet, names, picture, tracklet_id
from app.ui.config import UiConfig
from app.ui.file_links import file_links
from app.ui.service_api import UiService

if TYPE_CHECKING:
    from app.ui.tab_search import SearchTab

logger = logging.getLogger(__name__)

__all__ = ["PeopleTab", "PeopleView", "build", "connect", "list_people", "pick_id", "query_preview"]


# ------------------------------------------------------------------------------------ callbacks

@dataclass
class PeopleView:
    """The People tab: gallery items ``(image path, caption)``, their tracklet ids, a timeline."""

    items: list[tuple[str, str]]
    ids: list[int]
    timeline: str
    summary: str


def list_people(service: UiService, camera: str | None, limit: int = 500,
                link: Callable[[str], str] | None = None) -> PeopleView:
    """Thumbnails of the tracklets of ``camera`` (None or ``ALL_CAMERAS``: every camera).

    Ordered by camera then start time; tracklets without a thumbnail or crop are counted but not
    shown. At most ``limit`` tracklets are listed (the summary says when the list is cut).
    ``link`` maps a picture's path to what the gallery gets (``app.ui.file_links``: its URL).
    """
    cam = None if camera in (None, "", ALL_CAMERAS) else camera
    if cam is not None and cam not in service.list_cameras():
        raise UiError(f"No camera named {plain_text(repr(cam), 80)}; "
                      f"cameras: {names(service.list_cameras())}.")
    tracklets = service.list_tracklets(camera=cam, limit=limit)
    tracklets = sorted(tracklets, key=lambda t: (t.camera, t.start_time is None,
                                                 t.start_time or t.start_s, t.start_s, t.id))
    items: list[tuple[str, str]] = []
    ids: list[int] = []
    for t in tracklets:
        image = picture(t)
        if image is None:
            continue
        items.append((image if link is None else link(image), tracklet_caption(t)))
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


def query_preview(service: UiService, query: float | int | None) -> tuple[str | None, str]:
    """(thumbnail path, caption) of the query person ``query`` (a tracklet id)."""
    t = get_tracklet(service, tracklet_id(query))
    return picture(t), f"Query: {tracklet_caption(t, md_text)}"


# ------------------------------------------------------------------------------------ components

@dataclass(frozen=True)
class PeopleTab:
    """The People tab's components (``ids``: the tracklet id of each gallery position)."""

    camera: gr.Dropdown
    refresh: gr.Button
    summary: gr.Markdown
    gallery: gr.Gallery
    timeline: gr.HTML
    ids: gr.State

    @property
    def view_outputs(self) -> list[Any]:
        """Where a ``PeopleView`` goes: items, ids, timeline, summary (in that order)."""
        return [self.gallery, self.ids, self.timeline, self.summary]


def build(service: UiService, config: UiConfig) -> PeopleTab:
    """Make the tab (inside a ``gr.Tabs``) and wire the camera choice and the Refresh button."""
    with gr.Tab("People", id="people"):
        gr.Markdown("Everyone the cameras saw. **Click a person** to search for them on every camera.")
        with gr.Row():
            camera = gr.Dropdown([ALL_CAMERAS], value=ALL_CAMERAS, label="Camera",
                                 allow_custom_value=True, scale=3, elem_id="reid-people-camera")
            refresh = gr.Button("Refresh", size="sm", scale=1)
        summary = markdown(elem_id="reid-people-summary")
        gallery = gr.Gallery(label="People", columns=8, height=460, object_fit="contain",
                             allow_preview=False, fit_columns=False, elem_id="reid-people")
        timeline = gr.HTML(elem_id="reid-people-timeline")
        ids = gr.State([])
    tab = PeopleTab(camera, refresh, summary, gallery, timeline, ids)

    def show(camera_name: str, request: gr.Request) -> tuple[Any, ...]:
        view = list_people(service, camera_name, limit=config.people_limit,
                           link=file_links(request))
        return view.items, view.ids, view.timeline, view.summary

    list_fn = guard(show, "Listing people")
    camera.change(list_fn, camera, tab.view_outputs, api_name="list_people")
    refresh.click(list_fn, camera, tab.view_outputs, api_visibility="private")
    return tab


def connect(service: UiService, config: UiConfig, people: PeopleTab, search: SearchTab,
            tabs: gr.Tabs) -> None:
    """A click on a person shows them as the query in the Search tab, opens it and searches."""
    from app.ui.tab_search import search_event

    def pick(ids: list[int], evt: gr.SelectData) -> tuple[Any, ...]:
        tid = pick_id(ids, evt.index)
        image, caption = query_preview(service, tid)
        return tid, image, caption, None, gr.Tabs(selected="search")

    picked = people.gallery.select(
        guard(pick, "Choosing the person"), people.ids,
        [search.query_id, search.query_image, search.query_caption, search.photo, tabs],
        api_visibility="private")
    picked.success(**search_event(service, search, by_photo=False,
                                  limit=config.search_concurrency),
                   api_name="search_picked", api_visibility="private")
