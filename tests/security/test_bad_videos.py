"""Videos whose frames native code cannot handle: refused with a message, never a crash.

Attack class (issue 9, item 1): a valid video with frames smaller than OpenCV's HOG window (8x8,
1x1, 64x48) aborted or segfaulted the indexing process, so a folder batch stopped at that file;
a huge frame (8000x8000) took minutes and gigabytes; absurd headers were believed. Item 9: a
symbolic link inside an archive folder that leads outside it was indexed.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from reid.store import Store
from tests.security.videos import scene_video, videos_by_name, write_mjpg
from tests.ui.server import REPO, run_reid

INDEX_ARGS = ("--detector", "hog", "--embedder", "mobilenet", "--stride", "2")


def patch_avi_header(path: Path, *, frames: int | None = None,
                     scale_rate: tuple[int, int] | None = None) -> Path:
    """Rewrite an OpenCV MJPG AVI's announced frame count (avih and strh) or its frame rate."""
    data = bytearray(path.read_bytes())
    strh = data.find(b"strh") + 8
    if frames is not None:
        struct.pack_into("<I", data, 48, frames)  # avih.dwTotalFrames
        struct.pack_into("<I", data, strh + 32, frames)  # strh.dwLength
    if scale_rate is not None:
        struct.pack_into("<II", data, strh + 20, *scale_rate)  # strh.dwScale, dwRate
    path.write_bytes(bytes(data))
    return path


def test_bad_videos_fail_with_a_message_and_the_batch_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    tiny = [write_mjpg(folder / f"a_{w}x{h}.avi", w, h) for w, h in ((1, 1), (8, 8), (64, 48))]
    huge = write_mjpg(folder / "b_huge.avi", 4200, 2200, frames=1)  # 9.2 megapixels, over 4K
    count = patch_avi_header(write_mjpg(folder / "c_count.avi", 96, 96), frames=2_000_000_000)
    slow = patch_avi_header(write_mjpg(folder / "d_fps.avi", 96, 96), scale_rate=(1_000_000, 1))
    good = scene_video(folder / "z_good.avi")
    data = tmp_path / "data"

    result = run_reid("index", str(folder), "--data-dir", str(data), *INDEX_ARGS, timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out  # some files failed, none crashed the batch
    videos = videos_by_name(data)
    assert videos[good.name].status == "done", out
    assert videos[slow.name].status == "done", out
    assert 0.1 <= videos[slow.name].fps <= 1000, videos[slow.name]  # a believable frame rate
    for path in tiny:
        assert videos[path.name].status == "failed" and "too small" in videos[path.name].error, out
        assert f"FAILED  {path}" in result.stdout
    assert videos[huge.name].status == "failed" and "megapixels" in videos[huge.name].error
    assert videos[count.name].status == "failed" and "announces" in videos[count.name].error
    assert not [v for v in videos.values() if v.status in ("pending", "indexing")]
    store = Store.open(data)
    try:
        assert store.list_tracklets(video_id=videos[good.name].id)  # the good file was indexed
    finally:
        store.close()


def test_the_detector_survives_frames_of_any_shape() -> None:
    """Run in a child interpreter: before the fix these abort or segfault inside OpenCV."""
    code = """
import json, numpy as np
from tracking.detect import HOGDetector
rng = np.random.default_rng(0)
shapes = [(1, 1, 3), (8, 8, 3), (48, 64, 3), (64, 64, 3), (64, 128, 3), (90, 300, 3),
          (200, 32, 3), (300, 16, 3), (127, 64, 3), (64, 48), (48, 64, 1), (64, 64, 4)]
images = [rng.integers(0, 255, s, dtype=np.uint8) for s in shapes]
images += [rng.integers(0, 65535, (64, 64, 3), dtype=np.uint16), rng.random((8, 8, 3)).astype(np.float32)]
counts = []
for detector in (HOGDetector(workers=1), HOGDetector(max_side=100)):
    for i, image in enumerate(images):
        det = detector.detect([image], [i])[0]
        counts.append(len(det))
print(json.dumps(counts))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0] * 28


def test_folder_links_that_lead_outside_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "private"
    (outside / "cam9").mkdir(parents=True)
    secret = scene_video(outside / "secret.avi")
    scene_video(outside / "cam9" / "other.avi")
    archive = tmp_path / "archive"
    (archive / "cam1").mkdir(parents=True)
    own = write_mjpg(archive / "cam1" / "own.avi", 96, 96)
    os.symlink(secret, archive / "cam1" / "link.avi")
    os.symlink(outside / "cam9", archive / "cam9")
    os.symlink(own, archive / "cam1" / "inside.avi")  # inside the folder: fine

    from reid.service import iter_videos

    assert [p.name for p, _ in iter_videos(archive)] == ["inside.avi", "own.avi"]
    skipped: list[Path] = []
    found = list(iter_videos(archive, on_skip=lambda path, reason: skipped.append(path)))
    assert [p.name for p, _ in found] == ["inside.avi", "own.avi"]
    assert sorted(p.name for p in skipped) == ["cam9", "link.avi"]

    data = tmp_path / "data"
    result = run_reid("index", str(archive), "--data-dir", str(data), *INDEX_ARGS, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout and "link.avi" in result.stdout
    names = {Path(v.path).name for v in videos_by_name(data).values()}
    assert "secret.avi" not in names and "other.avi" not in names and "own.avi" in names
