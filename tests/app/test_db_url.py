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
    assert (tmp_path / "server2" / "vectors.faiss").is_file()  # its own index, from the database
