"""``reid search``: where else does this person appear?"""

from __future__ import annotations

import argparse
import sys

from app.commands._common import (
    UserError,
    build_service_from_args,
    format_seconds,
    parse_time,
    printable,
    say,
)
from app.settings import add_settings_arguments
from reid.service.names import EXPORT_FORMATS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("search", help="find a person across cameras (by tracklet id or image)")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--tracklet", type=int, help="id of a stored tracklet (see `reid status`)")
    query.add_argument("--image", nargs="+", help="one or more photos of the person (cropped)")
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--cameras", nargs="+", help="only these cameras")
    p.add_argument("--from", dest="time_from", help="window start, ISO 8601")
    p.add_argument("--to", dest="time_to", help="window end, ISO 8601")
    p.add_argument("--min-duration", type=float, default=0.0, help="minimum tracklet seconds")
    p.add_argument("--exclude-same-camera", action="store_true")
    p.add_argument("--exclude-same-video", action="store_true")
    p.add_argument("--threshold", type=float, help="minimum cosine score")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    p.add_argument("--query-expansion", action="store_true")
    p.add_argument("--export", choices=EXPORT_FORMATS, help="also export the matches")
    p.add_argument("--json", action="store_true",
                   help="print the search as JSON (the shape of the HTTP API and the exports)")
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.service import SearchRequest

    images = None
    if args.image:
        from reid.service.photos import PhotoRejectedError, load_photo

        images = []
        for path in args.image:
            try:  # size, format and pixel count checked before decoding (no decompression bomb)
                images.append(load_photo(path))
            except PhotoRejectedError as exc:
                raise UserError(f"{printable(path, max_chars=200)}: {exc}") from None
    request = SearchRequest(
        tracklet_id=args.tracklet, images=images, top_k=args.top_k, cameras=args.cameras,
        time_from=parse_time(args.time_from), time_to=parse_time(args.time_to),
        min_duration_s=args.min_duration, exclude_same_video=args.exclude_same_video,
        exclude_same_camera=args.exclude_same_camera, score_threshold=args.threshold,
        rerank=args.rerank, query_expansion=args.query_expansion,
    )
    service = build_service_from_args(args)
    response = service.search(request, actor="cli")
    if args.json:  # ASCII-escaped JSON: control characters in names cannot reach the terminal
        import json

        from reid.service.serialize import response_fields

        print(json.dumps(response_fields(response), indent=2))
        if args.export:
            say(f"exported: {service.export(response, args.export, actor='cli')}", file=sys.stderr)
        return 0
    say(f"{len(response.matches)} matches in {response.elapsed_s * 1000:.0f} ms"
          + (f" ({', '.join(response.notes)})" if response.notes else ""))
    for camera, matches in response.by_camera.items():
        say(f"camera {printable(camera, max_chars=64)}:")
        for m in matches:
            t = m.tracklet
            when = t.start_time.isoformat(timespec="seconds") if t.start_time else format_seconds(t.start_s)
            say(f"  #{m.rank:<3} score {m.score:.3f}  tracklet {t.id:<6} at {when} "
                  f"for {t.duration_s:.1f}s  {t.thumbnail_path or ''}")
    if args.export:
        say(f"exported: {service.export(response, args.export, actor='cli')}")
    return 0
