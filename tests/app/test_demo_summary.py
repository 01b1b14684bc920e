"""``reid demo``'s summary on a fake two-camera gallery with synthetic labels: camera b's frames are
shifted to full-video frames, the example query is a person seen on both cameras, and where its
true match ranks is said plainly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from app.commands.demo import DEMO_START, DemoCamera, DemoFootage, summarize
from reid.service import Match, SearchResponse, ServiceStatus
from reid.store import TrackletInfo
from tracking.labels import labels_from_dict

FPS = 10.0
CAM_B_FIRST = 100  # cam-b's frame 0 is full-video frame 100
P1_A, P2_A = np.array([100.0, 50, 140, 150]), np.array([300.0, 60, 340, 160])  # people on cam-a
P1_B, P2_B = np.array([500.0, 200, 540, 300]), np.array([600.0, 250, 640, 350])  # the same on cam-b
FAR = np.array([700.0, 400, 740, 500])


def _rows(box: np.ndarray, frames: range) -> list[list[float]]:
    return [[f, *box.tolist()] for f in frames]


LABELS = labels_from_dict({"identities": [
    {"id": 1, "tracklets": [{"track_id": 1, "boxes": _rows(P1_A, range(30, 61, 3))},
                            {"track_id": 2, "boxes": _rows(P1_B, range(130, 161, 3))}]},
    {"id": 2, "tracklets": [{"track_id": 3, "boxes": _rows(P2_A, range(31, 62, 3))},
                            {"track_id": 4, "boxes": _rows(P2_B, range(141, 172, 3))}]}]})


def _tracklet(tid: int, camera: str, frames: range, box: np.ndarray):
    """A stored tracklet (camera frame numbers) and its boxes, following ``box`` on every frame."""
    on_a = camera == "cam-a"
    start = DEMO_START + dt.timedelta(seconds=(0 if on_a else CAM_B_FIRST) / FPS)
    info = TrackletInfo(id=tid, video_id=1 if on_a else 2, camera_id=1 if on_a else 2,
                        camera=camera, track_id=tid, first_frame=frames[0], last_frame=frames[-1],
                        start_s=frames[0] / FPS, end_s=frames[-1] / FPS, quality=1.0, crop_paths=(),
                        thumbnail_path=None, video_start_time=start, has_descriptor=True)
    return info, (np.array(frames, np.int64), np.tile(box.astype(np.float32), (len(frames), 1)))


class FakeService:
    """The few service calls ``summarize`` makes, over fixed tracklets and fixed rankings."""

    def __init__(self, rankings: dict[int, list[int]]):
        made = [_tracklet(1, "cam-a", range(25, 66), P1_A),      # person 1, the longest
                _tracklet(2, "cam-a", range(30, 62), P2_A),      # person 2
                _tracklet(3, "cam-a", range(0, 20), FAR),        # nobody labelled
                _tracklet(11, "cam-b", range(30, 61), P1_B),     # person 1 (full frames 130-160)
                _tracklet(12, "cam-b", range(41, 72), P2_B),     # person 2 (full frames 141-171)
                _tracklet(13, "cam-b", range(0, 30), FAR)]       # nobody labelled
        self.infos = {info.id: info for info, _ in made}
        self.boxes = {info.id: boxes for info, boxes in made}
        self.store = SimpleNamespace(get_boxes=lambda tid: self.boxes[tid])
        self.rankings = rankings
        self.requests = []

    def status(self) -> ServiceStatus:
        return ServiceStatus(Path("/gallery"), "ssd", True, "mobilenet", "mobilenet", True, 1280, "flat",
                             2, 6, {"cam-a": 3, "cam-b": 3})

    def list_tracklets(self, camera=None, video_id=None, limit=500):
        return [t for t in self.infos.values() if video_id is None or t.video_id == video_id]

    def search(self, request, actor="cli") -> SearchResponse:
        self.requests.append(request)
        ranked = [self.infos[i] for i in self.rankings[request.tracklet_id]][:request.top_k]
        return SearchResponse(self.infos[request.tracklet_id],
                              [Match(t, 0.9 - 0.1 * k, k + 1) for k, t in enumerate(ranked)], 0.0)


def _footage() -> DemoFootage:
    return DemoFootage(200, (768, 576), [
        DemoCamera(Path("cam-a.mp4"), "cam-a", DEMO_START, 0, CAM_B_FIRST),
        DemoCamera(Path("cam-b.mp4"), "cam-b", DEMO_START + dt.timedelta(seconds=CAM_B_FIRST / FPS),
                   CAM_B_FIRST, 100)])


def test_the_example_is_a_person_on_both_cameras_and_its_rank_is_said_plainly():
    service = FakeService({1: [13, 11, 12], 2: [12, 13, 11]})
    lines = summarize(service, _footage(), {"cam-a": 1, "cam-b": 2}, LABELS)
    text = "\n".join(lines)
    assert "cam-a = frames 0-99, cam-b = frames 100-199 of 200 (no frame seen by both)" in text
    assert ("2 of 3 cam-a and 2 of 3 cam-b tracklets show one of them; "
            "on both cameras: person 1, person 2") in text
    assert "example search, query #1 · cam-a" in text and "[person 1]:" in text
    assert "  2. score 0.800  #11 · cam-b" in text and "[person 1] <- true match" in text
    assert "true match (person 1 on cam-b) ranks 2 of 3" in lines
    assert any(line.startswith("the true match is not first") for line in lines)
    assert lines[-1] == ("all labelled cross-camera queries: true match first for 1 of 2 "
                         "(Rank-1 0.50, 0.33 by chance), in the top 5 for 2 of 2")
    assert "seen at the same time" not in text
    assert [r.tracklet_id for r in service.requests] == [1, 2]
    for r in service.requests:
        assert r.cameras == ["cam-b"] and r.exclude_same_camera and not r.use_feedback and r.top_k >= 3


def test_a_true_match_ranked_first_is_not_called_otherwise():
    service = FakeService({1: [11, 13, 12], 2: [12, 13, 11]})
    lines = summarize(service, _footage(), {"cam-a": 1, "cam-b": 2}, LABELS)
    assert "true match (person 1 on cam-b) ranks 1 of 3" in lines
    assert not any("not first" in line for line in lines)
    assert "true match first for 2 of 2 (Rank-1 1.00" in lines[-1]


def test_without_labels_the_example_is_unchecked():
    service = FakeService({1: [13, 11, 12]})
    lines = summarize(service, _footage(), {"cam-a": 1, "cam-b": 2}, None, "made on other footage")
    text = "\n".join(lines)
    assert "ground truth: none for this footage (made on other footage)" in text
    assert "example search, query #1 · cam-a" in text  # the longest camera-a tracklet
    assert "true match" not in text and "person" not in text
