"""Opening a gallery's database safely: refuse a lost or replaced database next to another
gallery's files, open read-only when the files cannot be written, and name every failure."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reid.store._db import Database, open_engine, read_only_url, sqlite_path
from reid.store._errors import GalleryError, file_error
from reid.store._identity import (
    leftovers,
    new_gallery_id,
    read_marker,
    refuse_new_database,
    write_marker,
)
from reid.store._models import StoreMeta
from reid.store.layout import DB_NAME, GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["GALLERY_ID_KEY", "gallery_identity", "open_database", "reserve_ids"]

GALLERY_ID_KEY = "gallery_id"
# Databases up to this size get a full page check on opening (0.03 s for 64 MiB cached); larger
# ones report damage when the damaged page is read.
QUICK_CHECK_MAX_BYTES = 256 << 20


def _writable(data_dir: Path, db_file: Path | None) -> bool:
    """Whether this process may write the data dir (and the database file, when it exists)."""
    folder = data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    return db_file is None or not db_file.exists() or os.access(db_file, os.W_OK)


def _table_count(db_file: Path) -> int | None:
    """How many tables the SQLite file has, read without changing it (None: unreadable; the
    real opening then reports why)."""
    try:
        con = sqlite3.connect(f"file:{quote(str(db_file))}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        return int(con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                   .fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        con.close()


def _make_dirs(dirs: tuple[Path, ...]) -> None:
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(exc, d, "creating the gallery folder") from exc


def open_database(layout: GalleryLayout, db_url: str) -> tuple[Database, bool, bool]:
    """Open the gallery database of ``layout`` at ``db_url``; create the gallery's folders
    (``layout.created_dirs()``) when writable.

    Returns:
        ``(database, read_only, created)``.

    Raises:
        GalleryError: the database is missing or empty while gallery files remain, is not a file,
            is damaged, locked or unreadable, or the data dir cannot be created.
    """
    data_dir = layout.data_dir
    db_file = sqlite_path(db_url)
    if db_file is not None and not db_file.is_absolute():
        db_file = Path.cwd() / db_file
    label = str(db_file) if db_file is not None else None
    if db_file is not None and db_file.exists() and not db_file.is_file():
        raise GalleryError(f"the gallery database {db_file} is not a file (a directory?): move it "
                           f"aside (`mv {db_file} {db_file}.moved`) and restore the database "
                           "from a backup, or pass another --data-dir")
    read_only = not _writable(data_dir, db_file)
    if not read_only:
        _make_dirs(layout.created_dirs())
    elif not data_dir.is_dir():
        raise GalleryError(f"the data dir {data_dir} does not exist and cannot be created here "
                           "(read-only): pass a writable --data-dir")

    def refuse_if_leftovers(state: str) -> None:
        found = leftovers(layout, db_file.name if db_file is not None else DB_NAME)
        if found:
            raise refuse_new_database(data_dir, label or db_url, state, found)

    if db_file is not None:
        if not db_file.exists():
            refuse_if_leftovers("is missing")
            if read_only:
                raise GalleryError(f"there is no gallery database {db_file} and {data_dir} is "
                                   "read-only, so none can be created: pass a writable --data-dir")
        elif db_file.stat().st_size == 0:
            refuse_if_leftovers("is empty (0 bytes)")
        elif _table_count(db_file) == 0:  # checked before connecting, which would change it
            refuse_if_leftovers("has no gallery tables")

    def on_new() -> None:
        refuse_if_leftovers("has no gallery tables")

    if not read_only or db_file is None:
        db, created = open_engine(db_url, label=label, on_new=on_new)
        return _checked(db, db_file), False, created
    logger.warning("%s is read-only for this user: opening the gallery read-only (searching "
                   "works; indexing, deleting and feedback do not)", data_dir)
    try:
        db, created = open_engine(read_only_url(db_file), label=label, read_only=True,
                                  on_new=on_new)
    except GalleryError as first:
        if "cannot open" not in str(first):
            raise
        # WAL needs a -shm file; in a folder where none can be created, read without locks
        db, created = open_engine(read_only_url(db_file, immutable=True), label=label,
                                  read_only=True, on_new=on_new)
    return _checked(db, db_file), True, created


def _checked(db: Database, db_file: Path | None) -> Database:
    """Pin the database file and, when it is small enough to read quickly, check every page."""
    if db_file is None:
        return db
    try:
        db.pin_file(db_file)
        if db_file.stat().st_size <= QUICK_CHECK_MAX_BYTES:
            db.quick_check()
    except BaseException:
        db.dispose()
        raise
    return db


def gallery_identity(db: Database, crops_dir: Path, *, created: bool, read_only: bool) -> str | None:
    """The gallery id (stored in the database; given to a database that lacks one), checked
    against the marker in ``crops/``.

    Raises:
        GalleryError: the crops belong to another gallery than the database.
    """
    with db() as s:
        row = s.get(StoreMeta, GALLERY_ID_KEY)
        gallery_id = row.value.get("id") if row is not None and isinstance(row.value, dict) \
            else None
    marker = read_marker(crops_dir)
    if gallery_id is None and read_only:
        return None
    has_crops = bool(marker) and any(p.is_dir() and p.name.isdigit() for p in crops_dir.iterdir())
    if marker is not None and marker != gallery_id and has_crops and not created:
        owner = "belongs to gallery " + gallery_id[:8] if gallery_id else "has no gallery id"
        raise GalleryError(
            f"the crops in {crops_dir} belong to gallery {marker[:8]}, but the database {db.label} "
            f"{owner}: the database was replaced by another gallery's (or crops/ was copied from "
            "one). Put this gallery's own database back (from a backup), or move the data dir "
            "aside and start a new gallery.")
    if gallery_id is None:
        gallery_id = _adopt_gallery_id(db, new_gallery_id())
    if marker != gallery_id and not read_only:
        try:
            write_marker(crops_dir, gallery_id)
        except OSError as exc:
            raise file_error(exc, crops_dir, "writing the gallery marker in") from exc
    return gallery_id


def _adopt_gallery_id(db: Database, candidate: str) -> str:
    """Store ``candidate`` as the gallery id unless another process stored one first; returns
    the id the database keeps."""
    try:
        with db.begin() as s:
            if s.get(StoreMeta, GALLERY_ID_KEY) is None:
                s.add(StoreMeta(key=GALLERY_ID_KEY, value={"id": candidate}))
    except IntegrityError:  # another process inserted its id between our read and write
        pass
    with db() as s:
        row = s.get(StoreMeta, GALLERY_ID_KEY)
        if row is None:  # only if another process deleted it in between
            raise GalleryError(f"{db.label} lost its gallery id while it was being stored")
        return str(row.value["id"])


def _max_number(folder: Path, prefix: str) -> int:
    """The largest ``N`` among entries of ``folder`` named ``<prefix>N`` or ``<prefix>N.ext``."""
    best = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        stem = entry.name.split(".", 1)[0]
        if stem.startswith(prefix) and stem[len(prefix):].isdigit():
            best = max(best, int(stem[len(prefix):]))
    return best


def reserve_ids(db: Database, layout: GalleryLayout, max_index_id: int) -> None:
    """Never give again an id that files in the data dir still use (``crops/<video id>/``,
    ``clips/tracklet_<id>.*``, the vector index, whose largest id is ``max_index_id``): after a
    database restored from an older backup, new videos would otherwise reuse the ids of the lost
    ones and mix their crops. SQLite: ``sqlite_sequence``; PostgreSQL: the id sequences (moved
    forward only, never back)."""
    dialect = db.engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    used = {"videos": _max_number(layout.crops, ""),
            "tracklets": max(_max_number(layout.clips, "tracklet_"), max_index_id)}
    if not any(used.values()):
        return
    with db() as s:
        if dialect == "sqlite":
            given: dict[str, int] = {name: int(n or 0) for name, n in s.execute(
                text("SELECT name, seq FROM sqlite_sequence")).all()}
        else:
            given = {table: _pg_sequence_value(s, table) for table in used}
    todo = {table: n for table, n in used.items() if n > given.get(table, 0)}
    if not todo:
        return
    with db.begin() as s:
        for table, n in todo.items():
            if dialect == "sqlite":
                s.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
                s.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"),
                          {"t": table, "n": n})
            else:
                s.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                               "GREATEST(:n, nextval(pg_get_serial_sequence(:t, 'id'))))"),
                          {"t": table, "n": n})
    logger.warning("files in %s use %s ids beyond the database's (restored from an older "
                   "backup?); new ids start after them", layout.data_dir,
                   ", ".join(f"{t} up to {n}" for t, n in todo.items()))


def _pg_sequence_value(s: Session, table: str) -> int:
    """The last id the PostgreSQL sequence of ``table.id`` gave (0: none yet)."""
    seq = s.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
    if seq is None:
        return 0
    row = s.execute(text(f"SELECT last_value, is_called FROM {seq}")).one()  # seq: a quoted name
    return int(row.last_value) if row.is_called else int(row.last_value) - 1
