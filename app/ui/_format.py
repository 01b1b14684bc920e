"""Pure formatting for the web UI: captions, times, timelines, progress bars and the status text.

Everything here turns plain records into strings (Markdown or small HTML fragments, all user text
escaped); nothing imports Gradio, so it is tested directly.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reid.service.types import Match, ServiceStatus
from reid.store import TrackletInfo

__all__ = [
    "FileProgress",
    "fmt_clock",
    "fmt_duration",
    "match_caption",
    "progress_html",
    "status_banner_html",
    "status_markdown",
    "timeline_html",
    "tracklet_caption",
    "tracklet_when",
]


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


def tracklet_caption(t: TrackletInfo) -> str:
    """Caption under a person thumbnail: id, camera, start and duration (one line)."""
    return f"#{t.id} · {t.camera} · {tracklet_when(t)} · {fmt_duration(t.duration_s)}"


def match_caption(m: Match) -> str:
    """Caption under a search result: rank, score, camera, time and any feedback given."""
    mark = {True: " · ✓ same", False: " · ✗ not", None: ""}[m.feedback]
    return f"{m.rank}. score {m.score:.3f} · {m.tracklet.camera} · {tracklet_when(m.tracklet)}{mark}"


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
            f"<tr class='reid-job reid-job-{f.state}'><td>{html.escape(f.name)}</td>"
            f"<td>{html.escape(f.camera)}</td>"
            f"<td><div class='reid-bar'><div style='width:{pct:.0f}%'></div></div></td>"
            f"<td>{_STATE_LABEL.get(f.state, f.state)} {pct:.0f}%</td>"
            f"<td>{html.escape(f.message)}</td></tr>")
    head = "<tr><th>file</th><th>camera</th><th>progress</th><th>state</th><th>details</th></tr>"
    return f"<table class='reid-progress'>{head}{''.join(rows)}</table>"


def _spans(tracklets: Sequence[TrackletInfo]) -> tuple[list[tuple[float, float]], bool]:
    """(start, end) per tracklet on one axis: POSIX seconds if all are absolute, else video seconds."""
    absolute = all(t.start_time is not None for t in tracklets)
    if absolute:
        return [(t.start_time.timestamp(), t.end_time.timestamp()) for t in tracklets], True
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
        return (f"<div class='reid-timeline'><b>{html.escape(title)}</b>"
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
        tip = html.escape(tracklet_caption(t))
        rows.setdefault(t.camera, []).append(
            f"<div class='{cls}' style='left:{left:.2f}%;width:{min(w, 100 - left):.2f}%' "
            f"title='{tip}'></div>")
    body = "".join(
        f"<div class='reid-tl-row'><span class='reid-tl-cam'>{html.escape(cam)}</span>"
        f"<div class='reid-tl-track'>{''.join(bars)}</div></div>"
        for cam, bars in sorted(rows.items()))
    axis = ("UTC time" if absolute else "time from the start of each video")
    return (f"<div class='reid-timeline'><b>{html.escape(title)}</b>{body}"
            f"<div class='reid-tl-axis'><span>{_axis_label(lo, absolute)}</span>"
            f"<span>{axis}</span><span>{_axis_label(hi, absolute)}</span></div></div>")


def status_banner_html(status: ServiceStatus) -> str:
    """A visible warning when an offline fallback model is in use; empty string otherwise."""
    parts = []
    if status.detector_fallback:
        parts.append(f"detector: <b>{html.escape(status.detector)}</b> (offline fallback)")
    if status.embedder_fallback:
        parts.append(f"embedder: <b>{html.escape(status.embedder)}</b> (offline fallback)")
    if not parts:
        return ""
    return ("<div class='reid-banner'>⚠ Offline fallback models in use: " + "; ".join(parts)
            + ". Matches are less reliable than with YOLO + TF-CLIP; see the Status tab.</div>")


def status_markdown(status: ServiceStatus) -> str:
    """The Status tab: gallery size per camera, models in use, index type and the data dir."""
    def flag(fallback: bool) -> str:
        return " — **offline fallback**" if fallback else ""

    table = ["| camera | tracklets |", "|---|---|",
             *[f"| {cam} | {n} |" for cam, n in sorted(status.tracklets_per_camera.items())]]
    if not status.tracklets_per_camera:
        table = ["_No camera indexed yet: upload footage in the Ingest tab._"]
    blocks = [
        f"**Gallery:** {status.videos} videos, {status.tracklets} person tracklets",
        "\n".join(table),
        f"**Detector:** {status.detector}{flag(status.detector_fallback)}  \n"
        f"**Embedder:** {status.embedder} ({status.embedder_kind}, {status.descriptor_dim}-d)"
        f"{flag(status.embedder_fallback)}  \n"
        f"**Index:** {status.index_type}  \n"
        f"**Data dir:** `{status.data_dir}`",
    ]
    if status.notes:
        blocks.append("\n".join(f"- {note}" for note in status.notes))
    return "\n\n".join(blocks)
