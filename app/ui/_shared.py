"""Plain helpers every tab's callbacks use: the user-error type and the checks of a person number.

No Gradio here (the callbacks unit-test without it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.ui._format import plain_text

if TYPE_CHECKING:
    from app.ui.service_api import UiService
    from reid.store import TrackletInfo

__all__ = ["ALL_CAMERAS", "UiError", "get_tracklet", "names", "picture", "tracklet_id"]

ALL_CAMERAS = "All cameras"


class UiError(Exception):
    """A problem the user can fix; the message is shown to them as is."""


def names(items: Sequence[str], limit: int = 20, text: Callable[..., str] = plain_text) -> str:
    """A short, safe list of names for a message (the first ``limit``, each through ``text``)."""
    shown = [text(n, 64) for n in list(items)[:limit]]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return (", ".join(shown) or "none") + more


def tracklet_id(value: float | int | str | None) -> int:
    """A person number typed or picked in the page, checked (``UiError`` when it is none)."""
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


def get_tracklet(service: UiService, tid: int) -> TrackletInfo:
    """Tracklet ``tid``; ``UiError`` when the gallery has none."""
    try:
        return service.get_tracklet(tid)
    except (KeyError, LookupError, ValueError) as exc:
        raise UiError(f"No person #{tid} in the gallery ({exc}).") from None


def picture(t: TrackletInfo) -> str | None:
    """The image shown for tracklet ``t``: its thumbnail, else its first crop, else None."""
    image = t.thumbnail_path or (t.crop_paths[0] if t.crop_paths else None)
    return str(image) if image is not None else None
