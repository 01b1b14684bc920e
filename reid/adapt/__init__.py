"""Adaptation to the user's site without labels: the gallery's tracklets as pseudo-identities.

``reid adapt`` (``app/commands/adapt.py``) exports them (:mod:`reid.adapt.dataset`), learns a site
head on CPU (:mod:`reid.adapt.head`, :mod:`reid.adapt.fit`) or fine-tunes TF-CLIP through the
``training`` package, keeps every result in the data dir (:mod:`reid.adapt.models`) and re-embeds
the gallery.
"""

from reid.adapt.dataset import PseudoIdentities, co_occurring_pairs, export_pseudo_identities
from reid.adapt.fit import DEFAULT_REFINE_STEPS, DEFAULT_SHRINKAGE, fit_site_head
from reid.adapt.head import SiteHeadEmbedder, load_head, save_head
from reid.adapt.models import SiteModel, SiteModels

__all__ = ["DEFAULT_REFINE_STEPS", "DEFAULT_SHRINKAGE", "PseudoIdentities", "SiteHeadEmbedder",
           "SiteModel", "SiteModels", "co_occurring_pairs", "export_pseudo_identities",
           "fit_site_head", "load_head", "save_head"]
