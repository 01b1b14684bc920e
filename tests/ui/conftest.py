"""Fixtures of the UI tests: a fake service in a temp data dir, small valid/invalid video files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.ui.fakes import FakeService


@pytest.fixture
def service(tmp_path: Path) -> FakeService:
    return FakeService(tmp_path / "data")


def write_video(path: Path, frames: int = 4) -> Path:
    """A tiny real MP4/AVI (mp4v/MJPG) that OpenCV can read back."""
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 5.0, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 30 * k, np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


@pytest.fixture
def videos(tmp_path: Path) -> dict[str, Path]:
    up = tmp_path / "upload"
    up.mkdir()
    text = up / "notes.mp4"
    text.write_text("this is not a video, whatever its name says\n" * 20)
    return {
        "good": write_video(up / "lobby_20240501_093000.mp4"),
        "avi": write_video(up / "door cam.avi"),
        "bad": write_video(up / "bad.mp4"),
        "boom": write_video(up / "boom.mp4"),
        "fake": text,
        "txt": (up / "readme.txt"),
    }


@pytest.fixture(scope="session")
def synthetic_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two cameras of a synthetic scene sharing identities (640x360, 60 frames, 10 fps)."""
    from tests.support.synthetic import make_multicamera_scenes

    folder = tmp_path_factory.mktemp("footage")
    scenes = make_multicamera_scenes(num_cameras=2, num_identities=3, per_camera=3,
                                     num_frames=60, seed=1)
    return [Path(s.write_video(folder / f"entrance_{k}.mp4")) for k, s in enumerate(scenes)]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``reid serve`` (HOG + MobileNetV2, stride 2, 5 MB upload limit) on a fresh data dir."""
    from tests.ui.server import ServerProcess

    root = tmp_path_factory.mktemp("serve")
    proc = ServerProcess(root / "data", root / "serve.log", "--detector", "hog", "--embedder",
                         "mobilenet", "--stride", "2", "--max-upload-mb", "5",
                         "--archive-root", str(root))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def indexed(server, synthetic_videos: list[Path]) -> tuple[object, str]:
    """The server with both synthetic videos uploaded and indexed through the HTTP API.

    Returns ``(server, progress HTML of the indexing call)``.
    """
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    table = {"headers": ["file", "camera", "start time (UTC, optional)"],
             "data": [[p.name, f"cam-{k}", f"2024-05-01 09:00:0{k}"]
                      for k, p in enumerate(synthetic_videos)]}
    html = client.predict([handle_file(str(p)) for p in synthetic_videos], table,
                          api_name="/index_files")
    return server, html
