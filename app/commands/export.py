"""``reid export``: turn a training checkpoint into the inference checkpoint the app embeds with."""

from __future__ import annotations

import argparse

from app.commands._common import say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export", help="write the inference checkpoint of a training checkpoint")
    parser.add_argument("--checkpoint", required=True, help="training checkpoint (best.pt/last.pt)")
    parser.add_argument("--out", required=True, help="inference checkpoint to write (.pt)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training import export_inference

    path = export_inference(args.checkpoint, args.out)
    say(f"wrote {path}")
    return 0
