"""Launch the web UI safely: local binding by default, auth for anything else, files from the data dir.

Rules enforced here:
- binds 127.0.0.1 unless told otherwise; a non-loopback address needs ``auth`` unless the caller
  passes ``insecure_no_auth=True`` explicitly;
- never a share link, no analytics, no MCP server, no monitoring endpoint;
- Gradio's upload cache lives next to the data dir, never inside the served tree
  (``gradio_cache_dir``); only the data dir's crops, clips and exports can be served; the
  database, vector index and uploaded originals are blocked;
- every upload is limited to ``max_upload_bytes`` by Gradio itself (HTTP 413) before any callback;
- one ASGI guard (``app.ui.guard``) sits in front of every route: Host and Origin checks, request
  body limits, login throttling, per-session logout, security headers, uploads served back only
  as attachments;
- the JSON API (``app.ui.rest``, under ``/api/v1``) shares the server, the port and the login
  (HTTP Basic there); it serves only tracklet thumbnails from the data dir.

The UI is mounted on a FastAPI app (``gr.mount_gradio_app``) next to the API and served by
uvicorn; ``mount_kwargs`` is ``launch_kwargs`` minus what only ``Blocks.launch`` knows.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import ipaddress
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["LowPriorityIndexing", "ServeOptions", "build_server_app", "check_bind",
           "gradio_cache_dir", "guard_policy", "launch", "launch_kwargs", "mount_kwargs",
           "parse_auth", "served_paths"]

# Files in the data dir that must never be served: the gallery's own (reid.store.GalleryLayout,
# the one owner of the layout) and settings files a user might keep beside them.
_EXTRA_BLOCKED = ("settings.toml", "settings.yaml")
# One upload request may carry several files (the browser sends all the files picked at once),
# each at most ``max_upload_bytes``: the request as a whole may carry this many of them.
UPLOAD_FILES_PER_REQUEST = 16
# ``Blocks.launch`` arguments that ``gr.mount_gradio_app`` does not take (nothing to share, print
# or open when uvicorn serves the mounted app).
_LAUNCH_ONLY = ("share", "quiet", "inbrowser")


@dataclass(frozen=True)
class ServeOptions:
    """How to serve. ``auth`` is ``(user, password)``; ``max_upload_bytes`` is per file;
    ``search_concurrency``: the UI's searches at once; ``api_search_threads``: the JSON API's;
    ``index_niceness`` lowers the CPU priority of indexing jobs (0 = as searches);
    ``allowed_hosts``: extra ``Host`` names the server answers to (behind a proxy, a LAN name;
    ``"*"``: any); ``login_free_failures``, ``login_lockout_s``, ``login_lockout_max_s``: failed
    logins per client address before a lock-out, its first length (doubling per failure) and
    its cap, in seconds."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None
    insecure_no_auth: bool = False
    max_upload_bytes: int = 2 * 2**30
    archive_roots: tuple[Path, ...] = field(default_factory=tuple)
    search_concurrency: int = 4
    api_search_threads: int = 1
    index_niceness: int = 10
    quiet: bool = False
    allowed_hosts: tuple[str, ...] = ()
    login_free_failures: int = 5
    login_lockout_s: float = 1.0
    login_lockout_max_s: float = 300.0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: tuple[str, str] | None, insecure_no_auth: bool) -> None:
    """Refuse to bind a non-local ``host`` without authentication (``ValueError`` naming the fix)."""
    if is_loopback(host) or auth is not None:
        return
    if insecure_no_auth:
        logger.warning("serving on %s WITHOUT authentication (--insecure-no-auth): anyone who can "
                       "reach this address can search the footage", host)
        return
    raise ValueError(
        f"refusing to serve on {host} without authentication: anyone on the network could search "
        "the footage. Add --auth USER:PASSWORD (or set REID_AUTH), bind --host 127.0.0.1, or pass "
        "--insecure-no-auth if you really mean it.")


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``"user:password"`` → ``("user", "password")``; None or empty → None; else ``ValueError``."""
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like USER:PASSWORD (both non-empty)")
    return user, password


def gradio_cache_dir(data_dir: Path) -> Path:
    """Where Gradio keeps uploads and served copies: ``<parent>/.<name>.uploads-cache`` beside
    the data dir ``<parent>/<name>``, outside the served tree and hidden from folder indexing.

    When the parent folder is not writable (and the cache does not exist yet), a private folder
    in the system temp dir, ``reid-uploads-<uid>-<hash of the data dir>``, instead.
    """
    root = Path(data_dir).resolve()
    sibling = root.parent / f".{root.name}.uploads-cache"
    if sibling.is_dir() or os.access(root.parent, os.W_OK | os.X_OK):
        return sibling
    import hashlib
    import tempfile

    tag = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"reid-uploads-{uid}-{tag}"


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) or check that an existing one is ours and not a symlink."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    import stat

    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        raise OSError(f"refusing to use {path} as the upload cache: not a folder owned by this user")


def served_paths(data_dir: Path) -> tuple[list[str], list[str]]:
    """(allowed, blocked) absolute paths for Gradio: the data dir minus the store's own files."""
    from reid.store.layout import GalleryLayout

    root = Path(data_dir).resolve()
    names = GalleryLayout.private_names() + _EXTRA_BLOCKED
    return [str(root)], [str(root / name) for name in names]


def launch_kwargs(data_dir: Path, options: ServeOptions, css_path: Path | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` implementing the rules of this module."""
    check_bind(options.host, options.auth, options.insecure_no_auth)
    allowed, blocked = served_paths(data_dir)
    kwargs: dict[str, Any] = dict(
        server_name=options.host, server_port=options.port, share=False,
        auth=options.auth, auth_message="Person search: log in to continue.",
        allowed_paths=allowed, blocked_paths=blocked, max_file_size=options.max_upload_bytes,
        show_error=False, enable_monitoring=False, mcp_server=False, pwa=False, ssr_mode=False,
        footer_links=["api"], quiet=options.quiet, inbrowser=False,
    )
    if css_path is not None and css_path.is_file():
        kwargs["css_paths"] = [css_path]
    return kwargs


def mount_kwargs(data_dir: Path, options: ServeOptions, css_path: Path | None = None) -> dict[str, Any]:
    """Keyword arguments for ``gr.mount_gradio_app``: the same rules as ``launch_kwargs``."""
    kwargs = launch_kwargs(data_dir, options, css_path)
    for key in _LAUNCH_ONLY:
        kwargs.pop(key)
    return kwargs


def default_css_path() -> Path:
    """The shipped stylesheet, ``ui.css`` beside this module (package data, so an installed
    wheel serves it too)."""
    return Path(__file__).resolve().parent / "ui.css"


class LowPriorityIndexing:
    """``service`` for the UI, with its indexing jobs isolated and run at a lower CPU priority.

    ``index_video`` and ``index_folder`` run one at a time in a dedicated thread. A service that
    can (``use_worker_process``, as ``ReidService`` built by ``app.compose``) indexes in a
    separate worker process whose nice value is raised by ``niceness``: a crash in a codec or
    the detector then fails that video, not the server. Otherwise the thread itself gets the
    higher nice value (threads it starts, e.g. the embedder's OpenMP team, inherit it), so that
    searches keep the cores while a video is indexed. Everything else is ``service``'s own.
    The caller waits for the result, so the service's API is unchanged.
    """

    def __init__(self, service: Any, niceness: int = 10) -> None:
        self._service = service
        self._niceness = niceness
        use_worker = getattr(service, "use_worker_process", None)
        self.isolated = bool(callable(use_worker) and use_worker(niceness=niceness))
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="reid-index", initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        if self.isolated or self._niceness <= 0 or not hasattr(os, "setpriority"):
            return
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self._niceness)
        except OSError as exc:  # not Linux-like per-thread priorities: index at normal priority
            logger.info("indexing runs at normal priority (%s)", exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        context = contextvars.copy_context()
        return self._pool.submit(context.run, fn, *args, **kwargs).result()

    def index_video(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._service.index_video, *args, **kwargs)

    def index_folder(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._service.index_folder, *args, **kwargs)


def guard_policy(data_dir: Path, options: ServeOptions) -> Any:  # -> app.ui.guard.GuardPolicy
    """The ``app.ui.guard`` policy of a server for ``data_dir`` with ``options``."""
    from app.ui.guard import GuardPolicy
    from app.ui.rest import API_PREFIX

    return GuardPolicy(
        bind_host=options.host, allowed_hosts=tuple(options.allowed_hosts), auth=options.auth,
        api_prefix=API_PREFIX,
        upload_body_limit=options.max_upload_bytes * UPLOAD_FILES_PER_REQUEST + 2**20,
        data_dir=Path(data_dir).resolve(), cache_dir=gradio_cache_dir(data_dir))


def build_server_app(service: Any, options: ServeOptions) -> tuple[Any, Any]:
    """The FastAPI app serving the JSON API at ``/api/v1`` and the UI at ``/``; ``(app, blocks)``.

    Sets ``GRADIO_TEMP_DIR`` to ``gradio_cache_dir(data_dir)`` and turns analytics off for this
    process (the entry point is the only caller). Every route is behind ``app.ui.guard``. Audit
    entries are written in the background from now on (``ReidService.defer_audit``): the caller
    closes the service when serving ends.
    """
    data_dir = Path(service.data_dir).resolve()
    kwargs = mount_kwargs(data_dir, options, default_css_path())
    cache = gradio_cache_dir(data_dir)
    _make_private_dir(cache)
    if (data_dir / ".gradio").is_dir():
        logger.warning("%s is the upload cache of an older version (no longer served or used); "
                       "delete it to free the space", data_dir / ".gradio")
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Gradio's queue rebuilds its monitoring summary (a pandas table of the last 10,000 events)
    # after every event by default: 6.3 ms per search once a server has run 10,000 events (1.6 ms
    # at 700), on the event loop's time. Once every 1,000 events is enough for that page.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

    import gradio as gr
    from fastapi import FastAPI

    from app.ui.config import UiConfig
    from app.ui.layout import build_app
    from app.ui.rest import add_api
    from app.ui.tab_ingest import upload_space
    from reid.store.layout import GalleryLayout

    config = UiConfig(max_upload_bytes=options.max_upload_bytes,
                      archive_roots=tuple(Path(r).resolve() for r in options.archive_roots),
                      search_concurrency=options.search_concurrency)
    # One upload budget for the page's quotas and the guard (which checks an upload request's
    # size against it before Gradio stores a byte of it).
    space = upload_space(service, config)
    config = dataclasses.replace(config, upload_space=space)
    # Searches return without waiting for their audit commit; the caller's ``service.close()``
    # writes what is still queued.
    defer_audit = getattr(service, "defer_audit", None)
    if callable(defer_audit):
        defer_audit()
    # The first searches after a start find their rows in memory (galleries up to the cache's size).
    warm = getattr(service, "warm_search_cache", None)
    if callable(warm):
        threading.Thread(target=warm, name="reid-warm-search-cache", daemon=True).start()
    demo = build_app(LowPriorityIndexing(service, options.index_niceness), config)
    # Searches, renders and indexing each have their own concurrency group (see layout); the
    # default covers the light events (listing, status).
    # Queue positions are sent to every waiting page once a second, not after every event
    # (Gradio's "auto": with 20 pages waiting, 20 messages per search served).
    demo.queue(default_concurrency_limit=8, max_size=256, status_update_rate=1.0)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # The guard added below checks Host names first (including --allowed-host ones); the API's
    # own loopback check stays for a plain loopback server.
    add_api(app, service, auth=options.auth,
            loopback_only=is_loopback(options.host) and not options.allowed_hosts,
            search_threads=options.api_search_threads)
    # Thumbnails and crops are served from where they lie instead of being hashed and copied
    # into Gradio's cache on every search (that copy was two thirds of the event loop's time
    # under 20 searching clients). Gradio keeps this list per process, like GRADIO_TEMP_DIR above;
    # the files stay behind the same guard and allowed/blocked paths as before.
    gr.set_static_paths([GalleryLayout(data_dir).crops])
    app = gr.mount_gradio_app(app, demo, path="/", **kwargs)
    from starlette.routing import Mount

    from app.ui.guard import HttpGuard, LoginThrottle

    gradio_app = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "")
    throttle = LoginThrottle(free_failures=options.login_free_failures,
                             base_s=options.login_lockout_s, max_s=options.login_lockout_max_s)
    # Added last, so outermost: it sees every request first, before Gradio's own middleware.
    policy = dataclasses.replace(guard_policy(data_dir, options), upload_room=space.room_for)
    app.add_middleware(HttpGuard, policy=policy, throttle=throttle,
                       sessions=lambda: gradio_app)
    return app, demo


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(f"cannot serve on {host}:{port}: {exc.strerror or exc}. Is another "
                          "`reid serve` running? Pick another --port.") from None


def launch(service: Any, options: ServeOptions, *, block: bool = True) -> tuple[Any, str]:
    """Serve the UI and the JSON API for ``service``; returns ``(uvicorn server, local_url)``.

    ``block=True`` serves until interrupted (SIGINT/SIGTERM stop it cleanly); ``block=False``
    returns once the server accepts connections (stop it with ``server.should_exit = True``).
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Stop at once, as ``Blocks.launch`` did: open pages keep event streams (heartbeats)
            # that would otherwise hold a graceful stop until its timeout.
            blocks.close(verbose=False)
            super().handle_exit(sig, frame)
            self.force_exit = True

    _check_port_free(options.host, options.port)
    app, blocks = build_server_app(service, options)
    server = Server(uvicorn.Config(app, host=options.host.strip("[]"), port=options.port,
                                   log_level="warning", lifespan="on",
                                   # The client address is the TCP peer's: a client cannot pick
                                   # another one (login throttling) with X-Forwarded-For.
                                   proxy_headers=False,
                                   timeout_graceful_shutdown=5))
    host = f"[{options.host.strip('[]')}]" if ":" in options.host else options.host
    url = f"http://{host}:{options.port}/"
    if not options.quiet:
        logger.info("web UI on %s, JSON API on %sapi/v1", url, url)
    if block:
        server.run()
        return server, url
    thread = threading.Thread(target=server.run, name="reid-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on {url} did not start; see the log above")
        time.sleep(0.05)
    return server, url
