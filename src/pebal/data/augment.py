"""Training augmentation of (image, label) pairs: random scale, crop with padding, flip.

As in the reference recipe: a scale drawn from a finite set (or, as in NVIDIA's Cityscapes
recipe that the paper follows, uniformly from a range), a random crop (the image is padded with
0 and the label with 255 where the crop exceeds the frame), a horizontal flip. Every random
choice comes from the generator passed in.

Without a crop a random scale gives each sample its own size, and samples of different sizes
cannot form a batch: :func:`check_batchable` refuses that combination before training starts.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pebal.labels import IGNORE_INDEX


class SegmentationAugment:
    """``item, rng -> item`` with ``item = {"image": uint8 (H,W,3), "label": uint8 (H,W), ...}``."""

    def __init__(self, flip_probability: float = 0.5, scales: Sequence[float] = (1.0,),
                 crop: tuple[int, int] | None = None, scale_range: tuple[float, float] | None = None) -> None:
        if not 0.0 <= flip_probability <= 1.0:
            raise ValueError(f"flip_probability must be in [0, 1], got {flip_probability}")
        if not scales or min(scales) <= 0:
            raise ValueError(f"scales must be positive numbers, got {scales}")
        if scale_range is not None and not 0 < float(scale_range[0]) <= float(scale_range[1]):
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
        if crop is not None and min(int(c) for c in crop) < 1:
            raise ValueError(f"crop must be (height, width) of at least 1 pixel, got {crop}")
        self.flip_probability = float(flip_probability)
        self.scales = tuple(float(s) for s in scales)
        self.scale_range = None if scale_range is None else (float(scale_range[0]), float(scale_range[1]))
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))

    @property
    def varies_size(self) -> bool:
        """Whether two samples of one frame size may come out with different sizes."""
        if self.crop is not None:
            return False
        if self.scale_range is not None:
            return self.scale_range[0] != self.scale_range[1] or self.scale_range[0] != 1.0
        return set(self.scales) != {1.0}

    def draw_scale(self, rng: np.random.Generator) -> float:
        """One random scale factor: uniform on ``scale_range`` if set, else one of ``scales``."""
        if self.scale_range is not None:
            return float(rng.uniform(*self.scale_range))
        return self.scales[int(rng.integers(len(self.scales)))]

    def __call__(self, item: dict, rng: np.random.Generator) -> dict:
        image, label = item["image"], item["label"]
        scale = self.draw_scale(rng)
        if scale != 1.0:
            h, w = label.shape
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
        if self.crop is not None:
            image, label = random_crop(image, label, self.crop, rng)
        if rng.random() < self.flip_probability:
            image, label = image[:, ::-1], label[:, ::-1]
        return {**item, "image": np.ascontiguousarray(image), "label": np.ascontiguousarray(label)}


def random_crop(image: np.ndarray, label: np.ndarray, crop: tuple[int, int], rng: np.random.Generator):
    """A random (ch, cw) window; frames smaller than the crop are padded (image 0, label 255)."""
    ch, cw = crop
    h, w = label.shape
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), constant_values=0)
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
        h, w = label.shape
    top = int(rng.integers(h - ch + 1))
    left = int(rng.integers(w - cw + 1))
    return image[top : top + ch, left : left + cw], label[top : top + ch, left : left + cw]


def check_batchable(augment: SegmentationAugment, batch_size: int) -> None:
    """Refuse a random scale without a crop for batches of more than one sample (they could
    not be stacked); says which config keys fix it."""
    if batch_size > 1 and augment.varies_size:
        scales = augment.scale_range if augment.scale_range is not None else augment.scales
        raise ValueError(
            f"random scales {scales} without a crop give samples of different sizes, which cannot form "
            f"batches of {batch_size}: set data.crop=[H,W] (the paper: [896,896], the reference: [900,900]), "
            "or data.scales=[1.0] and data.scale_range=null, or optim.batch_size=1")
