"""Bringing the derived vector index in line with the database (the source of truth)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from reid.files import atomic_write_bytes, sha256_file
from reid.store._records import RepairReport
from reid.store.index import IndexConfig, IndexFileError, VectorIndex
from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["read_index_meta", "sync_index", "write_index_files"]

_MAX_META_BYTES = 1 << 20  # vectors.json is a few hundred bytes
# Rebuild from scratch rather than patch when more than this share of the ids differ.
_REBUILD_SHARE = 0.5


def read_index_meta(path: Path) -> dict[str, Any] | None:
    """``vectors.json`` as a dict, or None when missing or unreadable."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size > _MAX_META_BYTES:  # no FIFO, no giant
            return None
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def configured_index_kind(data_dir: str | Path) -> str | None:
    """The index kind a gallery was configured with (from its ``vectors.json``), or None."""
    meta = read_index_meta(GalleryLayout(Path(data_dir)).index_meta)
    kind = meta.get("configured_kind") if meta else None
    return kind if isinstance(kind, str) else None


def write_index_files(index: VectorIndex, fingerprint: dict[str, Any] | None, index_path: Path,
                      meta_path: Path, gallery_id: str | None = None) -> None:
    """Save ``vectors.faiss`` and then ``vectors.json``, both atomically.

    ``vectors.json`` records the fingerprint, dimension, count, kinds, the gallery id and the
    index file's size and sha256, so that a damaged or foreign index file is rebuilt on loading.
    """
    digest = index.save(index_path)
    meta = {"fingerprint": fingerprint, "dim": index.dim, "count": index.ntotal,
            "kind": index.kind, "configured_kind": index.config.kind, "sha256": digest,
            "size": Path(index_path).stat().st_size, "gallery_id": gallery_id}
    atomic_write_bytes(meta_path, [json.dumps(meta, indent=2, sort_keys=True).encode()])


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _checksum_problem(index_path: Path, meta: dict[str, Any]) -> str | None:
    """Why ``index_path`` does not match the size and sha256 in ``meta`` (None: it matches). The
    size is compared first; the hash streams the file. An index without a recorded checksum
    (an older version's, or an edited ``vectors.json``) cannot be trusted either."""
    want = meta.get("sha256")
    if not isinstance(want, str):
        return f"{index_path.name} has no checksum in vectors.json"
    size = index_path.stat().st_size
    if meta.get("size") is not None and meta.get("size") != size:
        return f"{index_path.name} has {size} bytes, vectors.json recorded {meta.get('size')}"
    if sha256_file(index_path) != want:
        return f"{index_path.name} does not match the checksum recorded in vectors.json"
    return None


def _load_or_none(index_path: Path, meta_path: Path, fingerprint: dict[str, Any], config: IndexConfig,
                  report: RepairReport, gallery_id: str | None = None) -> VectorIndex | None:
    meta = read_index_meta(meta_path)
    if not index_path.is_file():
        report.actions.append(f"{index_path.name} is missing (or not a file)")
        return None
    if meta is None:
        report.actions.append(f"{meta_path.name} is missing or unreadable")
        return None
    if meta.get("fingerprint") != fingerprint:
        report.actions.append(f"{meta_path.name} records another embedder fingerprint than the DB")
        return None
    if gallery_id is not None and meta.get("gallery_id") not in (None, gallery_id):
        report.actions.append(f"{meta_path.name} belongs to another gallery than the database")
        return None
    try:
        before = _identity(index_path)
        problem = _checksum_problem(index_path, meta)
        if problem is not None:
            report.actions.append(problem)
            return None
        # verified first, so FAISS never parses damaged bytes; the same file (a writer replaces
        # it by renaming a new one over it) is then loaded without hashing it again
        index = VectorIndex.load(index_path, config, digest=False)
        if _identity(index_path) != before:
            report.actions.append(f"{index_path.name} changed while it was read")
            return None
        index.file_sha256 = meta["sha256"]
    except OSError as exc:
        report.actions.append(f"cannot read {index_path.name}: {exc}")
        return None
    except IndexFileError as exc:
        report.actions.append(str(exc))
        return None
    if index.dim != int(fingerprint["dim"]):
        report.actions.append(f"index dimension {index.dim} != fingerprint dim {fingerprint['dim']}")
        return None
    if meta.get("count") != index.ntotal:
        report.actions.append(
            f"{meta_path.name} count {meta.get('count')} != index count {index.ntotal}")
    return index


def sync_index(
    index_path: Path,
    meta_path: Path,
    fingerprint: dict[str, Any] | None,
    config: IndexConfig,
    db_ids: np.ndarray,
    fetch: Callable[[np.ndarray], Iterator[tuple[np.ndarray, np.ndarray]]],
    gallery_id: str | None = None,
    writable: bool = True,
) -> tuple[VectorIndex | None, RepairReport]:
    """Load the vector index and repair it against the database.

    Args:
        index_path: ``vectors.faiss``.
        meta_path: ``vectors.json``.
        fingerprint: the embedder fingerprint recorded in the database (None: no descriptors yet).
        config: index configuration.
        db_ids: ``(N,)`` ids of tracklets that have a descriptor in the database.
        fetch: yields ``(ids, vectors (n, D))`` chunks from the database for the given ids.
        gallery_id: the database's gallery id; an index recorded for another gallery is rebuilt.
        writable: save a repaired index (False: repair in memory only, for a read-only gallery).

    Returns:
        ``(index, report)``; the index is None only when the database has no fingerprint.
    """
    report = RepairReport()
    if fingerprint is None:
        return None, report
    for _attempt in range(3):  # a writer may be replacing the files as we read: read again
        meta_before, attempt = read_index_meta(meta_path), RepairReport()
        index = _load_or_none(index_path, meta_path, fingerprint, config, attempt, gallery_id)
        if index is not None or read_index_meta(meta_path) == meta_before:
            break
    report.actions += attempt.actions
    db_ids = np.asarray(db_ids, dtype=np.int64)
    if index is not None:
        have = index.ids()
        report.max_index_id = int(have.max()) if have.size else 0
        missing, extra = np.setdiff1d(db_ids, have), np.setdiff1d(have, db_ids)
        if index.kind != config.target_kind(len(db_ids)):
            report.actions.append(f"index kind {index.kind!r} does not match the configuration")
            index = None
        elif missing.size + extra.size > _REBUILD_SHARE * max(len(db_ids), 1) and len(db_ids) > 0:
            report.actions.append(f"{missing.size} ids missing, {extra.size} extra: rebuilding")
            index = None
        else:
            if extra.size:
                report.removed = index.remove(extra)
                report.actions.append(f"removed {extra.size} ids that the database lacks")
            for ids, vectors in fetch(missing):
                index.add(ids, vectors)
                report.added += len(ids)
            if missing.size:
                report.actions.append(f"added {missing.size} database descriptors the index lacked")
    if index is None:
        index = VectorIndex(int(fingerprint["dim"]), config)
        for ids, vectors in fetch(db_ids):
            index.add(ids, vectors)
        report.rebuilt, report.added = True, len(db_ids)
        report.actions.append(f"rebuilt the index from {len(db_ids)} database descriptors")
    if report.changed:
        logger.warning("vector index repaired: %s", "; ".join(report.actions))
        if not writable:
            logger.warning("the gallery is read-only: the repaired vector index is kept in memory "
                           "only")
        else:
            try:
                write_index_files(index, fingerprint, index_path, meta_path, gallery_id)
            except OSError as exc:  # the repaired index still serves; the next start repairs again
                logger.warning("could not save the repaired vector index to %s: %s", index_path,
                               exc)
    return index, report
