"""Attacks on a running ``reid serve`` over HTTP: one test per class (issue 9, items 2, 5, 6, 7, 9).

Two servers on fresh, unindexed data dirs: one without a login (loopback) and one with
``--auth``. Throttling is per client address, so each test that fails logins connects from its
own loopback address (127.0.0.x, all of which reach a server bound to 127.0.0.1).
"""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.ui.server import ServerProcess

pytestmark = pytest.mark.slow

USER, PASSWORD = "ann", "correct horse"
EVIL_HOSTS = ("evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
              "localhost.evil.example:{port}", "")


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("guard-open")
    proc = ServerProcess(root / "data", root / "serve.log", "--detector", "hog", "--embedder",
                         "mobilenet", "--max-upload-mb", "5", "--archive-root", str(root))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("guard-auth")
    proc = ServerProcess(root / "data", root / "serve.log", "--detector", "hog", "--embedder",
                         "mobilenet", "--max-upload-mb", "5", "--archive-root", str(root),
                         "--auth", f"{USER}:{PASSWORD}")
    proc.start()
    yield proc
    proc.stop()


def _client(server: ServerProcess, source: str = "127.0.0.1", **kwargs) -> httpx.Client:
    """An HTTP client of ``server`` connecting from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, transport=transport, timeout=60, **kwargs)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _PeakRss:
    """The server's peak resident memory (kB) while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.base = self.peak = _rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kb(self.pid))

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024


def _raw_request(server: ServerProcess, head: str, *, chunks: int = 0, chunk_size: int = 2**20,
                 timeout: float = 60) -> tuple[str, int]:
    """Send ``head`` (request line and headers, without the blank line) and then up to
    ``chunks`` chunked-encoding chunks of zeros (JSON-ish ``"0000..."``), stopping as soon as the
    server answers or closes. Returns ``(response head or '', body bytes sent)``."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sent = 0
    try:
        sock.sendall((head + "\r\n\r\n").encode("latin-1"))
        chunk = f"{chunk_size:x}\r\n".encode() + b"0" * chunk_size + b"\r\n"
        for _ in range(chunks):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:  # cut off by the server
                break
            sent += chunk_size
        else:
            if chunks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"0\r\n\r\n")
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            try:
                piece = sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not piece:
                break
            data += piece
        return data.decode("latin-1").split("\r\n\r\n")[0], sent
    finally:
        sock.close()


# --------------------------------------------------------------------------- item 2: Host
def test_host_guard_covers_every_gradio_and_api_route(open_server: ServerProcess) -> None:
    crop = open_server.data_dir / "crops" / "guard.jpg"
    crop.parent.mkdir(parents=True, exist_ok=True)
    crop.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    routes = [("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"),
              ("GET", f"/gradio_api/file={crop}"), ("GET", "/api/v1/status"),
              ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/upload"),
              ("GET", "/gradio_api/queue/data?session_hash=abc")]
    with _client(open_server) as client:
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
    with _client(open_server) as client:
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


# ---------------------------------------------------------------------- item 6: body sizes
@pytest.mark.parametrize("path", ["/api/v1/search", "/gradio_api/queue/join",
                                  "/gradio_api/upload", "/login"])
def test_oversized_content_length_gets_413_before_the_body(open_server: ServerProcess,
                                                           auth_server: ServerProcess,
                                                           path: str) -> None:
    for server in (open_server, auth_server):  # and before any login check
        started = time.monotonic()
        head, _ = _raw_request(server, f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                               "Content-Type: application/json\r\n"
                               f"Content-Length: {300 * 2**20}", timeout=20)
        assert head.startswith("HTTP/1.1 413"), (server.url, path, head)
        assert time.monotonic() - started < 20


@pytest.mark.parametrize("path", ["/api/v1/search", "/gradio_api/queue/join",
                                  "/gradio_api/run/search"])
def test_chunked_bodies_are_cut_off_and_memory_stays_bounded(open_server: ServerProcess,
                                                             auth_server: ServerProcess,
                                                             path: str) -> None:
    body_mb = 64
    for server in (open_server, auth_server):
        results: list[tuple[str, int]] = []
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked")

        def send(server: ServerProcess = server, head: str = head,
                 results: list[tuple[str, int]] = results) -> None:
            results.append(_raw_request(server, head, chunks=body_mb, timeout=120))

        with _PeakRss(server.proc.pid) as rss:
            threads = [threading.Thread(target=send) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for head, sent in results:
            # Refused or cut off long before the end: a 413 (or the API's 401 without reading
            # anything), or the connection closed.
            assert head.split(" ")[1:2] in ([], ["413"], ["401"]), (server.url, path, head)
            assert sent < body_mb * 2**20 // 4, (server.url, path, head, sent)
        assert rss.growth_mb < 100, (path, rss.growth_mb)
        with _client(server) as client:  # still serving
            assert client.get("/config").status_code in (200, 401)


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
    wrong = _basic(USER, "guess")
    # JSON API, HTTP Basic: parallel guesses do not get past the lock either.
    with _client(auth_server, "127.0.0.11") as attacker:
        responses = _burst(lambda: attacker.get("/api/v1/status", headers=wrong), 30)
        statuses = [r.status_code for r in responses]
        # 5 free failures, then a lock-out that doubles per failure; a slow machine may see a
        # lock expire during the burst, hence a little slack.
        assert statuses.count(401) <= 10 and statuses.count(429) >= 15, sorted(statuses)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)
        assert all(r.json()["error"]["status"] == r.status_code for r in responses)
        # Another client is not locked out.
        with _client(auth_server, "127.0.0.12") as other:
            assert other.get("/api/v1/status", headers=_basic(USER, PASSWORD)).status_code == 200
        # After the window, the right password works again.
        deadline = time.monotonic() + 120
        while True:
            r = attacker.get("/api/v1/status", headers=_basic(USER, PASSWORD))
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.status_code == 429
            time.sleep(min(float(r.headers.get("Retry-After", 1)), 5))
        assert r.status_code == 200, r.text

    # Gradio's login form.
    form = {"username": USER, "password": "guess"}
    with _client(auth_server, "127.0.0.13") as attacker:
        found = [r.status_code for r in _burst(lambda: attacker.post("/login", data=form), 20)]
        assert found.count(400) <= 10 and found.count(429) >= 8, sorted(found)
    with _client(auth_server, "127.0.0.14") as other:
        r = other.post("/login", data={"username": USER, "password": PASSWORD})
        assert r.status_code == 200, r.text


def test_logout_ends_only_its_own_session(auth_server: ServerProcess) -> None:
    login = {"username": USER, "password": PASSWORD}
    with _client(auth_server, "127.0.0.21") as a, _client(auth_server, "127.0.0.22") as b:
        assert a.post("/login", data=login).status_code == 200
        assert b.post("/login", data=login).status_code == 200
        assert a.get("/config").status_code == 200 and b.get("/config").status_code == 200
        old_a = dict(a.cookies)
        r = a.get("/logout")
        assert r.status_code in (302, 307), r.status_code
        assert b.get("/config").status_code == 200  # the other browser stays logged in
        with _client(auth_server, "127.0.0.21", cookies=old_a) as replay:
            assert replay.get("/config").status_code == 401  # A's token is gone


# ------------------------------------------------------------------- item 5: served uploads
def test_uploaded_html_and_svg_are_served_as_attachments(open_server: ServerProcess,
                                                         tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><script>fetch('/api/v1/status').then(r => r.text())</script></html>")
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    data_dir = open_server.data_dir.resolve()
    with _client(open_server) as client:
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


# ------------------------------------------------------------- item 9: absurd ids and dates
@pytest.mark.parametrize("tid", ["100000000000000000000000000000", "-1", "0", "abc", "1e5",
                                 "9223372036854775808", "%00", "1.5"])
def test_absurd_ids_give_400(open_server: ServerProcess, tid: str) -> None:
    with _client(open_server) as client:
        for path in (f"/api/v1/tracklets/{tid}", f"/api/v1/tracklets/{tid}/thumbnail"):
            r = client.get(path)
            assert r.status_code == 400, (path, r.status_code, r.text[:300])
            assert r.json()["error"]["status"] == 400


@pytest.mark.parametrize("body", [
    '{"tracklet_id": 1000000000000000000000000000000}', '{"tracklet_id": -5}',
    '{"tracklet_id": "x"}', '{"tracklet_id": 1e400}', '{"tracklet_id": [1]}',
    '{"tracklet_id": 9223372036854775808}',
    '{"tracklet_id": 1, "time_from": "99999-01-01T00:00:00"}',
    '{"tracklet_id": 1, "time_from": "NaN"}', '{"tracklet_id": 1, "time_to": "garbage"}',
    '{"tracklet_id": 1, "time_from": 1e300}',
    '{"tracklet_id": 1, "time_from": "0001-01-01T00:00:00+23:59"}',
    '{"tracklet_id": 1, "time_to": "9999-12-31T23:59:59-23:59"}',
    '{"tracklet_id": 1, "min_duration_s": NaN}', '{"tracklet_id": 1, "min_duration_s": Infinity}',
    '{"tracklet_id": 1, "top_k": 100000000000000000000}', '{"tracklet_id": 1, "cameras": "cam"}',
    '{"tracklet_id": 1, "score_threshold": NaN}', '[1, 2]', '"text"', 'null',
    '{"tracklet_id": true}', '{"tracklet_id": "7"}', '{"tracklet_id": 1, "rerank": "yes"}',
])
def test_absurd_search_bodies_give_400(open_server: ServerProcess, body: str) -> None:
    with _client(open_server) as client:
        r = client.post("/api/v1/search", content=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text[:300])
        assert r.json()["error"]["status"] == 400


@pytest.mark.parametrize("body", [
    {"data": [], "fn_index": 10**30, "session_hash": "s"}, {"data": [], "fn_index": -1,
                                                           "session_hash": "s"},
    {"data": [], "fn_index": "x", "session_hash": "s"}, {"data": [], "fn_index": 99999,
                                                         "session_hash": "s"},
])
def test_absurd_gradio_function_ids_are_not_500(open_server: ServerProcess, body: dict) -> None:
    with _client(open_server) as client:
        r = client.post("/gradio_api/queue/join", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text[:200])
        r = client.post("/gradio_api/run/" + "nosuch" * 50, json={"data": []})
        assert r.status_code == 404, r.status_code
        r = client.post("/gradio_api/run/search", json={"data": []})  # too few inputs
        assert r.status_code == 400, (r.status_code, r.text[:200])


@pytest.mark.parametrize(("api", "data"), [
    ("list_people", [1]),                                     # no camera named 1
    ("search", [10**30, 0.5, 10, [], "", "", False, False]),  # absurd person number
    ("search", [-3, 0.5, 10, [], "year 99999", "", False, False]),
    ("index_folder", ["/etc/../../nowhere"]),                 # outside the archive roots
])
def test_refused_inputs_of_the_ui_api_are_400_not_500(open_server: ServerProcess, api: str,
                                                      data: list) -> None:
    with _client(open_server) as client:
        r = client.post(f"/gradio_api/run/{api}", json={"data": data})
    assert r.status_code == 400, (api, r.status_code, r.text[:200])
    assert isinstance(r.json().get("error"), str) and r.json()["error"]


def test_errors_do_not_echo_unbounded_input(open_server: ServerProcess) -> None:
    long = "A" * 40_000
    bodies = [{"tracklet_id": 1, long: 1}, {"tracklet_id": 1, "cameras": [long]},
              {"tracklet_id": 1, "cameras": [f"cam{k}-{'x' * 150}" for k in range(90)]}]
    with _client(open_server) as client:
        for body in bodies:
            r = client.post("/api/v1/search", content=json.dumps(body),
                            headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, r.status_code
            assert len(r.text) < 2000, (r.status_code, len(r.text))
        r = client.get("/api/v1/" + "b" * 5000)
        assert r.status_code == 404 and len(r.text) < 2000
        # Gradio's own validation errors quote the whole input (FastAPI's 422), compressed or not.
        for encoding in ("identity", "gzip, br"):
            for path, body in (("/gradio_api/run/search", {"data": long}),
                               ("/gradio_api/queue/join", {"data": [], "fn_index": long})):
                r = client.post(path, json=body, headers={"Accept-Encoding": encoding})
                assert 400 <= r.status_code < 500 and len(r.text) < 2000, (path, r.status_code,
                                                                          len(r.text))


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


def test_bodies_in_progress_share_one_budget() -> None:
    import asyncio

    from app.ui.guard import GuardPolicy, HttpGuard

    release = asyncio.Event

    async def main() -> list[int]:
        hold = release()

        async def app(scope, receive, send) -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # cut off
                if not message.get("more_body"):
                    break
            await hold.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        guard = HttpGuard(app, GuardPolicy(form_body_limit=800, total_body_budget=1000))

        async def post() -> int:
            sent: list[dict] = []
            parts = [{"type": "http.request", "body": b"x" * 300, "more_body": True},
                     {"type": "http.request", "body": b"x" * 300, "more_body": False}]

            async def receive() -> dict:
                await asyncio.sleep(0)
                return parts.pop(0) if parts else {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join",
                     "client": ("127.0.0.1", 1), "headers": [(b"host", b"127.0.0.1:7860")]}
            await guard(scope, receive, send)
            return sent[0]["status"]

        first = asyncio.create_task(post())
        await asyncio.sleep(0.05)
        second = await post()  # 600 + 600 bytes > 1000 while the first is in progress
        hold.set()
        return [await first, second, await post()]

    assert asyncio.run(main()) == [200, 503, 200]


def test_uploads_beyond_the_upload_space_are_refused_before_their_body(tmp_path: Path) -> None:
    """A direct ``/gradio_api/upload`` (no indexing event, so no per-user quota check) still meets
    the server's upload budget, before Gradio stores a byte of it."""
    import asyncio

    from app.ui._uploads import UploadLimits, UploadSpace
    from app.ui.guard import GuardPolicy, HttpGuard

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "earlier.mp4").write_bytes(b"x" * 600)
    space = UploadSpace(tmp_path / "uploads", cache, list,
                        UploadLimits(total_bytes=1000, min_free_bytes=0))
    reached: list[str] = []

    async def app(scope, receive, send) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = HttpGuard(app, GuardPolicy(upload_body_limit=10**6, upload_room=space.room_for))

    async def upload(size: int) -> tuple[int, bytes]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"x" * size, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/gradio_api/upload",
                 "client": ("127.0.0.1", 1),
                 "headers": [(b"host", b"127.0.0.1:7860"), (b"content-length", str(size).encode())]}
        await guard(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    assert asyncio.run(upload(300)) == (200, b"ok")
    status, body = asyncio.run(upload(500))  # 600 + 500 > 1000
    assert status == 507 and b"upload space is full" in body
    assert reached == ["/gradio_api/upload"]
    space.limits = UploadLimits(total_bytes=10**9, min_free_bytes=10**18)  # disk reserve
    assert asyncio.run(upload(10))[0] == 507
