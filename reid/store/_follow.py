"""A vector index built from the database's descriptors and kept up with it by id watermark.

This is the index of a search server that shares a catalogue (PostgreSQL) with other servers and
with indexing workers on other machines: it reads no index file and writes none. It is built from
the descriptors in the database the first time it is needed, then each ``refresh`` reads only the
rows above its watermark (the highest tracklet id it holds), through the primary key.

That is correct because of two rules every writer of the gallery follows (``_version``):

- **appends commit in id order**: a transaction that adds tracklets first locks the gallery's
  ``vectors_version`` row (``SELECT ... FOR UPDATE``; SQLite serialises writers anyway), then
  takes its ids; so when a follower sees id ``n`` committed, every id below ``n`` that will ever
  be committed is committed already, and rows above the watermark are all it can have missed;
- **any other change of descriptors bumps the version** (deleting a video, clearing damaged
  descriptors, re-indexing): a follower that finds a new version compares the ids it holds with
  the database's, removes what is gone, fetches what it lacks, and takes the database's highest
  id as its new watermark (ids freed by a deletion may be given again).
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from reid.store._descriptors import DescriptorReader, compare_ids
from reid.store._records import RepairReport
from reid.store.index import IndexConfig, VectorIndex

logger = logging.getLogger(__name__)

__all__ = ["DatabaseFollower"]


class DatabaseFollower:
    """The in-memory index of a process that follows the database (see the module docstring).

    Args:
        config: how the index is built.
        min_interval_s: a search refreshes at most this often (a write of this process, or
            ``mark_stale``, makes the next search refresh at once).
    """

    def __init__(self, config: IndexConfig, min_interval_s: float = 0.5) -> None:
        self.config = config
        self.min_interval_s = min_interval_s
        self.index: VectorIndex | None = None
        self.watermark = 0
        self._version: int | None = None
        self._fingerprint: str | None = None
        self._last = -float("inf")
        self._stale = True

    @property
    def state(self) -> tuple[int, int]:
        """``(version, watermark)`` as of the last refresh: changes when the index did."""
        return (-1 if self._version is None else self._version), self.watermark

    def mark_stale(self) -> None:
        """Refresh before the next search, whatever the interval (this process wrote)."""
        self._stale = True

    def due(self) -> bool:
        """True when the next search should refresh first."""
        return self._stale or time.monotonic() - self._last >= self.min_interval_s

    def refresh(self, fingerprint: dict[str, Any] | None, version: int, reader: DescriptorReader,
                apply: AbstractContextManager[Any] | None = None) -> RepairReport:
        """Bring the index up to the database's descriptors.

        The database is read without ``apply`` held; only the changes to the index are made
        under it (searches hold it while they search, so a refresh that reads 10^6 ids or builds
        a new index does not keep them waiting). One refresh at a time (the caller's job).

        Args:
            fingerprint: the gallery's embedder fingerprint (None: no descriptors yet).
            version: the gallery's ``vectors_version`` (``_version.read_version``).
            reader: the gallery's descriptors.
            apply: held while the index is changed (default: nothing).

        Returns:
            What changed (``added``, ``removed``, ``rebuilt``, ``actions``).
        """
        apply = nullcontext() if apply is None else apply
        report = RepairReport()
        fp_text = None if fingerprint is None else repr(sorted(fingerprint.items()))
        self._stale, self._last = False, time.monotonic()
        if fingerprint is None:
            with apply:
                self.index, self.watermark, self._version, self._fingerprint = None, 0, version, None
            return report
        if self.index is None or fp_text != self._fingerprint:
            self._rebuild(int(fingerprint["dim"]), reader, report, apply)
        elif version != self._version:
            self._reconcile(reader, report, apply)
        else:
            self._append(reader, report, apply)
        self._version, self._fingerprint = version, fp_text
        if report.changed:
            logger.info("vector index followed the database: %s", "; ".join(report.actions))
        return report

    def _rebuild(self, dim: int, reader: DescriptorReader, report: RepairReport,
                 apply: AbstractContextManager[Any]) -> None:
        db_ids = reader.ids()
        index = VectorIndex(dim, self.config)  # searches keep the old one meanwhile
        for ids, vectors in reader.chunks(db_ids):
            index.add(ids, vectors)
            report.added += len(ids)
        with apply:
            self.index, self.watermark = index, int(db_ids.max()) if db_ids.size else 0
        report.rebuilt = True
        report.actions.append(f"built the index from {report.added} database descriptors")

    def _reconcile(self, reader: DescriptorReader, report: RepairReport,
                   apply: AbstractContextManager[Any]) -> None:
        assert self.index is not None
        db_ids = reader.ids()
        have = self.index.ids()  # only refreshes change the index, one at a time
        extra, missing = compare_ids(have, db_ids)
        fetched = list(reader.chunks(missing))
        with apply:
            if extra.size:
                report.removed = self.index.remove(extra)
            for ids, vectors in fetched:
                self.index.add(ids, vectors)
                report.added += len(ids)
            self.watermark = int(db_ids.max()) if db_ids.size else 0
        if extra.size:
            report.actions.append(f"removed {extra.size} ids the database no longer has")
        if missing.size:
            report.actions.append(f"added {report.added} database descriptors")

    def _append(self, reader: DescriptorReader, report: RepairReport,
                apply: AbstractContextManager[Any]) -> None:
        assert self.index is not None
        for ids, vectors in reader.chunks_above(self.watermark):
            with apply:
                self.index.add(ids, vectors)
                self.watermark = max(self.watermark, int(ids.max()))
            report.added += len(ids)
        if report.added:
            report.actions.append(f"added {report.added} new database descriptors")
