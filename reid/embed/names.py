"""The embedder kinds the command line offers (``--embedder``).

Standard library only, so that ``reid --help`` lists them without loading torch;
:func:`reid.embed.create_embedder` validates against this same tuple.
"""

from __future__ import annotations

__all__ = ["EMBEDDER_CHOICES"]

# auto: a TF-CLIP checkpoint when one is given, else zero-shot CLIP, else the offline MobileNetV2
EMBEDDER_CHOICES: tuple[str, ...] = ("auto", "tfclip", "clip", "mobilenet")
