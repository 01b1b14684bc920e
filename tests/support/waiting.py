"""Waiting on a condition instead of on time, for tests that drive processes (a test kit): poll
until it holds or a deadline passes; and the condition most of them wait for at the end, a
gallery whose write lock no process holds any more."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["lock_free", "wait_for"]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 300.0,
             poll_s: float = 0.1) -> T:
    """Call ``condition()`` every ``poll_s`` seconds until it returns a true value, and return
    that value.

    Raises:
        AssertionError: ``timed out after <timeout> s waiting for <what>`` once ``timeout``
            seconds have passed (``condition`` is called at least once).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll_s)


def lock_free(data_dir: Path) -> bool:
    """True when no process holds the write lock of the gallery in ``data_dir`` (its
    ``.write.lock``, created when missing): every indexing process is gone."""
    with (data_dir / ".write.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True
