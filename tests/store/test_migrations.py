"""Schema migrations (Alembic): new galleries, galleries from before Alembic, read-only openings,
newer and older schemas, and the models agreeing with the migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reid.store import GalleryError, GalleryLayout, SchemaMismatchError, Store, migrations
from reid.store._db import check_foreign_keys, migration_foreign_keys, open_engine, read_only_url
from reid.store._models import Base
from tests.store.helpers import FP, execute_sql, person_gallery, record

V2_SQL = Path(__file__).parent / "fixtures" / "gallery_v2_sqlite.sql"


def _url(tmp_path: Path, db_url: str | None) -> str:
    return db_url or GalleryLayout.of(tmp_path).db_url


def _differences(url: str) -> list[object]:
    """What Alembic's autogenerate finds between the database at ``url`` and the models."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return list(compare_metadata(MigrationContext.configure(con), Base.metadata))
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return migrations.current_revision(con)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _migrate_empty(url: str, target: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as con:
            migrations.upgrade(con, target)
    finally:
        engine.dispose()


def test_the_migrations_build_the_models_schema(tmp_path, db_url):
    url = _url(tmp_path, db_url)
    _migrate_empty(url, "head")  # the schema from the revisions alone
    assert _differences(url) == []
    assert _revision(url) == migrations.head_revision()
    with Store.open(tmp_path, db_url=db_url) as store:  # a gallery the store accepts as is
        person_gallery(store, people=2, cameras=2)
        assert store.stats()["tracklets"] == 4


def test_a_new_gallery_is_created_at_head(tmp_path, db_url):
    url = _url(tmp_path, db_url)
    with Store.open(tmp_path, db_url=db_url) as store:  # create_all, then stamped
        person_gallery(store, people=1, cameras=1)
    assert _revision(url) == migrations.head_revision()
    assert _differences(url) == []


def test_a_gallery_from_before_migrations_is_stamped_and_upgraded(tmp_path, db_url):
    url = _url(tmp_path, db_url)
    _migrate_empty(url, migrations.BASELINE)  # schema_version 2 as the old create_all wrote it
    execute_sql(url, "DROP TABLE alembic_version")
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=2, cameras=2)
    assert _revision(url) == migrations.head_revision()
    assert _differences(url) == []
    with Store.open(tmp_path, db_url=db_url) as store:
        assert not store.repair_report.changed and store.index.ntotal == len(truth)


@pytest.mark.sqlite_only
def test_a_sqlite_gallery_written_by_the_release_before_migrations_opens(tmp_path):
    """``fixtures/gallery_v2_sqlite.sql``: the database the last release before Alembic wrote."""
    db = tmp_path / "reid.db"
    with sqlite3.connect(db) as con:
        con.executescript(V2_SQL.read_text())
    with Store.open(tmp_path) as store:
        assert store.repair_report.rebuilt  # no index files came with it: built from the rows
        assert store.stats()["tracklets"] == 4 and store.get_feedback(1) == ([2], [])
        vid = store.add_video("/new.mp4", "hnew", "cam0")
        (tid,) = store.add_tracklets(vid, [record(1, 0, 2)], np.ones((1, 16)), FP)
        assert (vid, tid) == (3, 5)  # ids go on after the old ones
    assert _revision(f"sqlite:///{db}") == migrations.head_revision()
    assert _differences(f"sqlite:///{db}") == []


@pytest.mark.sqlite_only
def test_a_read_only_opening_never_migrates(tmp_path, monkeypatch):
    db = tmp_path / "reid.db"
    with sqlite3.connect(db) as con:
        con.executescript(V2_SQL.read_text())
    before = db.read_bytes()
    database, created = open_engine(read_only_url(db), label=str(db), read_only=True)
    try:
        assert not created
        with database() as s:  # readable as it is
            assert s.execute(sa.text("SELECT count(*) FROM tracklets")).scalar() == 4
    finally:
        database.dispose()
    assert db.read_bytes() == before and "alembic_version" not in _tables(f"sqlite:///{db}")
    # a revision whose tables a read-only opening cannot read as they are: refused, unchanged
    monkeypatch.setattr(migrations, "READABLE_WITHOUT_UPGRADE", frozenset())
    with pytest.raises(GalleryError, match="needs an upgrade.*read-only"):
        open_engine(read_only_url(db), label=str(db), read_only=True)
    assert db.read_bytes() == before


def test_a_database_from_a_newer_release_is_refused(tmp_path, db_url):
    Store.open(tmp_path, db_url=db_url).close()
    execute_sql(_url(tmp_path, db_url), "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaMismatchError, match="9999.*newer release"):
        Store.open(tmp_path, db_url=db_url)


def test_schema_version_1_is_refused_with_the_way_out(tmp_path, db_url):
    """Schema 1 (ids could be reused) is not migrated: its crops and clips may already be mixed up,
    so the only safe way forward is a new gallery."""
    Store.open(tmp_path, db_url=db_url).close()
    execute_sql(_url(tmp_path, db_url), "DROP TABLE alembic_version",
                "UPDATE schema_version SET version = 1")
    with pytest.raises(SchemaMismatchError, match=r"schema version \[1\].*re-index into a new"):
        Store.open(tmp_path, db_url=db_url)


def test_a_database_of_another_application_is_refused(tmp_path, db_url):
    execute_sql(_url(tmp_path, db_url), "CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    with pytest.raises(SchemaMismatchError, match="not written by this application"):
        Store.open(tmp_path, db_url=db_url)


@pytest.mark.postgres
def test_servers_opening_one_new_catalogue_at_once_create_it_once(tmp_path, postgres_url):
    """Several servers (data dirs) sharing one PostgreSQL catalogue: the advisory lock makes one
    create the schema while the others wait, then see it."""
    errors: list[BaseException] = []
    created: list[bool] = []

    def open_one(i: int) -> None:
        try:
            with Store.open(tmp_path / f"server{i}", db_url=postgres_url) as store:
                created.append(store.gallery_id is not None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and created == [True] * 4
    assert _revision(postgres_url) == migrations.head_revision()
    ids = {(tmp_path / f"server{i}" / "crops" / ".gallery-id").read_text() for i in range(4)}
    assert len(ids) == 1  # one gallery, one id, in every data dir


def _recreate_videos(conn: sa.Connection) -> None:
    """What a future revision changing ``videos`` does on SQLite: copy the table, drop the old."""
    from alembic.operations import Operations

    ops = Operations(MigrationContext.configure(conn, opts={"render_as_batch": True}))
    with ops.batch_alter_table("videos", recreate="always") as batch:
        batch.alter_column("path", existing_type=sa.Text(), nullable=False)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("guarded", [True, False])
def test_sqlite_table_rebuilds_in_a_migration_keep_the_rows_that_reference_them(tmp_path, guarded):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=2, cameras=2)
    engine = sa.create_engine(GalleryLayout.of(tmp_path).db_url)
    sa.event.listen(engine, "connect",
                    lambda con, _rec: con.execute("PRAGMA foreign_keys=ON"))  # as the store does
    try:
        with engine.connect() as conn:
            if guarded:  # as open_engine runs migrations
                with migration_foreign_keys(conn):
                    _recreate_videos(conn)
                    check_foreign_keys(conn)
                    conn.commit()
            else:
                _recreate_videos(conn)
                conn.commit()
            left = conn.execute(sa.text("SELECT count(*) FROM tracklets")).scalar()
            fk = conn.execute(sa.text("PRAGMA foreign_keys")).scalar()
    finally:
        engine.dispose()
    assert fk == 1  # on again for the store's own work
    assert left == (4 if guarded else 0)  # unguarded, dropping videos cascaded to every tracklet


def test_new_galleries_opened_by_several_threads_at_once(tmp_path):
    """Alembic keeps one migration per process in module-level proxies: concurrent openings of new
    galleries (without the store's lock around them, ~half failed with ``KeyError: 'script'``)."""

    errors: list[str] = []

    def open_new(path):
        try:
            Store.open(path).close()
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))

    for round_ in range(3):
        threads = [threading.Thread(target=open_new, args=(tmp_path / f"g{round_}_{i}",))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
