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
