"""Trainer, evaluator and export end to end on the fake MARS tree (tfclip-tiny, one tiny epoch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.cli import main
from tests.training.fake_datasets import make_mars
from training import TrainConfig, evaluate, load_config, load_dataset, load_eval_model
from training.checkpoints import load_training_checkpoint


@pytest.fixture(scope="module")
def mars_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    root = make_mars(base / "MARS", frames=12)
    out = base / "run"
    rc = main(["train", "--root", str(root), "--dataset", "mars", "--output-dir", str(out),
               "--no-progress", "model=tfclip-tiny", "pretrained=null", "epochs=1", "p=2", "k=2",
               "num_workers=0", "eval_every=1", "eval_sampling=dense", "base_lr=1e-4"])
    assert rc == 0
    return root, out


def test_train_writes_run_folder(mars_run):
    root, out = mars_run
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "curves.png"):
        assert (out / name).is_file(), name
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["epoch"] == 1 and record["iters"] == 1
    assert np.isfinite(record["loss"]) and 0.0 <= record["mAP"] <= 1.0
    assert {"id_cls", "tri_proj", "v2m", "id_frame"} <= set(record)
    state = load_training_checkpoint(out / "last.pt")
    assert state["memory"].shape[0] == 3 and state["epoch"] == 1


def test_eval_and_export_agree(mars_run, tmp_path):
    root, out = mars_run
    res = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(out / "best.pt"), "--dataset", "mars", "--root",
                 str(root), "--num-workers", "0", "--out", str(res)]) == 0
    result = json.loads(res.read_text())
    assert len(result["cmc"]) == 50 and result["num_query"] == 2 and result["num_gallery"] == 7
    assert (tmp_path / "eval.png").is_file()
    exported = tmp_path / "model.pt"
    assert main(["export", "--checkpoint", str(out / "best.pt"), "--out", str(exported)]) == 0
    from reid.model import load_checkpoint

    model = load_checkpoint(exported)
    assert model.num_classes == 0
    data = load_dataset("mars", root)
    again = evaluate(model, data.query, data.gallery, sampling="dense")
    assert again["mAP"] == pytest.approx(result["mAP"], abs=1e-6)
    train_model = load_eval_model(out / "best.pt")
    frames = torch.randn(11, 3, 64, 32)
    assert torch.allclose(model.encode_tracklet(frames, 1), train_model.encode_tracklet(frames, 1),
                          atol=1e-5)


def test_resume_continues_epochs(mars_run, tmp_path):
    root, out = mars_run
    import shutil

    run2 = tmp_path / "run2"
    shutil.copytree(out, run2)
    assert main(["train", "--root", str(root), "--output-dir", str(run2), "--resume",
                 "--no-progress", "--config", str(run2 / "config.yaml"), "epochs=2"]) == 0
    lines = (run2 / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert load_training_checkpoint(run2 / "last.pt")["epoch"] == 2


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: ilidsvid\nepochs: 60\nmilestones: [30, 50]\n")
    cfg = load_config(path, ["large_fc_lr=false", "dataset_options.split_index=3", "base_lr=1e-5"])
    assert cfg.epochs == 60 and cfg.milestones == [30, 50] and cfg.large_fc_lr is False
    assert cfg.dataset_options == {"split_index": 3} and cfg.base_lr == 1e-5
    assert TrainConfig().large_module_lr is True
    with pytest.raises(ValueError, match="unknown config key"):
        load_config(None, ["epoch=3"])
    assert main(["train", "--root", str(tmp_path / "none"), "--no-progress"]) == 1
