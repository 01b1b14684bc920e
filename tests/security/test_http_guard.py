"""Attacks on a running ``reid serve`` over HTTP, one test per class (issue 9, items 2, 5, 7): the
Host and Origin checks, login throttling, logout, and how uploaded files are served; then the
guard's host, lockout and websocket rules in process. Body sizes are in ``test_http_guard_bodies``,
absurd inputs (item 9) in ``test_http_guard_inputs``; the servers in ``conftest``/``guard_servers``.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.security.guard_servers import PASSWORD, USER, basic_auth, http_client
from tests.ui.server import ServerProcess

pytestmark = pytest.mark.slow

EVIL_HOSTS = ("evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
              "localhost.evil.example:{port}", "")


# --------------------------------------------------------------------------- item 2: Host
def test_host_guard_covers_every_gradio_and_api_route(open_server: ServerProcess) -> None:
    crop = open_server.data_dir / "crops" / "guard.jpg"
    crop.parent.mkdir(parents=True, exist_ok=True)
    crop.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    routes = [("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"),
              ("GET", f"/gradio_api/file={crop}"), ("GET", "/api/v1/status"),
              ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/upload"),
              ("GET", "/gradio_api/queue/data?session_hash=abc")]
    with http_client(open_server) as client:
        for method, path in routes:
            for host in EVIL_HOSTS:
                host = host.format(port=open_server.port)
                r = client.request(method, path, headers={"Host": host},
                                   json={} if method == "POST" else None)
                assert r.status_code == 403, (method, path, host, r.status_code, r.text[:200])
                assert "evil" not in r.text or len(r.text) < 1000
        # Names of this server still work.
        for host in (f"127.0.0.1:{open_server.port}", f"localhost:{open_server.port}",
                     "localhost", f"[::1]:{open_server.port}"):
            r = client.get("/config", headers={"Host": host})
            assert r.status_code == 200, (host, r.status_code)
        assert client.get(f"/gradio_api/file={crop}").status_code == 200


# -------------------------------------------------------------------------- item 2: Origin
def test_cross_origin_state_changes_are_refused(open_server: ServerProcess) -> None:
    port = open_server.port
    posts = ["/gradio_api/queue/join", "/gradio_api/upload", "/gradio_api/run/predict",
             "/api/v1/search", "/login"]
    cross = [{"Origin": "http://evil.example"}, {"Origin": "null"},
             {"Origin": f"http://localhost:{port + 1}"}, {"Origin": f"http://evil.example:{port}"},
             {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
             {"Referer": "http://evil.example/page.html"}]
    with http_client(open_server) as client:
        for path in posts:
            for headers in cross:
                r = client.post(path, headers=headers, json={"tracklet_id": 1})
                assert r.status_code == 403, (path, headers, r.status_code, r.text[:200])
        # A cross-site page cannot log the operator out either.
        r = client.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        # The app's own pages (same origin) and plain clients (no Origin) are served.
        for headers in ({"Origin": f"http://127.0.0.1:{port}"}, {"Origin": f"http://localhost:{port}",
                        "Host": f"localhost:{port}"}, {"Sec-Fetch-Site": "same-origin"}, {}):
            r = client.post("/api/v1/search", headers=headers, json={"tracklet_id": 1})
            assert r.status_code == 404, (headers, r.status_code, r.text)  # no such tracklet


# ---------------------------------------------------------------------- item 7: throttling
def _burst(call, n: int) -> list[httpx.Response]:
    """``n`` calls of ``call()`` at once, from threads; their responses."""
    out: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: out.append(call())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == n
    return out


def test_failed_logins_are_throttled_per_client(auth_server: ServerProcess) -> None:
    wrong = basic_auth(USER, "guess")
    # JSON API, HTTP Basic: parallel guesses do not get past the lock either.
    with http_client(auth_server, "127.0.0.11") as attacker:
        responses = _burst(lambda: attacker.get("/api/v1/status", headers=wrong), 30)
        statuses = [r.status_code for r in responses]
        # 5 free failures, then a lock-out that doubles per failure; a slow machine may see a
        # lock expire during the burst, hence a little slack.
        assert statuses.count(401) <= 10 and statuses.count(429) >= 15, sorted(statuses)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)
        assert all(r.json()["error"]["status"] == r.status_code for r in responses)
        # Another client is not locked out.
        with http_client(auth_server, "127.0.0.12") as other:
            assert other.get("/api/v1/status", headers=basic_auth(USER, PASSWORD)).status_code == 200
        # After the window, the right password works again.
        deadline = time.monotonic() + 120
        while True:
            r = attacker.get("/api/v1/status", headers=basic_auth(USER, PASSWORD))
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.status_code == 429
            time.sleep(min(float(r.headers.get("Retry-After", 1)), 5))
        assert r.status_code == 200, r.text

    # Gradio's login form.
    form = {"username": USER, "password": "guess"}
    with http_client(auth_server, "127.0.0.13") as attacker:
        found = [r.status_code for r in _burst(lambda: attacker.post("/login", data=form), 20)]
        assert found.count(400) <= 10 and found.count(429) >= 8, sorted(found)
    with http_client(auth_server, "127.0.0.14") as other:
        r = other.post("/login", data={"username": USER, "password": PASSWORD})
        assert r.status_code == 200, r.text


def test_logout_ends_only_its_own_session(auth_server: ServerProcess) -> None:
    login = {"username": USER, "password": PASSWORD}
    with http_client(auth_server, "127.0.0.21") as a, http_client(auth_server, "127.0.0.22") as b:
        assert a.post("/login", data=login).status_code == 200
        assert b.post("/login", data=login).status_code == 200
        assert a.get("/config").status_code == 200 and b.get("/config").status_code == 200
        old_a = dict(a.cookies)
        r = a.get("/logout")
        assert r.status_code in (302, 307), r.status_code
        assert b.get("/config").status_code == 200  # the other browser stays logged in
        with http_client(auth_server, "127.0.0.21", cookies=old_a) as replay:
            assert replay.get("/config").status_code == 401  # A's token is gone


# ------------------------------------------------------------------- item 5: served uploads
def test_uploaded_html_and_svg_are_served_as_attachments(open_server: ServerProcess,
                                                         tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><script>fetch('/api/v1/status').then(r => r.text())</script></html>")
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    data_dir = open_server.data_dir.resolve()
    with http_client(open_server) as client:
        for path in (page, svg):
            with path.open("rb") as fh:
                r = client.post("/gradio_api/upload", files={"files": (path.name, fh)})
            assert r.status_code == 200, r.text
            stored = Path(r.json()[0])
            assert not stored.resolve().is_relative_to(data_dir), stored  # cache outside data dir
            served = client.get(f"/gradio_api/file={stored}")
            assert served.status_code == 200, served.text
            assert served.headers["content-disposition"].startswith("attachment")
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in served.headers["content-security-policy"]
            ctype = served.headers["content-type"]
            assert "html" not in ctype and "svg" not in ctype and "xml" not in ctype, ctype
        page_headers = client.get("/").headers
        assert page_headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page_headers["content-security-policy"]
        assert page_headers["referrer-policy"]


# ------------------------------------------------------------ the guard's rules, in process
def test_host_rules_for_wildcard_and_named_binds() -> None:
    from app.ui.guard import GuardPolicy, HttpGuard

    local = HttpGuard(None, GuardPolicy(bind_host="127.0.0.1"))
    assert local.host_allowed("localhost:7860") and local.host_allowed("[::1]:7860")
    assert not local.host_allowed("192.168.1.5:7860") and not local.host_allowed(None)
    assert not local.host_allowed("LOCALHOST.evil.example")
    for malformed in ("[::1", "[::1]x", "[::1]:port", "localhost:", "127.0.0.1:80:80", "[]", ""):
        assert not local.host_allowed(malformed), malformed
    lan = HttpGuard(None, GuardPolicy(bind_host="0.0.0.0", auth=("u", "p"),
                                      allowed_hosts=("nas.local",)))
    assert lan.host_allowed(f"{socket.gethostname()}:7860")  # this machine's own name
    assert lan.host_allowed("192.168.1.5:7860") and lan.host_allowed("[fe80::1]:7860")
    assert lan.host_allowed("NAS.local.:7860") and not lan.host_allowed("evil.example")
    named = HttpGuard(None, GuardPolicy(bind_host="reid.lan"))
    assert named.host_allowed("reid.lan:7860") and not named.host_allowed("10.0.0.1")
    assert HttpGuard(None, GuardPolicy(allowed_hosts=("*",))).host_allowed("anything")


def test_login_lockout_doubles_and_is_forgotten() -> None:
    from app.ui.guard import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(free_failures=3, base_s=2, max_s=10, forget_s=60,
                             max_clients=2, clock=lambda: now[0])
    locks = [throttle.failed("a") for _ in range(7)]
    assert locks == [0, 0, 0, 2, 4, 8, 10]
    assert throttle.retry_after("a") == 10
    now[0] = 70.0  # forgotten after a quiet minute
    assert throttle.retry_after("a") == 0 and throttle.failed("a") == 0
    throttle.succeeded("a")
    for key in ("b", "c", "d"):  # bounded memory: the oldest client is dropped
        throttle.failed(key)
    assert len(throttle._state) == 2
    key = LoginThrottle.client_key
    assert key("2001:db8::1") == key("2001:db8::ffff") != key("2001:db8:0:1::1")
    assert key("::ffff:10.0.0.1") == "10.0.0.1"


def test_websocket_handshakes_are_guarded() -> None:
    import asyncio

    from app.ui.guard import GuardPolicy, HttpGuard

    async def app(scope, receive, send) -> None:
        await send({"type": "websocket.accept"})

    async def handshake(headers: dict[str, str]) -> str:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        async def receive() -> dict:
            return {"type": "websocket.connect"}

        scope = {"type": "websocket", "path": "/gradio_api/queue/join", "client": ("127.0.0.1", 1),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
        await HttpGuard(app, GuardPolicy())(scope, receive, send)
        return sent[0]["type"]

    ours = {"Host": "127.0.0.1:7860", "Origin": "http://127.0.0.1:7860"}
    assert asyncio.run(handshake(ours)) == "websocket.accept"
    assert asyncio.run(handshake({**ours, "Host": "evil.example:7860"})) == "websocket.close"
    assert asyncio.run(handshake({**ours, "Origin": "http://evil.example"})) == "websocket.close"
