"""A local HTTP server standing in for the model hubs (GitHub releases, Hugging Face), and an
environment whose weights cache is a temporary folder."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class FakeHub:
    """What the server serves and how it misbehaves; what it was asked."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # path -> body
    redirects: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # path -> (to, headers)
    honour_range: bool = True
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    stall_s: float = 0.0  # with drop_after: wait this long before closing (a stalled transfer)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    bytes_sent: int = 0

    def add(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path``; its SHA-256."""
        self.files[path] = body
        return hashlib.sha256(body).hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            rng = self.headers.get("Range")
            hub.requests.append((self.path, rng))
            if self.path in hub.redirects:
                to, headers = hub.redirects[self.path]
                self.send_response(302)
                self.send_header("Location", to)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = hub.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and hub.honour_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if hub.drop_after is not None:
                payload, hub.drop_after = payload[: hub.drop_after], None
                self.close_connection = True
            self.wfile.write(payload)
            if self.close_connection and hub.stall_s:
                self.wfile.flush()
                time.sleep(hub.stall_s)
            hub.bytes_sent += len(payload)

    return Handler


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def weights_env(tmp_path, monkeypatch) -> None:
    """The weights cache in tmp_path, no mirror or URL override, the hubs marked offline (as in CI)."""
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "weights"))
    for name in ("REID_WEIGHTS_MIRROR", "REID_WEIGHTS_URL_YOLO11N", "REID_WEIGHTS_URL_CLIP_VIT_B16"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
