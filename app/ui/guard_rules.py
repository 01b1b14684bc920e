"""The rules the guard (``app.ui.guard``) applies: which hosts and origins are this server's,
HTTP Basic credentials, login throttling per client, and the security headers of responses."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_ECHO = 200  # characters of user input an error message may quote
MAX_ERROR_BODY = 4096  # bytes of an error response passed on as it is
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})
UPLOAD_PATHS = frozenset({"/gradio_api/upload", "/gradio_api/upload/", "/upload", "/upload/"})
LOGIN_PATHS = frozenset({"/login", "/login/"})
LOGOUT_PATHS = frozenset({"/logout", "/logout/"})
# Routes that send back files (Gradio's file, proxy and run-history routes).
FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/", "/file=", "/file/",
                  "/gradio_api/proxy=", "/proxy=", "/gradio_api/run-history/records/")
# Types a browser only ever renders as media (no script): kept for an attachment's Content-Type
# so that previews of uploaded photos and videos still show.
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                          "video/mp4", "video/webm", "video/ogg", "video/quicktime",
                          "video/x-msvideo", "video/x-matroska", "audio/mpeg", "audio/wav"})
# The gallery's own generated media (crops, thumbnails, clips) are served inline.
OWN_MEDIA_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".mp4", ".webm"})
GRADIO_CALL = re.compile(r"^/gradio_api/(?:run|api|call|call/v2)/([^/]+)/?$")
GRADIO_CALL_PREFIXES = ("/gradio_api/run/", "/gradio_api/api/")
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox; frame-ancestors 'none'"


def clip(text: object, limit: int = MAX_ECHO) -> str:
    """``str(text)`` cut to ``limit`` characters (with an ellipsis), for quoting user input."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def host_of(value: str) -> str:
    """The host name of a ``Host`` header value or URL netloc: lower case, no port, no brackets,
    no trailing dot (``"[::1]:7860"`` → ``"::1"``, ``"Example.org.:80"`` → ``"example.org"``)."""
    value = value.strip().lower()
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        if not bracket:
            return value  # "[::1" (no closing bracket) names nothing
        return inside if port == "" or (port[:1] == ":" and port[1:].isdigit()) else value
    if value.count(":") == 1:
        name, port = value.split(":", 1)
        if not port.isdigit():
            return value  # "name:junk" names nothing of ours
        value = name
    return value.rstrip(".")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def machine_names() -> set[str]:
    names = set()
    for fn in (socket.gethostname, socket.getfqdn):
        with contextlib.suppress(OSError):
            names.add(host_of(fn()))
    return {n for n in names if n}



@dataclass(frozen=True)
class GuardPolicy:
    """What the guard allows. ``allowed_hosts``: extra ``Host`` names (``"*"``: any);
    ``auth``: the server's ``(user, password)`` or None; limits in bytes; ``data_dir``: the
    gallery (its media files are served inline); ``cache_dir``: Gradio's upload cache;
    ``total_body_budget``: bytes of request bodies (uploads apart) received by all requests in
    progress together, beyond which a request is cut off with 503; ``upload_room(n)``: None when
    an upload of ``n`` bytes fits the server's upload space, else why not (507, before reading)."""

    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    auth: tuple[str, str] | None = None
    api_prefix: str = "/api/v1"
    api_body_limit: int = 64 * 1024
    form_body_limit: int = 4 * 2**20
    upload_body_limit: int = 32 * 2**30
    total_body_budget: int = 256 * 2**20
    data_dir: Path | None = None
    cache_dir: Path | None = None
    upload_room: Callable[[int], str | None] | None = None

    def host_names(self) -> tuple[frozenset[str], bool]:
        """``(names, any_ip)``: the Host names accepted, and whether any IP literal is too."""
        bind = host_of(self.bind_host)
        wildcard = bind in WILDCARD_BINDS
        names = set(LOOPBACK_NAMES) | {host_of(h) for h in self.allowed_hosts if h.strip()}
        if wildcard:
            names |= machine_names()
        else:
            names.add(bind)
        return frozenset(names), wildcard


class LoginThrottle:
    """Failed logins per client address, with an exponential lock-out.

    ``free_failures`` failures in a row are free; failure ``n > free_failures`` locks the client
    out for ``base_s * 2 ** (n - free_failures - 1)`` seconds (at most ``max_s``). A success, or
    ``forget_s`` seconds without a failure, clears the count. At most ``max_clients`` addresses
    are remembered (the least recently failed are forgotten first). Single-threaded: call it
    from the event loop only.
    """

    def __init__(self, free_failures: int = 5, base_s: float = 1.0, max_s: float = 300.0,
                 forget_s: float = 900.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = max(forget_s, max_s)
        self.max_clients = max_clients
        self._clock = clock
        self._state: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, until, last

    @staticmethod
    def client_key(address: str | None) -> str:
        """The throttling key of a client address: the address, an IPv6 address's /64."""
        try:
            ip = ipaddress.ip_address((address or "").strip("[]"))
        except ValueError:
            return address or "?"
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def _get(self, key: str) -> tuple[int, float, float] | None:
        entry = self._state.get(key)
        if entry is not None and self._clock() - entry[2] > self.forget_s:
            del self._state[key]
            return None
        return entry

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        entry = self._get(key)
        return 0.0 if entry is None else max(0.0, entry[1] - self._clock())

    def failed(self, key: str) -> float:
        """Count a failure of ``key``; returns its lock-out in seconds (0: none)."""
        now = self._clock()
        failures = (self._get(key) or (0, 0.0, now))[0] + 1
        lock = 0.0
        if failures > self.free_failures:
            lock = min(self.max_s, self.base_s * 2.0 ** min(failures - self.free_failures - 1, 60))
        self._state[key] = (failures, now + lock, now)
        self._state.move_to_end(key)
        while len(self._state) > self.max_clients:
            self._state.popitem(last=False)
        if lock:
            logger.warning("login: %d failures in a row from %s; locked out for %.0f s",
                           failures, key, lock)
        return lock

    def succeeded(self, key: str) -> None:
        """A successful login of ``key``: forget its failures."""
        self._state.pop(key, None)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an HTTP Basic ``Authorization`` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value or len(value) > 4096:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


def credentials_ok(given: tuple[str, str], auth: tuple[str, str]) -> bool:
    """Constant-time comparison of ``(user, password)`` pairs."""
    user_ok = hmac.compare_digest(given[0].encode(), auth[0].encode())
    password_ok = hmac.compare_digest(given[1].encode(), auth[1].encode())
    return user_ok and password_ok


def netloc_key(netloc: str, scheme: str | None) -> tuple[str, str]:
    """(host, port) of a netloc; the port defaults from ``scheme`` (or is '' when unknown)."""
    netloc = netloc.strip().lower()
    host = host_of(netloc)
    port = ""
    rest = netloc.rsplit("]", 1)[-1] if netloc.startswith("[") else netloc
    if ":" in rest and rest.count(":") == 1:
        port = rest.split(":", 1)[1]
    default = {"http": ("80",), "https": ("443",)}.get(scheme or "", ("80", "443"))
    if port in default:
        port = ""
    return host, port


class Headers:
    """Lower-case name → first value of an ASGI scope's headers (as Starlette reads them);
    ``count`` tells how often a name occurs."""

    def __init__(self, scope: Scope) -> None:
        self._items: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        for name, value in scope.get("headers") or ():
            key = name.decode("latin-1").lower()
            self._items.setdefault(key, value.decode("latin-1"))
            self._counts[key] = self._counts.get(key, 0) + 1

    def count(self, name: str) -> int:
        return self._counts.get(name, 0)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def gradio_call_status(body: bytes) -> int:
    """The status a Gradio API call's 500 should have had: 400 when the handler refused the input
    with a message for the user (``gr.Error``), 500 for an internal error (the UI's handlers say
    "internal error" for those, with a reference into the log) or an unreadable body."""
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return 500
    if not isinstance(message, str) or not message.strip() or "internal error" in message:
        return 500
    return 400


def replay(message: Message, receive: Receive) -> Receive:
    """A receive that gives ``message`` once, then what ``receive`` gives."""
    pending = [message]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def too_large(limit: int) -> str:
    return (f"request body too large: the maximum here is {limit / 2**20:.1f} MB"
            if limit >= 2**20 else f"request body too large: the maximum here is {limit // 1024} KB")


def with_security_headers(raw: list[tuple[bytes, bytes]], *, file_route: bool, own_media: bool,
                           nosniff: bool) -> list[tuple[bytes, bytes]]:
    """``raw`` ASGI headers plus this module's security headers (see the module docstring)."""
    present = {name.lower() for name, _ in raw}
    out = list(raw)

    def put(name: bytes, value: bytes, replace: bool = False) -> None:
        nonlocal out
        if replace:
            out = [(k, v) for k, v in out if k.lower() != name]
        elif name in present:
            return
        out.append((name, value))

    put(b"x-frame-options", b"DENY", replace=True)
    put(b"referrer-policy", b"same-origin")
    put(b"cross-origin-resource-policy", b"same-origin")
    if file_route:
        put(b"x-content-type-options", b"nosniff", replace=True)
        put(b"content-security-policy", FILE_CSP.encode(), replace=True)
        if not own_media:
            disposition = next((v for k, v in out if k.lower() == b"content-disposition"), b"")
            _, sep, params = disposition.partition(b";")
            put(b"content-disposition", b"attachment" + (b";" + params if sep else b""),
                replace=True)
            ctype = next((v for k, v in out if k.lower() == b"content-type"), b"")
            if ctype.split(b";")[0].strip().lower().decode("latin-1") not in MEDIA_TYPES:
                put(b"content-type", b"application/octet-stream", replace=True)
    else:
        csp = next((v for k, v in out if k.lower() == b"content-security-policy"), None)
        if csp is None:
            put(b"content-security-policy", b"frame-ancestors 'none'")
        elif b"frame-ancestors" not in csp:
            put(b"content-security-policy", csp + b"; frame-ancestors 'none'", replace=True)
        if nosniff:
            put(b"x-content-type-options", b"nosniff", replace=True)
    return out
