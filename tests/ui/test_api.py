"""``reid serve`` driven over HTTP with gradio_client: upload, index, list, search, export."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client

from reid.store import Store

pytestmark = pytest.mark.slow


def _people(client: Client, camera: str = "All cameras") -> list[tuple[int, str]]:
    gallery, _timeline, summary = client.predict(camera, api_name="/list_people")
    found = [re.match(r"#(\d+) · (\S+) ·", item["caption"]) for item in gallery]
    assert all(found), gallery
    return [(int(m[1]), m[2]) for m in found]


def test_upload_index_list_search_export(indexed, synthetic_videos: list[Path], tmp_path: Path) -> None:
    server, html = indexed
    assert html.count("reid-job-indexed") == 2, html
    client = Client(server.url, verbose=False, download_files=str(tmp_path))

    people = _people(client)
    cameras = {cam for _, cam in people}
    assert cameras == {"cam-0", "cam-1"}, people
    assert {cam for _, cam in _people(client, "cam-1")} == {"cam-1"}

    query = next(tid for tid, cam in people if cam == "cam-0")
    gallery, table, timeline, summary, *_ = client.predict(
        query, 0.0, 10, [], None, None, False, True, api_name="/search")
    rows = table["data"]
    assert rows and {r[2] for r in rows} == {"cam-1"}, rows  # other cameras only
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(-1.0 <= float(r[5]) <= 1.0 for r in rows)
    assert f"Query: #{query}" in summary and "cam-0" in timeline

    csv_path = client.predict(api_name="/export_csv")
    with open(csv_path, newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == len(rows)
    json_path = client.predict(api_name="/export_json")
    assert json.loads(Path(json_path).read_text())
    zip_path = client.predict(api_name="/export_zip")
    with zipfile.ZipFile(zip_path) as zf:
        assert any(n.endswith(".jpg") for n in zf.namelist()), zf.namelist()

    store = Store.open(server.data_dir)
    try:
        exports = store.audit_entries(action="export")
        searches = store.audit_entries(action="search")
    finally:
        store.close()
    assert {e.details["format"] for e in exports} >= {"csv", "json", "zip"}
    assert all(e.actor == "web" for e in exports) and searches


def test_search_errors_are_messages_not_tracebacks(indexed) -> None:
    server, _ = indexed
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match="No person #999999") as info:
        client.predict(999999, 0.0, 10, [], None, None, False, False, api_name="/search")
    assert "Traceback" not in str(info.value)
    with pytest.raises(Exception, match="Run a search first"):
        client.predict(api_name="/export_csv")
