"""Persistent gallery: SQLAlchemy metadata (the source of truth) plus a FAISS vector index.

``Store(data_dir)`` is the entry point; FAISS ids are tracklet primary keys.
"""

from reid.store._codec import sha256_file
from reid.store._db import SchemaMismatchError
from reid.store._errors import GalleryError
from reid.store._index import IndexConfig, IndexFileError, VectorIndex
from reid.store._models import SCHEMA_VERSION, VideoStatus
from reid.store._records import AuditEntry, RepairReport, TrackletInfo, TrackletRecord, VideoInfo
from reid.store._store import DuplicateVideoError, FingerprintMismatchError, Store
from reid.store._sync import configured_index_kind

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "DuplicateVideoError",
    "FingerprintMismatchError",
    "GalleryError",
    "IndexConfig",
    "IndexFileError",
    "RepairReport",
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
