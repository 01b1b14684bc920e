"""Run one native-code call at a time in a spawned child process, so that its crash is an exception.

Playback (``reid.service.render``) decodes the source videos again, seeking where indexing read
straight through; a decoder crash there must cost one clip, not ``reid serve``. The child lives
across calls (its start costs the imports), and a new one replaces it after a crash or a hang.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from reid.service._parent import exit_with_parent

logger = logging.getLogger(__name__)

T = TypeVar("T")


class IsolatedCallError(RuntimeError):
    """The child process died or hung during the call (a fresh one serves the next call)."""


class IsolatedCalls:
    """Calls of picklable module-level functions in one spawned child process.

    Args:
        name: what the calls do, for messages ("rendering playback").
        timeout_s: a call taking longer is abandoned and its child killed.
    """

    def __init__(self, name: str, timeout_s: float = 300.0) -> None:
        self.name = name
        self.timeout_s = float(timeout_s)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the child; its exceptions are re-raised here.

        Raises:
            IsolatedCallError: the child crashed (e.g. SIGSEGV in a decoder) or hung.
        """
        with self._lock:
            if self._pool is None:
                # the child ends with this process, even killed (SIGKILL) mid-call
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=exit_with_parent, initargs=(os.getpid(),))
            pool = self._pool
        future = pool.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=self.timeout_s)
        except BrokenProcessPool:
            self._discard(pool, kill=False)
            raise IsolatedCallError(f"{self.name} crashed in native code (the process doing it "
                                    "died); the server goes on") from None
        except concurrent.futures.TimeoutError:
            self._discard(pool, kill=True)
            raise IsolatedCallError(f"{self.name} took longer than {self.timeout_s:.0f} s and was "
                                    "stopped") from None

    def close(self) -> None:
        """Stop the child, if any."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _discard(self, pool: concurrent.futures.ProcessPoolExecutor, *, kill: bool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:
            # The executor has no public way to stop a running call: end its process.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        logger.warning("%s: the child process was replaced", self.name)
