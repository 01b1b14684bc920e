"""The JSON API under ``/api/v1``: on a fake service (in-process) and on a real ``reid serve``."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.ui.rest import add_api
from app.ui.serving import ServeOptions, launch_kwargs, mount_kwargs
from reid.store import Store
from tests.ui.fakes import FakeService

API = "/api/v1"


def _client(service: FakeService, auth: tuple[str, str] | None = None,
            loopback_only: bool = True) -> TestClient:
    app = FastAPI()
    add_api(app, service, auth=auth, loopback_only=loopback_only, search_threads=2)
    return TestClient(app, base_url="http://127.0.0.1:7860", raise_server_exceptions=False)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    body = response.json()["error"]
    assert body["status"] == status and body["message"]
    return body["message"]


# ------------------------------------------------------------------ in process, fake service
def test_search_maps_the_body_to_a_request(service: FakeService) -> None:
    client = _client(service)
    r = client.post(f"{API}/search", json={
        "tracklet_id": 1, "top_k": 2, "exclude_same_camera": True, "score_threshold": 0.5,
        "time_from": "2024-05-01T09:00:00", "time_to": "2024-05-01T12:00:00+02:00",
        "min_duration_s": 1.5, "rerank": True, "query_expansion": True})
    assert r.status_code == 200, r.text
    _, request, actor = service.calls[-1]
    assert actor == "api" and request.top_k == 2 and request.exclude_same_camera
    assert request.time_from == dt.datetime(2024, 5, 1, 9, tzinfo=dt.timezone.utc)  # naive = UTC
    assert request.time_to.utcoffset() == dt.timedelta(hours=2)
    assert request.rerank and request.query_expansion and request.min_duration_s == 1.5
    body = r.json()
    assert body["query"]["tracklet_id"] == 1 and body["count"] == len(body["matches"]) == 1
    hit = body["matches"][0]
    assert hit["rank"] == 1 and hit["score"] == pytest.approx(0.9) and hit["camera"] == "cam-b"
    assert hit["start_time"] == "2024-05-01T09:00:00+00:00"
    assert hit["thumbnail"] == f"{API}/tracklets/{hit['tracklet_id']}/thumbnail"
    thumb = client.get(hit["thumbnail"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"


@pytest.mark.parametrize(("body", "status", "pattern"), [
    ({"tracklet_id": 999}, 404, "no tracklet with id 999"),
    ({"tracklet_id": 1, "top_k": 0}, 400, "top_k"),
    ({"tracklet_id": 1, "images": []}, 400, "images: Extra inputs"),
    ({"top_k": 3}, 400, "tracklet_id: Field required"),
    ({"tracklet_id": 1, "score_threshold": 2}, 400, "score_threshold"),
    ({"tracklet_id": 1, "time_from": "yesterday"}, 400, "time_from"),
    ({"tracklet_id": 1, "time_from": "2024-05-02", "time_to": "2024-05-01"}, 400, "after time_to"),
    ({"tracklet_id": 1, "cameras": ["cam-x"]}, 400, "unknown camera.*'cam-x'.*cam-a, cam-b"),
])
def test_bad_searches_are_json_errors(service: FakeService, body: dict, status: int,
                                      pattern: str) -> None:
    assert re.search(pattern, _error(_client(service).post(f"{API}/search", json=body), status))


def test_not_json_wrong_method_unknown_endpoint(service: FakeService) -> None:
    client = _client(service)
    assert "not valid JSON" in _error(client.post(f"{API}/search", content=b"{bad",
                                                  headers={"content-type": "application/json"}), 400)
    # A cross-site form post is not parsed as JSON.
    assert "JSON object" in _error(client.post(f"{API}/search", data={"tracklet_id": "1"}), 400)
    r = client.get(f"{API}/search")
    assert "use POST" in _error(r, 405) and r.headers["allow"] == "POST"
    assert "no such endpoint" in _error(client.get(f"{API}/nothing"), 404)
    assert "unknown camera 'cam-z'" in _error(client.get(f"{API}/tracklets?camera=cam-z"), 404)
    assert "limit" in _error(client.get(f"{API}/tracklets?limit=0"), 400)
    assert _error(client.get(f"{API}/tracklets/abc"), 400)


def test_internal_errors_have_a_reference_not_a_traceback(service: FakeService, caplog) -> None:
    def broken() -> list[str]:
        raise RuntimeError("database on fire")

    service.list_cameras = broken
    message = _error(_client(service).get(f"{API}/cameras"), 500)
    ref = re.search(r"ref ([0-9a-f]{8})", message)
    assert ref and "fire" not in message
    assert any(ref[1] in rec.getMessage() for rec in caplog.records)


def test_basic_auth_in_constant_time_compare(service: FakeService) -> None:
    client = _client(service, auth=("ann", "s3:cret"))
    r = client.get(f"{API}/cameras")
    assert "authentication required" in _error(r, 401)
    assert r.headers["www-authenticate"].startswith("Basic")
    assert "wrong user name or password" in _error(client.get(f"{API}/cameras",
                                                              auth=("ann", "s3")), 401)
    assert _error(client.get(f"{API}/cameras", auth=("bob", "s3:cret")), 401)
    assert _error(client.get(f"{API}/cameras", headers={"authorization": "Basic !!!"}), 401)
    assert _error(client.post(f"{API}/search", json={"tracklet_id": "x"}), 401)  # auth first
    ok = client.get(f"{API}/cameras", auth=("ann", "s3:cret"))
    assert ok.status_code == 200 and ok.json() == {"cameras": ["cam-a", "cam-b"]}


def test_loopback_server_refuses_other_host_headers(service: FakeService) -> None:
    client = _client(service)
    assert "localhost" in _error(client.get(f"{API}/status", headers={"host": "evil.example"}), 403)
    assert client.get(f"{API}/status", headers={"host": "localhost:7860"}).status_code == 200
    # With a login (or an explicit non-local bind) the Host header is not checked.
    other = _client(service, auth=("a", "b"))
    assert other.get(f"{API}/status", auth=("a", "b"),
                     headers={"host": "reid.example:7860"}).status_code == 200


def test_thumbnail_outside_the_data_dir_is_not_served(service: FakeService, tmp_path: Path) -> None:
    import dataclasses

    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"\xff\xd8 not for you")
    service._tracklets[1] = dataclasses.replace(service._tracklets[1], thumbnail_path=outside)
    client = _client(service)
    assert "no thumbnail" in _error(client.get(f"{API}/tracklets/1/thumbnail"), 404)
    assert _error(client.get(f"{API}/tracklets/..%2F..%2Freid.db/thumbnail"), 404)


def test_mount_kwargs_keep_every_launch_rule(tmp_path: Path) -> None:
    options = ServeOptions(auth=("u", "p"), max_upload_bytes=123)
    mounted, launched = mount_kwargs(tmp_path, options), launch_kwargs(tmp_path, options)
    assert set(launched) - set(mounted) == {"share", "quiet", "inbrowser"}
    assert all(mounted[k] == launched[k] for k in mounted)
    assert mounted["auth"] == ("u", "p") and mounted["max_file_size"] == 123
    assert mounted["show_error"] is False and mounted["mcp_server"] is False
    assert mounted["enable_monitoring"] is False
    assert str(tmp_path.resolve() / "reid.db") in mounted["blocked_paths"]
    with pytest.raises(ValueError, match="without authentication"):
        mount_kwargs(tmp_path, ServeOptions(host="0.0.0.0"))


# ------------------------------------------------------------- against a running `reid serve`
@pytest.mark.slow
def test_browse_and_search_on_reid_serve(indexed) -> None:
    from gradio_client import Client

    server, _ = indexed
    api = httpx.Client(base_url=server.url + API, timeout=60)
    status = api.get("/status").json()
    assert status["tracklets"] > 0 and status["embedder_fallback"] is True
    assert api.get("/cameras").json()["cameras"] == ["cam-0", "cam-1"]
    listed = api.get("/tracklets", params={"camera": "cam-0", "limit": 2}).json()["tracklets"]
    assert 1 <= len(listed) <= 2 and {t["camera"] for t in listed} == {"cam-0"}
    query = listed[0]["tracklet_id"]
    thumb = api.get(listed[0]["thumbnail"].removeprefix(API))
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"

    r = api.post("/search", json={"tracklet_id": query, "top_k": 10, "exclude_same_camera": True})
    assert r.status_code == 200, r.text
    matches = r.json()["matches"]
    assert matches and {m["camera"] for m in matches} == {"cam-1"}
    assert [m["rank"] for m in matches] == list(range(1, len(matches) + 1))
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert all(dt.datetime.fromisoformat(m["start_time"]).tzinfo for m in matches)
    # The same search through the UI ranks the same people with the same scores.
    _, table, *_ = Client(server.url, verbose=False).predict(
        query, -1.0, 10, [], None, None, False, True, api_name="/search")
    ui = [(int(re.sub(r"\D", "", str(row[1]))), float(row[5])) for row in table["data"]]
    assert [m["tracklet_id"] for m in matches] == [tid for tid, _ in ui]
    assert scores == pytest.approx([s for _, s in ui], abs=1e-3)

    late = api.post("/search", json={"tracklet_id": query, "time_from": "2030-01-01T00:00:00Z"})
    assert late.status_code == 200 and late.json()["matches"] == []
    store = Store.open(server.data_dir)
    try:
        assert any(e.actor == "api" for e in store.audit_entries(action="search"))
    finally:
        store.close()


@pytest.mark.slow
def test_errors_and_blocked_paths_on_reid_serve(indexed) -> None:
    server, _ = indexed
    data = server.data_dir.resolve()
    assert "no tracklet with id 999999" in _error(
        httpx.post(f"{server.url}{API}/search", json={"tracklet_id": 999999}), 404)
    assert "top_k" in _error(httpx.post(f"{server.url}{API}/search",
                                        json={"tracklet_id": 1, "top_k": -1}), 400)
    for path in (f"{API}/tracklets/..%2F..%2Freid.db/thumbnail", f"{API}/..%2Freid.db",
                 f"{API}/files/reid.db"):
        assert _error(httpx.get(server.url + path), 404)
    # Gradio's file route on the mounted UI still refuses the store's own files.
    for path in (data / "reid.db", data / "vectors.faiss", f"{data}/crops/../reid.db"):
        response = httpx.get(f"{server.url}/gradio_api/file={path}")
        assert response.status_code == 403, (path, response.status_code)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory):
    """``reid serve --auth`` (REID_AUTH is not used) on an empty data dir."""
    from tests.ui.server import ServerProcess

    root = tmp_path_factory.mktemp("serve-auth")
    proc = ServerProcess(root / "data", root / "serve.log", "--detector", "hog", "--embedder",
                         "mobilenet", "--auth", "ann:s3:cret", "--archive-root", str(root))
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.slow
def test_auth_on_reid_serve(auth_server) -> None:
    url = auth_server.url
    r = httpx.get(f"{url}{API}/status")
    assert "authentication required" in _error(r, 401) and "Basic" in r.headers["www-authenticate"]
    assert _error(httpx.get(f"{url}{API}/status", auth=("ann", "wrong")), 401)
    assert _error(httpx.post(f"{url}{API}/search", json={"tracklet_id": 1}), 401)
    ok = httpx.get(f"{url}{API}/status", auth=("ann", "s3:cret"))
    assert ok.status_code == 200 and ok.json()["tracklets"] == 0
    assert "no tracklet" in _error(httpx.post(f"{url}{API}/search", json={"tracklet_id": 1},
                                              auth=("ann", "s3:cret")), 404)
    # The UI keeps its own login: its API and files stay closed without it, and Basic
    # credentials are not a UI login.
    for creds in (None, ("ann", "s3:cret")):
        info = httpx.get(f"{url}/gradio_api/info", auth=creds)
        assert info.status_code == 401, info.status_code
    login = httpx.post(f"{url}/login", data={"username": "ann", "password": "s3:cret"})
    assert login.status_code == 200, login.text


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread priorities are Linux-only")
def test_indexing_runs_at_lower_priority(service: FakeService, videos: dict[str, Path]) -> None:
    from app.ui.serving import LowPriorityIndexing

    seen: list[tuple[int, int]] = []
    real = service.index_video

    def index_video(path, **kwargs):
        tid = threading.get_native_id()
        seen.append((tid, os.getpriority(os.PRIO_PROCESS, tid)))
        return real(path, **kwargs)

    service.index_video = index_video
    wrapped = LowPriorityIndexing(service, niceness=5)
    report = wrapped.index_video(videos["good"], camera="lobby")
    assert report.status == "indexed" and report.camera == "lobby"
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen[0][0] != threading.get_native_id() and seen[0][1] == min(19, here + 5)
    assert wrapped.list_cameras() == service.list_cameras() and wrapped.data_dir == service.data_dir
