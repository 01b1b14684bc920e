"""Bringing the derived vector index in line with the database (the source of truth), and
persisting it: a change is appended to ``vectors.delta`` (``index/delta.py``), and the main file
``vectors.faiss`` is rewritten (compacted) only when the delta has grown past a share of it.

Files and their order:

- ``vectors.faiss``: the main index file, as ``VectorIndex.save`` writes it (unchanged format).
- ``vectors.json``: fingerprint, kinds, count, the main file's size and sha256, the gallery id and
  ``delta_bytes``, the length of ``vectors.delta`` that holds complete records (0: none). It is
  rewritten (atomically) after every append, which is also what tells a server in another process
  that the index changed.
- ``vectors.delta``: bound by its header to the main file's sha256; its records are replayed after
  loading the main file, up to ``delta_bytes``. Bytes past it (an append cut short by a kill, or in
  flight in another process) are ignored; the comparison with the database then adds what they
  held.

Appending a change: ``fsync`` the record, then rewrite ``vectors.json``. Compacting: write the main
file (temporary file, rename), then ``vectors.json`` (new sha256, ``delta_bytes`` 0), then a new
empty delta. A kill after the rename leaves a main file that ``vectors.json`` does not describe:
it is rebuilt from the database; a kill after ``vectors.json`` leaves a delta bound to the old
main file, which is ignored. Either way the next opening finds an index that matches the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid.files import atomic_write_bytes, sha256_file
from reid.store._descriptors import compare_ids
from reid.store._records import RepairReport
from reid.store.index import IndexConfig, IndexFileError, VectorIndex
from reid.store.index.delta import (
    ADD,
    HEADER_BYTES,
    DeltaOp,
    append_delta,
    delta_header,
    read_delta,
    start_delta,
)
from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["CompactionPolicy", "delta_path", "read_index_meta", "replay", "sync_index",
           "write_index_files"]

_MAX_META_BYTES = 1 << 20  # vectors.json is a few hundred bytes
# Rebuild from scratch rather than patch when more than this share of the ids differ.
_REBUILD_SHARE = 0.5


@dataclass(frozen=True)
class CompactionPolicy:
    """When appended changes are merged into the main index file.

    The main file is rewritten once the delta's records pass ``fraction`` of the main file's size
    and at least ``min_bytes`` (a 10^6 x 512 flat gallery: 2 GB main file, compacted every ~100 MB
    of delta, ~49 000 descriptors or ~1 000 videos of 50 tracklets; the rewrite then costs ~2 MB
    per video, amortised, instead of 2 GB per video).
    """

    fraction: float = 0.05
    min_bytes: int = 16 << 20

    def due(self, delta_bytes: int, main_bytes: int) -> bool:
        """True when a delta of ``delta_bytes`` (records) should be merged into the main file."""
        return delta_bytes >= max(self.min_bytes, self.fraction * main_bytes)


def delta_path(index_path: Path) -> Path:
    """The delta file beside ``index_path`` (``vectors.faiss`` -> ``vectors.delta``, which
    ``GalleryLayout.index_delta`` names)."""
    return Path(index_path).with_suffix(".delta")


def replay(index: VectorIndex, ops: list[DeltaOp]) -> None:
    """Apply delta records to ``index`` in order (consecutive adds as one add)."""
    i = 0
    while i < len(ops):
        j = i
        while j < len(ops) and ops[j].op == ops[i].op:
            j += 1
        ids = np.concatenate([o.ids for o in ops[i:j]])
        if ops[i].op == ADD:
            index.add(ids, np.concatenate([o.vectors for o in ops[i:j] if o.vectors is not None]))
        else:
            index.remove(ids)
        i = j


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
                      meta_path: Path, gallery_id: str | None = None, *,
                      change: DeltaOp | None = None, delta_bytes: int | None = None,
                      policy: CompactionPolicy | None = None) -> int:
    """Persist ``index``: append ``change`` to the delta, or rewrite the main file (compact).

    With ``change``, the one change made since the files last matched ``index`` (``delta_bytes``
    then being the delta's length, 0 for none), it is appended to ``vectors.delta`` and
    ``vectors.json`` records the new length; that costs the change, not the gallery. Otherwise
    (no change given, the delta state unknown, the files changed by another process) or once the
    delta is ``policy.due``, ``vectors.faiss`` is rewritten, then ``vectors.json``, then an empty
    delta. ``vectors.json`` records the fingerprint, dimension, count, kinds, the gallery id, the
    main file's size and sha256 (a damaged or foreign file is rebuilt on loading) and
    ``delta_bytes``.

    Returns:
        The delta's length that now matches ``index`` (for the next call's ``delta_bytes``).
    """
    policy = policy or CompactionPolicy()
    if change is not None and delta_bytes is not None and index.file_sha256 is not None:
        meta = read_index_meta(meta_path)
        if meta is not None and meta.get("sha256") == index.file_sha256:
            path = delta_path(index_path)
            if delta_bytes < HEADER_BYTES:
                size = start_delta(path, index.file_sha256, index.dim, change)
            else:
                size = append_delta(path, change, index.dim, delta_bytes)
            meta.update(count=index.ntotal, delta_bytes=size)
            atomic_write_bytes(meta_path, [json.dumps(meta, indent=2, sort_keys=True).encode()])
            main_bytes = int(meta.get("size") or Path(index_path).stat().st_size)
            if not policy.due(size - HEADER_BYTES, main_bytes):
                return size
            logger.info("vector index: merging the %d-byte delta into %s", size - HEADER_BYTES,
                        Path(index_path).name)
    digest = index.save(index_path)
    meta = {"fingerprint": fingerprint, "dim": index.dim, "count": index.ntotal,
            "kind": index.kind, "configured_kind": index.config.kind, "sha256": digest,
            "size": Path(index_path).stat().st_size, "gallery_id": gallery_id, "delta_bytes": 0}
    atomic_write_bytes(meta_path, [json.dumps(meta, indent=2, sort_keys=True).encode()])
    return start_delta(delta_path(index_path), digest, index.dim)


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
                  report: RepairReport, gallery_id: str | None = None
                  ) -> tuple[VectorIndex, int] | None:
    """The main index file with its delta replayed, and the delta length that matches it; None
    when the files cannot be used (``report`` says why)."""
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
    delta = _replay_delta(index, index_path, meta, report)
    if delta is None:
        return None
    if meta.get("count") != index.ntotal:
        report.actions.append(
            f"{meta_path.name} count {meta.get('count')} != index count {index.ntotal}")
    return index, delta


def _replay_delta(index: VectorIndex, index_path: Path, meta: dict[str, Any],
                  report: RepairReport) -> int | None:
    """Replay ``vectors.delta`` onto the freshly loaded main ``index``, up to the length
    ``vectors.json`` recorded. Returns the delta's length that matches ``index`` afterwards
    (0: start a new delta; ``HEADER_BYTES`` or more: append there), or None when replaying failed
    (the index must be rebuilt)."""
    path = delta_path(index_path)
    limit = meta.get("delta_bytes")
    limit = limit if isinstance(limit, int) and limit > 0 else 0
    sha = str(meta["sha256"])
    if limit <= HEADER_BYTES:  # no records: append to the delta if it follows this main file
        try:
            with open(path, "rb") as f:
                ok = f.read(HEADER_BYTES) == delta_header(sha, index.dim)
        except OSError:
            ok = False
        return HEADER_BYTES if ok else 0
    found = read_delta(path, sha, index.dim, limit)
    try:
        replay(index, found.ops)
    except ValueError as exc:  # records that do not fit the main file: rebuild from the database
        report.actions.append(f"{path.name} does not apply to {index_path.name} ({exc})")
        return None
    if found.problem is not None:
        report.actions.append(f"{found.problem}: the database fills in the rest")
    return found.good_bytes


def _catch_up(current: tuple[VectorIndex | None, int | None], index_path: Path, meta_path: Path,
              fingerprint: dict[str, Any], gallery_id: str | None) -> tuple[VectorIndex, int] | None:
    """The index in memory brought up to date by replaying only the records appended to its
    delta since (by another process), when the files still follow it (same main file); None
    otherwise (the files are loaded anew)."""
    index, done = current
    meta = read_index_meta(meta_path)
    if (index is None or done is None or done < HEADER_BYTES or meta is None
            or index.file_sha256 is None or meta.get("sha256") != index.file_sha256
            or meta.get("fingerprint") != fingerprint
            or meta.get("gallery_id") not in (None, gallery_id)):
        return None
    limit = meta.get("delta_bytes")
    if not isinstance(limit, int) or limit < done:
        return None
    if limit == done:
        return index, done
    found = read_delta(delta_path(index_path), index.file_sha256, index.dim, limit, start=done)
    if found.problem is not None:
        return None
    try:
        replay(index, found.ops)
    except ValueError:
        return None
    return index, found.good_bytes


def sync_index(
    index_path: Path,
    meta_path: Path,
    fingerprint: dict[str, Any] | None,
    config: IndexConfig,
    db_ids: np.ndarray,
    fetch: Callable[[np.ndarray], Iterator[tuple[np.ndarray, np.ndarray]]],
    gallery_id: str | None = None,
    writable: bool = True,
    current: tuple[VectorIndex | None, int | None] = (None, None),
) -> tuple[VectorIndex | None, RepairReport, int | None]:
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
        current: the index already in memory and the delta length it matches: when the main
            file is still the one it was loaded from, only the records appended since are read
            (a server following another process's writes; the main file is not read again).

    Returns:
        ``(index, report, delta_bytes)``; the index is None only when the database has no
        fingerprint; ``delta_bytes`` is the delta length the files match ``index`` with (for
        ``write_index_files``), None when the files do not match it (the next save rewrites).
    """
    report = RepairReport()
    if fingerprint is None:
        return None, report, None
    loaded, attempt = _catch_up(current, index_path, meta_path, fingerprint, gallery_id), RepairReport()
    for _attempt in range(0 if loaded is not None else 3):
        # a writer may be replacing the files as we read: read again
        meta_before, attempt = read_index_meta(meta_path), RepairReport()
        loaded = _load_or_none(index_path, meta_path, fingerprint, config, attempt, gallery_id)
        if loaded is not None or read_index_meta(meta_path) == meta_before:
            break
    report.actions += attempt.actions
    index, delta = loaded if loaded is not None else (None, None)
    db_ids = np.asarray(db_ids, dtype=np.int64)
    if index is not None:
        have = index.ids()
        report.max_index_id = int(have.max()) if have.size else 0
        extra, missing = compare_ids(have, db_ids)
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
        delta = None
        if not writable:
            logger.warning("the gallery is read-only: the repaired vector index is kept in memory "
                           "only")
        else:
            try:
                delta = write_index_files(index, fingerprint, index_path, meta_path, gallery_id)
            except OSError as exc:  # the repaired index still serves; the next start repairs again
                logger.warning("could not save the repaired vector index to %s: %s", index_path,
                               exc)
    return index, report, delta
