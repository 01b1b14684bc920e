"""`reid adapt` end to end on real footage: both methods, the gallery re-embedded with the result,
nothing lost on rollback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main as reid
from tests.app.test_gallery_cli import VTEST
from tests.support.clips import cut_clip

pytestmark = [
    pytest.mark.real_video,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`"),
]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("footage")
    for name, start in (("north", 0), ("south", 400)):
        (root / name).mkdir()
        cut_clip(VTEST, root / name / f"{name}.avi", start, 150)
    data = tmp_path_factory.mktemp("gallery") / "g"
    assert reid(["index", str(root), "--data-dir", str(data)]) == 0
    return data


def _fingerprint(data: Path) -> str:
    import json

    return json.dumps(json.loads((data / "vectors.json").read_text())["fingerprint"])


def _vectors(data: Path) -> dict[int, bytes]:
    with sqlite3.connect(data / "reid.db") as db:
        return dict(db.execute("SELECT id, descriptor FROM tracklets").fetchall())


def run(args: list[str], capsys) -> str:
    assert reid(args) == 0
    return capsys.readouterr().out


def test_head_adapt_reindex_search_and_rollback(gallery, tmp_path, capsys):
    data = tmp_path / "g"
    import shutil

    shutil.copytree(gallery, data)
    before_fp, before = _fingerprint(data), _vectors(data)
    assert "no adapted models" in run(["adapt", "--list", "--data-dir", str(data)], capsys)
    out = run(["adapt", "--data-dir", str(data)], capsys)
    assert "pseudo-identities" in out and "active model: site-head-0001.pt" in out
    assert f"re-embedded {len(before)} tracklets with mobilenetv2-stripes-colour+site" in out
    assert "site_head" in _fingerprint(data)
    after = _vectors(data)
    assert set(after) == set(before) and any(after[i] != before[i] for i in before)
    assert not list(data.glob("adapt-*")), "the working copy of the crops is removed"
    first = min(before)
    found = run(["search", "--tracklet", str(first), "--top-k", "3", "--data-dir", str(data)], capsys)
    assert "matches in" in found
    listed = run(["adapt", "--list", "--data-dir", str(data)], capsys)
    assert "* site-head-0001.pt  head" in listed
    out = run(["adapt", "--rollback", "--data-dir", str(data)], capsys)
    assert "active model: none (no adaptation)" in out
    assert _fingerprint(data) == before_fp
    restored = _vectors(data)
    # the bare descriptors of the stored crops come back (indexing embedded the crops before they
    # were saved as JPEG, so those are compared with the crop files embedded here)
    from reid.embed import MobileNetEmbedder
    from reid.store import Store

    with Store.open(data) as store:
        infos = store.get_tracklets(sorted(before))
    crops = [[cv2.imread(str(p))[:, :, ::-1].copy() for p in infos[i].crop_paths] for i in sorted(before)]
    expected = MobileNetEmbedder().embed_tracklets(crops)
    got = np.stack([np.frombuffer(restored[i], np.float32) for i in sorted(before)])
    assert np.allclose(got, expected, atol=1e-5)
    assert (data / "models" / "site-head-0001.pt").is_file()  # kept to go forward again
    assert reid(["adapt", "--rollback", "--data-dir", str(data)]) == 1  # nothing left to undo
    assert "nothing to roll back" in capsys.readouterr().err


def test_export_only_writes_a_mars_set(gallery, tmp_path, capsys):
    from training.datasets.mars import load_mars

    out = run(["adapt", "--data-dir", str(gallery), "--export-only", str(tmp_path / "set")], capsys)
    assert "pseudo-identities" in out
    mars = load_mars(tmp_path / "set")
    assert mars.num_train_pids >= 2 and mars.num_cams == 2
    assert not (gallery / "models").exists()  # nothing activated


def test_tfclip_fine_tune_on_pseudo_identities(gallery, tmp_path, capsys):
    import shutil

    data = tmp_path / "g"
    shutil.copytree(gallery, data)
    out = run(["adapt", "--data-dir", str(data), "--method", "tfclip", "--arch", "tfclip-tiny",
               "--init", "none", "--epochs", "1", "--max-iters", "2"], capsys)
    assert "active model: tfclip-site-0001.pt (TF-CLIP fine-tuned on pseudo-identities" in out
    assert "re-embedded" in out and "with tfclip-tiny" in out
    assert '"model": "tfclip-tiny"' in _fingerprint(data)
    listed = run(["adapt", "--list", "--data-dir", str(data)], capsys)
    assert "* tfclip-site-0001.pt  checkpoint" in listed


def test_bad_options_are_refused(tmp_path, capsys):
    assert reid(["adapt", "--data-dir", str(tmp_path / "g"), "--min-crops", "1"]) == 1
    assert reid(["adapt", "--data-dir", str(tmp_path / "g"), "--epochs", "3"]) == 1
    assert "belong to --method tfclip" in capsys.readouterr().err
    assert reid(["adapt", "--data-dir", str(tmp_path / "g"), "--method", "tfclip",
                 "--shrinkage", "2"]) == 1
