"""The gallery's ``vectors_version`` row: what orders appends and counts other changes of
descriptors, so that a process following the database by id watermark (``_follow``) misses
nothing.

- Appends lock the row (``SELECT ... FOR UPDATE``; SQLite serialises writers anyway) before their
  tracklets take ids, so ids commit in the order they are given.
- Every other change of descriptors (deleting a video, clearing damaged descriptors,
  re-indexing) bumps the version it holds.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reid.store._db import Database
from reid.store._models import StoreMeta

__all__ = ["VERSION_KEY", "bump_version", "ensure_version_row", "lock_for_append", "read_version"]

VERSION_KEY = "vectors_version"
"""``store_meta`` row that orders appends (its row lock) and counts other descriptor changes."""


def _version_of(row: StoreMeta | None) -> int:
    return 0 if row is None else int(dict(row.value).get("version", 0))


def _version_row(s: Session) -> StoreMeta:
    """The ``vectors_version`` row, locked until ``s`` ends (created when missing)."""
    row = s.get(StoreMeta, VERSION_KEY, with_for_update=True)
    if row is None:
        row = StoreMeta(key=VERSION_KEY, value={"version": 0})
        s.add(row)
        s.flush()
    return row


def ensure_version_row(db: Database) -> None:
    """Create the ``vectors_version`` row if missing, in its own transaction (so that two first
    writers of a new gallery do not both insert it inside their appends)."""
    try:
        with db.begin() as s:
            if s.get(StoreMeta, VERSION_KEY) is None:
                s.add(StoreMeta(key=VERSION_KEY, value={"version": 0}))
    except IntegrityError:
        pass  # another process created it meanwhile


def lock_for_append(s: Session) -> None:
    """In session ``s``, before it takes new tracklet ids: wait for other appending transactions
    to end, so that ids commit in the order they are given (see the module docstring)."""
    _version_row(s)


def bump_version(s: Session) -> None:
    """In session ``s``: record a change of descriptors other than an append (followers then
    compare their ids with the database's)."""
    row = _version_row(s)
    row.value = {"version": _version_of(row) + 1}


def read_version(s: Session) -> int:
    """The current ``vectors_version`` (0 when no change was ever recorded)."""
    return _version_of(s.get(StoreMeta, VERSION_KEY))
