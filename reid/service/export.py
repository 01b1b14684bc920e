"""Export search results: CSV and JSON of the matches, a zip of crops and clips."""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reid.service.types import Match, SearchResponse

EXPORT_FORMATS = ("csv", "json", "zip")


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


def write_csv(response: SearchResponse, path: Path) -> Path:
    rows = [match_row(m) for m in response.matches]
    fields = list(match_row.__annotations__) if not rows else list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields or ["rank"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(response: SearchResponse, path: Path) -> Path:
    q = response.query
    payload = {
        "query": None if q is None else {"tracklet_id": q.id, "camera": q.camera, "video_id": q.video_id},
        "matches": [match_row(m) for m in response.matches],
        "notes": response.notes,
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def write_zip(response: SearchResponse, path: Path, clip_for: Callable[[int], Path]) -> Path:
    """matches.csv, matches.json, and per match its crops and a rendered clip."""
    folder = path.parent
    csv_path = write_csv(response, folder / f"{path.stem}.csv")
    json_path = write_json(response, folder / f"{path.stem}.json")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(csv_path, "matches.csv")
        z.write(json_path, "matches.json")
        for m in response.matches:
            base = f"{m.rank:03d}_{m.tracklet.camera}_t{m.tracklet.id}"
            for crop in m.tracklet.crop_paths:
                if crop.is_file():
                    z.write(crop, f"{base}/crops/{crop.name}")
            clip = clip_for(m.tracklet.id)
            z.write(clip, f"{base}/clip{clip.suffix}")
    return path
