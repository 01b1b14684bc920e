"""Gradio pieces the tabs share: the event guard, who acts, and small component helpers.

Every event handler goes through ``guard`` so that a ``UiError`` becomes a visible message and any
other exception becomes a short message with a reference, its traceback going to the log only.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

import gradio as gr

from app.ui._format import html_text, plain_text
from app.ui._shared import UiError
from app.ui._uploads import UploadRejectedError

logger = logging.getLogger(__name__)

__all__ = ["INDEX_GROUP", "RENDER_GROUP", "SEARCH_GROUP", "actor_of", "camera_choices", "guard",
           "markdown", "quota_user"]

# queue groups (``concurrency_id``): indexing runs in its own, so it never holds up searches
SEARCH_GROUP = "search"
INDEX_GROUP = "index"
RENDER_GROUP = "render"


def guard(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Wrap an event handler: user errors become ``gr.Error``; others are logged with a reference."""

    def translate(exc: BaseException) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        # user_facing: a GalleryError (read-only, locked or damaged gallery) says what to do
        if isinstance(exc, (UiError, UploadRejectedError)) or getattr(exc, "user_facing", False):
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


def actor_of(request: gr.Request | None) -> str:
    """Who acts, for the audit log: the logged-in user, else ``web``."""
    name = getattr(request, "username", None) if request is not None else None
    return f"web:{plain_text(name, 64)}" if name else "web"


def quota_user(request: gr.Request | None) -> str:
    """Whose upload quota an upload counts against: the login, else the browser session."""
    name = getattr(request, "username", None) if request is not None else None
    if name:
        return f"user:{name}"
    session = getattr(request, "session_hash", None) if request is not None else None
    return f"session:{session}" if session else "anonymous"


def markdown(value: str = "", **kwargs: Any) -> gr.Markdown:
    """A Markdown component for text that quotes user data (already passed through ``md_text``):
    no LaTeX rendering, HTML sanitised."""
    return gr.Markdown(value, latex_delimiters=[], sanitize_html=True, **kwargs)


def camera_choices(cameras: list[str]) -> list[tuple[str, str]]:
    """Dropdown choices ``(shown label, camera name)``: labels stripped of control characters."""
    return [(plain_text(c, 64), c) for c in cameras]
