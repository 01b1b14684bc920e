"""Descriptor extraction: tracklet crops -> one L2-normalised descriptor per tracklet."""

from reid.embed.base import Embedder, make_fingerprint
from reid.embed.factory import EMBEDDER_CHOICES, create_embedder, random_init_embedder
from reid.embed.mobilenet import MobileNetEmbedder, MobileNetWeightsError
from reid.embed.preprocess import crops_to_tensor, l2_normalize
from reid.embed.tfclip import SequenceEmbedder

__all__ = [
    "EMBEDDER_CHOICES",
    "Embedder",
    "MobileNetEmbedder",
    "MobileNetWeightsError",
    "SequenceEmbedder",
    "create_embedder",
    "crops_to_tensor",
    "l2_normalize",
    "make_fingerprint",
    "random_init_embedder",
]
