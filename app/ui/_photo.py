"""The query photo of a search by photo: the upload component and the checked RGB array.

Gradio decodes an upload before any event handler runs (a decompression bomb or a corrupt file
would fail there with a bare "Error"). ``photo_input`` makes Gradio hand over the file's path
unread, and ``photo_array`` reads it with ``reid.service.photos.load_photo`` (size, format and pixel
count checked before decoding).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from app.ui._shared import UiError
from reid.service.photos import WORK_SIDE, PhotoRejectedError, load_photo

logger = logging.getLogger(__name__)

__all__ = ["photo_array", "photo_input"]


def photo_input(**kwargs: Any) -> gr.Image:
    """An image input that hands the callback the uploaded file's path, unread.

    Here Gradio only opens the header, and its failures become a message. (A wrapper on the
    instance, not a subclass: Gradio writes a ``.pyi`` next to every module that defines a
    component class.)
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    preprocess = image.preprocess

    def guarded(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception as exc:
            logger.info("photo upload refused: %s: %s", type(exc).__name__, exc)
            raise gr.Error("Search by photo: the photo could not be read: it is not a JPEG, PNG, "
                           "WebP or BMP image, or it declares too many pixels (crop or shrink it "
                           "to the person).", print_exception=False) from None

    image.preprocess = guarded  # type: ignore[method-assign]
    return image


def photo_array(image: np.ndarray | str | Path) -> np.ndarray:
    """The query photo as RGB uint8 ``(H, W, 3)``, longer side at most ``WORK_SIDE``.

    ``image``: a file path, or an RGB(A) or grey array ``(H, W[, 3|4])`` of any numeric type.
    """
    if isinstance(image, (str, Path)):
        try:
            return load_photo(image)
        except PhotoRejectedError as exc:
            raise UiError(f"Search by photo: {exc}.") from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise UiError("The photo must be a colour image of a person, at least 8x8 pixels.")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number):
            raise UiError("The photo must be an 8-bit colour image.")
        array = np.nan_to_num(array.astype(np.float64)).clip(0, 255).astype(np.uint8)
    array = np.ascontiguousarray(array[:, :, :3])
    scale = WORK_SIDE / max(array.shape[:2])
    if scale < 1.0:
        import cv2

        size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array
