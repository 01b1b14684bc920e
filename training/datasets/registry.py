"""Dataset loaders by name: ``load_dataset("mars", root)``."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.datasets.lsvid import load_lsvid
from training.datasets.mars import load_mars
from training.datasets.records import DatasetSplits
from training.datasets.sequences import load_ilidsvid, load_prid2011
from training.datasets.synthetic import load_synthetic

logger = logging.getLogger(__name__)

_LOADERS: dict[str, Callable[..., DatasetSplits]] = {
    "mars": load_mars,
    "lsvid": load_lsvid,
    "ilidsvid": load_ilidsvid,
    "prid2011": load_prid2011,
    "synthetic": load_synthetic,
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_LOADERS)


def load_dataset(name: str, root: str | Path, **options: Any) -> DatasetSplits:
    """Load dataset ``name`` from ``root``; ``options`` go to that loader (unknown ones rejected)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {list_datasets()}")
    loader = _LOADERS[key]
    accepted = set(inspect.signature(loader).parameters) - {"root"}
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(f"dataset {key!r} does not take options {sorted(unknown)}; "
                         f"it accepts {sorted(accepted)}")
    return loader(root, **options)
