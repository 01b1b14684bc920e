"""Fixtures shared by every test folder: the gallery database a test runs against.

``db_url`` is parametrised over SQLite and PostgreSQL: a test that takes it runs twice, once with
the default SQLite file in the data dir (``db_url`` is None) and once with its own fresh database
on one real PostgreSQL server started for the whole session (``tests/support/postgres.py``).
Without PostgreSQL on the machine the PostgreSQL runs are skipped, saying why; with
``REID_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it) they fail instead, so CI never skips them.
Tests about the SQLite file itself do not take ``db_url``; they are marked ``sqlite_only``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import (
    REQUIRE_ENV,
    PostgresServer,
    PostgresUnavailableError,
    postgres_required,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (skipped, or failed under
    ``REID_REQUIRE_POSTGRES=1``, when it cannot be started)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailableError as exc:
        if postgres_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but PostgreSQL cannot be started: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc} (set {REQUIRE_ENV}=1 to make this an error)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """The gallery database URL: None (SQLite in the data dir) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url
