"""Helpers shared by the gallery subcommands: build the service, show progress, parse times."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


def build_service_from_args(args: argparse.Namespace):
    """The composition root, with settings from the environment and these arguments."""
    from app.compose import build_service
    from app.settings import Settings

    return build_service(Settings.from_sources(args))


@contextmanager
def progress_bar(desc: str, min_interval_s: float = 0.5) -> Iterator:
    """A tqdm bar driven by ``progress(fraction, message)`` callbacks, redrawn at most every
    ``min_interval_s`` seconds (and at 100%), so logs of non-interactive runs stay short."""
    bar = tqdm(total=100, desc=desc, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}")
    last = [0.0]

    def update(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < min_interval_s:
            return
        last[0] = now
        bar.n = round(100 * max(0.0, min(1.0, fraction)), 1)
        bar.set_postfix_str(message[-60:], refresh=False)
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
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-27T08:30:00)") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_seconds(seconds: float) -> str:
    minutes, sec = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):d}:{sec:05.2f}"
