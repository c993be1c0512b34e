"""Lighting, weather and camera effects applied to a rendered scene.

Inlier scenes get mild global variation (exposure, white balance, blur, sensor noise); the
``anomalies-shifted`` test set adds a strong domain shift (dusk, night, fog, rain or snow)
that no training scene has. All operations are polynomial / rational in the pixel values
(no ``pow``/``exp``), so they round identically on every machine.
"""

from __future__ import annotations

import numpy as np

from pebal.data.synthetic.canvas import Canvas
from pebal.data.synthetic.noise import F32, blur3, value_noise
from pebal.data.synthetic.street import ROAD, SIDEWALK, SKY, TERRAIN

SHIFTS = ("dusk", "night", "fog", "rain", "snow")


def mild_lighting(canvas: Canvas, rng: np.random.Generator) -> None:
    """Exposure in [0.75, 1.2], white balance +-6 % per channel, contrast in [0.85, 1.15]."""
    gain = F32(rng.uniform(0.75, 1.2)) * (F32(1) + rng.uniform(-0.06, 0.06, 3).astype(F32))
    contrast = F32(rng.uniform(0.85, 1.15))
    rgb = canvas.rgb * gain
    canvas.rgb[:] = (rgb - F32(0.45)) * contrast + F32(0.45)


def weather_shift(canvas: Canvas, rng: np.random.Generator, kind: str) -> None:
    """Apply the domain shift ``kind`` (one of :data:`SHIFTS`) in place."""
    rgb, depth, label = canvas.rgb, canvas.depth, canvas.label
    h, w = label.shape
    if kind == "dusk":
        rgb *= np.asarray((0.95, 0.62, 0.42), F32) * F32(rng.uniform(0.55, 0.75))
        sky = label == SKY
        rows = (np.arange(h, dtype=F32) / F32(h))[:, None]
        glow = np.asarray((0.9, 0.45, 0.2), F32) * (F32(0.4) + rows)[..., None]
        rgb[sky] = (rgb * F32(0.4) + glow * F32(0.6))[sky]
    elif kind == "night":
        # Lit windows and lamps: the brightest non-road pixels before the light goes.
        bright = ((rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) > F32(2.3)) & (label != ROAD) & (label != SKY)
        rgb *= np.asarray((0.55, 0.6, 0.85), F32) * F32(rng.uniform(0.18, 0.3))
        near = np.clip(F32(1) - depth / F32(rng.uniform(12, 25)), 0, 1)
        lit = ((label == ROAD) | (label == SIDEWALK))[..., None] * near[..., None]
        rgb += lit * np.asarray((0.45, 0.4, 0.28), F32)  # headlights on the road ahead
        rgb[bright] = rgb[bright] * F32(3)
    elif kind == "fog":
        reach = F32(rng.uniform(12, 35))
        t = (depth / (depth + reach))[..., None]
        fog = np.asarray((0.78, 0.79, 0.8), F32) * F32(rng.uniform(0.8, 1.05))
        rgb[:] = rgb * (F32(1) - t) + fog * t
    elif kind == "rain":
        grey = (rgb[..., 0] + rgb[..., 1] + rgb[..., 2])[..., None] / F32(3)
        rgb[:] = (rgb * F32(0.5) + grey * F32(0.5)) * F32(rng.uniform(0.55, 0.75))
        streak_cols = value_noise(rng, (1, 4 * w), cell=1)[0]
        slope = F32(rng.uniform(-0.3, 0.3))
        cols = (np.arange(w, dtype=F32)[None, :] + np.arange(h, dtype=F32)[:, None] * slope) * F32(4)
        streaks = streak_cols[np.floor(cols).astype(np.int64) % (4 * w)] > F32(0.9)
        rgb[streaks] += F32(0.18)
        wet = label == ROAD
        rgb[wet] = rgb[wet] * F32(0.7) + np.flipud(rgb)[wet] * F32(0.15)  # a faint mirror of the scene
    elif kind == "snow":
        ground = (label == TERRAIN) | (label == SIDEWALK)
        rgb[ground] = rgb[ground] * F32(0.35) + F32(0.62)
        rgb[:] = rgb * F32(0.8) + F32(0.15)
        flakes = rng.random((h, w), dtype=F32) > F32(0.985)
        rgb[flakes] = F32(0.95)
    else:
        raise ValueError(f"unknown weather shift {kind!r}; valid: {', '.join(SHIFTS)}")


def camera_effects(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Optics and sensor: optional blur, vignetting, noise; returns uint8 (H, W, 3)."""
    rgb = canvas.rgb
    if rng.random() < 0.6:
        rgb = blur3(rgb)
    elif rng.random() < 0.3:  # motion blur along the rows
        rgb = blur3(blur3(rgb, (False, True)), (False, True))
    h, w = canvas.label.shape
    ys = (np.arange(h, dtype=F32) + F32(0.5)) / F32(h) - F32(0.5)
    xs = (np.arange(w, dtype=F32) + F32(0.5)) / F32(w) - F32(0.5)
    vignette = F32(1) - F32(rng.uniform(0.0, 0.5)) * (ys[:, None] ** 2 + xs[None, :] ** 2)
    noise = (rng.random((h, w, 3), dtype=F32) - F32(0.5)) * F32(rng.uniform(0.02, 0.07))
    out = np.clip(rgb * vignette[..., None] + noise, 0, 1) * F32(255) + F32(0.5)
    return np.floor(out).astype(np.uint8)
