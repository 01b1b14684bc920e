"""Pure formatting for the web UI: captions, times, timelines, progress bars and the status text.

Everything here turns plain records into strings (Markdown or small HTML fragments, all user text
escaped); nothing imports Gradio, so it is tested directly.

User text (camera, file and folder names, start times, messages that quote them) is untrusted: it
goes into HTML only through ``html_text``, into Markdown only through ``md_text``, and into plain
text (gallery captions, table cells, dropdown labels) only through ``plain_text``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reid.service.types import Match, ServiceStatus
from reid.store import TrackletInfo
from reid.untrusted import printable

__all__ = [
    "FileProgress",
    "fmt_clock",
    "fmt_duration",
    "html_text",
    "match_caption",
    "md_text",
    "plain_text",
    "progress_html",
    "status_banner_html",
    "status_markdown",
    "timeline_html",
    "tracklet_caption",
    "tracklet_when",
]


_MAX_TEXT = 300


def plain_text(value: object, max_chars: int = _MAX_TEXT) -> str:
    """User text for a plain-text place (caption, table cell, label): one line, no control or
    bidi characters, at most ``max_chars`` characters."""
    return printable(value, max_chars=max_chars)


def html_text(value: object, max_chars: int = _MAX_TEXT) -> str:
    """User text for HTML (element content or a quoted attribute): ``plain_text``, then escaped."""
    return html.escape(plain_text(value, max_chars), quote=True)


# Characters that can start Markdown/HTML markup anywhere in a line (tags, entities, links and
# images, emphasis, code, tables, escapes, LaTeX, autolinks ``http:``/``mailto:``/e-mail).
_MD_SPECIAL = frozenset("\\`*_{}[]()#!|<>&~$:@\"'")
_MD_LIST_START = re.compile(r"^(\d+)([.)])")


def md_text(value: object, max_chars: int = _MAX_TEXT) -> str:
    """User text for Markdown: ``plain_text`` with every character that could start markup written
    as a numeric character reference, so that it shows literally: HTML tags, links and images,
    emphasis, tables, autolinks (``www.``, ``http:``, e-mail) and, at the start, list, quote and
    heading markers. The rest (letters, digits, ``- . , /`` and spaces) stays readable."""
    text = plain_text(value, max_chars)
    out = []
    for i, ch in enumerate(text):
        special = (ch in _MD_SPECIAL or (i == 0 and ch in "-+=")
                   or (ch == "." and text[max(0, i - 3):i].lower() == "www"))
        out.append(f"&#{ord(ch)};" if special else ch)
    return _MD_LIST_START.sub(lambda m: f"{m[1]}&#{ord(m[2])};", "".join(out))


def fmt_clock(seconds: float) -> str:
    """``seconds`` from a video's start as ``m:ss`` (or ``h:mm:ss`` past an hour)."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_duration(seconds: float) -> str:
    """A duration in seconds as ``3.2 s`` or ``1 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s"


def tracklet_when(t: TrackletInfo) -> str:
    """When a tracklet starts: absolute UTC time when its video's start is known, else ``v3 +0:12``."""
    start = t.start_time
    if start is not None:
        return start.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"video {t.video_id} +{fmt_clock(t.start_s)}"


def tracklet_caption(t: TrackletInfo, text: Callable[..., str] = plain_text) -> str:
    """Caption under a person thumbnail: id, camera, start and duration (one line).

    ``text`` writes the user-supplied part (the camera name): ``plain_text`` for a plain caption,
    ``md_text`` inside Markdown (the rest is ours and safe in both).
    """
    return f"#{t.id} · {text(t.camera, 64)} · {tracklet_when(t)} · {fmt_duration(t.duration_s)}"


def match_caption(m: Match, text: Callable[..., str] = plain_text) -> str:
    """Caption under a search result: rank, score, camera, time and any feedback given
    (``text`` as in ``tracklet_caption``)."""
    mark = {True: " · ✓ same", False: " · ✗ not", None: ""}[m.feedback]
    return (f"{m.rank}. score {m.score:.3f} · {text(m.tracklet.camera, 64)} · "
            f"{tracklet_when(m.tracklet)}{mark}")


@dataclass
class FileProgress:
    """Live state of one file being indexed (``fraction`` in [0, 1])."""

    name: str
    camera: str
    state: str = "queued"  # queued | running | indexed | duplicate | failed
    fraction: float = 0.0
    message: str = ""


_STATE_LABEL = {"queued": "waiting", "running": "indexing", "indexed": "done",
                "duplicate": "already indexed", "failed": "failed"}


def progress_html(files: Sequence[FileProgress]) -> str:
    """One progress bar per file with its state and last message (an HTML table)."""
    if not files:
        return "<p class='reid-muted'>No files yet.</p>"
    rows = []
    for f in files:
        pct = 100.0 if f.state in ("indexed", "duplicate") else max(0.0, min(100.0, 100 * f.fraction))
        rows.append(
            f"<tr class='reid-job reid-job-{html_text(f.state)}'><td>{html_text(f.name)}</td>"
            f"<td>{html_text(f.camera)}</td>"
            f"<td><div class='reid-bar'><div style='width:{pct:.0f}%'></div></div></td>"
            f"<td>{html_text(_STATE_LABEL.get(f.state, f.state))} {pct:.0f}%</td>"
            f"<td>{html_text(f.message)}</td></tr>")
    head = "<tr><th>file</th><th>camera</th><th>progress</th><th>state</th><th>details</th></tr>"
    return f"<table class='reid-progress'>{head}{''.join(rows)}</table>"


def _spans(tracklets: Sequence[TrackletInfo]) -> tuple[list[tuple[float, float]], bool]:
    """(start, end) per tracklet on one axis: POSIX seconds if all are absolute, else video seconds."""
    absolute = [(start.timestamp(), end.timestamp()) for start, end in
                ((t.start_time, t.end_time) for t in tracklets) if start is not None and end is not None]
    if len(absolute) == len(tracklets):
        return absolute, True
    return [(t.start_s, t.end_s) for t in tracklets], False


def _axis_label(value: float, absolute: bool) -> str:
    if absolute:
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return fmt_clock(value)


def timeline_html(tracklets: Iterable[TrackletInfo], highlight: Iterable[int] = (),
                  title: str = "Timeline") -> str:
    """One row per camera with a bar per tracklet along a shared time axis (HTML).

    Bars of tracklet ids in ``highlight`` (e.g. the query) are drawn in the accent colour. The axis
    is absolute UTC time when every tracklet's video has a start time, else seconds from the start
    of each video (said under the chart).
    """
    items = list(tracklets)
    if not items:
        return (f"<div class='reid-timeline'><b>{html_text(title)}</b>"
                "<p class='reid-muted'>Nothing to show.</p></div>")
    spans, absolute = _spans(items)
    lo = min(s for s, _ in spans)
    hi = max(e for _, e in spans)
    width = max(hi - lo, 1e-6)
    marked = set(highlight)
    rows: dict[str, list[str]] = {}
    for t, (s, e) in zip(items, spans, strict=True):
        left = 100 * (s - lo) / width
        w = max(0.6, 100 * (e - s) / width)
        cls = "reid-tl-bar reid-tl-hit" if t.id in marked else "reid-tl-bar"
        tip = html_text(tracklet_caption(t))
        rows.setdefault(t.camera, []).append(
            f"<div class='{cls}' style='left:{left:.2f}%;width:{min(w, 100 - left):.2f}%' "
            f"title='{tip}'></div>")
    body = "".join(
        f"<div class='reid-tl-row'><span class='reid-tl-cam'>{html_text(cam, 64)}</span>"
        f"<div class='reid-tl-track'>{''.join(bars)}</div></div>"
        for cam, bars in sorted(rows.items()))
    axis = ("UTC time" if absolute else "time from the start of each video")
    return (f"<div class='reid-timeline'><b>{html_text(title)}</b>{body}"
            f"<div class='reid-tl-axis'><span>{_axis_label(lo, absolute)}</span>"
            f"<span>{axis}</span><span>{_axis_label(hi, absolute)}</span></div></div>")


def status_banner_html(status: ServiceStatus) -> str:
    """A visible warning when an offline fallback model is in use; empty string otherwise."""
    parts = []
    if status.detector_fallback:
        parts.append(f"detector: <b>{html_text(status.detector)}</b> (offline fallback)")
    if status.embedder_fallback:
        parts.append(f"embedder: <b>{html_text(status.embedder)}</b> (offline fallback)")
    if not parts:
        return ""
    return ("<div class='reid-banner'>⚠ Offline fallback models in use: " + "; ".join(parts)
            + ". Matches are less reliable than with YOLO + TF-CLIP; see the Status tab.</div>")


def status_markdown(status: ServiceStatus) -> str:
    """The Status tab: gallery size per camera, models in use, index type and the data dir."""
    def flag(fallback: bool) -> str:
        return " — **offline fallback**" if fallback else ""

    table = ["| camera | tracklets |", "|---|---|",
             *[f"| {md_text(cam, 64)} | {int(n)} |"
               for cam, n in sorted(status.tracklets_per_camera.items())]]
    if not status.tracklets_per_camera:
        table = ["_No camera indexed yet: upload footage in the Ingest tab._"]
    blocks = [
        f"**Gallery:** {int(status.videos)} videos, {int(status.tracklets)} person tracklets",
        "\n".join(table),
        f"**Detector:** {md_text(status.detector)}{flag(status.detector_fallback)}  \n"
        f"**Embedder:** {md_text(status.embedder)} ({md_text(status.embedder_kind)}, "
        f"{int(status.descriptor_dim)}-d){flag(status.embedder_fallback)}  \n"
        f"**Index:** {md_text(status.index_type)}  \n"
        f"**Data dir:** `{plain_text(status.data_dir, 500).replace('`', chr(39))}`",
    ]
    if status.notes:
        blocks.append("\n".join(f"- {md_text(note, 1000)}" for note in status.notes))
    return "\n\n".join(blocks)
