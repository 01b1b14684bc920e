"""Where CLIP weights for a backbone come from: a local file, the copy ``reid weights fetch`` keeps
(:mod:`reid.weights.remote`), or open_clip's pretrained registry (its cache or a download)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class WeightsUnavailableError(RuntimeError):
    """Weights that are neither on disk nor downloadable; the message says what to do."""


def resolve_pretrained(config: dict[str, Any], pretrained: str) -> tuple[Path, tuple[int, int]]:
    """Local path of the CLIP weights named ``pretrained`` and the image size they were trained at.

    Args:
        config: the architecture config (its ``pretrained`` table names the open_clip tags).
        pretrained: a tag of that table (e.g. ``"openai"``), or a path to a local weights file
            (OpenAI JIT ``ViT-B-16.pt``, an open_clip ``.bin`` / ``.safetensors``).

    Returns:
        (path, (H, W)) of the source weights; a local file is assumed to be at the tag's size, or at
        the first tag's when the config has one (224x224 for ViT-B/16).

    Raises:
        WeightsUnavailableError: a tag whose file is in neither cache and cannot be downloaded.
        ValueError: neither a known tag nor an existing file.
    """
    table: dict[str, Any] = config.get("pretrained", {})
    path = Path(pretrained).expanduser()
    if path.is_file():
        entry = table.get(next(iter(table), ""), {})
        size = tuple(entry.get("image_size", config["backbone"]["image_size"]))
        return path, size
    if pretrained not in table:
        choices = ", ".join(table) or "none (random init only)"
        raise ValueError(
            f"{pretrained!r} is neither a file nor a pretrained tag of {config.get('name')!r}; "
            f"tags: {choices}; or pass the path of a local CLIP weights file"
        )
    entry = table[pretrained]
    return _cached_or_open_clip(entry), tuple(entry["image_size"])


def _cached_or_open_clip(entry: dict[str, Any]) -> Path:
    """The copy ``reid weights fetch`` downloaded (works offline), else open_clip's (its cache or
    a download)."""
    from reid.weights.remote import find_open_clip_file

    ours = find_open_clip_file(entry["open_clip_model"], entry["open_clip_tag"])
    if ours is not None:
        logger.info("CLIP weights: %s", ours)
        return ours
    return _download_open_clip(entry)


def _download_open_clip(entry: dict[str, Any]) -> Path:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(entry["open_clip_model"], entry["open_clip_tag"])
    try:
        local = open_clip.download_pretrained(cfg)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"CLIP weights {entry['open_clip_model']}/{entry['open_clip_tag']} are not cached and "
            f"could not be downloaded ({type(exc).__name__}). With network access run "
            "`reid weights fetch clip-vit-b16`, or pass a local CLIP weights file "
            "(--clip-weights PATH when indexing, --pretrained PATH when training)."
        ) from exc
    if not local:
        raise WeightsUnavailableError(f"open_clip has no download for {entry}")
    logger.info("CLIP weights: %s", local)
    return Path(local)
