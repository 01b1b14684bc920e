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
from reid.service.serialize import match_fields, response_fields
from reid.service.types import SearchResponse
from reid.untrusted import csv_cell, printable, safe_filename

FIELDS = ("rank", "score", "tracklet_id", "video_id", "camera", "track_id", "start_s", "end_s",
          "duration_s", "start_time", "end_time", "first_frame", "last_frame", "quality", "feedback",
          "thumbnail")
"""CSV columns: the keys of ``reid.service.serialize.match_fields``."""
_FEEDBACK_TEXT = {True: "same", False: "not_same", None: ""}


def csv_rows(response: SearchResponse) -> list[dict[str, Any]]:
    """``match_fields`` of every match as spreadsheet cells: feedback as text, every text cell made
    safe (formula-like cells prefixed with ``'``)."""
    rows = []
    for m in response.matches:
        row = match_fields(m)
        row["feedback"] = _FEEDBACK_TEXT[m.feedback]
        row["thumbnail"] = row["thumbnail"] or ""
        rows.append({k: csv_cell(v) for k, v in row.items()})
    return rows


def write_csv(response: SearchResponse, path: Path) -> Path:
    """The matches as CSV (columns ``FIELDS``), formula-like cells prefixed with ``'``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(response))
    return path


def write_json(response: SearchResponse, path: Path) -> Path:
    path.write_text(json.dumps(response_fields(response), indent=2), encoding="utf-8")
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
        z.writestr("matches.json", json.dumps(response_fields(response), indent=2))
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
