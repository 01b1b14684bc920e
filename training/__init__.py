"""Training and evaluation of TF-CLIP on the video-ReID benchmarks (TFCLIP.md sections 3-9).

Public surface: the metric (``evaluate_rank``), the dataset loaders and records, the config, the
plain train / evaluate functions and checkpoint export. Internals live in the submodules.
"""

from training.checkpoints import export_inference, load_eval_model
from training.config import TrainConfig, load_config
from training.datasets import (
    DatasetSplits,
    TrackletRecord,
    generate_synthetic,
    list_datasets,
    load_dataset,
)
from training.engine import evaluate, extract_features, train_one_epoch
from training.metrics import evaluate_rank
from training.trainer import run_training

__all__ = [
    "DatasetSplits",
    "TrackletRecord",
    "TrainConfig",
    "evaluate",
    "evaluate_rank",
    "export_inference",
    "extract_features",
    "generate_synthetic",
    "list_datasets",
    "load_config",
    "load_dataset",
    "load_eval_model",
    "run_training",
    "train_one_epoch",
]
