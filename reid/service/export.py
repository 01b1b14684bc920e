"""Export search results: CSV and JSON of the matches, a zip of crops and clips.

Camera names and paths are user-supplied: CSV cells are neutralised against formula injection
(``reid.untrusted.csv_cell``) and zip entry names are built from sanitised components only
(``reid.untrusted.safe_filename``: no ``..``, separators, absolute paths or control characters).
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reid.service.names import EXPORT_FORMATS as EXPORT_FORMATS  # the formats written here
from reid.service.types import Match, SearchResponse
from reid.untrusted import csv_cell, printable, safe_filename

FIELDS = ("rank", "score", "tracklet_id", "camera", "video_id", "track_id", "start_s", "end_s",
          "duration_s", "start_time", "end_time", "first_frame", "last_frame", "feedback", "thumbnail")


def match_row(match: Match) -> dict[str, Any]:
    """One match as flat, JSON-ready values (times in seconds and ISO 8601 where known)."""
    t = match.tracklet
    return {
        "rank": match.rank,
        "score": round(float(match.score), 6),
        "tracklet_id": t.id,
        "camera": t.camera,
        "video_id": t.video_id,
        "track_id": t.track_id,
        "start_s": round(t.start_s, 3),
        "end_s": round(t.end_s, 3),
        "duration_s": round(t.duration_s, 3),
        "start_time": t.start_time.isoformat() if t.start_time else None,
        "end_time": t.end_time.isoformat() if t.end_time else None,
        "first_frame": t.first_frame,
        "last_frame": t.last_frame,
        "feedback": {True: "same", False: "not_same", None: ""}[match.feedback],
        "thumbnail": str(t.thumbnail_path) if t.thumbnail_path else "",
    }


def csv_rows(response: SearchResponse) -> list[dict[str, Any]]:
    """``match_row`` of every match with each text cell made safe for spreadsheets."""
    return [{k: csv_cell(v) for k, v in match_row(m).items()} for m in response.matches]


def write_csv(response: SearchResponse, path: Path) -> Path:
    """The matches as CSV (columns ``FIELDS``), formula-like cells prefixed with ``'``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(response))
    return path


def _json_payload(response: SearchResponse) -> dict[str, Any]:
    q = response.query
    return {
        "query": None if q is None else {"tracklet_id": q.id, "camera": q.camera, "video_id": q.video_id},
        "matches": [match_row(m) for m in response.matches],
        "notes": response.notes,
    }


def write_json(response: SearchResponse, path: Path) -> Path:
    path.write_text(json.dumps(_json_payload(response), indent=2), encoding="utf-8")
    return path


def write_zip(response: SearchResponse, path: Path, clip_for: Callable[[int], Path]) -> Path:
    """matches.csv, matches.json, and per match its crops and a rendered clip.

    A match whose clip cannot be rendered (source video moved) keeps its crops and is listed in
    ``missing_clips.txt``; the zip is written under a temporary name and renamed when complete.
    """
    partial = path.with_name(path.name + ".partial")
    missing: list[str] = []
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(response))
        z.writestr("matches.csv", buffer.getvalue())
        z.writestr("matches.json", json.dumps(_json_payload(response), indent=2))
        for m in response.matches:
            camera = safe_filename(m.tracklet.camera, default="camera", max_len=40)
            base = f"{int(m.rank):03d}_{camera}_t{int(m.tracklet.id)}"
            for k, crop in enumerate(m.tracklet.crop_paths):
                if crop.is_file():
                    name = safe_filename(crop.name, default=f"crop_{k}.jpg", max_len=80)
                    z.write(crop, f"{base}/crops/{name}")
            try:
                clip = clip_for(m.tracklet.id)
            except (OSError, ValueError) as exc:
                missing.append(f"{base}: {printable(exc, max_chars=300)}")
                continue
            z.write(clip, f"{base}/" + safe_filename(f"clip{clip.suffix}", default="clip"))
        if missing:
            z.writestr("missing_clips.txt", "\n".join(missing) + "\n")
    os.replace(partial, path)
    return path
