"""``reid videos``: the indexed videos with their ids, cameras and status."""

from __future__ import annotations

import argparse

from app.commands._common import build_service_from_args, format_seconds, printable, say
from app.settings import add_settings_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("videos", help="list indexed videos (ids for `reid delete`)")
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = build_service_from_args(args)
    videos = service.list_videos()
    if not videos:
        say(f"no videos in {service.data_dir}")
        return 0
    counts = service.store.stats()["tracklets_per_video"]
    say(f"{'id':>5}  {'camera':<16}{'status':<10}{'length':>9}{'tracklets':>10}  path")
    for v in videos:
        n = counts.get(v.id, 0)
        length = format_seconds(v.duration_s) if v.duration_s else "-"
        say(f"{v.id:>5}  {printable(v.camera, max_chars=64):<16}{v.status:<10}{length:>9}{n:>10}  "
            f"{printable(v.path)}"
            + (f"\n{'':>7}error: {printable(v.error)}" if v.error else ""))
    return 0
