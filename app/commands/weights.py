"""``reid weights list|fetch NAME|import-tfclip FILE``: which model weights are on this machine;
download them; convert an official TF-CLIP release file into our inference checkpoint."""

from __future__ import annotations

import argparse

from app.commands._common import say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("weights", help="list model weights and whether they are local; fetch them")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="the known weights and their local paths")
    fetch = sub.add_parser("fetch", help="download weights (needs network access; mirrors: "
                           "REID_WEIGHTS_MIRROR, REID_WEIGHTS_URL_<NAME>)")
    fetch.add_argument("names", nargs="+", help="weights names from `reid weights list`")
    fetch.add_argument("--sha256", help="expected SHA-256 of the download instead of the pinned one "
                       "(one name only; for a mirror serving another release)")
    imp = sub.add_parser("import-tfclip", help="convert an official TF-CLIP state dict (MARS, LS-VID, ...) "
                         "into an inference checkpoint for `reid index --checkpoint`")
    imp.add_argument("file", help="the official release file (.pth)")
    imp.add_argument("--out", required=True, help="inference checkpoint to write (.pt)")
    imp.add_argument("--name", help="a name recorded in the checkpoint (default: the file name)")
    imp.add_argument("--arch", default="tfclip-vit-b16", help="architecture (default tfclip-vit-b16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.weights import fetch_weights, weights_status

    if args.action == "import-tfclip":
        from reid.model.official import import_official_checkpoint

        path, report = import_official_checkpoint(args.file, args.out, arch=args.arch, name=args.name)
        say(f"wrote {path}: {report.mapped} tensors, {report.num_cameras} cameras, "
            f"{len(report.dropped)} training-only tensors dropped")
        return 0
    if args.action == "list":
        for s in weights_status():
            where = str(s.path) if s.available else "not on this machine (reid weights fetch " + s.name + ")"
            say(f"{s.name:<22} {s.used_for}\n{'':<22} from: {s.origin}\n{'':<22} local: {where}")
        return 0
    if args.sha256 and len(args.names) != 1:
        raise ValueError("--sha256 checks one download: give one weights name")
    for name in args.names:
        say(f"{name}: {fetch_weights(name, sha256=args.sha256)}")
    return 0
