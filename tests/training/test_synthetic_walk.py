"""``render_walk``: new frames of a synthetic dataset's known people under its cameras."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from training.datasets.synthetic import generate_synthetic, render_walk


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, num_train_ids=3, num_test_ids=1, num_cams=2, frames_range=(2, 3))
    return root


def test_walk_is_the_dataset_person_under_the_dataset_camera(root) -> None:
    walk = render_walk(root, 1, 0, 4, size=(64, 32), seed=3)
    assert len(walk) == 4 and walk[0].shape == (64, 32, 3) and walk[0].dtype == np.uint8
    again = render_walk(root, 1, 0, 4, size=(64, 32), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(walk, again, strict=True))
    assert not np.array_equal(walk[0], render_walk(root, 1, 0, 1, size=(64, 32), seed=4)[0])
    # Another camera changes the look (light, colour cast, background), another person the clothes.
    other_cam = render_walk(root, 1, 1, 1, size=(64, 32), seed=3)[0].astype(float)
    other_person = render_walk(root, 2, 0, 1, size=(64, 32), seed=3)[0].astype(float)
    assert np.abs(walk[0] - other_cam).mean() > 5 and np.abs(walk[0] - other_person).mean() > 5
    # It looks like the dataset's own frames of that person on that camera, not on the other one.
    manifest = json.loads((root / "manifest.json").read_text())

    def own(camid: int) -> np.ndarray:
        frame = next(r["frames"][0] for r in manifest["train"] if r["pid"] == 1 and r["camid"] == camid)
        return np.median(np.asarray(Image.open(root / frame), dtype=float).reshape(-1, 3), 0)

    colour = np.median(walk[0].reshape(-1, 3).astype(float), 0)
    assert np.abs(colour - own(0)).sum() < np.abs(colour - own(1)).sum()


def test_bad_ids_and_old_manifests_are_refused(root, tmp_path) -> None:
    with pytest.raises(ValueError, match="out of range: the dataset has 4 identities and 2 cameras"):
        render_walk(root, 4, 0, 1)
    old = json.loads((root / "manifest.json").read_text())
    del old["identities"]
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="generate it again"):
        render_walk(tmp_path, 0, 0, 1)
