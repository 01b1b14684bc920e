"""One guard in front of every route of ``reid serve`` (Gradio UI and ``/api/v1``): a pure ASGI middleware.

What it enforces, in this order, before the request reaches Gradio or the JSON API:

1. **Host** (every HTTP and websocket request): the ``Host`` header must name this server
   (``localhost``, ``127.0.0.1``, ``[::1]``, the bound address, ``--allowed-host`` names); a
   server bound to a wildcard address (``0.0.0.0``, ``::``) also answers to any IP literal and
   to this machine's host name. Anything else is 403: that is what a DNS-rebinding page sends.
2. **Origin** (POST/PUT/PATCH/DELETE, websockets and ``/logout``): a browser's ``Origin`` must be
   this server's own (same host and port as ``Host``, or an ``--allowed-host`` name); without an
   ``Origin``, ``Sec-Fetch-Site`` must not be ``cross-site``/``same-site`` and a ``Referer``
   must be same-origin. Clients that send none of these (curl, scripts) pass. Otherwise 403.
3. **Body size**, before anything reads the body and before any login check: a
   ``Content-Length`` over the route's limit is 413 at once; a chunked body is counted while it
   streams and cut off (413, connection closed) at the limit. Limits: ``/api/v1`` and ``/login``
   64 KiB, Gradio uploads ``upload_body_limit``, every other request ``form_body_limit``; the
   bodies of all requests in progress (uploads apart) together at most ``total_body_budget``
   (503 beyond).
4. **Login throttling** per client address (an IPv6 /64 counts as one client): Gradio's
   ``POST /login`` and ``/api/v1`` requests with HTTP Basic credentials. After ``free_failures``
   failures in a row, each further failure locks the address out for ``base_s`` doubled per
   failure (capped at ``max_s``); while locked, login attempts get 429 with ``Retry-After``.
   The API's credentials are checked here, so a wrong password never reaches the API's code.
5. **Logout ends only its own session**: ``/logout`` forgets the tokens of the cookies it was
   sent (Gradio's own route forgets every session of that user name).
6. **Response headers**: every response gets ``X-Frame-Options: DENY``, ``frame-ancestors
   'none'``, ``Referrer-Policy: same-origin`` and ``Cross-Origin-Resource-Policy: same-origin``;
   Gradio's file routes (``/gradio_api/file=...``) and the API also get ``nosniff``, and a file
   that is not one of the gallery's own images or videos (uploads, anything else) is sent as an
   attachment, with ``application/octet-stream`` unless it is a plain image/video type, under a
   ``sandbox`` content security policy, so an uploaded ``.html`` or ``.svg`` never runs script
   from this origin.

Refusals are small JSON bodies ``{"error": {"status": int, "message": str}}``; anything quoted from
the request in them is clipped to ``MAX_ECHO`` characters. Error responses of the app itself
(FastAPI's 422 quotes the whole offending input) longer than 4 KB, or compressed, are replaced by
such a body with the first ``MAX_ECHO`` characters of theirs (or the status phrase).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from app.ui.guard_gradio import gradio_call_check, logout
from app.ui.guard_rules import (
    FILE_PREFIXES,
    GRADIO_CALL_PREFIXES,
    LOGIN_PATHS,
    LOGOUT_PATHS,
    MAX_ECHO,
    MAX_ERROR_BODY,
    OWN_MEDIA_SUFFIXES,
    UNSAFE_METHODS,
    UPLOAD_PATHS,
    Asgi,
    GuardPolicy,
    Headers,
    LoginThrottle,
    Message,
    Receive,
    Scope,
    Send,
    basic_credentials,
    clip,
    credentials_ok,
    gradio_call_status,
    host_of,
    is_ip,
    netloc_key,
    phrase,
    too_large,
    with_security_headers,
)

logger = logging.getLogger(__name__)

__all__ = ["MAX_ECHO", "GuardPolicy", "HttpGuard", "LoginThrottle", "basic_credentials", "clip",
           "credentials_ok", "host_of"]


class HttpGuard:
    """The ASGI middleware (see the module docstring). ``app``: the FastAPI app of ``reid serve``;
    ``sessions``: a callable returning Gradio's app (``tokens``, ``cookie_id``) for ``/logout``,
    or None."""

    def __init__(self, app: Asgi, policy: GuardPolicy, throttle: LoginThrottle | None = None,
                 sessions: Callable[[], Any] | None = None) -> None:
        self.app = app
        self.policy = policy
        self.throttle = throttle or LoginThrottle()
        self.sessions = sessions
        self._names, self._any_ip = policy.host_names()
        self._any_host = "*" in {h.strip() for h in policy.allowed_hosts}
        self._extra = frozenset(host_of(h) for h in policy.allowed_hosts if h.strip())
        self._data_dir = Path(policy.data_dir).resolve() if policy.data_dir else None
        self._cache_dir = Path(policy.cache_dir).resolve() if policy.cache_dir else None
        self._buffered = 0  # body bytes of requests in progress (not uploads), all together

    # ------------------------------------------------------------------------------ checks
    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a ``Host`` header value names this server."""
        if self._any_host:
            return True
        if not host_header:
            return False
        host = host_of(host_header)
        if host in self._names:
            return True
        if is_ip(host):
            return self._any_ip or ipaddress.ip_address(host).is_loopback
        return False

    def _same_origin(self, url: str, host_header: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if netloc_key(parts.netloc, parts.scheme) == netloc_key(host_header, None):
            return True
        # Behind a proxy that rewrites Host: the public name is an --allowed-host.
        return host_of(parts.netloc) in self._extra

    def origin_refusal(self, scope: Scope, headers: Headers) -> str | None:
        """Why a state-changing request looks cross-site (None: it does not)."""
        path = scope.get("path", "")
        if not (scope["type"] == "websocket" or scope.get("method", "GET") in UNSAFE_METHODS
                or path in LOGOUT_PATHS):
            return None
        host = headers.get("host") or ""
        origin = headers.get("origin")
        if origin is not None:
            if self._same_origin(origin, host):
                return None
            return f"cross-origin request refused (Origin {clip(origin)!r})"
        site = (headers.get("sec-fetch-site") or "").lower()
        if site in ("cross-site", "same-site"):
            return f"cross-origin request refused (Sec-Fetch-Site: {clip(site)})"
        referer = headers.get("referer")
        if referer and not site and not self._same_origin(referer, host):
            return "cross-origin request refused (Referer from another site)"
        return None

    def body_limit(self, path: str) -> int:
        """The largest request body accepted on ``path``, in bytes."""
        if path == self.policy.api_prefix or path.startswith(self.policy.api_prefix + "/"):
            return self.policy.api_body_limit
        if path in UPLOAD_PATHS:
            return self.policy.upload_body_limit
        if path in LOGIN_PATHS:
            return self.policy.api_body_limit
        return self.policy.form_body_limit

    def _is_api(self, path: str) -> bool:
        return path == self.policy.api_prefix or path.startswith(self.policy.api_prefix + "/")

    def _own_media(self, path: str) -> bool:
        """Whether a file route's path is one of the gallery's own images or videos."""
        if self._data_dir is None:
            return False
        for prefix in FILE_PREFIXES:
            if path.startswith(prefix):
                raw = path[len(prefix):]  # already percent-decoded, as Gradio reads it
                break
        else:
            return False
        if not os.path.isabs(raw):
            return False  # URLs (proxied), relative paths: never the gallery's own
        try:
            real = Path(os.path.realpath(raw))
        except (OSError, ValueError):
            return False
        if self._cache_dir is not None and real.is_relative_to(self._cache_dir):
            return False
        return real.is_relative_to(self._data_dir) and real.suffix.lower() in OWN_MEDIA_SUFFIXES

    # ---------------------------------------------------------------------------- answers
    @staticmethod
    async def _answer(send: Send, status: int, message: str,
                      headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": {"status": status, "message": message}}).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
               (b"referrer-policy", b"same-origin"), (b"cache-control", b"no-store")]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str,
                      headers: dict[str, str] | None = None) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting: the server answers the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        await self._answer(send, status, message, headers)

    # ------------------------------------------------------------------------------- ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope)
        if headers.count("host") > 1 or headers.count("origin") > 1 or not self.host_allowed(
                headers.get("host")):
            logger.info("refused a request for Host %r", clip(headers.get("host") or "", 80))
            await self._refuse(scope, send, 403, "this server does not answer to the host name "
                               f"{clip(headers.get('host') or '(none)')!r}; see --allowed-host")
            return
        refusal = self.origin_refusal(scope, headers)
        if refusal:
            logger.info("%s %s: %s", scope.get("method", "WS"), clip(scope.get("path", ""), 80), refusal)
            await self._refuse(scope, send, 403, refusal)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send, headers)

    async def _http(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        limit = self.body_limit(path)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._answer(send, 400, "invalid Content-Length", {"connection": "close"})
                return
            if int(declared) > limit:
                await self._answer(send, 413, too_large(limit), {"connection": "close"})
                return
        if path in UPLOAD_PATHS and method == "POST" and self.policy.upload_room is not None:
            # Checked before Gradio stores a byte: an upload that was never indexed still fills
            # the disk until the sweep removes it. Walking the cache is file-system work.
            size = int(declared) if declared is not None else limit
            refusal = await anyio.to_thread.run_sync(self.policy.upload_room, size)
            if refusal is not None:
                await self._answer(send, 507, refusal, {"connection": "close"})
                return

        client = self.throttle.client_key((scope.get("client") or ("?", 0))[0])
        login_page = method == "POST" and path in LOGIN_PATHS and self.policy.auth is not None
        api_login = (self.policy.auth is not None and self._is_api(path))
        if login_page or (api_login and "authorization" in headers):
            wait = self.throttle.retry_after(client)
            if wait > 0:
                await self._answer(send, 429, "too many failed logins from this address; try "
                                   f"again in {math.ceil(wait)} s",
                                   {"retry-after": str(math.ceil(wait))})
                return
        if api_login and self.policy.auth is not None:  # api_login implies an auth pair
            given = basic_credentials(headers.get("authorization"))
            challenge = {"www-authenticate": 'Basic realm="person search", charset="UTF-8"'}
            if given is None:
                await self._answer(send, 401, "authentication required: send HTTP Basic "
                                   "credentials (the --auth USER:PASSWORD of the server)", challenge)
                return
            if not credentials_ok(given, self.policy.auth):
                self.throttle.failed(client)
                await self._answer(send, 401, "wrong user name or password", challenge)
                return
            self.throttle.succeeded(client)
        if method == "GET" and path in LOGOUT_PATHS and self.sessions is not None:
            await logout(self.sessions, scope, send, headers)
            return
        if login_page:
            # Counted as failed until it answers 200, so parallel guesses find the lock too.
            self.throttle.failed(client)

        file_route = path.startswith(FILE_PREFIXES)
        own_media = file_route and self._own_media(path)
        secure_json = self._is_api(path)
        state = {"started": False, "cut": False, "received": 0, "pooled": 0}
        # Bodies that the app reads into memory (all but uploads, which Gradio streams to disk)
        # also count towards a budget shared by all requests at once.
        pooled = path not in UPLOAD_PATHS

        async def cut(status: int, message: str, extra: dict[str, str]) -> Message:
            state["cut"] = True
            if not state["started"]:
                state["started"] = True
                await self._answer(send, status, message, {"connection": "close", **extra})
            return {"type": "http.disconnect"}

        async def guarded_receive() -> Message:
            if state["cut"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                state["received"] += size
                if state["received"] > limit:
                    return await cut(413, too_large(limit), {})
                if pooled:
                    if self._buffered + size > self.policy.total_body_budget:
                        return await cut(503, "the server is busy receiving other requests; "
                                         "try again in a moment", {"retry-after": "1"})
                    self._buffered += size
                    state["pooled"] += size
            return message

        error: dict[str, Any] = {}  # an error response held back until its body is known

        async def guarded_send(message: Message) -> None:
            if state["cut"]:
                return  # the 413 has been sent; drop what the app still says
            if message["type"] == "http.response.start":
                state["started"] = True
                if login_page and message["status"] == 200:
                    self.throttle.succeeded(client)
                message = dict(message)
                message["headers"] = with_security_headers(
                    list(message.get("headers") or ()), file_route=file_route,
                    own_media=own_media, nosniff=secure_json)
                if message["status"] >= 400:
                    error.update(start=message, body=b"", size=0)
                    return
            elif message["type"] == "http.response.body" and error:
                # Error bodies may quote the request (FastAPI's 422 does, in full): keep
                # ``MAX_ERROR_BODY`` bytes of them, then answer a clipped message instead.
                chunk = message.get("body", b"")
                error["size"] += len(chunk)
                if len(error["body"]) <= MAX_ERROR_BODY:
                    error["body"] += chunk[:MAX_ERROR_BODY + 1]
                if message.get("more_body", False):
                    return
                start, body = error.pop("start"), error["body"]
                encoded = any(k.lower() == b"content-encoding" for k, _ in start["headers"])
                if error["size"] > MAX_ERROR_BODY or encoded:
                    # A compressed body may expand to anything: say only what went wrong.
                    text = (phrase(start["status"]) if encoded
                            else body.decode("utf-8", "replace"))
                    body = json.dumps({"error": {"status": start["status"],
                                                 "message": clip(text)}}).encode()
                    start["headers"] = [(k, v) for k, v in start["headers"]
                                        if k.lower() not in (b"content-length", b"content-type",
                                                             b"content-encoding")]
                    start["headers"] += [(b"content-type", b"application/json"),
                                         (b"content-length", str(len(body)).encode())]
                if start["status"] == 500 and path.startswith(GRADIO_CALL_PREFIXES):
                    start["status"] = gradio_call_status(body)
                error.clear()
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        try:
            app_receive: Receive = guarded_receive
            if method == "POST" and self.sessions is not None and path.startswith("/gradio_api/"):
                call_refusal, app_receive = await gradio_call_check(self.sessions, path,
                                                                    guarded_receive)
                if state["cut"]:
                    return
                if call_refusal is not None:
                    await self._answer(send, *call_refusal)
                    return
            await self.app(scope, app_receive, guarded_send)
        except Exception as exc:  # noqa: BLE001 - contained here: one line, no quoted input
            # Gradio lets some bad inputs escape as exceptions (a 500, and a traceback quoting
            # the input in the log); say it in one bounded line instead.
            frames = traceback.extract_tb(exc.__traceback__)[-3:]
            logger.error("%s %s failed: %s: %s (at %s)", method, clip(path, 100),
                         type(exc).__name__, clip(exc),
                         "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames))
            if not state["started"]:
                state["started"] = True
                await self._answer(send, 500, "internal error; the details are in the server log")
        finally:
            self._buffered -= state["pooled"]
