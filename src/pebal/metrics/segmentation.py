"""Semantic-segmentation metrics from a confusion matrix: per-class IoU, mIoU, pixel accuracy.

The confusion matrix ``conf`` is (C, C) int64 with ``conf[t, p]`` = the number of evaluated
pixels of true class ``t`` predicted as ``p``; pixels labelled ``ignore_index`` are skipped.
For class ``c``::

    IoU_c = TP_c / (TP_c + FP_c + FN_c) = conf[c, c] / (sum_p conf[c, p] + sum_t conf[t, c] - conf[c, c])

The mIoU averages IoU_c over the classes present in the ground truth (``conf[c].sum() > 0``)
unless a class list is given, so that a benchmark using a subset of the Cityscapes train ids
is not averaged with classes it never contains (those still count as false positives of the
classes they steal pixels from).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pebal.labels import IGNORE_INDEX


def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class ids, got dtype {x.dtype}")
    return x.astype(np.int64, copy=False)


def confusion_matrix(pred, label, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> np.ndarray:
    """(num_classes, num_classes) int64 counts of (true class, predicted class) pairs.

    Args:
        pred: predicted class ids, any shape, values in ``[0, num_classes)``.
        label: true class ids, same shape; ``ignore_index`` pixels are not counted.
    Raises:
        ValueError: shapes differ, or a prediction / non-ignored label is out of range.
    """
    pred = _as_numpy(pred, "pred")
    label = _as_numpy(label, "label")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label shapes differ: {pred.shape} vs {label.shape}")
    keep = label != ignore_index if ignore_index is not None else np.ones(label.shape, dtype=bool)
    pred, label = pred[keep], label[keep]
    for name, values in (("label", label), ("pred", pred)):
        bad = (values < 0) | (values >= num_classes)
        if bad.any():
            found = np.unique(values[bad])[:10].tolist()
            raise ValueError(
                f"{name} holds values outside [0, {num_classes}) that are not the ignore index "
                f"{ignore_index}: {found}"
            )
    counts = np.bincount(label * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """(C,) float64 IoU of each class; NaN where the class is neither labelled nor predicted."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(axis=0) + conf.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def present_classes(conf: np.ndarray) -> list[int]:
    """Class ids with at least one labelled (non-ignored) pixel."""
    return [int(c) for c in np.flatnonzero(np.asarray(conf).sum(axis=1) > 0)]


def mean_iou(conf: np.ndarray, classes: Sequence[int] | None = None) -> float:
    """Mean of :func:`iou_per_class` over ``classes`` (default: :func:`present_classes`)."""
    iou = iou_per_class(conf)
    classes = present_classes(conf) if classes is None else list(classes)
    if not classes:
        raise ValueError("mean_iou: no class to average (the confusion matrix has no labelled pixel)")
    values = iou[classes]
    # a listed class that is neither labelled nor predicted has IoU NaN: skip it
    return float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")


def pixel_accuracy(conf: np.ndarray) -> float:
    """Fraction of evaluated pixels predicted correctly."""
    conf = np.asarray(conf)
    total = conf.sum()
    return float(np.trace(conf) / total) if total > 0 else float("nan")


class ConfusionMatrix:
    """Accumulates :func:`confusion_matrix` over batches (``update`` / ``compute`` / ``reset``)."""

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.conf = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred, label) -> None:
        self.conf += confusion_matrix(pred, label, self.num_classes, self.ignore_index)

    def compute(self) -> dict:
        """``{"iou": (C,) array, "miou": float, "pixel_accuracy": float, "classes": [...]}``."""
        return {
            "iou": iou_per_class(self.conf),
            "miou": mean_iou(self.conf),
            "pixel_accuracy": pixel_accuracy(self.conf),
            "classes": present_classes(self.conf),
        }
