"""Write a new migration revision from the difference between the models and head.

    python -m reid.store.migrations revision "what changed"

An empty SQLite database is brought to head, Alembic's autogenerate compares it with the models
and writes ``versions/rev<NNNN>_<slug>.py`` (numbered after head). Read and edit what it wrote.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from reid.store import migrations


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and write the revision."""
    ap = argparse.ArgumentParser(prog="python -m reid.store.migrations")
    sub = ap.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision from the models")
    rev.add_argument("message")
    args = ap.parse_args(argv)
    if args.command == "revision":
        number = f"{int(migrations.head_revision()) + 1:04d}"
        slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")[:40]
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
            with engine.begin() as con:
                migrations.upgrade(con, "head")
                cfg = migrations.alembic_config(con)
                cfg.set_main_option("file_template", f"rev%%(rev)s_{slug}")
                command.revision(cfg, args.message, autogenerate=True, rev_id=number)
            engine.dispose()


if __name__ == "__main__":
    main()
