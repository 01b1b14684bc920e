"""The ``reid`` console script: a thin argparse front that wires subcommands.

Each subcommand lives in its own module under ``app/commands/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the parsed
``argparse.Namespace`` and returning an exit code. ``main`` only wires; the work is done by the
packages the command calls.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app import __version__

logger = logging.getLogger(__name__)

# Modules under app/commands, in the order their subcommands appear in `reid --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "models",
    "track",
    "train", "eval", "export",
)


class UserError(Exception):
    """An error caused by the user's input; printed as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="reid", description="Video person re-identification across cameras (TF-CLIP)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"app.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``reid`` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, ValueError) as exc:
        if args.verbose:
            logger.exception("command failed")
        print(f"reid {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
