"""Pictures of a prediction: heat maps on a stated scale, the palette, the paper's cyan overlay.

The heat map maps the anomaly score ``s`` (smoothed inlier free energy, higher = more
anomalous) to a colour through a range ``[low, high]`` that is the same for every image of a
run, so that the same colour means the same score::

    t = clip((s - low) / (high - low), 0, 1)      # scores outside the range saturate
    colour = colormap(round(255 * t))             # a 256-entry matplotlib colormap

The range is the one ``pebal calibrate`` stored in the checkpoint (fitted to the model's
scores, see :func:`pebal.inference.calibrate.heatmap_range`), or one given explicitly; with
neither, :func:`robust_range` of the data (1st to 99.9th percentile). Trained models' scores
span only a few units (about -15..-3 for the shipped model), so a fixed wide scale would wash
them out. All images here are uint8 RGB (H, W, 3).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pebal.labels import ANOMALY_COLOR, CITYSCAPES_PALETTE, colorize

#: Percentiles of :func:`robust_range`.
ROBUST_PERCENTILES = (1.0, 99.9)

#: Strongest weight of the heat map in :func:`overlay` (reached at the top of the scale).
OVERLAY_ALPHA = 0.75

#: Colormap of the heat map: perceptually uniform, dark = inlier-like, bright = anomalous.
DEFAULT_COLORMAP = "inferno"


def check_score_range(score_range) -> tuple[float, float]:
    """``(low, high)`` as floats with ``low < high``, or a ValueError saying what was found."""
    try:
        low, high = (float(v) for v in score_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"score range must be two numbers (low, high), got {score_range!r}") from exc
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"score range must be finite with low < high, got ({low}, {high})")
    return low, high


def robust_range(score: np.ndarray) -> tuple[float, float]:
    """``(1st, 99.9th percentile)`` of the finite values of ``score``; ``(v - 1, v + 1)`` for a
    constant map, ``(0, 1)`` when no value is finite."""
    values = np.asarray(score, dtype=np.float32).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    step = max(1, values.size // 1_000_000)  # a regular subsample bounds the cost on huge maps
    low, high = (float(v) for v in np.percentile(values[::step], ROBUST_PERCENTILES))
    if not high > low:
        low, high = low - 1.0, high + 1.0
    return low, high


def normalise_score(score: np.ndarray, score_range) -> np.ndarray:
    """``clip((score - low) / (high - low), 0, 1)`` as float32, same shape as ``score``."""
    low, high = check_score_range(score_range)
    t = (np.asarray(score, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    # NaN (should not happen) is shown as the low end rather than crashing the uint8 cast
    return np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)


@lru_cache(maxsize=8)
def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """The matplotlib colormap ``name`` sampled at 256 levels, (256, 3) uint8."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as exc:
        raise ValueError(f"unknown colormap {name!r}; use a matplotlib name such as 'inferno' or 'jet'") from exc
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    lut = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def heatmap(score: np.ndarray, score_range=None, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Score map (H, W) -> colour image (H, W, 3) uint8 on ``score_range`` (None: :func:`robust_range`)."""
    score = np.asarray(score)
    if score.ndim != 2:
        raise ValueError(f"expected a score map (H, W), got shape {score.shape}")
    if score_range is None:
        score_range = robust_range(score)
    index = np.round(normalise_score(score, score_range) * 255.0).astype(np.uint8)
    return colormap_lut(colormap)[index]


def colorbar(score_range, colormap: str = DEFAULT_COLORMAP, width: int = 256, height: int = 16,
             threshold: float | None = None) -> np.ndarray:
    """A horizontal legend (height, width, 3) uint8: ``low`` at the left, ``high`` at the right.

    With a ``threshold`` inside the range, a cyan tick (2 px, black edges) marks where it lies:
    column ``round((threshold - low) / (high - low) * (width - 1))``.
    """
    low, high = check_score_range(score_range)
    ramp = np.linspace(low, high, width, dtype=np.float64)[None, :].repeat(height, axis=0)
    bar = heatmap(ramp, (low, high), colormap)
    if threshold is not None and low <= threshold <= high:
        x = threshold_column(threshold, (low, high), width)
        bar[:, max(0, x - 2): x + 3] = 0
        bar[:, max(0, x - 1): x + 2] = ANOMALY_COLOR
    return bar


def threshold_column(threshold: float, score_range, width: int) -> int:
    """The column of ``threshold`` on a colour bar ``width`` pixels wide (see :func:`colorbar`)."""
    low, high = check_score_range(score_range)
    return int(round((threshold - low) / (high - low) * (width - 1)))


def segmentation_image(segmentation: np.ndarray, palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """Train ids (H, W) -> colours (H, W, 3) uint8 in the (Cityscapes) palette."""
    return colorize(segmentation, palette)


def final_prediction(
    segmentation: np.ndarray, mask: np.ndarray | None, palette: np.ndarray = CITYSCAPES_PALETTE
) -> np.ndarray:
    """The paper's final prediction: the coloured segmentation with anomalous pixels cyan.

    ``mask`` (H, W) bool marks the anomalous pixels; ``None`` (no threshold known) gives the
    plain coloured segmentation.
    """
    out = colorize(segmentation, palette)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != out.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} differs from segmentation shape {out.shape[:2]}")
        out[mask] = ANOMALY_COLOR
    return out


def blend(image: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * image + alpha * layer``, rounded, uint8 (H, W, 3)."""
    if image.shape != layer.shape:
        raise ValueError(f"cannot blend images of shapes {image.shape} and {layer.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    mixed = (1.0 - alpha) * image.astype(np.float32) + alpha * layer.astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def mask_outline(mask: np.ndarray, width: int | None = None) -> np.ndarray:
    """The inner border of each anomalous region: ``mask & ~erode(mask, width)``, (H, W) bool.

    Pixels outside the image count as anomalous, so the image border itself is not drawn
    (a mask covering the whole image has no outline; :func:`final_prediction` shows it filled). ``width`` defaults to ``max(1, round(min(H, W) / 256))`` pixels, so that
    the outline stays visible when a large image is shown small.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if width is None:
        width = max(1, round(min(mask.shape) / 256))
    eroded = ndimage.binary_erosion(mask, iterations=int(width), border_value=1)
    return mask & ~eroded


def overlay(
    image: np.ndarray,
    score: np.ndarray,
    mask: np.ndarray | None = None,
    score_range=None,
    colormap: str = DEFAULT_COLORMAP,
    alpha: float = OVERLAY_ALPHA,
) -> np.ndarray:
    """The input with high scores tinted by the heat map, anomalous regions outlined cyan.

    Each pixel's heat-map weight grows with its place on the scale, so low (inlier-like)
    scores leave the scene as it is and only high scores colour it::

        t = normalise_score(score, score_range);  a = alpha * t**2
        out = (1 - a) * image + a * heatmap(score)

    Only the outline of the mask (:func:`mask_outline`) is painted, so the scene and the heat
    stay visible inside the regions; :func:`final_prediction` shows the filled mask.

    Shape: image (H, W, 3) uint8, score (H, W), mask (H, W) bool or None -> (H, W, 3) uint8.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[:2] != np.shape(score):
        raise ValueError(f"image size {image.shape[:2]} differs from score map size {np.shape(score)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if score_range is None:
        score_range = robust_range(score)
    t = normalise_score(score, score_range)
    weight = (np.float32(alpha) * t * t)[..., None]
    layer = heatmap(score, score_range, colormap).astype(np.float32)
    mixed = (1.0 - weight) * image.astype(np.float32) + weight * layer
    out = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    if mask is not None:
        if np.shape(mask) != image.shape[:2]:
            raise ValueError(f"mask shape {np.shape(mask)} differs from image size {image.shape[:2]}")
        out[mask_outline(mask)] = ANOMALY_COLOR
    return out
