"""The prepared GPU benchmark runs its CPU path (tiny model, 2 steps) and writes its JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train_step.py"


def test_gpu_script_cpu_path(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_train_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "r.json"
    result = module.main(["--model", "tfclip-tiny", "--steps", "2", "--warmup", "1",
                          "--batch-clips", "4", "--dense-batch", "2", "--num-classes", "8",
                          "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["train"]["steps"] == 2 and saved["train"]["clips_per_s"] > 0
    assert saved["dense_test"]["descriptor_dim"] == 64 * 2 + 48
    assert "error" not in saved["train"] and result["amp"] is False
    assert "| train |" in capsys.readouterr().out
