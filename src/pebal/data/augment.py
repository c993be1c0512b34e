"""Training augmentation of (image, label) pairs: random scale, crop with padding, flip.

As in the reference recipe: a scale drawn from a finite set, a random crop (the image is
padded with 0 and the label with 255 where the crop exceeds the frame), a horizontal flip.
Every random choice comes from the generator passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pebal.labels import IGNORE_INDEX


class SegmentationAugment:
    """``item, rng -> item`` with ``item = {"image": uint8 (H,W,3), "label": uint8 (H,W), ...}``."""

    def __init__(self, flip_probability: float = 0.5, scales: Sequence[float] = (1.0,),
                 crop: tuple[int, int] | None = None) -> None:
        if not 0.0 <= flip_probability <= 1.0:
            raise ValueError(f"flip_probability must be in [0, 1], got {flip_probability}")
        if not scales or min(scales) <= 0:
            raise ValueError(f"scales must be positive numbers, got {scales}")
        self.flip_probability = float(flip_probability)
        self.scales = tuple(float(s) for s in scales)
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))

    def __call__(self, item: dict, rng: np.random.Generator) -> dict:
        image, label = item["image"], item["label"]
        scale = self.scales[int(rng.integers(len(self.scales)))]
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
