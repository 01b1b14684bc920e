"""Training and evaluation of TF-CLIP on the video-ReID benchmarks (TFCLIP.md sections 3-9).

Public surface: the metric (``evaluate_rank``), the dataset loaders and records, the config, the
plain train / evaluate functions and checkpoint export. Internals live in the submodules.

The names below are imported on first use, so ``import training`` loads no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.checkpoints import export_inference, load_eval_model
    from training.config import TrainConfig, load_config
    from training.datasets import (
        DatasetSplits,
        DatasetTracklet,
        generate_synthetic,
        list_datasets,
        load_dataset,
    )
    from training.engine import evaluate, extract_features, train_one_epoch
    from training.metrics import evaluate_rank
    from training.trainer import run_training

_WHERE = {
    "DatasetSplits": "training.datasets",
    "DatasetTracklet": "training.datasets",
    "TrainConfig": "training.config",
    "evaluate": "training.engine",
    "evaluate_rank": "training.metrics",
    "export_inference": "training.checkpoints",
    "extract_features": "training.engine",
    "generate_synthetic": "training.datasets",
    "list_datasets": "training.datasets",
    "load_config": "training.config",
    "load_dataset": "training.datasets",
    "load_eval_model": "training.checkpoints",
    "run_training": "training.trainer",
    "train_one_epoch": "training.engine",
}

__all__ = [
    "DatasetSplits",
    "DatasetTracklet",
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


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
