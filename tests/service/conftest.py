"""Fixtures: synthetic multi-camera footage indexed through the real service with ground-truth
detections, and an oracle embedder that knows who each tracklet is."""

from __future__ import annotations

import numpy as np
import pytest

from reid.embed import make_fingerprint
from reid.service import ReidService
from reid.store import Store
from tests.support.synthetic import GroundTruthDetector, make_multicamera_scenes
from tracking import load_tracking_config

DIM = 32


class OracleEmbedder:
    """Descriptor = one-hot of the identity whose clothing colour dominates the crops.

    The synthetic people's shirt colour is a function of identity, so the oracle reads it from the
    crop pixels: exact descriptors, which isolate the plumbing (tracking, storage, search) from the
    model's quality.
    """

    name = "oracle"
    kind = "oracle"
    is_fallback = False
    dim = DIM

    def __init__(self, scenes):
        from tests.support.synthetic import Appearance

        ids = sorted({p.identity for s in scenes for p in s.paths})
        self.shirts = {i: np.array(Appearance.for_identity(i).shirt[::-1], float) for i in ids}  # RGB
        self.fingerprint = make_fingerprint("oracle", "exact", DIM, {"input_size": [1, 1]})

    def _identity(self, crop: np.ndarray) -> int:
        h = crop.shape[0]
        torso = crop[int(h * 0.3): int(h * 0.5)].reshape(-1, 3).astype(float)
        dist = {i: np.abs(torso - c).sum(1).__lt__(60).mean() for i, c in self.shirts.items()}
        return max(dist, key=dist.get)

    def embed_tracklets(self, crops, cameras=None):
        out = np.zeros((len(crops), DIM), np.float32)
        for row, cs in enumerate(crops):
            votes = np.bincount([self._identity(c) for c in cs], minlength=DIM)
            out[row, int(votes.argmax())] = 1.0
        return out

    def embed_images(self, images):
        return self.embed_tracklets([[im] for im in images])


@pytest.fixture(scope="module")
def scenes():
    return make_multicamera_scenes(num_cameras=2, num_identities=4, per_camera=3, seed=1,
                                   num_frames=60, size_wh=(480, 270))


@pytest.fixture(scope="module", params=[
    "sqlite-files", pytest.param("postgresql-database", marks=pytest.mark.postgres)])
def indexed(request, tmp_path_factory, scenes):
    """A service over a gallery with the two synthetic camera videos indexed: once on SQLite with
    the index in the data dir's files, once on PostgreSQL with the index built from the database
    (a server sharing its catalogue)."""
    root = tmp_path_factory.mktemp("gallery")
    if request.param == "sqlite-files":
        store = Store.open(root / "data")
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database()
        request.addfinalizer(lambda: server.drop_database(url))
        store = Store.open(root / "data", db_url=url, index_source="database")
    request.addfinalizer(store.close)
    service = ReidService(store, GroundTruthDetector(scenes[0]), OracleEmbedder(scenes),
                          load_tracking_config("bytetrack"))
    reports = []
    for scene in scenes:
        path = scene.write_video(root / f"{scene.camera_id}.avi")
        service.detector = GroundTruthDetector(scene)
        reports.append(service.index_video(path, camera=scene.camera_id))
    return service, reports
