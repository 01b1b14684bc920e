import numpy as np

from tracking.config import StitchConfig
from tracking.records import Tracklet
from tracking.stitch import Stitcher, link_cost


def _fragment(track_id: int, frames: range, x0: float, vx: float, colour: tuple[int, int, int]) -> Tracklet:
    f = np.array(frames)
    x = x0 + vx * (f - f[0])
    boxes = np.stack([x, np.full_like(x, 50.0), x + 40, np.full_like(x, 150.0)], axis=1)
    crop = np.zeros((100, 40, 3), np.uint8)
    crop[:] = colour
    return Tracklet("v", "c", track_id, f, f / 10.0, boxes, np.full(len(f), 0.9),
                    crops=[crop.copy() for _ in range(4)], crop_frame_indices=list(f[:4]))


def test_fragments_that_agree_in_time_motion_and_colour_are_linked():
    cfg = StitchConfig(enabled=True)
    a = _fragment(1, range(0, 20), 0, 5, (200, 30, 30))
    b = _fragment(2, range(30, 50), 150, 5, (200, 30, 30))  # continues a's walk after 1 s
    assert link_cost(a, b, cfg) is not None
    st = Stitcher(cfg, max_crops=4)
    st.push(a)
    st.push(b)
    assert st.links == 1 and len(st.pending) == 1
    merged = st.flush()[0]
    assert merged.track_id == 1 and len(merged) == 40 and len(merged.crops) == 4
    assert np.all(np.diff(merged.frame_indices) > 0)


def test_wrong_colour_wrong_place_or_long_gap_are_not_linked():
    cfg = StitchConfig(enabled=True)
    a = _fragment(1, range(0, 20), 0, 5, (200, 30, 30))
    assert link_cost(a, _fragment(2, range(30, 50), 150, 5, (30, 200, 30)), cfg) is None
    assert link_cost(a, _fragment(3, range(30, 50), 500, 5, (200, 30, 30)), cfg) is None
    assert link_cost(a, _fragment(4, range(60, 80), 300, 5, (200, 30, 30)), cfg) is None
    assert link_cost(a, _fragment(5, range(10, 30), 50, 5, (200, 30, 30)), cfg) is None  # overlap


def test_release_waits_for_running_tracks_that_could_continue():
    cfg = StitchConfig(enabled=True, max_gap_seconds=2.0)
    st = Stitcher(cfg, max_crops=4)
    st.push(_fragment(1, range(0, 20), 0, 5, (200, 30, 30)))  # ends at 1.9 s
    assert st.release(now_seconds=3.0, active_starts=[]) == []  # inside the gap window
    assert st.release(now_seconds=5.0, active_starts=[2.5]) == []  # a running track may link
    assert len(st.release(now_seconds=5.0, active_starts=[])) == 1
