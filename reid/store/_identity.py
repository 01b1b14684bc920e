"""Which gallery a data dir's files belong to: a gallery id shared by the database, ``vectors.json``
and a marker in ``crops/``, and the leftovers that forbid starting a new database next to them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from reid.files import atomic_write_bytes
from reid.store._errors import GalleryError
from reid.store._sync import read_index_meta
from reid.store.layout import DB_NAME, GalleryLayout

__all__ = ["MARKER_NAME", "leftovers", "new_gallery_id", "read_marker", "refuse_new_database",
           "write_marker"]

MARKER_NAME = ".gallery-id"  # inside crops/: the id of the gallery the crops belong to


def new_gallery_id() -> str:
    """A fresh random gallery id (32 hex digits)."""
    return uuid.uuid4().hex


def read_marker(crops_dir: Path) -> str | None:
    """The gallery id recorded in ``crops/.gallery-id``, or None when absent or unreadable."""
    marker = Path(crops_dir) / MARKER_NAME
    try:
        if not marker.is_file() or marker.stat().st_size > 1024:
            return None
        text = marker.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def write_marker(crops_dir: Path, gallery_id: str) -> None:
    """Record ``gallery_id`` in ``crops/.gallery-id`` (atomically)."""
    atomic_write_bytes(Path(crops_dir) / MARKER_NAME, [gallery_id.encode() + b"\n"])


def _has_files(folder: Path) -> bool:
    """True when ``folder`` holds any file at any depth; stops at the first one, so a folder of
    millions of crops costs a few directory reads."""
    for _root, dirs, files in os.walk(folder):
        if files:
            return True
        dirs.sort()
    return False


def leftovers(layout: GalleryLayout, db_name: str = DB_NAME) -> list[str]:
    """Files in ``data_dir`` keyed by ids of a gallery database: crops under ``crops/<video id>/``,
    cached clips ``clips/tracklet_<id>.*``, a non-empty vector index, the write-ahead log of a
    lost database. Empty folders, other files and uploads (kept by content hash) are harmless."""
    found = []
    crops = layout.crops
    if crops.is_dir() and any(d.is_dir() and d.name.isdigit() and _has_files(d)
                              for d in crops.iterdir()):
        found.append("crops/ (tracklet crops)")
    clips = layout.clips
    if clips.is_dir() and any(p.name.startswith("tracklet_") for p in clips.iterdir()):
        found.append("clips/ (rendered clips)")
    index_path, meta_path = layout.index, layout.index_meta
    if index_path.exists() or meta_path.exists():
        meta = read_index_meta(meta_path)
        if meta is None or meta.get("count") != 0:
            found.append("vectors.faiss/vectors.json (the vector index)")
    wal = layout.data_dir / f"{db_name}-wal"
    if wal.is_file() and wal.stat().st_size > 0:
        found.append(f"{wal.name} (the write-ahead log of a lost database)")
    return found


def refuse_new_database(data_dir: Path, db_label: str, state: str, found: list[str]) -> GalleryError:
    """The error for a missing or empty database next to another gallery's files."""
    d = Path(data_dir)
    return GalleryError(
        f"the gallery database {db_label} {state}, but {d} still holds files of a gallery: "
        f"{', '.join(found)}. A new gallery here would reuse their ids and mix old and new "
        f"crops, so it is refused. Restore {Path(db_label).name} from a backup (these files "
        f"belong to it); or, to start over, move the folder aside (`mv {d} {d}.old`) or pass "
        "another --data-dir.")
