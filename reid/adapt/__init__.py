"""Adaptation to the user's site without labels: the gallery's tracklets as pseudo-identities.

``reid adapt`` (``app/commands/adapt.py``) exports them (:mod:`reid.adapt.dataset`), learns a site
head on CPU (:mod:`reid.adapt.head`, :mod:`reid.adapt.fit`) or fine-tunes TF-CLIP through the
``training`` package, keeps every result in the data dir (:mod:`reid.adapt.models`) and re-embeds
the gallery.

The names below are imported on first use, so ``import reid.adapt`` loads no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.adapt.dataset import PseudoIdentities, co_occurring_pairs, export_pseudo_identities
    from reid.adapt.fit import DEFAULT_REFINE_STEPS, DEFAULT_SHRINKAGE, fit_site_head
    from reid.adapt.head import SiteHeadEmbedder, load_head, save_head
    from reid.adapt.models import SiteModel, SiteModels

_WHERE = {
    "DEFAULT_REFINE_STEPS": "reid.adapt.fit",
    "DEFAULT_SHRINKAGE": "reid.adapt.fit",
    "PseudoIdentities": "reid.adapt.dataset",
    "SiteHeadEmbedder": "reid.adapt.head",
    "SiteModel": "reid.adapt.models",
    "SiteModels": "reid.adapt.models",
    "co_occurring_pairs": "reid.adapt.dataset",
    "export_pseudo_identities": "reid.adapt.dataset",
    "fit_site_head": "reid.adapt.fit",
    "load_head": "reid.adapt.head",
    "save_head": "reid.adapt.head",
}

__all__ = [
    "DEFAULT_REFINE_STEPS",
    "DEFAULT_SHRINKAGE",
    "PseudoIdentities",
    "SiteHeadEmbedder",
    "SiteModel",
    "SiteModels",
    "co_occurring_pairs",
    "export_pseudo_identities",
    "fit_site_head",
    "load_head",
    "save_head",
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
