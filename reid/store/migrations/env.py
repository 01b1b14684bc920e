"""Alembic's entry point: migrates the connection ``reid.store.migrations`` hands over.

Only online migrations on a given connection are supported (the store opens its own engine);
``render_as_batch`` lets revisions alter SQLite tables (copy and swap).
"""

from __future__ import annotations

from alembic import context

from reid.store import _jobs  # noqa: F401  (registers index_jobs on Base.metadata)
from reid.store._models import Base


def run() -> None:
    """Run the migrations on ``config.attributes["connection"]``."""
    if context.is_offline_mode():
        raise RuntimeError("gallery migrations run online only (reid.store.migrations.upgrade)")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("no connection: run gallery migrations through "
                           "reid.store.migrations.upgrade(connection)")
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
