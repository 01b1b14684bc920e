"""Launch the web UI safely: local binding by default, auth for anything else, files from the data dir.

Rules enforced here:
- binds 127.0.0.1 unless told otherwise; a non-loopback address needs ``auth`` unless the caller
  passes ``insecure_no_auth=True`` explicitly;
- never a share link, no analytics, no MCP server, no monitoring endpoint;
- Gradio's upload folder lives inside the data dir (``<data_dir>/.gradio``), and only the data
  dir's crops, clips and exports can be served; the database, vector index and uploaded
  originals are blocked;
- every upload is limited to ``max_upload_bytes`` by Gradio itself (HTTP 413) before any callback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ServeOptions", "check_bind", "gradio_cache_dir", "launch", "launch_kwargs",
           "parse_auth", "served_paths"]

# Files in the data dir that must never be served (the store's own files; see DESIGN.md layout).
_BLOCKED_NAMES = ("reid.db", "reid.db-wal", "reid.db-shm", "reid.db-journal", "vectors.faiss",
                  "vectors.json", "vectors.npy", "uploads", "settings.toml", "settings.yaml")


@dataclass(frozen=True)
class ServeOptions:
    """How to serve. ``auth`` is ``(user, password)``; ``max_upload_bytes`` is per file."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None
    insecure_no_auth: bool = False
    max_upload_bytes: int = 2 * 2**30
    archive_roots: tuple[Path, ...] = field(default_factory=tuple)
    search_concurrency: int = 4
    quiet: bool = False


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
    """Where Gradio keeps uploads and served copies: inside the data dir, never /tmp."""
    return Path(data_dir).resolve() / ".gradio"


def served_paths(data_dir: Path) -> tuple[list[str], list[str]]:
    """(allowed, blocked) absolute paths for Gradio: the data dir minus the store's own files."""
    root = Path(data_dir).resolve()
    return [str(root)], [str(root / name) for name in _BLOCKED_NAMES]


def launch_kwargs(data_dir: Path, options: ServeOptions, css_path: Path | None = None) -> dict:
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


def default_css_path() -> Path:
    """The shipped stylesheet, ``assets/ui.css`` at the repository root."""
    return Path(__file__).resolve().parents[2] / "assets" / "ui.css"


def launch(service: Any, options: ServeOptions, *, block: bool = True) -> tuple[Any, str]:
    """Build the page for ``service`` and serve it; returns ``(blocks, local_url)``.

    Sets ``GRADIO_TEMP_DIR`` to the data dir's ``.gradio`` folder and turns analytics off for this
    process (the entry point is the only caller). ``block=False`` returns once the server is up.
    """
    data_dir = Path(service.data_dir).resolve()
    kwargs = launch_kwargs(data_dir, options, default_css_path())
    cache = gradio_cache_dir(data_dir)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    from app.ui.layout import UiConfig, build_app

    config = UiConfig(max_upload_bytes=options.max_upload_bytes,
                      archive_roots=tuple(Path(r).resolve() for r in options.archive_roots),
                      search_concurrency=options.search_concurrency)
    demo = build_app(service, config)
    # Searches, renders and indexing each have their own concurrency group (see layout); the
    # default covers the light events (listing, status).
    demo.queue(default_concurrency_limit=8, max_size=256)
    _, url, _ = demo.launch(prevent_thread_lock=not block, **kwargs)
    return demo, url
