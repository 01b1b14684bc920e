"""Audit entries written off the request path: a small background writer in front of the store.

A search must leave an audit entry, but committing it (a database transaction per search) on
the request thread makes every concurrent search wait for the database's single writer. The
server's service (``ReidService.defer_audit``) hands entries to an ``AuditWriter`` instead: one
thread writes them in arrival order, every entry queued so far on each wake-up; ``flush()``
returns once everything queued before it is written, and ``close()`` flushes and stops the
thread. An entry that cannot be written after a few tries is logged (ERROR, with its content),
never dropped silently.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.store import Store

logger = logging.getLogger(__name__)

__all__ = ["AuditWriter"]

_Entry = tuple[str, str, dict[str, Any]]


class AuditWriter:
    """Writes ``(actor, action, details)`` entries in one thread: what is queued at each wake-up
    in one transaction (``store.log_actions``), else one by one (``store.log_action``).

    Args:
        store: the gallery.
        tries: attempts per entry before it is logged as lost.
        retry_s: pause between attempts, seconds.
    """

    def __init__(self, store: Store, tries: int = 3, retry_s: float = 0.2) -> None:
        self.store = store
        self.tries = max(1, tries)
        self.retry_s = retry_s
        self._pending: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._queued = 0  # entries ever queued
        self._done = 0  # entries ever handled (written or reported lost)
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, actor: str, action: str, details: dict[str, Any] | None = None) -> None:
        """Queue one entry; returns at once. After ``close()`` the entry is written here, now."""
        entry = (actor, action, dict(details or {}))
        with self._cond:
            if not self._closed:
                self._pending.append(entry)
                self._queued += 1
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="reid-audit", daemon=True)
                    self._thread.start()
                self._cond.notify_all()
                return
        self._write(entry)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every entry queued before this call is handled; False on timeout."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread; later entries are written synchronously."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.error("audit writer: %d entries still unwritten after %.0f s",
                             len(self._pending), timeout)

    @property
    def pending(self) -> int:
        """Entries queued and not yet handled."""
        with self._cond:
            return self._queued - self._done

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                batch = list(self._pending)
                self._pending.clear()
                if not batch and self._closed:
                    return
            self._write_batch(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _write_batch(self, batch: list[_Entry]) -> None:
        """Write ``batch`` in one transaction (one try); when that fails, entry by entry with
        retries, so that one entry the database refuses costs only itself."""
        if len(batch) > 1:
            try:
                self.store.log_actions(batch)
                return
            except Exception as exc:
                logger.debug("audit batch of %d not written (%s); writing one by one",
                             len(batch), exc)
        for entry in batch:
            self._write(entry)

    def _write(self, entry: _Entry) -> None:
        actor, action, details = entry
        for attempt in range(1, self.tries + 1):
            try:
                self.store.log_action(actor, action, details)
                return
            except Exception as exc:  # e.g. the database locked by another writer for too long
                if attempt == self.tries:
                    logger.error("audit entry NOT recorded (%s: %s): %s %s %s", type(exc).__name__,
                                 exc, actor, action, json.dumps(details, default=str)[:1000])
                    return
                time.sleep(self.retry_s * attempt)
