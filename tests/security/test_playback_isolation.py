"""Playback decodes the source video again, in a child process: a crash or hang there costs one clip."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from reid.service._isolated import IsolatedCallError, IsolatedCalls


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang() -> None:
    time.sleep(600)


def _pid_and_double(x: int) -> tuple[int, int]:
    return os.getpid(), 2 * x


def _refuse(text: str) -> None:
    raise ValueError(text)


def test_a_crash_or_hang_in_the_child_is_an_error_and_the_next_call_works() -> None:
    calls = IsolatedCalls("rendering playback", timeout_s=120)
    try:
        pid, doubled = calls.call(_pid_and_double, 21)
        assert doubled == 42 and pid != os.getpid()
        with pytest.raises(IsolatedCallError, match="crashed"):
            calls.call(_crash)
        new_pid, _ = calls.call(_pid_and_double, 1)
        assert new_pid != pid
        with pytest.raises(ValueError, match="bad input"):  # ordinary errors pass through
            calls.call(_refuse, "bad input")
        calls.timeout_s = 3.0
        with pytest.raises(IsolatedCallError, match="longer than"):
            calls.call(_hang)
        calls.timeout_s = 120
        assert calls.call(_pid_and_double, 2)[1] == 4
    finally:
        calls.close()


def test_the_service_renders_playback_in_the_child(tmp_path: Path) -> None:
    from reid.service import ReidService
    from reid.store import Store
    from tests.service.conftest import OracleEmbedder
    from tests.support.synthetic import GroundTruthDetector, make_multicamera_scenes
    from tracking import load_tracking_config

    scene = make_multicamera_scenes(num_cameras=1, num_identities=2, per_camera=2, seed=2,
                                    num_frames=30, size_wh=(320, 240))[0]
    service = ReidService(Store.open(tmp_path / "data"), GroundTruthDetector(scene), OracleEmbedder([scene]),
                          load_tracking_config("bytetrack"))
    video = scene.write_video(tmp_path / "cam.avi")
    assert service.index_video(video, camera="cam").status == "indexed"
    tid = service.store.list_tracklets(limit=None)[0].id
    inline = service.render_frames(tid, n=3)
    service.isolate_playback()
    try:
        isolated = service.render_frames(tid, n=3)
        assert len(isolated) == len(inline) > 0
        assert all(np.array_equal(a, b) for a, b in zip(inline, isolated, strict=True))
        clip = service.render_clip(tid)
        assert clip.is_file() and clip.stat().st_size > 0
        Path(video).write_bytes(b"no longer a video")  # replaced on disk after indexing
        with pytest.raises(Exception, match="cannot open|no frames"):
            service.render_frames(tid, n=3)
    finally:
        service.close()
