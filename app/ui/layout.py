"""The Gradio page: the title, the banner and the four tabs, assembled.

``build_app(service, config)`` returns a ``gr.Blocks``; nothing is launched here (see
``app.ui.serving``). Each tab's components and events live in its own module (``tab_people``,
``tab_search``, ``tab_ingest``, ``tab_status``); here the tabs are put in order and linked where an
event of one tab updates another (a click on a person searches in the Search tab; indexing
refreshes the people, the cameras and the status).
"""

from __future__ import annotations

import logging

import gradio as gr

from app.ui import tab_ingest, tab_people, tab_search, tab_status
from app.ui._events import camera_choices as _camera_choices
from app.ui._events import guard as _guard
from app.ui._events import markdown
from app.ui._format import md_text
from app.ui.config import UiConfig
from app.ui.service_api import UiService
from app.ui.tab_ingest import upload_space

logger = logging.getLogger(__name__)

# _guard and _camera_choices: the names the security tests import from here
__all__ = ["UiConfig", "_camera_choices", "_guard", "build_app", "upload_space"]


def build_app(service: UiService, config: UiConfig | None = None) -> gr.Blocks:
    """The whole page for ``service`` (a ``ReidService``, or anything that satisfies ``UiService``)."""
    config = config or UiConfig()
    space = config.upload_space or upload_space(service, config)
    demo = gr.Blocks(title=config.title, analytics_enabled=False, delete_cache=(3600, 24 * 3600))
    with demo:
        markdown(f"# {md_text(config.title)}", elem_id="reid-title")
        banner = gr.HTML(elem_id="reid-banner")
        with gr.Tabs(selected="people") as tabs:
            people = tab_people.build(service, config)
            search = tab_search.build(service, config)
            ingest = tab_ingest.build(service, config, space)
            status_md = tab_status.build(service, banner)
        tab_people.connect(service, config, people, search, tabs)
        tab_status.connect(service, config, demo, banner, status_md, people, search, tabs,
                           after=ingest.indexing)
    return demo
