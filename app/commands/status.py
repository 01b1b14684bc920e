"""``reid status``: what the gallery holds and which models are in use."""

from __future__ import annotations

import argparse

from app.commands._common import build_service_from_args, printable, say
from app.settings import add_settings_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("status", help="gallery size per camera, models in use, index type")
    add_settings_arguments(p, indexing=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = build_service_from_args(args)
    s = service.status()
    say(f"data dir:  {s.data_dir}")
    say(f"detector:  {s.detector}{'  (offline fallback)' if s.detector_fallback else ''}")
    say(f"embedder:  {s.embedder} [{s.embedder_kind}, {s.descriptor_dim}-d]"
          f"{'  (offline fallback)' if s.embedder_fallback else ''}")
    say(f"index:     {s.index_type}")
    fp = service.store.fingerprint
    if fp is not None:  # which model and weights made the stored descriptors
        say(f"built by:  {printable(str(fp.get('model')), max_chars=64)} "
            f"weights {printable(str(fp.get('weights')), max_chars=64)} ({fp.get('dim')}-d)")
    say(f"gallery:   {s.videos} videos, {s.tracklets} tracklets")
    for camera, n in sorted(s.tracklets_per_camera.items()):
        say(f"  {printable(camera, max_chars=64):<20} {n:>7} tracklets")
    failed = [v for v in service.list_videos() if v.status == "failed"]
    for v in failed:
        say(f"  failed video {v.id}: {printable(v.path)}: {printable(v.error)}")
    for note in s.notes:
        say(f"note: {printable(note)}")
    return 0
