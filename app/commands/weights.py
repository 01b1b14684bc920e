"""``reid weights list|fetch NAME``: which model weights are on this machine; download them."""

from __future__ import annotations

import argparse

from app.commands._common import say


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("weights", help="list model weights and whether they are local; fetch them")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="the known weights and their local paths")
    fetch = sub.add_parser("fetch", help="download weights (needs network access)")
    fetch.add_argument("names", nargs="+", help="weights names from `reid weights list`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.weights import fetch_weights, weights_status

    if args.action == "list":
        for s in weights_status():
            where = str(s.path) if s.available else "not on this machine (reid weights fetch " + s.name + ")"
            say(f"{s.name:<22} {s.used_for}\n{'':<22} from: {s.origin}\n{'':<22} local: {where}")
        return 0
    for name in args.names:
        say(f"{name}: {fetch_weights(name)}")
    return 0
