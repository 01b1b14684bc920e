"""The Status tab, and the page's state read from the service: the banner, the status text, the
camera lists and the People tab's list.

``build`` makes the tab and wires its Refresh button; ``connect`` fills the page when it loads and
again after each indexing job (called once every tab exists).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import gradio as gr

from app.ui._events import camera_choices, guard, markdown
from app.ui._format import status_banner_html, status_markdown
from app.ui._shared import ALL_CAMERAS
from app.ui.config import UiConfig
from app.ui.file_links import file_links
from app.ui.service_api import UiService
from app.ui.tab_people import PeopleTab, list_people

if TYPE_CHECKING:
    from app.ui.tab_search import SearchTab

logger = logging.getLogger(__name__)

__all__ = ["build", "camera_names", "connect", "status_view"]


def status_view(service: UiService) -> tuple[str, str]:
    """(fallback banner HTML, Status tab Markdown) from ``service.status()``."""
    status = service.status()
    return status_banner_html(status), status_markdown(status)


def camera_names(service: UiService) -> list[str]:
    """Cameras in the gallery, sorted (for the filters)."""
    return sorted(service.list_cameras())


def build(service: UiService, banner: gr.HTML) -> gr.Markdown:
    """Make the tab (inside a ``gr.Tabs``); its Refresh button updates it and ``banner``."""
    with gr.Tab("Status", id="status"):
        status_md = markdown(elem_id="reid-status")
        refresh = gr.Button("Refresh", size="sm")

    def show_status() -> tuple[str, str]:
        return status_view(service)

    refresh.click(guard(show_status, "Reading the status"), None, [banner, status_md],
                  api_name="status")
    return status_md


def connect(service: UiService, config: UiConfig, demo: gr.Blocks, banner: gr.HTML,
            status_md: gr.Markdown, people: PeopleTab, search: SearchTab, tabs: gr.Tabs,
            after: Iterable[Any]) -> None:
    """Fill the page from the service when it loads (opening Ingest on an empty gallery) and after
    each event of ``after`` (the indexing jobs)."""
    def page_state(camera_value: str | None, request: gr.Request | None) -> tuple[Any, ...]:
        banner_html, text = status_view(service)
        cams = camera_names(service)
        view = list_people(service, None, limit=config.people_limit, link=file_links(request))
        choices: list[str | tuple[str, str]] = [ALL_CAMERAS, *camera_choices(cams)]
        # an update sets only what it names: on load the camera keeps its value
        camera = gr.Dropdown(choices=choices) if camera_value is None \
            else gr.Dropdown(choices=choices, value=camera_value)
        return (banner_html, text, camera,
                gr.Dropdown(choices=camera_choices(cams)), view.items, view.ids, view.timeline,
                view.summary)

    def on_load(request: gr.Request) -> tuple[Any, ...]:
        state = page_state(None, request)
        start_tab = "people" if state[5] else "ingest"
        return (*state, gr.Tabs(selected=start_tab))

    def refresh_all(request: gr.Request) -> tuple[Any, ...]:
        return page_state(ALL_CAMERAS, request)

    outputs = [banner, status_md, people.camera, search.cameras, *people.view_outputs]
    demo.load(guard(on_load, "Loading the page"), None, [*outputs, tabs],
              api_visibility="private")
    for event in after:
        event.then(guard(refresh_all, "Refreshing"), None, outputs, api_visibility="private")
