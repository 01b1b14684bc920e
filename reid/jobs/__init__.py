"""Indexing as jobs: the claim / heartbeat / run loop a worker runs over the gallery's job queue.

The queue itself (the ``index_jobs`` table and its atomic claim) is ``reid.store.JobQueue``;
:func:`run_worker` is the loop ``reid worker``, ``reid index`` and ``reid serve``'s worker process
run (and what a cluster worker can run too); :class:`QueuedIndexing` is ``reid serve``'s service,
whose indexing goes through the queue to a :class:`LocalWorkerProcess`. Names are imported on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.jobs.local import LocalWorkerProcess
    from reid.jobs.queued import QueuedIndexing
    from reid.jobs.worker import Indexer, WorkerSummary, run_worker, stop_on_sigterm

_WHERE = {
    "Indexer": "reid.jobs.worker",
    "LocalWorkerProcess": "reid.jobs.local",
    "QueuedIndexing": "reid.jobs.queued",
    "WorkerSummary": "reid.jobs.worker",
    "run_worker": "reid.jobs.worker",
    "stop_on_sigterm": "reid.jobs.worker",
}

__all__ = ["Indexer", "LocalWorkerProcess", "QueuedIndexing", "WorkerSummary", "run_worker",
           "stop_on_sigterm"]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
