"""Persistent gallery: SQLAlchemy metadata (the source of truth) plus a FAISS vector index.

``Store.open(data_dir)`` is the entry point; FAISS ids are tracklet primary keys; ``GalleryLayout``
names every file of a data dir.

The names below are imported on first use, so ``import reid.store`` (and ``reid.store.layout``)
loads neither FAISS nor SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.files import sha256_file
    from reid.store._db import SchemaMismatchError
    from reid.store._errors import GalleryError
    from reid.store._jobs import JobInfo, JobQueue, JobState
    from reid.store._models import SCHEMA_VERSION, VideoStatus
    from reid.store._records import (
        AuditEntry,
        RepairReport,
        TrackletInfo,
        TrackletRecord,
        VideoInfo,
    )
    from reid.store._store import DuplicateVideoError, FingerprintMismatchError, Store
    from reid.store._sync import configured_index_kind
    from reid.store.index import IndexConfig, IndexFileError, VectorIndex
    from reid.store.layout import GalleryLayout

_WHERE = {
    "SCHEMA_VERSION": "reid.store._models",
    "AuditEntry": "reid.store._records",
    "DuplicateVideoError": "reid.store._store",
    "FingerprintMismatchError": "reid.store._store",
    "GalleryError": "reid.store._errors",
    "GalleryLayout": "reid.store.layout",
    "IndexConfig": "reid.store.index",
    "IndexFileError": "reid.store.index",
    "JobInfo": "reid.store._jobs",
    "JobQueue": "reid.store._jobs",
    "JobState": "reid.store._jobs",
    "RepairReport": "reid.store._records",
    "SchemaMismatchError": "reid.store._db",
    "Store": "reid.store._store",
    "TrackletInfo": "reid.store._records",
    "TrackletRecord": "reid.store._records",
    "VectorIndex": "reid.store.index",
    "VideoInfo": "reid.store._records",
    "VideoStatus": "reid.store._models",
    "configured_index_kind": "reid.store._sync",
    "sha256_file": "reid.files",
}

__all__ = [
    "AuditEntry",
    "DuplicateVideoError",
    "FingerprintMismatchError",
    "GalleryError",
    "GalleryLayout",
    "IndexConfig",
    "IndexFileError",
    "JobInfo",
    "JobQueue",
    "JobState",
    "RepairReport",
    "SCHEMA_VERSION",
    "SchemaMismatchError",
    "Store",
    "TrackletInfo",
    "TrackletRecord",
    "VectorIndex",
    "VideoInfo",
    "VideoStatus",
    "configured_index_kind",
    "sha256_file",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
