"""What the guard (``app.ui.guard``) knows of Gradio's own app: which function a Gradio call
names (refusing unknown ones and short input lists, which Gradio answers with a 500), and which
session a ``/logout`` ends (only the one of the cookies it was sent)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from app.ui.guard_rules import (
    GRADIO_CALL,
    Headers,
    Receive,
    Scope,
    Send,
    clip,
    replay,
    with_security_headers,
)

logger = logging.getLogger(__name__)

__all__ = ["gradio_call_check", "logout"]


async def gradio_call_check(sessions: Callable[[], Any] | None, path: str, receive: Receive
                            ) -> tuple[tuple[int, str] | None, Receive]:
    """Refuse a Gradio call of an unknown function (Gradio answers those with a 500):
    ``(None or (status, message), the receive to pass on)``. ``sessions`` returns Gradio's app
    (or None). A queue join's body (at most the form limit) is read here and replayed to Gradio."""
    gradio_app = sessions() if sessions else None
    if gradio_app is None:
        return None, receive
    fns = gradio_app.get_blocks().fns
    named = GRADIO_CALL.match(path)
    fn = None
    if named:
        name = named.group(1)
        fn = next((f for f in fns.values() if f.api_name == name), None)
        if fn is None:
            return (404, f"no such API endpoint: {clip(name, 80)!r}"), receive
    elif path not in ("/gradio_api/queue/join", "/gradio_api/queue/join/"):
        return None, receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, replay(message, receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None  # Gradio's own validation answers it
    parsed = parsed if isinstance(parsed, dict) else {}
    fn_index = parsed.get("fn_index")
    if fn_index is not None and (type(fn_index) is not int or fn_index not in fns):
        return (400, f"no such function: fn_index {clip(fn_index, 40)}"), receive
    data = parsed.get("data")
    fn = fns.get(fn_index, fn) if type(fn_index) is int else fn
    if fn is not None and isinstance(data, list) and len(data) < len(fn.inputs):
        # Gradio's direct call routes answer this with a 500 and a traceback.
        return (400, f"this function takes {len(fn.inputs)} input values, got {len(data)}"), \
            receive
    return None, replay({"type": "http.request", "body": body, "more_body": False}, receive)


async def logout(sessions: Callable[[], Any] | None, scope: Scope, send: Send,
                 headers: Headers) -> None:
    """Answer ``GET /logout``: forget the session tokens of the cookies sent (Gradio's own route
    forgets every session of that user name), expire those cookies, redirect to the app's root."""
    from http.cookies import SimpleCookie

    gradio_app = sessions() if sessions else None
    names: list[str] = []
    if gradio_app is not None:
        cookie_id = gradio_app.cookie_id
        names = [f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"]
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie") or "")
        except Exception:  # noqa: BLE001 - a malformed Cookie header ends nothing
            jar = SimpleCookie()
        for name in names:
            if name in jar:
                gradio_app.tokens.pop(jar[name].value, None)
    # Relative, so that it also lands on the app's root behind a proxy's path prefix.
    home = b"../" if scope.get("path", "").endswith("/") else b"./"
    raw = [(b"location", home), (b"content-length", b"0"), (b"cache-control", b"no-store")]
    for name in names:
        extra = "; Secure; SameSite=none" if "unsecure" not in name else "; SameSite=lax"
        raw.append((b"set-cookie", f'{name}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; '
                                   f"Max-Age=0; Path=/; HttpOnly{extra}".encode("latin-1")))
    raw = with_security_headers(raw, file_route=False, own_media=False, nosniff=True)
    await send({"type": "http.response.start", "status": 302, "headers": raw})
    await send({"type": "http.response.body", "body": b""})
