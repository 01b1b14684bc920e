"""A PostgreSQL catalogue that cannot be used gives one line saying what to check, never SQL text
or SQLite advice."""

from __future__ import annotations

import pytest

from reid.store import GalleryError, Store
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def test_an_unreachable_server_is_named(tmp_path, postgres_server: PostgresServer):
    url = postgres_server.url("gallery").replace(f"port={postgres_server.port}", "port=1")
    with pytest.raises(GalleryError, match="cannot reach the gallery database .*server is running") as err:
        Store.open(tmp_path, db_url=url)
    assert "sqlite" not in str(err.value) and "SELECT" not in str(err.value)


def test_a_missing_database_is_named(tmp_path, postgres_server: PostgresServer):
    with pytest.raises(GalleryError, match="does not exist.*createdb"):
        Store.open(tmp_path, db_url=postgres_server.url("no_such_gallery"))


def test_a_server_gone_while_open_is_named(tmp_path, postgres_server: PostgresServer):
    url = postgres_server.create_database()
    with Store.open(tmp_path, db_url=url) as store:
        store.add_video("/a.mp4", "ha", "cam0")
        postgres_server.drop_database(url)  # terminates the store's connections
        with pytest.raises(GalleryError, match="gallery database"):
            store.list_videos()
