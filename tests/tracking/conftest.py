"""Shared fixtures: small synthetic scenes written to video files once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.synthetic import GroundTruthDetector, SyntheticScene, make_scene

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"


def gt_frames(scene: SyntheticScene, min_visibility: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Ground truth of the people a detector with ``min_visibility`` can see."""
    out = {}
    for f in range(scene.num_frames):
        g = scene.ground_truth(f)
        keep = g.visibility >= min_visibility
        if keep.any():
            out[f] = (g.ids[keep], g.boxes_xyxy[keep])
    return out


@pytest.fixture(scope="session")
def simple_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticScene, Path]:
    scene = make_scene(num_people=5, num_frames=120, seed=1)
    path = tmp_path_factory.mktemp("scenes") / "simple.avi"
    scene.write_video(path)
    return scene, path


@pytest.fixture(scope="session")
def occluded_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticScene, Path]:
    scene = make_scene(num_people=6, num_frames=150, seed=3, occlusions=True)
    path = tmp_path_factory.mktemp("scenes") / "occluded.avi"
    scene.write_video(path)
    return scene, path


@pytest.fixture
def gt_detector_factory():
    return GroundTruthDetector
