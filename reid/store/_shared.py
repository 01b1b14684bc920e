"""What the parts of a gallery share: its layout, database, lock and write permission."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from reid.store._db import Database
from reid.store._errors import GalleryError
from reid.store.layout import GalleryLayout

__all__ = ["CHUNK", "GalleryContext", "chunks"]

CHUNK = 500  # ids per SQL IN (...) list; SQLite allows 999 bound variables on old builds


def chunks(values: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    """``values`` as lists of at most ``size`` ints (for SQL ``IN`` lists)."""
    values = [int(v) for v in values]
    for i in range(0, len(values), size):
        yield values[i:i + size]


@dataclass
class GalleryContext:
    """An opened gallery, as the store's parts (catalogue, annotations, vectors) see it.

    Attributes:
        layout: the data dir's paths.
        db: the opened database.
        read_only: the data dir or database cannot be written (writes raise ``GalleryError``).
        gallery_id: the gallery's id (None: a read-only database that has none yet).
        lock: serialises changes that span the database and the in-memory index.
    """

    layout: GalleryLayout
    db: Database
    read_only: bool
    gallery_id: str | None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def require_writable(self) -> None:
        """Raise ``GalleryError`` when the gallery was opened read-only."""
        if self.read_only:
            raise GalleryError(
                f"the gallery in {self.layout.data_dir} is read-only for this user: searching "
                "works, but indexing, deleting, re-indexing and feedback need write access to the "
                "data dir and its files (fix the owner or permissions, e.g. `chown -R $USER DIR`)")
