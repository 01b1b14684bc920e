"""``reid delete VIDEO_ID...``: remove videos with their tracklets, vectors and crops, their clips
and exports, the uploaded original (not a file indexed from a server folder) and every copy of
those files in the web UI's upload cache."""

from __future__ import annotations

import argparse

from app.commands._common import build_service_from_args, printable, say
from app.settings import add_settings_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("delete", help="delete videos (ids from `reid videos`)")
    p.add_argument("video_ids", nargs="+", type=int)
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = build_service_from_args(args)
    known = {v.id: v for v in service.list_videos()}
    missing = [v for v in args.video_ids if v not in known]
    if missing:
        raise ValueError(f"no video with id {', '.join(map(str, missing))}; known ids: "
                         f"{', '.join(map(str, sorted(known))) or 'none'}")
    from app.ui.serving import gradio_cache_dir  # no gradio import: only where its cache lives

    # The web UI's upload cache may hold copies of the video, its thumbnails and clips.
    cache = gradio_cache_dir(service.data_dir)
    for vid in args.video_ids:
        n = service.delete_video(vid, actor="cli", cache_dirs=[cache])
        say(f"deleted video {vid} ({printable(known[vid].path)}): {n} tracklets")
    return 0
