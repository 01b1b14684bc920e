"""The offline HOG pipeline on real pedestrian footage (data/vtest.avi, `make sample-data`)."""

import numpy as np
import pytest

from tracking import create_detector, track_video

from .conftest import VTEST

pytestmark = pytest.mark.real_video


def test_hog_bytetrack_produces_plausible_tracklets_on_vtest():
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing; run `make sample-data`")
    tracklets, stats = track_video(VTEST, create_detector("hog"), "bytetrack", max_frames=120)
    assert stats.frames_processed == 120 and not stats.read.truncated
    assert len(tracklets) >= 3
    for t in tracklets:
        heights = t.boxes_xyxy[:, 3] - t.boxes_xyxy[:, 1]
        assert 40 < np.median(heights) < 400  # people, not the whole frame
        assert np.all(np.diff(t.timestamps) > 0)
        assert t.crops and t.thumbnail is not None and t.thumbnail.shape[2] == 3
    # 10 fps video: timestamps follow the frame clock.
    t = tracklets[0]
    np.testing.assert_allclose(t.timestamps, t.frame_indices / 10.0, atol=1e-3)
