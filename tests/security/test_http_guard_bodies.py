"""Request bodies against a running ``reid serve`` (issue 9, item 6): an oversized
``Content-Length`` is 413 before the body (and before any login check), chunked bodies are cut off
with the server's memory bounded; in process, the budget that bodies in progress share and the
upload space checked before an upload's body.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.security.guard_servers import http_client
from tests.ui.server import ServerProcess

pytestmark = pytest.mark.slow


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
        with http_client(server) as client:  # still serving
            assert client.get("/config").status_code in (200, 401)


# ------------------------------------------------------- the guard's body budgets, in process
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
