"""Engine creation (SQLite WAL pragmas on every connection) and the schema-version check."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from reid.store._models import SCHEMA_VERSION, Base, SchemaVersion

logger = logging.getLogger(__name__)

__all__ = ["SchemaMismatchError", "open_engine"]


class SchemaMismatchError(RuntimeError):
    """The database was written by a different schema version of this application."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_engine(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Create the engine for ``url``, create missing tables, and check the schema version.

    Raises:
        SchemaMismatchError: the database records another schema version.
    """
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    existing = set(inspect(engine).get_table_names())
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        versions = session.scalars(select(SchemaVersion.version)).all()
        if not versions:
            if existing - {"schema_version"}:
                engine.dispose()
                raise SchemaMismatchError(
                    f"database {engine.url.render_as_string(hide_password=True)} has gallery tables "
                    "but no schema version; it was not written by this application. "
                    "Point the data dir elsewhere or move the old database away.")
            session.add(SchemaVersion(version=SCHEMA_VERSION))
            logger.info("created gallery database schema v%d", SCHEMA_VERSION)
        elif versions != [SCHEMA_VERSION]:
            engine.dispose()
            raise SchemaMismatchError(
                f"gallery database schema version is {versions}, this application needs "
                f"{SCHEMA_VERSION}. Use a matching release, or re-index into a new data dir.")
    return engine, factory
