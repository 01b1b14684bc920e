"""`reid demo --no-serve`, the job behind `make demo`, end to end on the real sample footage."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
# Hand-labelled people of vtest.avi seen both before and after its middle frame (assets/labels/).
ON_BOTH_HALVES = {1, 2, 5, 6, 10}


@pytest.mark.real_video
@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`")
def test_demo_searches_disjoint_cameras_and_says_where_the_true_match_ranks(tmp_path):
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    cmd = [sys.executable, "-m", "app", "demo", "--no-serve", "--data-dir", str(tmp_path / "gallery"),
           "--video", str(VTEST)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3000, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    counts = {cam: int(n) for cam, n in re.findall(r"^(cam-[ab]): indexed, (\d+) tracklets", out, re.M)}
    assert set(counts) == {"cam-a", "cam-b"} and min(counts.values()) > 0, out
    assert "offline fallback" in out
    # Disjoint in time: nothing is seen twice, so no match is "seen at the same time".
    assert "cam-a = frames 0-397, cam-b = frames 398-794 of 795 (no frame seen by both)" in out, out
    assert "seen at the same time" not in out, out

    both = re.search(r"^ground truth: 10 hand-labelled people; .*; on both cameras: (.+)$", out, re.M)
    assert both, out
    on_both = {int(p) for p in re.findall(r"person (\d+)", both.group(1))}
    assert on_both and on_both <= ON_BOTH_HALVES, out

    query = re.search(r"^example search, query #\d+ · cam-a · .* \[person (\d+)\]:$", out, re.M)
    assert query and int(query.group(1)) in on_both, out
    person = int(query.group(1))
    match_line = r"^\s+(\d)\. score ([0-9.]+)\s+#\d+ · (cam-[ab]) .*\[(person \d+|unlabelled)\]"
    hits = re.findall(match_line, out, re.M)
    assert [int(r) for r, *_ in hits] == list(range(1, len(hits) + 1)) and 1 <= len(hits) <= 5, out
    assert all(cam == "cam-b" and 0.0 < float(score) <= 1.0 for _, score, cam, _ in hits), out

    rank = re.search(rf"^true match \(person {person} on cam-b\) "
                     r"(?:ranks (\d+) of (\d+)|not found in the top (\d+))$", out, re.M)
    assert rank, out
    if rank.group(1) is not None:
        r, m = int(rank.group(1)), int(rank.group(2))
        assert 1 <= r <= m <= counts["cam-b"], out
        assert ("the true match is not first" in out) == (r > 1), out
        assert (f"[person {person}] <- true match" in out) == (r <= len(hits)), out
    else:
        assert "the true match is not first" not in out

    summary = re.search(r"^all labelled cross-camera queries: true match first for (\d+) of (\d+) "
                        r"\(Rank-1 ([0-9.]+), ([0-9.]+) by chance\), in the top 5 for (\d+) of (\d+)$",
                        out, re.M)
    assert summary, out
    first, n, rank1, _, top5, n5 = summary.groups()
    assert n == n5 and int(n) >= 1 and 0 <= int(first) <= int(top5) <= int(n), out
    assert abs(float(rank1) - int(first) / int(n)) < 0.006, out
    if rank.group(1) == "1":
        assert int(first) >= 1, out
