"""Dataset loaders (pure functions returning typed records) and the synthetic generator.

The names below are imported on first use, so ``import training.datasets`` loads neither OpenCV nor
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.datasets.records import DatasetSplits, DatasetTracklet, split_long_tracklets
    from training.datasets.registry import list_datasets, load_dataset
    from training.datasets.sequences import generate_splits, read_splits, save_splits
    from training.datasets.synthetic import generate_synthetic, load_synthetic

_WHERE = {
    "DatasetSplits": "training.datasets.records",
    "DatasetTracklet": "training.datasets.records",
    "generate_splits": "training.datasets.sequences",
    "generate_synthetic": "training.datasets.synthetic",
    "list_datasets": "training.datasets.registry",
    "load_dataset": "training.datasets.registry",
    "load_synthetic": "training.datasets.synthetic",
    "read_splits": "training.datasets.sequences",
    "save_splits": "training.datasets.sequences",
    "split_long_tracklets": "training.datasets.records",
}

__all__ = [
    "DatasetSplits",
    "DatasetTracklet",
    "generate_splits",
    "generate_synthetic",
    "list_datasets",
    "load_dataset",
    "load_synthetic",
    "read_splits",
    "save_splits",
    "split_long_tracklets",
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
