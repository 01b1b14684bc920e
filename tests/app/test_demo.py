"""`reid demo --no-serve`, the job behind `make demo`, end to end on the real sample footage."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"


@pytest.mark.real_video
@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`")
def test_demo_indexes_two_cameras_and_finds_the_query_on_the_other(tmp_path):
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    cmd = [sys.executable, "-m", "app", "demo", "--no-serve", "--data-dir", str(tmp_path / "gallery"),
           "--video", str(VTEST)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3000, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    counts = {cam: int(n) for cam, n in re.findall(r"^(cam-[ab]): indexed, (\d+) tracklets", out, re.M)}
    assert set(counts) == {"cam-a", "cam-b"} and min(counts.values()) > 0, out
    assert "offline fallback" in out
    hits = re.findall(r"^\s+1\. score ([0-9.]+)\s+#\d+ · (cam-[ab])", out, re.M)
    assert hits, out
    score, camera = hits[0]
    assert camera == "cam-b" and 0.0 < float(score) <= 1.0
