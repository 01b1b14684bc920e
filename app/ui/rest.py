"""A small read-only JSON API next to the web UI: ``/api/v1/...`` on the same server and port.

Endpoints (all JSON; errors are ``{"error": {"status": int, "message": str}}``, never tracebacks):

- ``GET  /api/v1/status``                      gallery size, models in use, fallbacks;
- ``GET  /api/v1/cameras``                     camera names;
- ``GET  /api/v1/tracklets?camera=&limit=``    tracklets (oldest first), optionally of one camera;
- ``GET  /api/v1/tracklets/{id}``              one tracklet;
- ``GET  /api/v1/tracklets/{id}/thumbnail``    its thumbnail (JPEG from the data dir);
- ``POST /api/v1/search``                      ranked matches of a stored tracklet (body: ``SearchBody``).

Authentication: when the server has a login (``--auth``), every request needs HTTP Basic
credentials (compared in constant time); the UI's login cookie is not accepted here. Without a
login (loopback only, or ``--insecure-no-auth``) a loopback server also refuses requests whose
``Host`` header is not a loopback name, so a web page cannot reach it through DNS rebinding.
In ``reid serve`` the guard of ``app.ui.guard`` checks all of this first (Host, Origin, a 64 KB
body limit, login throttling); the checks here stay for apps built without it. Ids are 1..2^63-1
and times must have a UTC equivalent (else 400); user input quoted in errors is clipped.

Service calls are synchronous; they run in worker threads (searches at most ``search_threads``
at once, other calls apart) so the event loop (shared with the Gradio UI) stays free. Indexing
runs in the UI's queue and holds only the service's index lock, which searches do not take.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, overload

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from starlette.routing import Match

from app.ui.guard import basic_credentials, clip, credentials_ok
from app.ui.service_api import UiService
from reid.service.serialize import response_fields, tracklet_fields
from reid.service.types import SearchRequest, SearchResponse, ServiceStatus
from reid.store import GalleryError, TrackletInfo

logger = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "ApiError", "SearchBody", "add_api", "tracklet_json"]

API_PREFIX = "/api/v1"
ACTOR = "api"
_MAX_TOP_K = 1000
_MAX_LIST = 5000
_BROWSE_THREADS = 2  # status, cameras, tracklets, thumbnails at once
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_MAX_ID = 2**63 - 1  # SQLite's largest integer
_MAX_CAMERAS = 100
_MAX_MESSAGE = 600  # characters of an error message (user input in it is clipped further)
_CameraName = Annotated[str, StringConstraints(max_length=200)]

T = TypeVar("T")


class ApiError(Exception):
    """An error answered as JSON with HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class SearchBody(BaseModel):
    """``POST /api/v1/search`` body: ``reid.service.SearchRequest`` without images.

    Times are ISO 8601; a time without a zone is UTC. ``score_threshold`` is a cosine similarity
    in [-1, 1]; ``min_duration_s`` is seconds.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # Strict: JSON numbers only for ids and counts, true/false only for the switches.
    tracklet_id: int = Field(ge=1, le=_MAX_ID, strict=True)
    top_k: int = Field(default=50, ge=1, le=_MAX_TOP_K, strict=True)
    cameras: list[_CameraName] | None = Field(default=None, max_length=_MAX_CAMERAS)
    time_from: dt.datetime | None = None
    time_to: dt.datetime | None = None
    min_duration_s: float = Field(default=0.0, ge=0.0, le=1e9)
    exclude_same_video: bool = Field(default=False, strict=True)
    exclude_same_camera: bool = Field(default=False, strict=True)
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    rerank: bool = Field(default=False, strict=True)
    query_expansion: bool = Field(default=False, strict=True)

    @field_validator("time_from", "time_to")
    @classmethod
    def _in_range(cls, t: dt.datetime | None) -> dt.datetime | None:
        # An aware time near year 1 or 9999 may have no UTC equivalent (OverflowError later).
        if t is not None and t.tzinfo is not None:
            try:
                t.astimezone(dt.timezone.utc)
            except (OverflowError, ValueError):
                raise ValueError("date out of range") from None
        return t

    @model_validator(mode="after")
    def _window(self) -> SearchBody:
        if self.time_from and self.time_to and _utc(self.time_from) > _utc(self.time_to):
            raise ValueError("time_from is after time_to")
        return self

    def to_request(self) -> SearchRequest:
        return SearchRequest(
            tracklet_id=self.tracklet_id, top_k=self.top_k, cameras=self.cameras or None,
            time_from=_utc(self.time_from), time_to=_utc(self.time_to),
            min_duration_s=self.min_duration_s, exclude_same_video=self.exclude_same_video,
            exclude_same_camera=self.exclude_same_camera, score_threshold=self.score_threshold,
            rerank=self.rerank, query_expansion=self.query_expansion)


@overload
def _utc(t: dt.datetime) -> dt.datetime: ...


@overload
def _utc(t: None) -> None: ...


@overload
def _utc(t: dt.datetime | None) -> dt.datetime | None: ...


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    """A naive time read as UTC; aware times and None pass through."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.timezone.utc)


# ----------------------------------------------------------------------------- JSON shapes
def _thumbnail_url(t: TrackletInfo) -> str | None:
    return f"{API_PREFIX}/tracklets/{t.id}/thumbnail" if t.thumbnail_path is not None else None


def tracklet_json(t: TrackletInfo) -> dict[str, Any]:
    """One tracklet in the shape every surface uses (``reid.service.serialize``), its thumbnail
    as this API's URL (null without a thumbnail)."""
    return tracklet_fields(t, _thumbnail_url)


def _search_json(resp: SearchResponse) -> dict[str, Any]:
    return response_fields(resp, _thumbnail_url)


def _status_json(s: ServiceStatus) -> dict[str, Any]:
    return {
        "videos": s.videos, "tracklets": s.tracklets,
        "tracklets_per_camera": dict(s.tracklets_per_camera), "detector": s.detector,
        "detector_fallback": s.detector_fallback, "embedder": s.embedder,
        "embedder_kind": s.embedder_kind, "embedder_fallback": s.embedder_fallback,
        "descriptor_dim": s.descriptor_dim, "index_type": s.index_type, "notes": list(s.notes),
        "gallery_fingerprint": s.gallery_fingerprint, "jobs": dict(s.jobs),
    }


# ---------------------------------------------------------------------------- auth, errors
def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": clip(message, _MAX_MESSAGE)}},
                        status_code=status, headers=headers)


def make_authenticator(auth: tuple[str, str] | None, check_host: bool) -> Callable[[Request], str]:
    """A FastAPI dependency: the user name, or ``ApiError`` 401 (bad login) / 403 (bad Host).

    ``auth`` None means no login; ``check_host`` refuses non-loopback ``Host`` headers.
    """
    challenge = {"WWW-Authenticate": 'Basic realm="person search", charset="UTF-8"'}

    def authenticate(request: Request) -> str:
        if check_host:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
            if host not in _LOOPBACK_HOSTS:
                raise ApiError(403, "this server answers only requests addressed to localhost")
        if auth is None:
            return "local"
        given = basic_credentials(request.headers.get("authorization"))
        if given is None:
            raise ApiError(401, "authentication required: send HTTP Basic credentials "
                           "(the --auth USER:PASSWORD of the server)", challenge)
        if not credentials_ok(given, auth):
            raise ApiError(401, "wrong user name or password", challenge)
        return given[0]

    return authenticate


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":
            return "invalid request: the body is not valid JSON"
        if err.get("type") == "model_attributes_type" and tuple(err.get("loc", ())) == ("body",):
            return "invalid request: the body must be a JSON object (Content-Type: application/json)"
        where = clip(".".join(str(x) for x in err.get("loc", ()) if x != "body"), 80)
        msg = clip(err.get("msg", "invalid"), 160)
        parts.append(f"{where}: {msg}" if where else msg)
    return "invalid request: " + "; ".join(parts)


# -------------------------------------------------------------------------------- the routes
class _Api:
    """The endpoint functions, bound to one service and one worker-thread limiter."""

    def __init__(self, service: UiService, search_threads: int) -> None:
        self.service = service
        self.search_limiter = anyio.CapacityLimiter(search_threads)
        self.browse_limiter = anyio.CapacityLimiter(_BROWSE_THREADS)

    async def call(self, fn: Callable[..., T], *args: Any, search: bool = False) -> T:
        """Run a service call in a worker thread (searches and other calls have their own
        limits, so a slow status or listing never holds up searches); map errors to ``ApiError``."""
        limiter = self.search_limiter if search else self.browse_limiter
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)
        except ApiError:
            raise
        except KeyError as exc:
            raise ApiError(404, clip(exc.args[0]) if exc.args else "not found") from None
        except (ValueError, OverflowError) as exc:
            raise ApiError(400, clip(exc)) from None
        except GalleryError as exc:  # the gallery's files: read-only, locked, damaged, disk full
            logger.error("API call %s: %s", getattr(fn, "__name__", fn), exc)
            raise ApiError(503, str(exc)) from None  # our own bounded text, not user input
        except Exception as exc:
            ref = uuid.uuid4().hex[:8]
            logger.error("API call %s failed (ref %s)", getattr(fn, "__name__", fn), ref,
                         exc_info=exc)
            raise ApiError(500, f"internal error (ref {ref}); the details are in the server "
                           "log") from None

    async def status(self) -> dict[str, Any]:
        return _status_json(await self.call(self.service.status))

    async def cameras(self) -> dict[str, Any]:
        return {"cameras": await self.call(self.service.list_cameras)}

    async def tracklets(self, camera: str | None = Query(default=None, max_length=200),
                        limit: int = Query(default=100, ge=1, le=_MAX_LIST)) -> dict[str, Any]:
        if camera is not None:
            known = await self.call(self.service.list_cameras)
            if camera not in known:
                raise ApiError(404, f"unknown camera {clip(camera)!r}; cameras: "
                               f"{clip(', '.join(known) or 'none')}")
        found = await self.call(self.service.list_tracklets, camera, None, limit)
        return {"count": len(found), "tracklets": [tracklet_json(t) for t in found]}

    async def tracklet(self, tracklet_id: int = PathParam(ge=1, le=_MAX_ID)) -> dict[str, Any]:
        return tracklet_json(await self.call(self.service.get_tracklet, tracklet_id))

    async def thumbnail(self, tracklet_id: int = PathParam(ge=1, le=_MAX_ID)) -> FileResponse:
        info = await self.call(self.service.get_tracklet, tracklet_id)
        if info.thumbnail_path is None:
            raise ApiError(404, f"tracklet {tracklet_id} has no thumbnail")
        try:
            path = self.service.resolve_data_path(info.thumbnail_path)
        except ValueError:
            logger.warning("thumbnail of tracklet %d lies outside the data dir", tracklet_id)
            raise ApiError(404, f"tracklet {tracklet_id} has no thumbnail") from None
        if not path.is_file():
            raise ApiError(404, f"thumbnail of tracklet {tracklet_id} is missing on disk")
        return FileResponse(path, media_type="image/jpeg")

    async def search(self, body: SearchBody) -> dict[str, Any]:
        # FastAPI parses only an application/json body: a form post (cross-site) fails validation.
        if body.cameras:
            known = await self.call(self.service.list_cameras)
            unknown = sorted(set(body.cameras) - set(known))
            if unknown:
                raise ApiError(400, f"unknown camera(s) {clip(', '.join(map(repr, unknown)))}; "
                               f"cameras: {clip(', '.join(known) or 'none')}")
        return _search_json(await self.call(self.service.search, body.to_request(), ACTOR,
                                            search=True))


def add_api(app: FastAPI, service: UiService, *, auth: tuple[str, str] | None, loopback_only: bool,
            search_threads: int = 1) -> None:
    """Add the ``/api/v1`` routes and their JSON error handlers to ``app``.

    Call before mounting the Gradio app at ``/`` (the first matching route wins). ``auth`` is the
    server's ``(user, password)`` or None; ``loopback_only`` refuses non-loopback ``Host``
    headers when there is no login; ``search_threads`` bounds the searches run at once (the
    others wait in arrival order). A search is mostly Python holding the GIL: on 2 cores one
    thread answered 20 concurrent clients with p95 0.21-0.33 s, four threads with 0.58-0.72 s
    (``benchmarks/search_load.py``).
    """
    if search_threads < 1:
        raise ValueError(f"search_threads must be >= 1, got {search_threads}")
    api = _Api(service, search_threads)
    guard = [Depends(make_authenticator(auth, check_host=loopback_only and auth is None))]
    router = APIRouter(prefix=API_PREFIX, dependencies=guard)
    router.add_api_route("/status", api.status, methods=["GET"])
    router.add_api_route("/cameras", api.cameras, methods=["GET"])
    router.add_api_route("/tracklets", api.tracklets, methods=["GET"])
    router.add_api_route("/tracklets/{tracklet_id}", api.tracklet, methods=["GET"])
    router.add_api_route("/tracklets/{tracklet_id}/thumbnail", api.thumbnail, methods=["GET"],
                         response_class=FileResponse)
    router.add_api_route("/search", api.search, methods=["POST"])

    endpoints = list(router.routes)

    async def unknown(request: Request) -> None:
        allowed = sorted({m for r in endpoints if r.matches(request.scope)[0] == Match.PARTIAL
                          for m in getattr(r, "methods", ())})
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed on {clip(request.url.path)}; use "
                           f"{', '.join(allowed)}", {"Allow": ", ".join(allowed)})
        raise ApiError(404, f"no such endpoint: {clip(request.method, 20)} {clip(request.url.path)}; see "
                       "README.md, 'HTTP API'")

    # Catch-all so that API paths never fall through to the Gradio app mounted at "/".
    router.add_api_route("/{rest:path}", unknown, include_in_schema=False,
                         methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    app.include_router(router)

    async def on_api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.message, exc.headers)

    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(400, _validation_message(exc))

    # Starlette types every handler as taking a plain Exception; each gets only its own class here.
    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]
