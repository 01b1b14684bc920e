"""Read a user's photo of a person (for search by photo) without trusting its size or format.

The header is read first: a file over ``MAX_PHOTO_BYTES``, in another format than JPEG/PNG/WebP/BMP,
or declaring more than ``MAX_PHOTO_PIXELS`` pixels (a decompression bomb: a few kB of PNG can
declare 20000x20000) is refused before any pixel is decoded. Accepted photos are decoded at reduced
size where the format allows (JPEG draft mode) and downscaled so that the longer side is at most
``WORK_SIDE`` pixels: the embedder resizes to 256x128 anyway.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

__all__ = ["MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS", "PHOTO_FORMATS", "WORK_SIDE", "PhotoRejectedError",
           "load_photo"]

MAX_PHOTO_BYTES = 50 * 2**20
MAX_PHOTO_PIXELS = 40_000_000  # e.g. 8000x5000; a person crop is far smaller
MIN_PHOTO_SIDE = 8
WORK_SIDE = 1024
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")


class PhotoRejectedError(ValueError):
    """The photo cannot be used; the message says why and what is accepted."""


def load_photo(path: str | Path, *, max_bytes: int = MAX_PHOTO_BYTES,
               max_pixels: int = MAX_PHOTO_PIXELS, work_side: int = WORK_SIDE) -> np.ndarray:
    """The photo at ``path`` as RGB uint8 ``(H, W, 3)``, longer side at most ``work_side``.

    Raises:
        PhotoRejectedError: missing, empty or too large a file, not a JPEG/PNG/WebP/BMP image,
            more than ``max_pixels`` pixels declared, smaller than 8x8, or undecodable.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise PhotoRejectedError("the photo could not be read (was the upload interrupted?)") from None
    if size == 0:
        raise PhotoRejectedError("the photo is an empty file")
    if size > max_bytes:
        raise PhotoRejectedError(f"the photo is {size / 2**20:.1f} MB; photos of up to "
                                 f"{max_bytes / 2**20:.0f} MB are accepted (crop it to the person)")
    limit = (f"photos of up to {max_pixels / 1e6:.0f} megapixels are accepted "
             "(crop or shrink it to the person)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=PHOTO_FORMATS) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise PhotoRejectedError(f"the photo is {width}x{height} pixels; {limit}")
                if min(width, height) < MIN_PHOTO_SIDE:
                    raise PhotoRejectedError(f"the photo is {width}x{height} pixels; it must be at "
                                             f"least {MIN_PHOTO_SIDE}x{MIN_PHOTO_SIDE}")
                if im.format == "JPEG":
                    im.draft("RGB", (work_side, work_side))  # decode at 1/2, 1/4 or 1/8 scale
                im.load()
                upright = ImageOps.exif_transpose(im) or im
                rgb = upright.convert("RGB")
                rgb.thumbnail((work_side, work_side))
                return np.asarray(rgb, dtype=np.uint8).copy()
    except PhotoRejectedError:
        raise
    except Image.DecompressionBombError:
        raise PhotoRejectedError(f"the photo declares too many pixels; {limit}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise PhotoRejectedError(
            f"the photo could not be decoded as {'/'.join(PHOTO_FORMATS)} ({type(exc).__name__})"
        ) from None
