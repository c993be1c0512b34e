"""A per-pixel colour classifier: the control that shows a benchmark needs shape and context.

:class:`ColourLookupClassifier` predicts a pixel's class from its RGB value alone. It
quantises each channel to ``bits`` bits (``2 ** (3 * bits)`` colour cells) and predicts,
for every cell, the class most frequent among the training pixels of that cell — the
Bayes-optimal decision for the quantised colour, so no colour-only per-pixel rule does
much better on data drawn like the training set. Cells never seen in training fall back to
the same rule on a coarser grid (``bits - 1``, ...), then to the overall majority class.
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX


def _cell_index(images: np.ndarray, bits: int) -> np.ndarray:
    """(...,) int64 cell id ``r' * 4^bits + g' * 2^bits + b'`` of each pixel of (..., 3) uint8."""
    q = (images >> (8 - bits)).astype(np.int64)
    return (q[..., 0] << (2 * bits)) | (q[..., 1] << bits) | q[..., 2]


class ColourLookupClassifier:
    """Majority class per quantised RGB colour cell.

    Args:
        num_classes: class ids are ``0 .. num_classes - 1``; ``ignore_index`` labels are skipped.
        bits: bits kept per channel (5 -> 32,768 cells).
    """

    def __init__(self, num_classes: int, bits: int = 5, ignore_index: int = IGNORE_INDEX) -> None:
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be in 1..8, got {bits}")
        self.num_classes = int(num_classes)
        self.bits = int(bits)
        self.ignore_index = ignore_index
        self.counts = {b: np.zeros((1 << (3 * b), self.num_classes), dtype=np.int64) for b in range(1, bits + 1)}
        self.tables: dict[int, np.ndarray] | None = None

    def update(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Add the pixels of ``images`` (N, H, W, 3) uint8 with ``labels`` (N, H, W) to the counts."""
        if images.dtype != np.uint8 or images.shape[-1] != 3 or images.shape[:-1] != labels.shape:
            raise ValueError(
                f"expected uint8 images (..., 3) and labels of the same (...) shape, got "
                f"{images.dtype} {images.shape} and {labels.shape}"
            )
        keep = labels != self.ignore_index
        label = labels[keep].astype(np.int64)
        if label.size and (label.min() < 0 or label.max() >= self.num_classes):
            raise ValueError(f"labels outside [0, {self.num_classes}) found: {np.unique(label).tolist()}")
        pixels = images[keep]
        for b, counts in self.counts.items():
            flat = _cell_index(pixels, b) * self.num_classes + label
            counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
        self.tables = None

    def fit(self, images: np.ndarray, labels: np.ndarray, chunk: int = 64) -> ColourLookupClassifier:
        """Count all labelled pixels of (N, H, W, 3) images, ``chunk`` images at a time."""
        for start in range(0, len(images), chunk):
            self.update(images[start : start + chunk], labels[start : start + chunk])
        return self

    def _build_tables(self) -> dict[int, np.ndarray]:
        coarsest = self.counts[1].sum(axis=0)
        if coarsest.sum() == 0:
            raise ValueError("ColourLookupClassifier has seen no labelled pixel: call fit() first")
        fallback_class = int(coarsest.argmax())
        tables: dict[int, np.ndarray] = {}
        previous = None
        for b in range(1, self.bits + 1):
            counts = self.counts[b]
            table = counts.argmax(axis=1)
            empty = counts.sum(axis=1) == 0
            if previous is None:
                table[empty] = fallback_class
            else:
                # a cell of the finer grid lies inside the coarser cell with each channel >> 1
                cells = np.flatnonzero(empty)
                r, g, bl = cells >> (2 * b), (cells >> b) & ((1 << b) - 1), cells & ((1 << b) - 1)
                parent = ((r >> 1) << (2 * (b - 1))) | ((g >> 1) << (b - 1)) | (bl >> 1)
                table[empty] = previous[parent]
            tables[b] = table
            previous = table
        return tables

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class ids (..., ) uint8 for images (..., 3) uint8."""
        if self.tables is None:
            self.tables = self._build_tables()
        return self.tables[self.bits][_cell_index(images, self.bits)].astype(np.uint8)
