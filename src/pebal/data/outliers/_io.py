"""Image reading for the outlier sources.

RGB images and single-channel masks go through the project-wide reader
:mod:`pebal.data.image_io` (clear errors, no gamma, palette indices kept). RGBA cut-outs and
header-only sizes, which that module does not offer, are read here with Pillow. EXIF
orientation is deliberately *not* applied: COCO annotations refer to the stored pixel grid.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from pebal.data.image_io import IMAGE_EXTENSIONS, ImageReadError, read_image, read_label

IMAGE_SUFFIXES = tuple(dict.fromkeys((*IMAGE_EXTENSIONS, ".bmp")))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image as uint8 (H, W, 3) RGB (grey, palette and RGBA images are converted)."""
    return read_image(path)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A single-channel 8-bit mask as uint8 (H, W); palette indices are kept as values."""
    return read_label(path)


def _open(path: str | os.PathLike) -> Image.Image:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot decode image {path}: {exc} (the file is corrupt, truncated or not an image)") from exc
    return image


def read_rgba(path: str | os.PathLike) -> np.ndarray:
    """An image with an alpha channel as uint8 (H, W, 4)."""
    image = _open(path)
    if image.mode == "LA" or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode != "RGBA":
        raise ImageReadError(
            f"{path}: expected an RGBA cut-out (an image with an alpha channel), found mode {image.mode!r}"
        )
    return np.asarray(image, dtype=np.uint8)


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image, from its header only."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot decode image {path}: {exc}") from exc
