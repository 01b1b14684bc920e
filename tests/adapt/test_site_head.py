"""The site head: whitening learned from tracklets, refinement with certain negatives, the file,
the embedder wrapper and the data dir's model list with its rollback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reid.adapt import SiteHeadEmbedder, SiteModels, load_head, save_head
from reid.adapt.head import refine_projection, whitening_projection
from reid.embed import make_fingerprint

D = 16


def _tracklets(rng, people: int = 12, crops: int = 10, nuisance: float = 1.0, signal: float = 0.25):
    """Per person two tracklets: a small identity offset in dims 0-3, large per-crop noise in dims
    4-15 (what changes while a person stays the same)."""
    identity = rng.standard_normal((people, D)) * np.r_[np.full(4, signal), np.zeros(D - 4)]
    out, owner = [], []
    for p in range(people):
        for _ in range(2):
            noise = rng.standard_normal((crops, D)) * np.r_[np.full(4, 0.02), np.full(D - 4, nuisance)]
            out.append((identity[p] + noise).astype(np.float32))
            owner.append(p)
    return out, np.asarray(owner)


def _rank1(tracklets, owner, projection=None) -> float:
    x = np.stack([t.mean(axis=0) for t in tracklets])
    if projection is not None:
        x = x @ projection
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.mean(owner[sims.argmax(axis=1)] == owner))


def test_whitening_turns_down_what_varies_within_tracklets():
    rng = np.random.default_rng(0)
    fit, _ = _tracklets(rng)  # fitted on one set of people...
    test, owner = _tracklets(rng)  # ...measured on others
    projection = whitening_projection(fit, shrinkage=0.1)
    assert projection.shape == (D, D) and np.allclose(projection, projection.T, atol=1e-6)
    before, after = _rank1(test, owner), _rank1(test, owner, projection)
    assert after >= before + 0.3, (before, after)
    # more shrinkage: closer to the identity map
    wide = whitening_projection(fit, shrinkage=1e6)
    assert np.allclose(wide / wide[0, 0], np.eye(D), atol=1e-3)


def test_whitening_refuses_too_little():
    with pytest.raises(ValueError, match="two tracklets"):
        whitening_projection([np.zeros((3, D))])
    with pytest.raises(ValueError, match="shrinkage"):
        whitening_projection([np.zeros((3, D))] * 2, shrinkage=0)


def test_refinement_separates_certain_negatives_and_needs_them():
    rng = np.random.default_rng(1)
    tracklets, _ = _tracklets(rng, people=6, nuisance=0.3)
    start = np.eye(D, dtype=np.float32)
    assert refine_projection(start, tracklets, np.zeros((0, 2), np.int64), steps=50) is start
    pairs = np.array([[i, j] for i in range(0, 12, 2) for j in range(1, 12, 2) if j // 2 != i // 2])

    def margin(w):
        z = np.stack([t.mean(0) for t in tracklets]) @ w
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return float(np.mean([1 - z[a] @ z[b] for a, b in pairs]))

    refined = refine_projection(start, tracklets, pairs, steps=150, anchor=1e-3, lr=1e-2)
    assert refined.shape == (D, D)
    assert margin(refined) > margin(start) + 0.05


class _Base:
    name, kind, dim, is_fallback = "toy", "toy", D, True

    def __init__(self, weights: str = "w1"):
        self.fingerprint = make_fingerprint("toy", weights, D, {"input_size": [4, 2]})

    def embed_tracklets(self, crops, cameras=None):
        return np.stack([np.r_[np.mean([c.mean() for c in cs]), np.ones(D - 1)] for cs in crops]).astype(
            np.float32)

    def embed_images(self, images):
        return self.embed_tracklets([[i] for i in images])


def test_head_file_and_embedder(tmp_path):
    base = _Base()
    projection = np.diag(np.r_[1.0, np.full(D - 1, 0.01)]).astype(np.float32)
    path = save_head(tmp_path / "head.pt", projection, base.fingerprint, {"method": "test"})
    assert load_head(path)["fit"]["method"] == "test"
    emb = SiteHeadEmbedder.from_file(base, path)
    assert emb.dim == D and emb.is_fallback and emb.name == "toy+site"
    assert emb.fingerprint != base.fingerprint and emb.fingerprint["preprocess"]["site_head"]
    crops = [[np.full((4, 2, 3), 200, np.uint8)], [np.full((4, 2, 3), 10, np.uint8)]]
    out = emb.embed_tracklets(crops)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[0, 0] > 0.99 and out[1, 0] > 0.99  # the head turned dims 1.. down
    with pytest.raises(ValueError, match="fitted on toy descriptors, not on this toy"):
        SiteHeadEmbedder.from_file(_Base("other-weights"), path)
    (tmp_path / "x.pt").write_bytes(b"")
    import torch

    torch.save({"model": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a site head"):
        load_head(tmp_path / "x.pt")


def test_models_are_kept_and_rolled_back(tmp_path):
    models = SiteModels(tmp_path)
    assert models.active() is None and models.models() == []
    with pytest.raises(ValueError, match="nothing to roll back"):
        models.rollback()
    for k in range(2):
        (tmp_path / f"new{k}.pt").write_bytes(b"x")
    first = models.add(tmp_path / "new0.pt", "head", {"pseudo_identities": 3})
    second = models.add(tmp_path / "new1.pt", "checkpoint", {})
    assert (first.file, second.file) == ("site-head-0001.pt", "tfclip-site-0002.pt")
    assert second.previous == first.file and models.active() == second
    assert models.path(second).is_file() and models.path(first).is_file()
    assert models.rollback() == first
    assert models.rollback() is None
    assert [m.file for m in models.models()] == [first.file, second.file]  # files are kept
    (tmp_path / "new2.pt").write_bytes(b"x")
    models.add(tmp_path / "new2.pt", "head", {})
    (models.folder / models.active().file).unlink()
    with pytest.raises(FileNotFoundError, match="reid adapt --rollback"):
        models.path(models.active())
    models.state_path.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        models.active()
    models.state_path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="not a models list"):
        models.models()
