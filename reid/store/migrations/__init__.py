"""Schema migrations of the gallery database (Alembic), run by the store itself.

No ``alembic.ini`` is needed: ``alembic_config`` points Alembic at this package (``env.py`` and
``versions/``), and the store runs ``upgrade``/``stamp`` on its own connection when it opens a
gallery (``reid.store._db``). Revisions, oldest first:

- ``0001`` (baseline): the schema as it was when migrations began (``schema_version`` 2);
- ``0002``: the indexing job queue, ``index_jobs``;
- ``0003``: indexes for the catalogue's listing and filter queries at 10^6 tracklets.

The ``schema_version`` table stays, with one row (``reid.store._models.SCHEMA_VERSION``): the
*compatibility level* a release must understand to use the database. Releases from before Alembic
read it and refuse anything but 2, so a revision that older releases could not use safely (a
dropped or renamed column, say) also raises that number; additive revisions (tables, columns with
defaults, indexes) leave it at 2.

To add a revision after changing ``reid/store/_models.py``::

    .venv/bin/python -m reid.store.migrations revision "what changed"

then edit the generated file (``tests/store/test_migrations.py`` checks that the migrations and the
models agree on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

logger = logging.getLogger(__name__)

__all__ = ["BASELINE", "READABLE_WITHOUT_UPGRADE", "alembic_config",
           "current_revision", "head_revision", "known_revisions", "stamp", "upgrade"]

BASELINE = "0001"  # the schema of schema_version 2, the last one before Alembic
# Revisions a read-only opening (which never migrates) can use as they are: the catalogue's tables
# and columns equal head's; what they lack (indexes, the job queue) a reader does not need.
READABLE_WITHOUT_UPGRADE = frozenset({"0001", "0002"})

PACKAGE_DIR = Path(__file__).resolve().parent
# Alembic runs env.py through module-level proxies (``alembic.context``, ``alembic.op``) that hold one
# migration at a time per process: two threads opening new galleries at once would mix their runs
# (seen as ``KeyError: 'script'``). This lock is the process-wide guard of that third-party state.
_ALEMBIC_RUN = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for this package; ``connection`` (when given) is the one ``env.py``
    migrates, inside the caller's transaction."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PACKAGE_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision (what ``upgrade`` brings a database to)."""
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions found in {PACKAGE_DIR / 'versions'}")
    return head


def known_revisions() -> set[str]:
    """Every revision this release ships."""
    return {s.revision for s in _scripts().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database's ``alembic_version`` table (None: none)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, target: str = "head") -> None:
    """Run the migrations up to ``target`` on ``connection`` (in its transaction)."""
    with _ALEMBIC_RUN:
        command.upgrade(alembic_config(connection), target)


def stamp(connection: Connection, revision: str = "head") -> None:
    """Record ``revision`` as the database's revision without running anything."""
    with _ALEMBIC_RUN:
        command.stamp(alembic_config(connection), revision)
