"""Inference on user images: :class:`Predictor` and its :class:`Prediction` result.

A prediction follows the spec's "Inference" section: one forward pass (optionally in
overlapping tiles, see :func:`sliding_window_logits`), ImageNet normalisation, then

    score        = gaussian_smooth(-logsumexp(logits[:, :Y]))   (N, H, W) float32, 7x7, sigma 1
    segmentation = argmax(logits[:, :Y])                        (N, H, W) train ids
    mask         = score >= threshold                           when a threshold is known

The threshold comes from ``Predictor(threshold=...)`` or else from the checkpoint metadata
key ``"threshold"`` written by ``pebal calibrate``; the heat-map scale likewise from
``score_range=`` or the metadata key ``"heatmap_range"``, else (None) each picture uses a
robust range of its own scores (:func:`pebal.inference.render.robust_range`). Non-finite
thresholds and ranges are refused with the source named.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pebal.inference import render
from pebal.data.transforms import image_to_tensor


def check_threshold(value, where: str = "threshold") -> float:
    """``value`` as a finite float, or a ValueError naming ``where`` and what was found."""
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number, got {value!r}") from None
    if not math.isfinite(threshold):
        raise ValueError(f"{where} must be a finite number, got {threshold}")
    return threshold


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available else cpu; anything else as ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Prediction:
    """The result for one image.

    Attributes:
        score: (H, W) float32 anomaly score, higher = more anomalous.
        segmentation: (H, W) uint8 inlier train ids.
        threshold: the score at or above which a pixel is anomalous, or None if unknown.
        score_range: (low, high) of the heat-map scale (see :mod:`pebal.inference.render`), or
            None: the robust range of this score map (:func:`pebal.inference.render.robust_range`).
        image: the (H, W, 3) uint8 RGB input, kept for overlays (None if not kept).
        name: an identifier (file stem, frame index), or None.
        colormap: matplotlib colormap of :meth:`heatmap` and :meth:`overlay`.
    """

    score: np.ndarray
    segmentation: np.ndarray
    threshold: float | None = None
    score_range: tuple[float, float] | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    name: str | None = None
    colormap: str = render.DEFAULT_COLORMAP

    @property
    def mask(self) -> np.ndarray | None:
        """(H, W) bool ``score >= threshold``, or None when no threshold is known."""
        if self.threshold is None:
            return None
        return self.score >= np.float32(self.threshold)

    def display_range(self) -> tuple[float, float]:
        """The heat-map scale used: ``score_range``, or the robust range of this score map."""
        return self.score_range if self.score_range is not None else render.robust_range(self.score)

    def heatmap(self) -> np.ndarray:
        """(H, W, 3) uint8 heat map on the scale :meth:`display_range`."""
        return render.heatmap(self.score, self.display_range(), self.colormap)

    def segmentation_image(self) -> np.ndarray:
        """(H, W, 3) uint8 segmentation in the Cityscapes palette."""
        return render.segmentation_image(self.segmentation)

    def final_prediction(self) -> np.ndarray:
        """(H, W, 3) uint8: segmentation with anomalous pixels cyan (plain if no threshold)."""
        return render.final_prediction(self.segmentation, self.mask)

    def overlay(self, alpha: float = render.OVERLAY_ALPHA) -> np.ndarray:
        """(H, W, 3) uint8: the input with high scores tinted by the heat map, anomalies outlined cyan."""
        if self.image is None:
            raise ValueError("this prediction did not keep its input image; overlay() needs it")
        return render.overlay(self.image, self.score, self.mask, self.display_range(), self.colormap, alpha)

    def non_finite(self) -> int:
        """How many score pixels are NaN or infinite (0 for a healthy model and input)."""
        return int(self.score.size - np.count_nonzero(np.isfinite(self.score)))

    def summary(self) -> dict:
        """Plain-number statistics: size, score min/mean/max, anomalous fraction (if a threshold).

        Call only on a finite score map (see :meth:`non_finite`): JSON has no NaN.
        """
        mask = self.mask
        return {
            "height": int(self.score.shape[0]),
            "width": int(self.score.shape[1]),
            "score_min": float(self.score.min()),
            "score_mean": float(self.score.mean()),
            "score_max": float(self.score.max()),
            "anomalous_fraction": None if mask is None else float(mask.mean()),
        }


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile origins covering ``[0, length)``; the last tile is flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def sliding_window_logits(
    model: torch.nn.Module, images: torch.Tensor, window: tuple[int, int], overlap: float = 1 / 3
) -> torch.Tensor:
    """Logits of ``images`` computed on overlapping tiles of size ``window`` and averaged.

    Tiles start every ``stride = round(tile * (1 - overlap))`` pixels along each axis (at least
    1), the last one flush with the border, so neighbouring tiles share ``overlap`` of their
    side; where tiles overlap their logits are averaged (mean, not max). Smoothing and argmax
    happen afterwards on the full map, so they see no seams. An image no larger than the
    window is run in one pass.

    Shape: images (N, 3, H, W) normalised -> logits (N, C, H, W).
    """
    th, tw = int(window[0]), int(window[1])
    if th < 1 or tw < 1:
        raise ValueError(f"window must be two positive sizes (height, width), got {window}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap}")
    n, _, h, w = images.shape
    if h <= th and w <= tw:
        return model(images)
    th, tw = min(th, h), min(tw, w)
    ys = _starts(h, th, max(1, round(th * (1.0 - overlap))))
    xs = _starts(w, tw, max(1, round(tw * (1.0 - overlap))))
    total = None
    count = images.new_zeros((1, 1, h, w))
    for y in ys:
        for x in xs:
            tile = model(images[:, :, y : y + th, x : x + tw])
            if total is None:
                total = images.new_zeros((n, tile.shape[1], h, w))
            total[:, :, y : y + th, x : x + tw] += tile
            count[:, :, y : y + th, x : x + tw] += 1.0
    return total / count


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3), with an error naming the file if it cannot be read."""
    from pebal.data.image_io import read_image as _read

    return _read(path)


def _as_image(image, index: int) -> tuple[np.ndarray, str | None]:
    """(array, name) from an array, a path, or a ``(name, array)`` pair."""
    name = None
    if isinstance(image, tuple) and len(image) == 2 and isinstance(image[0], str):
        name, image = image
    if isinstance(image, (str, os.PathLike)):
        return read_image(image), name or Path(image).stem
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        label = name or f"input {index}"
        raise ValueError(f"{label}: expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    return image, name


class Predictor:
    """Load a checkpoint once, then predict score maps, segmentations and masks.

    Args:
        checkpoint: a checkpoint path (any format :func:`pebal.models.load_checkpoint` reads)
            or an already built :class:`pebal.model.PEBALModel`.
        device: ``"auto"`` (cuda if available, else cpu), ``"cpu"``, ``"cuda:0"``, ...
        threshold: anomaly threshold; default: the checkpoint's calibrated ``"threshold"``.
        score_range: heat-map scale (low, high); default: the checkpoint's ``"heatmap_range"``,
            else None (each picture on the robust range of its own scores).
        window: (height, width) of sliding-window tiles for large images, or None (one pass).
        overlap: fraction of a tile shared with its neighbour (see :func:`sliding_window_logits`).
        batch_size: images per forward pass in :meth:`predict_batch` / :meth:`predict_stream`.
        keep_image: keep each input in its :class:`Prediction` (needed by ``overlay()``).
    """

    def __init__(
        self,
        checkpoint,
        device: str | torch.device = "auto",
        *,
        threshold: float | None = None,
        score_range: tuple[float, float] | None = None,
        window: tuple[int, int] | None = None,
        overlap: float = 1 / 3,
        batch_size: int = 1,
        colormap: str = render.DEFAULT_COLORMAP,
        keep_image: bool = True,
    ) -> None:
        from pebal.model import PEBALModel
        from pebal.models import load_checkpoint

        self.device = resolve_device(device)
        if isinstance(checkpoint, PEBALModel):
            model, self.checkpoint_path = checkpoint, None
        else:
            model, self.checkpoint_path = load_checkpoint(checkpoint), Path(checkpoint)
        self.model = model.to(self.device).eval()
        self.metadata = dict(getattr(model, "metadata", {}) or {})
        source = f"checkpoint {self.checkpoint_path or 'model'} metadata"
        if threshold is None and self.metadata.get("threshold") is not None:
            threshold, where = self.metadata["threshold"], f"{source} 'threshold'"
        else:
            where = "threshold"
        self.threshold = None if threshold is None else check_threshold(threshold, where)
        #: where the threshold and the heat-map scale came from: "argument", "checkpoint" or None
        self.threshold_source = None if threshold is None else ("argument" if where == "threshold" else "checkpoint")
        self.score_range_source = None
        if score_range is None and self.metadata.get("heatmap_range") is not None:
            try:
                score_range = render.check_score_range(self.metadata["heatmap_range"])
            except ValueError as error:
                raise ValueError(f"{source} 'heatmap_range': {error}") from None
            self.score_range_source = "checkpoint"
        self.score_range = None if score_range is None else render.check_score_range(score_range)
        if score_range is not None and self.score_range_source is None:
            self.score_range_source = "argument"
        render.colormap_lut(colormap)  # fail now on an unknown colormap name
        self.colormap = colormap
        self.window = None if window is None else (int(window[0]), int(window[1]))
        self.overlap = float(overlap)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.keep_image = keep_image

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    @torch.inference_mode()
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Normalised images (N, 3, H, W) -> logits (N, Y+1, H, W) on the predictor's device."""
        batch = batch.to(self.device)
        if self.window is not None:
            return sliding_window_logits(self.model, batch, self.window, self.overlap)
        return self.model(batch)

    @torch.inference_mode()
    def _run(self, images: list[np.ndarray], names: list[str | None]) -> list[Prediction]:
        logits = self.logits(torch.stack([image_to_tensor(im) for im in images]))
        scores = self.model.anomaly_score(logits).float().cpu().numpy()
        segs = self.model.segment(logits).to(torch.uint8).cpu().numpy()
        return [
            Prediction(
                score=scores[i],
                segmentation=segs[i],
                threshold=self.threshold,
                score_range=self.score_range,
                image=images[i] if self.keep_image else None,
                name=names[i],
                colormap=self.colormap,
            )
            for i in range(len(images))
        ]

    def predict(self, image, name: str | None = None) -> Prediction:
        """One image: a uint8 RGB array (H, W, 3) or an image path."""
        array, found = _as_image(image, 0)
        return self._run([array], [name or found])[0]

    def predict_batch(self, images: Iterable) -> list[Prediction]:
        """Several images (arrays, paths or ``(name, array)`` pairs), in order."""
        return list(self.predict_stream(images))

    def predict_stream(self, images: Iterable, batch_size: int | None = None) -> Iterator[Prediction]:
        """Lazily predict an iterable of images, yielding results in input order.

        Consecutive images of the same size are grouped into forward passes of up to
        ``batch_size`` (default: the predictor's); a size change flushes the group.
        """
        batch_size = self.batch_size if batch_size is None else int(batch_size)
        pending: list[np.ndarray] = []
        names: list[str | None] = []
        for index, item in enumerate(images):
            array, name = _as_image(item, index)
            if pending and (array.shape != pending[0].shape or len(pending) >= batch_size):
                yield from self._run(pending, names)
                pending, names = [], []
            pending.append(array)
            names.append(name)
        if pending:
            yield from self._run(pending, names)
