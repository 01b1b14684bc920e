"""Engine creation (SQLite WAL pragmas on every connection), schema creation and migration
(Alembic, ``reid.store.migrations``), and sessions whose database failures surface as
``GalleryError``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, make_url, select, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from reid.store._errors import GalleryError, database_error
from reid.store._models import SCHEMA_VERSION, Base, SchemaVersion, utcnow

logger = logging.getLogger(__name__)

__all__ = ["BUSY_TIMEOUT_S", "Database", "SchemaMismatchError", "open_engine", "read_only_url",
           "server_error", "sqlite_path"]

BUSY_TIMEOUT_S = 10.0  # how long a statement waits for another process's lock
MIGRATION_LOCK_KEY = 0x7265_6964  # PostgreSQL advisory lock held while creating or migrating


class SchemaMismatchError(GalleryError):
    """The database was written by a different schema version of this application."""


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry,
                    read_only: bool = False) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # first: the others may wait
    cur.execute("PRAGMA mmap_size=0")  # no mmap: a file truncated underneath would raise SIGBUS
    if not read_only:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite ``url`` (None for other databases and in-memory ones)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    db = u.database
    if db.startswith("file:"):
        db = db[5:].split("?", 1)[0]
    return Path(db)


def read_only_url(path: Path, *, immutable: bool = False) -> str:
    """A SQLite URL opening ``path`` read-only (``immutable``: without locks or ``-shm`` file,
    for a folder where not even those can be created)."""
    flags = "mode=ro" + ("&immutable=1" if immutable else "")
    return f"sqlite:///file:{quote(str(Path(path).resolve()))}?{flags}&uri=true"


def server_error(exc: BaseException, label: str) -> GalleryError:
    """A ``GalleryError`` for a failure of a database server (PostgreSQL) at ``label`` (the URL
    without password): the driver's first line and what to check, never SQL text."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = text.lower()
    where = f"the gallery database {label}"
    if "password" in low or "authentication" in low or ("role" in low and "does not exist" in low):
        msg = (f"the database server refused the login to {where} ({text}): check the user and "
               "password (--db-url, $REID_DB_URL, ~/.pgpass)")
    elif "database" in low and "does not exist" in low:
        msg = (f"{where} does not exist ({text}): create it (`createdb`, an empty database) or "
               "fix --db-url")
    elif any(k in low for k in ("could not connect", "connection refused", "connection failed",
                                "no such file or directory", "timeout expired", "server closed",
                                "terminating connection", "connection is closed")):
        msg = (f"cannot reach {where} ({text}): check that the database server is running and "
               "reachable from this host, and the host/port in --db-url")
    elif "deadlock" in low or "could not serialize" in low or "lock" in low:
        msg = f"{where} is busy ({text}): retry"
    elif "no space" in low or "disk full" in low:
        msg = f"the database server of {where} is out of disk space ({text}): free space, then retry"
    else:
        msg = f"{where} failed ({text}); the database server's log may say more"
    return GalleryError(msg)


class Database:
    """Session factory over one engine; database failures inside a session become
    ``GalleryError`` naming ``label`` (the file) and the recovery step.

    Use ``with db() as s:`` to read and ``with db.begin() as s:`` for a transaction.
    """

    def __init__(self, engine: Engine, label: str) -> None:
        self.engine = engine
        self.label = label
        self._factory = sessionmaker(engine, expire_on_commit=False)
        self._pinned: tuple[Path, tuple[int, int]] | None = None

    def pin_file(self, path: Path) -> None:
        """Refuse further sessions when ``path`` is deleted or replaced while open (SQLite would
        quietly go on with the unlinked file, or open a new empty one)."""
        st = Path(path).stat()
        self._pinned = (Path(path), (st.st_dev, st.st_ino))

    def _check_pinned(self) -> None:
        if self._pinned is None:
            return
        path, ident = self._pinned
        try:
            st = path.stat()
            same = (st.st_dev, st.st_ino) == ident
        except OSError:
            same = False
        if not same:
            raise GalleryError(
                f"the gallery database {path} was deleted or replaced while this process had it "
                f"open: stop this process and restore the database from a backup (until the "
                f"process ends, the deleted file can still be copied from /proc/{os.getpid()}/fd/)")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (IntegrityError, ProgrammingError):
            raise  # constraint violations and SQL bugs are not the files' fault
        except DBAPIError as exc:
            if self.engine.dialect.name == "sqlite":
                raise database_error(exc, self.label, BUSY_TIMEOUT_S) from exc
            raise server_error(exc, self.label) from exc

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        self._check_pinned()
        with self._translated(), self._factory() as session:
            yield session

    @contextmanager
    def begin(self) -> Iterator[Session]:
        self._check_pinned()
        with self._translated(), self._factory.begin() as session:
            yield session

    def quick_check(self) -> None:
        """SQLite ``PRAGMA quick_check`` (every page's structure, O(size)); raises
        ``GalleryError`` when the database is damaged."""
        with self() as session:
            rows = [r[0] for r in session.connection().exec_driver_sql("PRAGMA quick_check")]
        if rows != ["ok"]:
            raise database_error(RuntimeError("database disk image is malformed: "
                                              + "; ".join(str(r) for r in rows[:3])[:300]),
                                 self.label, BUSY_TIMEOUT_S)

    def dispose(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def open_engine(url: str, *, label: str | None = None, read_only: bool = False,
                on_new: Callable[[], None] | None = None) -> tuple[Database, bool]:
    """Open the database at ``url``: create the schema in a new one, migrate an older one.

    A database without tables gets the current schema (``create_all``), its compatibility row in
    ``schema_version`` and the head Alembic revision. A gallery from before Alembic
    (``schema_version`` 2, no ``alembic_version``) is stamped with the baseline revision; then any
    gallery below head is upgraded (``reid.store.migrations``). A read-only opening never
    migrates: it uses a database whose revision it can read as it is, and refuses others. On
    PostgreSQL the whole step holds an advisory lock, so servers opening one catalogue at once
    create or migrate it once.

    Args:
        url: SQLAlchemy URL.
        label: how messages name the database (default: the URL without password).
        read_only: connect without journal changes and create or migrate nothing.
        on_new: called before tables are created in a database that has none of ours; it may
            raise to refuse.

    Returns:
        ``(database, created)``: ``created`` is True when the schema was created just now.

    Raises:
        SchemaMismatchError: the database is not ours, has a schema older than migrations can
            bring forward, or was written by a newer release.
        GalleryError: the database cannot be opened (damaged, locked, unreadable, unreachable),
            or a read-only opening would need a migration.
    """
    engine = create_engine(url, future=True)
    label = label or engine.url.render_as_string(hide_password=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect",
                     lambda conn, rec: _sqlite_pragmas(conn, rec, read_only=read_only))
    db = Database(engine, label)
    try:
        with db._translated(), engine.connect() as conn:
            if engine.dialect.name == "postgresql" and not read_only:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            with migration_foreign_keys(conn, enabled=read_only):
                created = _prepare_schema(conn, label, read_only, on_new)
                conn.commit()
    except BaseException:
        engine.dispose()
        raise
    return db, created


@contextmanager
def migration_foreign_keys(conn: Connection, *, enabled: bool = False) -> Iterator[None]:
    """On SQLite, foreign keys off while the schema is created or migrated (then on again);
    elsewhere, or with ``enabled``, nothing. Call ``check_foreign_keys`` before committing.

    A revision that changes a SQLite table copies it and drops the original; with foreign keys on,
    dropping ``videos`` would first delete every tracklet (``ON DELETE CASCADE``). The pragma only
    takes effect outside a transaction, so this must wrap the connection's first statements; a
    transaction left open (the caller failed) is rolled back.
    """
    if conn.dialect.name != "sqlite" or enabled:
        yield
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.rollback()  # end the transaction SQLAlchemy began for the pragma


def check_foreign_keys(conn: Connection) -> None:
    """SQLite: raise ``SchemaMismatchError`` when rows break a foreign key (after a migration run
    with foreign keys off); the caller's transaction should then be rolled back."""
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise SchemaMismatchError(f"migrating the gallery database would leave {len(broken)} rows "
                                  f"breaking foreign keys (first: {tuple(broken[0])}); nothing was "
                                  "changed. Report this, and keep using the release that wrote it")


def _not_ours(label: str, what: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"database {label} has {what}; it was not written by this application. Point the data "
        "dir (or --db-url) elsewhere or move the old database away.")


def _create_schema(conn: Connection) -> None:
    from reid.store import _jobs, migrations  # noqa: F401  (_jobs: the index_jobs table)

    Base.metadata.create_all(conn)
    conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION,
                                              applied_at=utcnow()))
    migrations.stamp(conn, "head")


def _prepare_schema(conn: Connection, label: str, read_only: bool,
                    on_new: Callable[[], None] | None) -> bool:
    from reid.store import migrations

    existing = set(inspect(conn).get_table_names())
    if not existing:  # a database without any table: a new gallery
        if on_new is not None:
            on_new()
        if read_only:
            raise GalleryError(f"the gallery database {label} is empty and read-only, so no "
                               "gallery can be created there: pass a writable --data-dir")
        _create_schema(conn)
        logger.info("created gallery database (schema %s)", migrations.head_revision())
        return True
    if "schema_version" not in existing:
        raise _not_ours(label, "tables but no gallery schema version")
    versions = list(conn.scalars(select(SchemaVersion.version)))
    if not versions:
        if existing - {"schema_version", "alembic_version"}:
            raise _not_ours(label, "gallery tables but no schema version")
        if read_only:
            raise GalleryError(f"the gallery database {label} is incomplete and read-only: "
                               "pass a writable --data-dir")
        _create_schema(conn)
        return True
    level = SCHEMA_VERSION
    if versions != [level]:
        newer = max(versions) > level
        raise SchemaMismatchError(
            f"gallery database {label} has schema version {versions}, this application needs "
            f"{level}" + (": it was written by a newer release; use that release or a newer one."
                          if newer else ". Use a matching release, or re-index into a new data dir."))
    revision = migrations.current_revision(conn) if "alembic_version" in existing else None
    head = migrations.head_revision()
    if revision == head:
        return False
    if revision is not None and revision not in migrations.known_revisions():
        raise SchemaMismatchError(
            f"gallery database {label} is at schema revision {revision}, which this release does "
            f"not know (its newest is {head}): it was written by a newer release; use that "
            "release or a newer one")
    was = revision or f"{migrations.BASELINE} (before migrations)"
    if read_only:
        if (revision or migrations.BASELINE) in migrations.READABLE_WITHOUT_UPGRADE:
            logger.warning("the gallery database %s is at schema revision %s (newest %s) and is "
                           "opened read-only, so it is not upgraded: searching works as it is",
                           label, was, head)
            return False
        raise GalleryError(f"the gallery database {label} is at schema revision {was} and needs "
                           f"an upgrade to {head}, which a read-only opening cannot do: open it "
                           "once with write access (any `reid` command), then retry")
    if revision is None:
        migrations.stamp(conn, migrations.BASELINE)
    migrations.upgrade(conn, "head")
    check_foreign_keys(conn)  # O(rows), so only after an upgrade
    logger.warning("upgraded the gallery database %s from schema revision %s to %s", label, was,
                   head)
    return False
