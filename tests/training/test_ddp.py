"""Two-process DistributedDataParallel training via torchrun (Gloo on CPU) on the fake MARS tree."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.training.fake_datasets import make_mars
from training.checkpoints import load_training_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks(tmp_path):
    root = make_mars(tmp_path / "MARS", frames=12)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_free_port()), "-m", "app.cli", "train", "--root", str(root),
           "--output-dir", str(out), "--no-progress", "model=tfclip-tiny", "pretrained=null",
           "epochs=1", "p=1", "k=2", "num_workers=0", "eval_every=1", "device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run folder:") == 1  # only rank 0 reports
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    # 3 identities, P=1 -> 3 batches a plan, cut to 2 -> 1 batch per rank.
    assert records[0]["iters"] == 1
    assert load_training_checkpoint(out / "last.pt")["memory"].shape[0] == 3
