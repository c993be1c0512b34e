"""The drawing surface of one scene, the camera, and sprites (cut-out objects in metres).

Camera model (pinhole, level, at height ``cam_height`` metres above a flat ground):
a ground point at lateral offset ``X`` and distance ``Z`` projects to

    x = x_vp + f X / Z,      y = y_h + f cam_height / Z,

so pixel row ``y > y_h`` sees the ground at ``Z = f cam_height / (y - y_h)``, and an upright
object of height ``s`` metres at distance ``Z`` is ``f s / Z`` pixels tall. ``y_h`` is the
horizon row and ``x_vp`` the column of the vanishing point. Pixel centres are at ``+0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pebal.labels import IGNORE_INDEX

F32 = np.float32
SKY_DEPTH = F32(1e4)


@dataclass(frozen=True)
class Camera:
    height: int  # image rows
    width: int  # image columns
    focal: float  # pixels
    horizon: float  # row of the horizon (y_h)
    vanish_x: float  # column of the vanishing point (x_vp)
    cam_height: float  # metres above the ground

    def ground_row(self, z: float) -> float:
        """Image row of the ground at distance ``z``."""
        return self.horizon + self.focal * self.cam_height / z

    def column(self, x: float, z: float) -> float:
        """Image column of lateral offset ``x`` at distance ``z``."""
        return self.vanish_x + self.focal * x / z

    def min_visible_z(self) -> float:
        """Distance of the ground seen by the bottom image row."""
        return self.focal * self.cam_height / (self.height - 0.5 - self.horizon)


@dataclass
class Sprite:
    """An object drawn in its own box: ``mask`` (h, w) bool, ``rgb`` (h, w, 3) float32,
    ``label`` a train id or an (h, w) uint8 map. Anchored at its bottom-centre pixel."""

    mask: np.ndarray
    rgb: np.ndarray
    label: int | np.ndarray
    meta: dict = field(default_factory=dict)


def sprite_grid(width_m: float, height_m: float, px_per_m: float, min_px: int = 1):
    """Pixel box for an object ``width_m`` x ``height_m`` seen at ``px_per_m``.

    Returns ``(h, w, u, v)``: ``u`` (1, w) metres from the vertical centre line, ``v`` (h, 1)
    metres above the bottom edge (pixel centres).
    """
    w = max(min_px, int(np.ceil(width_m * px_per_m)))
    h = max(min_px, int(np.ceil(height_m * px_per_m)))
    scale = F32(1.0 / px_per_m)
    u = ((np.arange(w, dtype=F32) + F32(0.5)) - F32(w / 2)) * scale
    v = ((F32(h) - np.arange(h, dtype=F32) - F32(0.5)) * scale)
    return h, w, u[None, :], v[:, None]


def crop_to_mask(sprite: Sprite) -> Sprite:
    """Drop empty rows/columns (keeping the bottom anchor: only the top and the sides shrink)."""
    rows = np.flatnonzero(sprite.mask.any(axis=1))
    cols = np.flatnonzero(sprite.mask.any(axis=0))
    if rows.size == 0:
        return sprite
    h, w = sprite.mask.shape
    # Keep the bottom row and a horizontally symmetric crop so the anchor stays the centre.
    side = min(int(cols[0]), w - 1 - int(cols[-1]))
    sl = (slice(int(rows[0]), h), slice(side, w - side))
    label = sprite.label if np.isscalar(sprite.label) else sprite.label[sl]
    return Sprite(sprite.mask[sl], sprite.rgb[sl], label, sprite.meta)


class Canvas:
    """RGB (H, W, 3) float32 in [0, 1], train-id label (H, W) uint8, depth (H, W) float32
    metres, and ``instance`` (H, W) int16: 0, or k for the k-th anomaly drawn (visible part)."""

    def __init__(self, camera: Camera):
        h, w = camera.height, camera.width
        self.camera = camera
        self.rgb = np.zeros((h, w, 3), F32)
        self.label = np.full((h, w), IGNORE_INDEX, np.uint8)
        self.depth = np.full((h, w), SKY_DEPTH, F32)
        self.instance = np.zeros((h, w), np.int16)
        self.anomalies: list[dict] = []

    def paste(self, sprite: Sprite, x_centre: float, y_bottom: float, depth: float,
              instance: int = 0) -> int:
        """Draw ``sprite`` with its bottom-centre at pixel (``y_bottom``, ``x_centre``),
        over everything (the caller draws far to near). Returns the pixels drawn in the image."""
        sh, sw = sprite.mask.shape
        top = int(np.floor(y_bottom)) - sh + 1
        left = int(np.floor(x_centre - sw / 2 + 0.5))
        h, w = self.label.shape
        y0, y1 = max(0, top), min(h, top + sh)
        x0, x1 = max(0, left), min(w, left + sw)
        if y0 >= y1 or x0 >= x1:
            return 0
        sl_s = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        sl_c = (slice(y0, y1), slice(x0, x1))
        mask = sprite.mask[sl_s]
        self.rgb[sl_c][mask] = sprite.rgb[sl_s][mask]
        if np.isscalar(sprite.label):
            self.label[sl_c][mask] = sprite.label
        else:
            self.label[sl_c][mask] = sprite.label[sl_s][mask]
        self.depth[sl_c][mask] = F32(depth)
        self.instance[sl_c][mask] = instance
        return int(mask.sum())
