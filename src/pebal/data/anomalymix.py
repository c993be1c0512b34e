"""AnomalyMix: paste outlier objects into inlier training images and label them 254.

For one image (H, W, 3) uint8 and its train-id label (H, W):

1. with probability ``probability`` the image is mixed, else returned unchanged (copied);
2. ``k`` objects, ``k`` uniform in ``1 .. max_objects``, are drawn from the outlier source;
3. each object (cropped to the bounding box of its pixels) is optionally rescaled by
   ``s ~ U(scale_range)`` (bilinear for pixels, nearest for the mask), optionally flipped
   left-right with probability ``flip``, and — if still larger than the frame — shrunk,
   aspect kept, until it fits (the reference silently skips such images; here every mixed
   image really gets its object, and ``Paste.fitted`` records the shrink);
4. placement: ``"uniform"`` draws the top-left corner uniformly among the positions where
   the box fits in the frame (the reference's policy); ``"drivable"`` puts the bottom-centre
   pixel of the box, ``(top + h - 1, left + w // 2)``, on a pixel whose label is in
   ``drivable_ids`` (road) chosen uniformly among those where the box fits, and falls back
   to uniform when there is none (``Paste.placement == "uniform-fallback"``);
5. only object pixels are copied; their label becomes ``outlier_index`` (254).

Later objects overwrite earlier ones where they overlap. All randomness comes from the
``numpy.random.Generator`` passed to each call; the draw order is fixed (mix or not, object
count, then per object: index, scale, flip, position), so a seed fixes the result.
The reference's own settings: ``scale_range=None, flip=0.0, placement="uniform", max_objects=1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pebal.data.outliers.base import OutlierObject, OutlierSource
from pebal.labels import OUTLIER_INDEX

PLACEMENTS = ("uniform", "drivable")


@dataclass(frozen=True)
class Paste:
    """What one pasted object was and where it went (for logs and tests).

    ``top, left, height, width`` locate the pasted box in the output image; ``scale`` is the
    random factor from ``scale_range`` (1.0 without one); ``fitted`` says the object was
    shrunk further to fit the frame; ``pixels`` counts the object pixels written.
    """

    object_index: int
    name: str
    class_name: str | None
    top: int
    left: int
    height: int
    width: int
    scale: float
    flipped: bool
    fitted: bool
    placement: str
    pixels: int


@dataclass(frozen=True, eq=False)
class MixResult:
    """A mixed image (H, W, 3) uint8, its label (H, W) and the pastes (empty when not mixed)."""

    image: np.ndarray
    label: np.ndarray
    pastes: tuple[Paste, ...]

    @property
    def mixed(self) -> bool:
        return bool(self.pastes)


@dataclass(frozen=True, eq=False)
class BatchMixResult:
    """Output of :meth:`AnomalyMix.mix_batch`: new images/labels, which indices were mixed, their pastes."""

    images: np.ndarray | list[np.ndarray]
    labels: np.ndarray | list[np.ndarray]
    mixed_indices: tuple[int, ...]
    pastes: dict[int, tuple[Paste, ...]]


def _resize_object(image: np.ndarray, mask: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an object to (height, width): bilinear pixels, nearest mask, re-cropped to the mask's box."""
    new_image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
    mask_u8 = Image.fromarray(mask.astype(np.uint8) * 255)
    new_mask = np.asarray(mask_u8.resize((width, height), Image.Resampling.NEAREST)) > 127
    if not new_mask.any():
        # Nearest sampling can miss a thin object entirely when shrinking; keep every
        # output pixel the object covers at all so the paste is never empty.
        new_mask = np.asarray(mask_u8.resize((width, height), Image.Resampling.BOX)) > 0
    rows = np.flatnonzero(new_mask.any(axis=1))
    cols = np.flatnonzero(new_mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return np.ascontiguousarray(new_image[r0:r1, c0:c1]), np.ascontiguousarray(new_mask[r0:r1, c0:c1])


class AnomalyMix:
    """Paste outlier objects into an image and label them ``outlier_index``.

    Args:
        source: an :class:`~pebal.data.outliers.OutlierSource`.
        probability: chance that a call mixes the image (1.0 = always).
        scale_range: ``(low, high)`` for a uniform random rescale factor, or ``None`` (the
            reference does not rescale).
        flip: probability of a left-right flip of the object (``True`` = 0.5, ``False`` = 0).
        placement: ``"uniform"`` or ``"drivable"`` (see the module docstring).
        drivable_ids: label values that count as drivable (Cityscapes road = train id 0).
        max_objects: each mixed image gets ``1 .. max_objects`` objects (uniform).
        outlier_index: label written on pasted pixels (254).

    Call ``image, label = mix(image, label, rng)``; :meth:`apply` also returns the pastes.
    """

    def __init__(self, source: OutlierSource, probability: float = 1.0, *,
                 scale_range: tuple[float, float] | None = None, flip: float | bool = 0.5,
                 placement: str = "uniform", drivable_ids: Sequence[int] = (0,), max_objects: int = 1,
                 outlier_index: int = OUTLIER_INDEX):
        if len(source) == 0:
            raise ValueError("the outlier pool is empty: AnomalyMix needs at least one outlier object")
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        if scale_range is not None:
            lo, hi = (float(v) for v in scale_range)
            if not 0.0 < lo <= hi:
                raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
            scale_range = (lo, hi)
        flip = 0.5 if flip is True else 0.0 if flip is False else float(flip)
        if not 0.0 <= flip <= 1.0:
            raise ValueError(f"flip must be a probability in [0, 1] or a bool, got {flip}")
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        if int(max_objects) < 1:
            raise ValueError(f"max_objects must be >= 1, got {max_objects}")
        self.source = source
        self.probability = float(probability)
        self.scale_range = scale_range
        self.flip = flip
        self.placement = placement
        self.drivable_ids = tuple(int(v) for v in drivable_ids)
        self.max_objects = int(max_objects)
        self.outlier_index = int(outlier_index)

    def __repr__(self) -> str:
        return (f"AnomalyMix({len(self.source)} objects, probability={self.probability}, "
                f"scale_range={self.scale_range}, flip={self.flip}, placement={self.placement!r}, "
                f"max_objects={self.max_objects})")

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        result = self.apply(image, label, rng)
        return result.image, result.label

    # ------------------------------------------------------------------ one image
    def apply(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator, *,
              force: bool = False, object_indices: Sequence[int] | None = None) -> MixResult:
        """Mix one image. ``force`` ignores ``probability``; ``object_indices`` fixes the objects (and implies ``force``).

        Returns new arrays; the inputs are never modified.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        image, label = self._check(image, label)
        out_image, out_label = image.copy(), label.copy()
        # Always draw, so the stream stays aligned whatever the probability.
        mix_now = rng.random() < self.probability
        if not (mix_now or force or object_indices is not None):
            return MixResult(out_image, out_label, ())
        if object_indices is None:
            count = int(rng.integers(1, self.max_objects + 1))
            object_indices = [int(rng.integers(len(self.source))) for _ in range(count)]
        pastes = tuple(self._paste(out_image, out_label, int(i), rng) for i in object_indices)
        return MixResult(out_image, out_label, pastes)

    @staticmethod
    def _check(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, label = np.asarray(image), np.asarray(label)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"AnomalyMix expects a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
        if label.shape != image.shape[:2]:
            raise ValueError(f"label shape {label.shape} does not match image shape {image.shape[:2]}")
        if not np.issubdtype(label.dtype, np.integer):
            raise ValueError(f"label must hold integer train ids, got dtype {label.dtype}")
        return image, label

    def _prepare(self, obj: OutlierObject, frame: tuple[int, int], rng: np.random.Generator):
        img, mask = obj.image, obj.mask
        scale = 1.0
        if self.scale_range is not None:
            scale = float(rng.uniform(*self.scale_range))
            h, w = mask.shape
            new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
            if (new_h, new_w) != (h, w):
                img, mask = _resize_object(img, mask, new_h, new_w)
        flipped = bool(rng.random() < self.flip) if self.flip > 0 else False
        if flipped:
            img, mask = img[:, ::-1], mask[:, ::-1]
        fitted = False
        H, W = frame
        h, w = mask.shape
        if h > H or w > W:
            f = min(H / h, W / w)
            img, mask = _resize_object(img, mask, min(H, max(1, round(h * f))), min(W, max(1, round(w * f))))
            fitted = True
        return img, mask, scale, flipped, fitted

    def _place(self, label: np.ndarray, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, str]:
        H, W = label.shape
        if self.placement == "drivable":
            valid = np.isin(label, self.drivable_ids)
            # The bottom-centre pixel (r, c) must leave room for the box: r >= h - 1 and
            # 0 <= c - w // 2 <= W - w.
            valid[: h - 1] = False
            valid[:, : w // 2] = False
            valid[:, W - w + w // 2 + 1:] = False
            candidates = np.flatnonzero(valid)
            if candidates.size:
                r, c = divmod(int(candidates[rng.integers(candidates.size)]), W)
                return r - h + 1, c - w // 2, "drivable"
            top, left = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
            return top, left, "uniform-fallback"
        return int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1)), "uniform"

    def _paste(self, image: np.ndarray, label: np.ndarray, index: int, rng: np.random.Generator) -> Paste:
        obj = self.source[index]
        img, mask, scale, flipped, fitted = self._prepare(obj, label.shape, rng)
        h, w = mask.shape
        top, left, how = self._place(label, h, w, rng)
        image[top:top + h, left:left + w][mask] = img[mask]
        label[top:top + h, left:left + w][mask] = self.outlier_index
        return Paste(object_index=index, name=obj.name, class_name=obj.class_name, top=top, left=left,
                     height=h, width=w, scale=scale, flipped=flipped, fitted=fitted, placement=how,
                     pixels=int(mask.sum()))

    # ------------------------------------------------------------------ a batch
    def mix_batch(self, images: np.ndarray | Sequence[np.ndarray], labels: np.ndarray | Sequence[np.ndarray],
                  rng: np.random.Generator, count: int) -> BatchMixResult:
        """Mix exactly ``count`` images of a batch, chosen uniformly without replacement.

        ``images`` (N, H, W, 3) uint8 and ``labels`` (N, H, W), as arrays or lists (sizes may
        differ in a list). ``probability`` is ignored: the chosen images are always mixed.
        Returns new containers of the same kind; the inputs are not modified.
        """
        n = len(images)
        if len(labels) != n:
            raise ValueError(f"{n} images but {len(labels)} labels")
        if isinstance(count, bool) or int(count) != count or not 0 <= count <= n:
            raise ValueError(f"count must be an integer in [0, {n}] (the batch size), got {count!r}")
        chosen = sorted(int(i) for i in rng.choice(n, size=int(count), replace=False))
        as_array = isinstance(images, np.ndarray)
        out_images = [np.array(im, copy=True) for im in images]
        out_labels = [np.array(lb, copy=True) for lb in labels]
        pastes = {}
        for i in chosen:
            result = self.apply(out_images[i], out_labels[i], rng, force=True)
            out_images[i], out_labels[i], pastes[i] = result.image, result.label, result.pastes
        if as_array:
            out_images = np.stack(out_images) if n else np.array(images, copy=True)
            out_labels = np.stack(out_labels) if n else np.array(labels, copy=True)
        return BatchMixResult(out_images, out_labels, tuple(chosen), pastes)
