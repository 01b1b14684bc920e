"""Dataset loaders (pure functions returning typed records) and the synthetic generator."""

from training.datasets.records import DatasetSplits, TrackletRecord, split_long_tracklets
from training.datasets.registry import list_datasets, load_dataset
from training.datasets.sequences import generate_splits, read_splits, save_splits
from training.datasets.synthetic import generate_synthetic, load_synthetic

__all__ = [
    "DatasetSplits",
    "TrackletRecord",
    "generate_splits",
    "generate_synthetic",
    "list_datasets",
    "load_dataset",
    "load_synthetic",
    "read_splits",
    "save_splits",
    "split_long_tracklets",
]
