"""Exact counts of float32 maps through the compiled loops (:mod:`pebal.metrics.kernels`).

Pass 1 collects the anomaly keys (1-2 % of the pixels) and validates every pixel; the distinct
anomaly keys define the 2U+1 bins; pass 2 counts every inlier straight from the score map into
its bin. Nothing per inlier is stored. Labels are read as uint8 (other integer dtypes are
converted when their values fit, else refused by the same checks as the numpy path).
"""

from __future__ import annotations

import numpy as np

from pebal.metrics import kernels
from pebal.metrics.counts import PixelCounts, bin_table, unique_counts
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import check_finite, check_labels, image_name

#: Pixels per compiled call (bounds the anomaly-key buffer: 16 MB).
STEP = 1 << 22


def flat_pieces(s: np.ndarray, lab: np.ndarray):
    """Yield (image index, uint32 bits, uint8 labels) pieces of at most STEP pixels."""
    for i in range(s.shape[0]):
        bits = np.ascontiguousarray(s[i]).reshape(-1).view(np.uint32)
        labels = np.ascontiguousarray(lab[i]).reshape(-1)
        for start in range(0, bits.size, STEP):
            yield i, bits[start : start + STEP], labels[start : start + STEP]


def kernel_ignore(ignore_index: int | None) -> int:
    """The void label as the compiled loops see it (256: no uint8 label is void)."""
    return ignore_index if ignore_index is not None and 0 <= ignore_index <= 255 else 256


def as_uint8_labels(lab: np.ndarray) -> np.ndarray | None:
    """Labels as uint8 when that changes no value (else None: use the numpy path)."""
    if lab.dtype == np.uint8:
        return lab
    if lab.size and (lab.min() < 0 or lab.max() > 255):
        return None
    return lab.astype(np.uint8)


def raise_bad(s: np.ndarray, lab: np.ndarray, i: int, ignore_index: int, first_image: int = 0) -> None:
    """Raise the numpy path's error for image ``i`` (the compiled pass found a bad pixel there)."""
    where = image_name(i, first_image)
    check_labels(lab[i], ignore_index, where)
    check_finite(s[i], lab[i], ignore_index, where)
    raise AssertionError(f"{where}: the compiled pass found a bad pixel that the checks did not")  # pragma: no cover


def counts_float32(s: np.ndarray, lab: np.ndarray, ignore_index: int | None) -> PixelCounts | None:
    """:class:`PixelCounts` of float32 (N, H, W) scores and their labels (None when a label
    does not fit in uint8: the numpy path then reports it)."""
    lab8 = as_uint8_labels(lab)
    if lab8 is None:
        return None
    ignore = kernel_ignore(ignore_index)
    buf = np.empty(min(STEP, max(s[0].size, 1)), np.uint32)
    pos, num_negative = [], 0
    for i, bits, labels in flat_pieces(s, lab8):
        n_pos, n_neg, bad = kernels.positive_keys(bits, labels, ignore, buf)
        if bad >= 0:
            raise_bad(s, lab8, i, ignore_index)
        pos.append(buf[:n_pos].copy())
        num_negative += n_neg
    u, c = unique_counts(pos, 32)
    del pos
    if u.size == 0 or num_negative == 0:
        raise MissingClassError(int(c.sum()), num_negative)
    table = bin_table(u)
    counts = np.zeros(2 * u.size + 1, np.int64)
    for _, bits, labels in flat_pieces(s, lab8):
        kernels.count_inliers(bits, labels, u, *table, counts)
    return PixelCounts(keys=u, positives=c, negatives=counts, bits=32)
