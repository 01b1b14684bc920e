"""``reid models``: list the registered model architectures."""

from __future__ import annotations

import argparse

from app.commands._common import say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="list the model architectures")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reid.model import list_models

    for name in list_models():
        say(name)
    return 0
