"""Gallery pictures given to Gradio as the absolute URLs it would make of them itself.

A gallery item that is a file path costs Gradio, in every event that returns it, a check that the
file exists and lies in a static or allowed folder, and the URL made of it
(``processing_utils.move_files_to_cache``): ~11 ms for the 30 thumbnails of a search on this
machine, against ~0.3 ms for the same items given as URLs (``benchmarks/search_load.py``). An
``http(s)`` URL is passed to the page as it is, so the search and People tabs give their
thumbnails as ``<root>/gradio_api/file=<path>``: the URL Gradio makes of a static file, with the
root found as Gradio finds it for its own URLs (``route_utils.get_root_url``: the request's
origin, or the ``X-Forwarded-Host``/``-Proto`` of a reverse proxy). The file is fetched through
the same route as before, so the same guard and allowed/blocked folders apply when it is served.

Calls of ``gradio_client`` (and Gradio's MCP bridge), marked by their ``x-gradio-user`` header,
get the paths as before: that client downloads a result's files by path, never by URL.

(``gr.Gallery`` also starts a thread pool for every value it returns. A subclass that skipped it
is not an option: Gradio writes a ``.pyi`` stub beside the module of every component class
defined outside it, when the class is created.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gradio as gr
from gradio import route_utils
from gradio_client.utils import encode_file_path  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

__all__ = ["FILE_ROUTE", "file_links"]

FILE_ROUTE = "/gradio_api/file="
"""Gradio's route for the files it serves (the crops folder is one of its static paths)."""


def file_links(request: gr.Request | None) -> Callable[[str], str]:
    """A function from a served file's absolute path to its absolute URL for this request's page;
    the path itself (Gradio then makes the URL) when the request tells no origin."""
    raw = getattr(request, "request", None) if request is not None else None
    if raw is None or raw.headers.get("x-gradio-user") in ("api", "mcp"):
        return lambda path: path
    try:
        root = route_utils.get_root_url(raw, route_path=raw.url.path,
                                        root_path=raw.scope.get("root_path") or None)
    except Exception:  # an odd Host or forwarded header: let Gradio make the URLs
        logger.debug("no root URL for %s; gallery items stay paths", raw.url, exc_info=True)
        return lambda path: path
    if not root.startswith(("http://", "https://")):
        return lambda path: path
    return lambda path: f"{root}{FILE_ROUTE}{encode_file_path(path)}"
