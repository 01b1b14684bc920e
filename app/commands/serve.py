"""``reid serve``: the web UI on http://127.0.0.1:7860 (local only unless told, with a login, otherwise)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from app.commands._common import UserError
from app.settings import Settings, add_settings_arguments

if TYPE_CHECKING:
    from app.ui.serving import ServeOptions
    from reid.jobs.queued import QueuedIndexing
    from reid.service import ReidService

logger = logging.getLogger(__name__)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The serving options shared by ``reid serve`` and ``reid demo``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only); any other "
                        "address needs --auth")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--auth", default=None,
                        help="USER:PASSWORD required to log in (or set $REID_AUTH, which keeps it "
                        "out of the process list)")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="allow a non-local --host WITHOUT a login (anyone on the network can "
                        "search the footage)")
    parser.add_argument("--max-upload-mb", type=float, default=2048.0,
                        help="largest accepted upload, per file, in MB (default 2048)")
    parser.add_argument("--archive-root", action="append", default=None, metavar="DIR",
                        help="server folder the UI may index (repeatable; default: the current "
                        "directory)")
    parser.add_argument("--search-concurrency", type=int, default=4,
                        help="searches the UI runs at once (default 4); indexing runs one job "
                        "at a time beside them")
    parser.add_argument("--api-search-threads", type=int, default=1,
                        help="searches the JSON API runs at once (default 1: searches hold "
                        "Python's GIL, and one thread answered concurrent clients fastest)")
    parser.add_argument("--index-niceness", type=int, default=10, choices=range(0, 20),
                        metavar="0..19", help="lower CPU priority of the UI's indexing jobs so "
                        "that searches stay fast meanwhile (default 10; 0 = same priority)")
    parser.add_argument("--allowed-host", action="append", default=None, metavar="NAME",
                        help="another host name the server answers to (repeatable), e.g. its LAN "
                        "name or the public name of a reverse proxy in front of it; '*' = any "
                        "(default: localhost, 127.0.0.1, [::1], the --host address, and with a "
                        "wildcard --host also this machine's name and any IP address)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="serve the web UI (this machine only by default)")
    add_settings_arguments(parser, indexing=True)
    add_serve_arguments(parser)
    parser.set_defaults(func=run)


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """Validated serving options from ``args``; raises ``UserError`` naming the fix."""
    from app.ui.serving import ServeOptions, check_bind, parse_auth

    try:
        auth = parse_auth(args.auth or os.environ.get("REID_AUTH"))
        check_bind(args.host, auth, args.insecure_no_auth)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.search_concurrency < 1:
        raise UserError(f"--search-concurrency must be >= 1, got {args.search_concurrency}")
    if args.api_search_threads < 1:
        raise UserError(f"--api-search-threads must be >= 1, got {args.api_search_threads}")
    hosts = [h.strip() for h in (getattr(args, "allowed_host", None) or []) if h.strip()]
    bad = [h for h in hosts if h != "*" and (len(h) > 253 or any(c in h for c in "/@ \t"))]
    if bad:
        raise UserError(f"--allowed-host takes a host name or IP address, got {bad[0][:80]!r}")
    roots = tuple(Path(r).expanduser().resolve() for r in (args.archive_root or [os.getcwd()]))
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise UserError(f"--archive-root: no such folder: {', '.join(missing)}")
    return ServeOptions(host=args.host, port=args.port, auth=auth,
                        insecure_no_auth=args.insecure_no_auth,
                        max_upload_bytes=int(args.max_upload_mb * 2**20), archive_roots=roots,
                        search_concurrency=args.search_concurrency,
                        api_search_threads=args.api_search_threads,
                        index_niceness=args.index_niceness,
                        allowed_hosts=tuple(hosts))


def serve_service(service: ReidService, options: ServeOptions) -> int:
    """Serve ``service`` (web UI at ``/``, JSON API at ``/api/v1``) until interrupted.

    The UI's indexing actions enqueue jobs in the gallery's queue (``reid.jobs.QueuedIndexing``);
    one local worker process runs them (started by ``LowPriorityIndexing``, at the
    ``--index-niceness`` priority), and so can any ``reid worker`` on the same gallery. The worker
    is stopped when serving ends (its job, if any, goes back to the queue)."""
    from app.ui.serving import launch
    from reid.jobs.queued import QueuedIndexing

    served: ReidService | QueuedIndexing = service
    if getattr(service, "worker_factory", None) is not None:
        served = QueuedIndexing(service)
    where = f"http://{options.host}:{options.port}"
    logger.info("serving the gallery in %s on %s (JSON API under %s/api/v1)%s", served.data_dir,
                where, where, " (login required)" if options.auth else "")
    try:
        launch(served, options, block=True)
    except OSError as exc:
        raise UserError(str(exc)) from None
    finally:
        served.close()
    return 0


def run(args: argparse.Namespace) -> int:
    options = serve_options(args)  # refuse a bad bind before importing, let alone loading, any model
    from app.compose import build_service  # torch, FAISS, OpenCV: only once the options are good

    service = build_service(Settings.from_sources(args))
    return serve_service(service, options)
