"""``reid videos``: the indexed videos with their ids, cameras and status.

Read from the gallery alone (``reid.store``): no model is built, so no torch is loaded.
"""

from __future__ import annotations

import argparse

from app.commands._common import format_seconds, open_store, printable, say
from app.settings import Settings, add_settings_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("videos", help="list indexed videos (ids for `reid delete`)")
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_store(Settings.from_sources(args)) as store:
        videos = store.list_videos()
        counts = store.stats()["tracklets_per_video"] if videos else {}
        data_dir = store.data_dir
    if not videos:
        say(f"no videos in {data_dir}")
        return 0
    say(f"{'id':>5}  {'camera':<16}{'status':<10}{'length':>9}{'tracklets':>10}  path")
    for v in videos:
        n = counts.get(v.id, 0)
        length = format_seconds(v.duration_s) if v.duration_s else "-"
        say(f"{v.id:>5}  {printable(v.camera, max_chars=64):<16}{v.status:<10}{length:>9}{n:>10}  "
            f"{printable(v.path)}"
            + (f"\n{'':>7}error: {printable(v.error)}" if v.error else ""))
    return 0
