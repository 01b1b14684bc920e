"""``reid reindex``: re-embed the whole gallery with the current embedder."""

from __future__ import annotations

import argparse

from app.commands._common import build_service_from_args, progress_bar, say
from app.settings import add_settings_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("reindex", help="re-embed every tracklet with the current embedder (resumable)")
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = build_service_from_args(args)
    try:
        with progress_bar("re-embedding") as update:
            n = service.reindex(update, actor="cli")
    finally:
        service.close()
    say(f"re-embedded {n} tracklets with {service.embedder.name} ({service.embedder.dim}-d)")
    return 0
