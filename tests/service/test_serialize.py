"""One JSON shape of a tracklet and a match for the JSON API, the exports and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from reid.service.export import FIELDS, write_csv, write_json
from reid.service.serialize import match_fields, response_fields, tracklet_fields
from reid.service.types import Match, SearchResponse
from reid.store import TrackletInfo

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)


def _info(tid: int, camera: str, thumb: Path | None) -> TrackletInfo:
    return TrackletInfo(id=tid, video_id=3, camera_id=1, camera=camera, track_id=7, first_frame=10,
                        last_frame=40, start_s=1.0, end_s=4.0, quality=0.8, crop_paths=(),
                        thumbnail_path=thumb, video_start_time=T0, has_descriptor=True)


def test_one_shape_everywhere(tmp_path: Path) -> None:
    query = _info(1, "north", tmp_path / "q.jpg")
    matches = [Match(_info(5, "=cmd|' /C calc'!A0", tmp_path / "m.jpg"), 0.91234567, 1, True),
               Match(_info(6, "south", None), 0.5, 2, None)]
    response = SearchResponse(query, matches, 0.0123, ["re-ranked"])
    fields = match_fields(matches[0])
    assert list(fields)[:3] == ["rank", "score", "tracklet_id"] and fields["tracklet_id"] == 5
    assert fields["start_time"] == (T0 + dt.timedelta(seconds=1)).isoformat()
    assert fields["feedback"] is True and fields["score"] == 0.91235
    assert set(fields) == set(FIELDS), "the CSV has exactly the fields of a match"
    url = tracklet_fields(query, lambda t: f"/api/v1/tracklets/{t.id}/thumbnail")
    assert url["thumbnail"] == "/api/v1/tracklets/1/thumbnail"
    assert {k: v for k, v in url.items() if k != "thumbnail"} == {
        k: v for k, v in tracklet_fields(query).items() if k != "thumbnail"}
    exported = json.loads(write_json(response, tmp_path / "m.json").read_text())
    assert exported == json.loads(json.dumps(response_fields(response)))
    assert exported["matches"][1]["thumbnail"] is None and exported["count"] == 2
    with write_csv(response, tmp_path / "m.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["tracklet_id"] for r in rows] == ["5", "6"]
    assert rows[0]["feedback"] == "same" and rows[1]["feedback"] == ""
    assert rows[0]["camera"].startswith("'=")  # a formula-like cell is neutralised
