"""GalleryLayout names every path of a data dir; the store and its helpers use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reid.store import GalleryLayout


def test_layout_paths_are_inside_the_data_dir(tmp_path: Path) -> None:
    layout = GalleryLayout.of(tmp_path / "g")
    assert layout.data_dir == (tmp_path / "g").resolve()
    assert layout.db.name == "reid.db" and layout.db_url.endswith("/g/reid.db")
    assert (layout.index.name, layout.index_meta.name) == ("vectors.faiss", "vectors.json")
    assert layout.tracklet_crops(3, 7) == layout.crops / "3" / "7"
    assert layout.clip_stem(12).name == "tracklet_12"
    for path in (layout.db, layout.index, layout.crops, layout.clips, layout.exports,
                 layout.uploads, layout.models, layout.write_lock, layout.legacy_ui_cache):
        assert path.parent == layout.data_dir
    assert not (tmp_path / "g").exists()  # naming a path creates nothing
    assert {p.name for p in layout.created_dirs()} == {"g", "crops", "uploads"}
    assert {"reid.db", "vectors.faiss", "uploads", "models"} <= set(layout.private_names())


@pytest.mark.sqlite_only  # checks that reid.db is created in the data dir
def test_store_and_site_models_use_the_layout(tmp_path: Path) -> None:
    from reid.adapt.models import SiteModels
    from reid.store import Store

    with Store.open(tmp_path) as store:
        layout = store.layout
        assert layout == GalleryLayout.of(tmp_path)
        assert (store.index_path, store.meta_path) == (layout.index, layout.index_meta)
        assert store.crop_dir(1, 2) == layout.tracklet_crops(1, 2)
        assert layout.db.is_file() and layout.crops.is_dir() and layout.uploads.is_dir()
    assert SiteModels(tmp_path).folder == layout.models


def test_importing_the_store_package_loads_no_heavy_library() -> None:
    code = ("import sys, reid.store; from reid.store import GalleryLayout; "
            "print(sorted(m for m in ('faiss', 'sqlalchemy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
