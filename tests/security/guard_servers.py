"""The two ``reid serve`` processes the HTTP-guard tests attack, and how to talk to them.

Both run on fresh, unindexed data dirs: one without a login (loopback) and one with ``--auth``
(``USER``/``PASSWORD``). Throttling is per client address, so each test that fails logins
connects from its own loopback address (127.0.0.x, all of which reach a server bound to
127.0.0.1): ``http_client(server, source)``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from tests.ui.server import ServerProcess

USER, PASSWORD = "ann", "correct horse"


def guard_server(root: Path, *extra: str) -> ServerProcess:
    """A ``reid serve`` (not started) on ``root/data``, logging to ``root/serve.log``, with the
    HOG detector, the MobileNet embedder, 5 MB uploads, ``root`` as archive root, and ``extra``."""
    return ServerProcess(root / "data", root / "serve.log", "--detector", "hog", "--embedder",
                         "mobilenet", "--max-upload-mb", "5", "--archive-root", str(root), *extra)


def http_client(server: ServerProcess, source: str = "127.0.0.1", **kwargs) -> httpx.Client:
    """An HTTP client of ``server`` connecting from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, transport=transport, timeout=60, **kwargs)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP Basic credentials."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
