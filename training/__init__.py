"""Training and evaluation of TF-CLIP on the video-ReID benchmarks (TFCLIP.md sections 3-9)."""

from training.metrics import evaluate_rank

__all__ = ["evaluate_rank"]
