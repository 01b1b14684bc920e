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
from app.commands._common import SafeLogFormatter, UserError, printable

__all__ = ["COMMAND_MODULES", "UserError", "build_parser", "configure_logging", "main"]

logger = logging.getLogger(__name__)

# Modules under app/commands, in the order their subcommands appear in `reid --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "models",
    "index", "worker", "search", "status", "videos", "reindex", "adapt", "delete", "weights",
    "track",
    "serve", "demo",
    "train", "eval", "export",
)


OUR_PACKAGES = ("app", "reid", "tracking", "training")


def configure_logging(verbose: bool) -> None:
    """Our packages log at INFO (DEBUG with -v); third-party libraries only warnings."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout):
            # log lines quote user text: no control characters
            handler.setFormatter(SafeLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in OUR_PACKAGES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


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
    configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure becomes one line; -v shows the traceback
        if args.verbose:
            logger.exception("command failed")
        user_facing = isinstance(exc, UserError) or getattr(exc, "user_facing", False)  # GalleryError
        hint = "" if user_facing or args.verbose else " (run with -v for details)"
        print(f"reid {args.command}: error: {printable(exc, max_chars=2000)}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
