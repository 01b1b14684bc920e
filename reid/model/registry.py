"""The architecture registry: one JSON file per model in ``configs/``, the file name is the name."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

_CONFIG_PACKAGE = "reid.model.configs"


@cache
def _load_all() -> dict[str, dict[str, Any]]:
    configs = {}
    for entry in resources.files(_CONFIG_PACKAGE).iterdir():
        if entry.name.endswith(".json"):
            configs[entry.name[: -len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return configs


def list_models() -> list[str]:
    """Names of the registered architectures, sorted."""
    return sorted(_load_all())


def get_model_config(name: str) -> dict[str, Any]:
    """A fresh copy of the architecture config called ``name``.

    Raises:
        ValueError: the name is not registered; the message lists the valid names.
    """
    configs = _load_all()
    if name not in configs:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    config = copy.deepcopy(configs[name])
    config["name"] = name
    return config
