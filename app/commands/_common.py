"""What ``app.cli`` and the subcommands share: the user-error type, building the service, progress,
parsing times, and writing to the terminal. Light on purpose: ``reid --help`` imports it.

Everything a command writes passes through ``say`` (or ``printable`` for one field): camera,
folder and file names, start times and error texts are user-supplied and may hold control
characters, ANSI escapes or bidi overrides that would rewrite or disguise the terminal output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from reid.untrusted import printable

if TYPE_CHECKING:
    from app.settings import Settings
    from reid.service import ReidService
    from reid.store import Store

__all__ = ["SafeLogFormatter", "UserError", "build_service_from_args", "format_seconds", "parse_time",
           "open_store", "printable", "progress_bar", "say"]


class UserError(Exception):
    """An error caused by the user's input; printed as one line, without a traceback."""


def say(*parts: Any, sep: str = " ", file: TextIO | None = None) -> None:
    """``print`` for command output: control characters, ANSI escapes and bidi overrides are
    removed (line breaks between ``parts`` or inside them are kept; use ``printable`` on a user
    field that must stay on one line)."""
    print(printable(sep.join(str(p) for p in parts), keep_newlines=True),
          file=file if file is not None else sys.stdout)


class SafeLogFormatter(logging.Formatter):
    """A log formatter that strips control characters from every record: the message stays on
    one line; a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return printable(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return printable(super().formatStack(stack_info), keep_newlines=True)


def build_service_from_args(args: argparse.Namespace) -> ReidService:
    """The composition root, with settings from the environment and these arguments."""
    from app.compose import build_service
    from app.settings import Settings

    return build_service(Settings.from_sources(args))


def open_store(settings: Settings) -> Store:
    """The gallery of ``settings`` (an ``app.settings.Settings``), opened as the composition root
    opens it (the index kind: ``--index``, else the gallery's own, else flat) but without building
    any model: for the commands that only read the gallery (``reid status``, ``reid videos``).
    Returns a ``reid.store.Store``; close it (``with``)."""
    from reid.store import IndexConfig, Store, configured_index_kind

    kind = settings.index or configured_index_kind(settings.data_dir) or "flat"
    store = Store.open(settings.data_dir, db_url=settings.db_url, index_config=IndexConfig.for_kind(kind),
                       index_source=settings.resolved_index_source)
    if store.repair_report.changed:
        logging.getLogger(__name__).warning("vector index repaired on open: %s",
                                            "; ".join(store.repair_report.actions))
    return store


@contextmanager
def progress_bar(desc: str, min_interval_s: float = 0.5) -> Iterator[Callable[[float, str], None]]:
    """A tqdm bar driven by ``progress(fraction, message)`` callbacks, redrawn at most every
    ``min_interval_s`` seconds (and at 100%), so logs of non-interactive runs stay short."""
    from tqdm import tqdm  # only commands that show progress pay for it, not `reid --help`

    bar = tqdm(total=100, desc=printable(desc, max_chars=60),
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}")
    last = [0.0]

    def update(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < min_interval_s:
            return
        last[0] = now
        bar.n = round(100 * max(0.0, min(1.0, fraction)), 1)
        bar.set_postfix_str(printable(message)[-60:], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def parse_time(text: str | None) -> dt.datetime | None:
    """ISO 8601 (``2026-11-27T08:30:00``, ``...+01:00``); naive times are taken as UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {printable(repr(text), max_chars=60)} "
                         "(e.g. 2026-11-27T08:30:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_seconds(seconds: float) -> str:
    minutes, sec = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):d}:{sec:05.2f}"
