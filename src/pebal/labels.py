"""Label meanings, defined once for the whole project.

Training labels (N, H, W) long:
    ``0 .. Y-1``     inlier train ids (Cityscapes: the 19 train ids, ``Y = 19``)
    ``OUTLIER_INDEX`` (254) a pixel pasted from an outlier-exposure object (AnomalyMix)
    ``IGNORE_INDEX``  (255) void / ignore / padding

Logits have ``Y + 1`` channels: ``0 .. Y-1`` for the inlier classes and the
**abstention channel** at index ``Y`` (see :func:`abstention_index`).

Evaluation labels of every anomaly benchmark, after conversion on load:
    ``INLIER`` (0), ``ANOMALY`` (1), ``IGNORE_INDEX`` (255, not evaluated).

The Cityscapes label table (names, train ids, colours) comes from ``cityscapesscripts``.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255
OUTLIER_INDEX = 254

INLIER = 0
ANOMALY = 1
EVAL_VALUES = (INLIER, ANOMALY, IGNORE_INDEX)

NUM_CITYSCAPES_CLASSES = 19

#: RGB colour used for anomalous pixels in the paper's final prediction (Fig. 1).
ANOMALY_COLOR = (0, 255, 255)


def abstention_index(num_classes: int) -> int:
    """Index of the abstention (anomaly) channel for ``num_classes`` inlier classes."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return num_classes


def _cityscapes_train_labels():
    from cityscapesscripts.helpers.labels import labels

    by_train_id = {}
    for label in labels:
        if 0 <= label.trainId < IGNORE_INDEX and label.trainId not in by_train_id:
            by_train_id[label.trainId] = label
    return [by_train_id[i] for i in range(NUM_CITYSCAPES_CLASSES)]


_TRAIN_LABELS = _cityscapes_train_labels()

#: The 19 Cityscapes train-id class names, in train-id order.
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(label.name for label in _TRAIN_LABELS)

#: Cityscapes colour of each train id, shape (19, 3) uint8.
CITYSCAPES_PALETTE = np.array([label.color for label in _TRAIN_LABELS], dtype=np.uint8)


def cityscapes_label_id_to_train_id() -> np.ndarray:
    """Lookup table (256,) uint8 from Cityscapes label ids (0..33, -1 excluded) to train ids."""
    from cityscapesscripts.helpers.labels import labels

    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label in labels:
        if 0 <= label.id < 256 and 0 <= label.trainId < IGNORE_INDEX:
            table[label.id] = label.trainId
    return table


def colorize(segmentation: np.ndarray, palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """Paint a train-id map (H, W) with the palette; unknown ids (void, outlier) become black.

    Returns (H, W, 3) uint8.
    """
    segmentation = np.asarray(segmentation)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    return lut[segmentation.astype(np.int64).clip(0, 255)]
