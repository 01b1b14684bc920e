"""Opening is explicit: Store.open opens and repairs; the constructor touches no file."""

from __future__ import annotations

import numpy as np
import pytest

from reid.store import GalleryLayout, Store
from reid.store._opening import gallery_identity, open_database
from reid.store._shared import GalleryContext
from tests.store.helpers import FP, person_gallery


def _context(layout: GalleryLayout, db_url: str | None) -> GalleryContext:
    db, read_only, created = open_database(layout, db_url or layout.db_url)
    gid = gallery_identity(db, layout.crops, created=created, read_only=read_only)
    return GalleryContext(layout, db, read_only, gid)


def test_a_path_is_refused_with_the_way_to_open(tmp_path):
    with pytest.raises(TypeError, match=r"Store\.open"):
        Store(tmp_path)  # type: ignore[arg-type]


def test_the_constructor_repairs_nothing_until_check_index(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store)
    layout = GalleryLayout.of(tmp_path)
    layout.index_meta.unlink()
    store = Store(_context(layout, db_url))
    try:
        assert not layout.index_meta.exists() and not store.repair_report.changed
        with pytest.raises(RuntimeError, match="Store.open"):
            store.search_vectors(np.ones((1, FP["dim"]), np.float32), 3)
        report = store.check_index()  # the explicit repair
        assert report.rebuilt and layout.index_meta.is_file()
        assert store.index is not None and store.index.ntotal == len(truth)
    finally:
        store.close()
    with Store.open(tmp_path, db_url=db_url) as again:  # repaired on disk: nothing left to do
        assert not again.repair_report.changed and again.index.ntotal == len(truth)
