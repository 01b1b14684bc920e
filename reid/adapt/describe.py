"""What a site head file (``reid adapt``) would make of an embedder, read without torch.

``reid status`` says which embedder the settings would use; when the gallery's active adapted
model is a head, that is ``SiteHeadEmbedder.from_file(base, path)`` or, when the head does not fit
the base embedder, the base embedder with a warning (``app.compose.site_embedder``). This module
answers the same from the head file's header (:func:`reid.embed.describe.read_torch_payload`), and
holds the head's fingerprint recipe, which :class:`reid.adapt.head.SiteHeadEmbedder` uses too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reid.embed.base import make_fingerprint
from reid.embed.describe import EmbedderChoice, TensorStub, read_torch_payload
from reid.files import sha256_file

logger = logging.getLogger(__name__)

__all__ = ["HEAD_FORMAT", "HEAD_VERSION", "site_head_choice", "site_head_fingerprint"]

HEAD_FORMAT = "reid-site-head"
HEAD_VERSION = 1


def site_head_fingerprint(base_fingerprint: dict[str, Any], head_id: str, name: str,
                          dim: int) -> dict[str, Any]:
    """The fingerprint of a base embedder's descriptors through the head whose file hash starts
    with ``head_id``: the base weights and the head named in it, so that no other head's (or the
    bare model's) descriptors are compared with them."""
    return make_fingerprint(name, f"{base_fingerprint['weights']}+site:{head_id}", dim,
                            {**base_fingerprint["preprocess"], "site_head": head_id})


def site_head_choice(base: EmbedderChoice, path: Path) -> tuple[EmbedderChoice, str | None] | None:
    """``(embedder, warning)``: the base embedder through the head in ``path``, or the base
    embedder and the warning the composition root would log when the head does not fit it; None
    when the file cannot be read without torch (building says what it is)."""
    try:
        state = read_torch_payload(path)
    except ValueError as exc:
        logger.debug("%s", exc)
        return None
    projection = state.get("projection") if isinstance(state, dict) else None
    if not isinstance(state, dict) or state.get("format") != HEAD_FORMAT:
        problem = f"{path} is not a site head file (written by `reid adapt`)"
    elif not isinstance(projection, TensorStub):
        return None
    elif len(projection.shape) != 2 or projection.shape[0] != projection.shape[1]:
        problem = f"{path}: projection must be square, got {projection.shape}"
    elif state.get("base_fingerprint") != base.fingerprint:
        fitted_on = state["base_fingerprint"]
        model = fitted_on.get("model") if isinstance(fitted_on, dict) else None
        problem = (f"the site head {Path(path).name} was fitted on {model} descriptors, not on this "
                   f"{base.name}; run `reid adapt` again or `reid adapt --rollback`")
    elif projection.shape != (base.dim, base.dim):
        problem = f"site head is {projection.shape}, the embedder gives {base.dim}-d"
    else:
        name = f"{base.name}+site"
        fingerprint = site_head_fingerprint(base.fingerprint, sha256_file(path)[:16], name, base.dim)
        return EmbedderChoice(name, base.kind, base.dim, base.is_fallback, fingerprint), None
    return base, f"{problem}; embedding with {base.name} as it is"
