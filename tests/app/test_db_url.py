"""``--db-url``: every gallery command reads the catalogue at a SQLAlchemy URL; a second data dir on
the same PostgreSQL catalogue sees the same gallery (and builds its own vector index)."""

from __future__ import annotations

import pytest

from app.cli import build_parser, main
from app.settings import Settings
from reid.store import Store
from tests.store.helpers import person_gallery


def test_db_url_option_and_environment(monkeypatch):
    monkeypatch.setenv("REID_DB_URL", "sqlite:////tmp/from-env.db")
    assert Settings.from_sources(None).db_url == "sqlite:////tmp/from-env.db"
    args = build_parser().parse_args(["status", "--db-url", "postgresql+psycopg://u@h/db"])
    assert Settings.from_sources(args).db_url == "postgresql+psycopg://u@h/db"


@pytest.mark.postgres
def test_status_of_a_shared_postgres_catalogue_from_another_data_dir(tmp_path, postgres_url,
                                                                      capsys):
    with Store.open(tmp_path / "indexer", db_url=postgres_url) as store:
        truth = person_gallery(store, people=3, cameras=2)
    assert main(["status", "--data-dir", str(tmp_path / "server2"), "--db-url", postgres_url]) == 0
    out = capsys.readouterr().out
    assert f"2 videos, {len(truth)} tracklets" in out
    assert "cam0" in out and "cam1" in out
    assert "index:     flat (built from the database)" in out  # PostgreSQL: auto -> database
    assert not (tmp_path / "server2" / "vectors.faiss").exists()  # nothing to keep in step


def test_index_source_defaults_to_the_database_for_a_shared_catalogue(monkeypatch):
    parse = build_parser().parse_args
    assert Settings.from_sources(parse(["status"])).resolved_index_source == "files"
    pg = ["status", "--db-url", "postgresql+psycopg://u@h/db"]
    assert Settings.from_sources(parse(pg)).resolved_index_source == "database"
    assert Settings.from_sources(parse([*pg, "--index-source", "files"])).resolved_index_source == "files"
    sqlite = ["status", "--db-url", "sqlite:////tmp/x.db"]
    assert Settings.from_sources(parse(sqlite)).resolved_index_source == "files"
    monkeypatch.setenv("REID_INDEX_SOURCE", "database")
    assert Settings.from_sources(parse(["status"])).resolved_index_source == "database"
    monkeypatch.setenv("REID_INDEX_SOURCE", "disk")
    with pytest.raises(ValueError, match="index source 'disk' is unknown"):
        Settings.from_sources(parse(["status"]))
