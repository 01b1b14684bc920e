from pathlib import Path

import numpy as np
import pytest

from tests.support.synthetic import GroundTruthDetector
from tracking.pipeline import track_video
from tracking.video import VideoError, VideoReader


def test_reads_fps_size_and_timestamps(simple_scene):
    scene, path = simple_scene
    reader = VideoReader(path)
    assert reader.info.fps == pytest.approx(scene.fps)
    assert (reader.info.width, reader.info.height) == scene.size_wh
    frames = list(reader)
    assert len(frames) == scene.num_frames
    ts = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(ts, np.arange(scene.num_frames) / scene.fps, atol=1e-3)
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (360, 640, 3)


def test_stride_keeps_real_indices_and_times(simple_scene):
    scene, path = simple_scene
    frames = list(VideoReader(path, stride=3, max_frames=30))
    assert [f.index for f in frames] == list(range(0, 30, 3))
    assert frames[2].timestamp == pytest.approx(6 / scene.fps, abs=1e-3)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")


def test_not_a_video_says_so(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="not a video|zero decodable"):
        VideoReader(bad)


def test_empty_file_is_an_error(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="ffmpeg"):
        VideoReader(empty)


def test_bad_stride_rejected(simple_scene):
    with pytest.raises(ValueError, match="stride"):
        VideoReader(simple_scene[1], stride=0)


def test_truncated_video_keeps_tracklets_before_the_cut(simple_scene, tmp_path):
    scene, path = simple_scene
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 2 // 3])
    reader = VideoReader(cut)
    frames = list(reader)
    assert 0 < len(frames) < scene.num_frames
    assert reader.stats.truncated
    tracklets, stats = track_video(cut, GroundTruthDetector(scene), "bytetrack")
    assert stats.read.truncated
    assert tracklets, "tracklets decoded before the cut must be kept"
    assert max(int(t.frame_indices[-1]) for t in tracklets) < scene.num_frames


def test_corrupt_bytes_in_the_middle_do_not_end_the_video(simple_scene, tmp_path):
    scene, path = simple_scene
    data = bytearray(Path(path).read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(bytes(data))
    tracklets, stats = track_video(bad, GroundTruthDetector(scene), "bytetrack")
    assert stats.frames_processed >= scene.num_frames - 5
    assert max(int(t.frame_indices[-1]) for t in tracklets) > scene.num_frames // 2
