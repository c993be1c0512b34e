"""Reading and writing images and label maps, with errors that name the file.

* :func:`read_image` -> ``uint8 (H, W, 3)`` RGB from PNG / JPEG / WebP / anything Pillow
  opens. PNG gamma chunks are **not** applied (Pillow never applies ``gAMA``), so
  LostAndFound frames are not washed out.
* :func:`read_label` -> ``uint8 (H, W)``: a single-channel map. Palette PNGs give their
  *indices* (the class ids), not their colours; 16/32-bit maps are accepted when every value
  fits in 0..255; colour (RGB) labels are refused unless the three channels are equal.
* :func:`write_png` writes with the deterministic encoder of :mod:`pebal.data.png_writer`
  (same pixels, same bytes on every machine), atomically (a temporary file then a rename).
* :func:`write_jpeg` writes a JPEG through Pillow (not byte-stable across Pillow versions).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from pebal.atomic import write_bytes_atomically
from pebal.data.png_writer import encode_png
from pebal.errors import InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


class ImageReadError(InputError):
    """An image or label file exists but cannot be decoded or has an unusable format."""


def _open(path: str | os.PathLike):
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        image = Image.open(path)
        image.load()  # decode now, so a truncated file fails here and not later
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"cannot decode image {path}: {error} "
                             "(the file is corrupt, truncated or not an image)") from error
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """RGB pixels of ``path`` as ``uint8 (H, W, 3)``; grey, palette and RGBA images are converted."""
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise ImageReadError(f"{path}: {image.mode} image (16/32-bit or float); expected an 8-bit RGB "
                             "photograph. Convert it to 8-bit first.")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def read_label(path: str | os.PathLike) -> np.ndarray:
    """Label ids of ``path`` as ``uint8 (H, W)``.

    Raises :class:`ImageReadError` for colour labels with differing channels and for values
    above 255.
    """
    image = _open(path)
    mode = image.mode
    if mode in ("L", "P"):
        # "P": the palette indices are the ids; np.asarray keeps them (no palette lookup).
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 255 or not np.all(values == np.floor(values))):
            raise ImageReadError(f"label {path}: mode {mode} with values in [{values.min()}, {values.max()}]; "
                                 "expected integer ids in 0..255")
        return values.astype(np.uint8)
    if mode in ("RGB", "RGBA", "LA"):
        values = np.asarray(image)
        channels = values[..., :3] if mode != "LA" else values[..., :1]
        if np.all(channels == channels[..., :1]):
            return channels[..., 0].astype(np.uint8).copy()
        raise ImageReadError(f"label {path}: colour-coded {mode} image with differing channels; expected a "
                             "single-channel id map (mode L or P). Convert colours to ids first.")
    raise ImageReadError(f"label {path}: unsupported image mode {mode}; expected a single-channel id map")


def write_png(path: str | os.PathLike, array: np.ndarray) -> bytes:
    """Write ``array`` ((H, W) or (H, W, 3) uint8) as a PNG, atomically; returns the file bytes."""
    data = encode_png(np.asarray(array))
    write_bytes_atomically(path, data)
    return data


def write_jpeg(path: str | os.PathLike, array: np.ndarray, quality: int = 95) -> None:
    """Write an RGB ``uint8 (H, W, 3)`` array as a JPEG (through Pillow), atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="JPEG", quality=quality)
    write_bytes_atomically(path, buffer.getvalue())


def png_bytes(array: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of a uint8 (H, W) or (H, W, 3) array, through Pillow (fast, not byte-stable)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
