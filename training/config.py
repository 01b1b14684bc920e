"""Training configuration: a flat dataclass, loaded from YAML/JSON plus ``key=value`` overrides.

Defaults are the official MARS run (spec 8, 14): ViT-B/16 from OpenAI CLIP, P x K = 4 x 4, T = 8,
Adam 5e-6, bias x2, x10 for ``classifier_proj_temp`` and (``large_module_lr``) for SSP/TMD,
10-epoch warm-up, steps at 30/50/70, 80 epochs, AMP on CUDA, rrs_test validation every 2 epochs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """All knobs of a training run (see the module docstring for the defaults' origin)."""

    dataset: str = "mars"
    root: str = ""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str = "tfclip-vit-b16"
    pretrained: str | None = "openai"
    init_checkpoint: str | None = None
    ssp: str = "enhanced"
    use_memory: bool = True
    use_ssp: bool = True
    use_tmd: bool = True
    epochs: int = 80
    p: int = 4
    k: int = 4
    base_lr: float = 5e-6
    weight_decay: float = 1e-4
    bias_lr_factor: float = 2.0
    large_fc_lr: bool = True
    large_module_lr: bool = True
    warmup_epochs: int = 10
    warmup_factor: float = 0.1
    milestones: list[int] = field(default_factory=lambda: [30, 50, 70])
    gamma: float = 0.1
    label_smoothing: float = 0.1
    triplet_margin: float = 0.3
    flip_p: float = 0.5
    erase_p: float = 0.5
    eval_every: int = 2  # 0: never (a set without a test split, e.g. `reid adapt`'s pseudo-identities)
    eval_sampling: str = "rrs_test"
    eval_batch_size: int = 30
    max_iters_per_epoch: int = 0
    num_workers: int = 8
    seed: int = 1234
    amp: bool = True
    device: str = "auto"
    output_dir: str = "runs/tfclip"
    resume: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fields() -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a config, rejecting unknown keys with the list of valid ones."""
    unknown = set(values) - set(_fields())
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; valid keys: {sorted(_fields())}")
    return TrainConfig(**values)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML or JSON file (optional) and apply ``key=value`` overrides (values parsed as YAML).

    ``dataset_options.split_index=3`` sets one entry of a dict-valued key.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else (yaml.safe_load(text) or {})
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a mapping of config keys")
    cfg = config_from_dict(values)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        top, _, sub = key.partition(".")
        if top not in _fields():
            raise ValueError(f"unknown config key {top!r}; valid keys: {sorted(_fields())}")
        if sub:
            current = getattr(cfg, top)
            if not isinstance(current, dict):
                raise ValueError(f"{top!r} is not a mapping; use {top}=<value>")
            current[sub] = value
        else:
            setattr(cfg, top, _coerce(top, value, getattr(TrainConfig(), top)))
    return cfg


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Give an override the type of the key's default (YAML reads ``1e-4`` as a string)."""
    if value is None or isinstance(default, bool) or default is None or isinstance(value, type(default)):
        return value
    try:
        if isinstance(default, float):
            return float(value)
        if isinstance(default, int):
            return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key} must be a {type(default).__name__}, got {value!r}") from exc
    if isinstance(default, str):
        return str(value)
    return value


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the config as YAML (the run folder's ``config.yaml``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path
