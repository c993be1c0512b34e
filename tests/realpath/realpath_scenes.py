"""Tiny street scenes for the release-layout fixtures: label maps first, images painted from them.

Every fixture image is made from a label map (so a label and its image always agree) by
painting each label with its colour plus seeded noise. Files are written with Pillow, not
with the project's own writers, so the fixtures are what another tool would have produced.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Cityscapes label ids (cityscapesScripts ``labels.py``) used by the scenes
UNLABELED, EGO_VEHICLE, OUT_OF_ROI = 0, 1, 3
ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR, BICYCLE = 7, 8, 11, 17, 20, 21, 23, 24, 26, 33


def cityscapes_colour(label_ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour image of Cityscapes label ids, from cityscapesScripts' table."""
    from cityscapesscripts.helpers.labels import id2label

    lut = np.zeros((256, 3), np.uint8)
    for i, lab in id2label.items():
        if 0 <= i < 256:
            lut[i] = lab.color
    return lut[label_ids]


def paint(labels: np.ndarray, colours: dict[int, tuple[int, int, int]], rng: np.random.Generator,
          noise: int = 24) -> np.ndarray:
    """An RGB image: each label value painted with its colour (default grey) plus uniform noise."""
    lut = np.full((256, 3), 128, np.int16)
    for value, colour in colours.items():
        lut[value] = colour
    image = lut[labels] + rng.integers(-noise, noise + 1, labels.shape + (3,))
    return np.clip(image, 0, 255).astype(np.uint8)


def street_label_ids(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A Cityscapes-like frame as label ids: sky, buildings / vegetation, sidewalk, road, a car,
    a pole with a sign, sometimes a person, the ego vehicle at the bottom."""
    lab = np.full((h, w), SKY, np.uint8)
    horizon, kerb, road_top, ego = int(0.3 * h), int(0.55 * h), int(0.62 * h), int(0.9 * h)
    block = max(w // 8, 2)
    for x0 in range(0, w, block):
        lab[horizon:kerb, x0:x0 + block] = BUILDING if rng.random() < 0.6 else VEGETATION
    lab[kerb:road_top] = SIDEWALK
    lab[road_top:ego] = ROAD
    lab[ego:] = EGO_VEHICLE
    lab[ego:, :2] = OUT_OF_ROI
    cx, cw, ch = int(rng.integers(0, w * 3 // 4)), max(w // 6, 2), max(h // 8, 2)
    lab[road_top + 1:road_top + 1 + ch, cx:cx + cw] = CAR
    px = int(rng.integers(w // 2, w - 1))
    lab[horizon:road_top, px] = POLE
    lab[horizon:horizon + 2, max(px - 1, 0):px + 2] = SIGN
    if rng.random() < 0.5:
        qx = int(rng.integers(0, w - 2))
        lab[kerb - h // 8:road_top, qx:qx + 2] = PERSON
    lab[0, 0] = UNLABELED
    return lab


def road_scene(h: int, w: int, rng: np.random.Generator, n_objects: int = 1,
               object_size: float = 0.12) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """A generic anomaly-benchmark frame: ``(road mask, off-road mask, object boxes)``.

    Road is the lower part of the frame (a trapezoid), off-road the rest; ``n_objects``
    rectangles (y0, y1, x0, x1) lie on the road.
    """
    yy, xx = np.mgrid[0:h, 0:w]
    top = int(0.45 * h)
    half_width = (yy - top) / max(h - top, 1) * (0.5 * w) + 0.1 * w
    road = (yy >= top) & (np.abs(xx - w / 2) <= half_width)
    boxes = []
    size_y, size_x = max(int(object_size * h), 2), max(int(object_size * w), 2)
    for _ in range(n_objects):
        y0 = int(rng.integers(top + 2, h - size_y))
        x0 = int(rng.integers(w // 4, 3 * w // 4 - size_x))
        boxes.append((y0, y0 + size_y, x0, x0 + size_x))
    return road, ~road, boxes


def save_png(path: Path, array: np.ndarray) -> None:
    """8-bit grey / RGB, or 16-bit grey for uint16 arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint16:
        Image.fromarray(array).save(path, format="PNG")  # mode I;16: a 16-bit grey PNG
    else:
        Image.fromarray(array).save(path, format="PNG")


def save_jpeg(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="JPEG", quality=95)


def save_webp(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="WEBP", lossless=True)


def save_png_with_gamma(path: Path, array: np.ndarray, gamma: float = 1 / 2.2) -> None:
    """An RGB PNG with a gAMA chunk right after IHDR, as LostAndFound's images have it."""
    import io

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    data = buf.getvalue()
    payload = b"gAMA" + struct.pack(">I", round(gamma * 100000))
    chunk = struct.pack(">I", 4) + payload + struct.pack(">I", zlib.crc32(payload))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, crc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])
