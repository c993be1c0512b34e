"""Exact per-image pixel counts and a percentile bootstrap over images.

:class:`PerImageCounts` keeps, for every image, the order-preserving keys of its anomaly
and inlier scores (as :class:`pebal.metrics.AnomalyMetrics` does, 4 bytes per pixel). At
``finish()`` every image's counts are binned on the *global* anomaly keys: a row of
``positives`` (U,) and ``negatives`` (2U+1,) per image (sparse). A bootstrap replicate draws
images with replacement (a seeded ``numpy.random.Generator``); its exact
:class:`~pebal.metrics.PixelCounts` is the multiplicity-weighted sum of the rows, with the
anomaly keys that no drawn image holds removed (their inlier bins merged into the
neighbouring bin), so every replicate's metrics equal those of pooling the drawn images'
pixels, without re-sorting a single pixel.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pebal.labels import IGNORE_INDEX
from pebal.metrics import PixelCounts
from pebal.metrics import keys as K
from pebal.metrics.counts import unique_counts
from pebal.metrics.inputs import as_batch, iter_evaluated
from pebal.metrics.pixel import metrics_from_counts

METRICS = ("auroc", "ap", "fpr95")


def compress(positives: np.ndarray, negatives: np.ndarray, keys: np.ndarray, bits: int) -> PixelCounts:
    """:class:`PixelCounts` without the anomaly keys of zero count (exact: an inlier bin next
    to a removed key joins the bin between the surrounding kept keys)."""
    kept = np.flatnonzero(positives > 0)
    c = np.concatenate([[0], np.cumsum(negatives)])  # sum of negatives[a:b] = c[b] - c[a]
    starts = np.concatenate([[0], 2 * kept[:-1] + 2])
    between = c[2 * kept + 1] - c[starts]
    equal = negatives[2 * kept + 1]
    last = c[-1] - c[2 * kept[-1] + 2] if kept.size else c[-1]
    neg = np.empty(2 * kept.size + 1, dtype=np.int64)
    neg[0:-1:2], neg[1::2], neg[-1] = between, equal, last
    return PixelCounts(keys=keys[kept], positives=positives[kept].astype(np.int64), negatives=neg, bits=bits)


class PerImageCounts:
    """Per-image exact pixel statistics of one method's score maps (labels 0 / 1 / ignore)."""

    def __init__(self, ignore_index: int = IGNORE_INDEX):
        self.ignore_index = ignore_index
        self.bits: int | None = None
        self._pos: list[list[np.ndarray]] = []
        self._neg: list[list[np.ndarray]] = []
        self._rows = None

    @property
    def num_images(self) -> int:
        return len(self._pos)

    def update(self, scores, labels) -> None:
        """Add (N, H, W) or (H, W) score maps (float32 or float64) and their labels."""
        s, lab = as_batch(scores, labels)
        bits = K.key_bits_for(s.dtype)
        if self.bits is not None and bits != self.bits:
            raise ValueError(f"scores changed dtype from {self.bits}-bit to {bits}-bit floats; use one dtype")
        self.bits = bits
        first = self.num_images
        pos = [[] for _ in range(s.shape[0])]
        neg = [[] for _ in range(s.shape[0])]
        for image, p, n in iter_evaluated(s, lab, self.ignore_index, first_image=first):
            if p.size:
                pos[image].append(K.to_keys(p))
            if n.size:
                neg[image].append(K.to_keys(n))
        self._pos.extend(pos)
        self._neg.extend(neg)
        self._rows = None

    def _finish(self):
        """Global keys (U,), sparse per-image positives (I, U) and negatives (I, 2U+1)."""
        if self._rows is None:
            if self.bits is None:
                raise ValueError("no image was added")
            keys, _ = unique_counts([k for keys in self._pos for k in keys], self.bits)
            u = keys.size
            pos_rows, neg_rows = [], []
            for pos, neg in zip(self._pos, self._neg, strict=True):
                p = np.concatenate(pos) if pos else np.zeros(0, keys.dtype)
                n = np.concatenate(neg) if neg else np.zeros(0, keys.dtype)
                pos_rows.append(sp.csr_matrix(np.bincount(np.searchsorted(keys, p), minlength=u)[None]))
                # bin 2j: strictly between keys j-1 and j; bin 2j+1: equal to key j
                bins = np.searchsorted(keys, n, "left") + np.searchsorted(keys, n, "right")
                neg_rows.append(sp.csr_matrix(np.bincount(bins, minlength=2 * u + 1)[None]))
            self._rows = (keys, sp.vstack(pos_rows).tocsr(), sp.vstack(neg_rows).tocsr())
        return self._rows

    def counts(self, weights: np.ndarray | None = None) -> PixelCounts:
        """Exact counts of all images, or of images repeated ``weights`` (I,) int times."""
        keys, pos, neg = self._finish()
        w = np.ones(self.num_images) if weights is None else np.asarray(weights, dtype=np.float64)
        # float64 sums of integer counts are exact below 2**53
        p = np.rint(pos.T @ w).astype(np.int64)
        n = np.rint(neg.T @ w).astype(np.int64)
        return compress(p, n, keys, self.bits)

    def metrics(self) -> dict:
        return metrics_from_counts(self.counts())

    def bootstrap(self, num_samples: int = 1000, seed: int = 0, metrics=METRICS) -> dict[str, np.ndarray]:
        """``num_samples`` replicates of each metric over images drawn with replacement.

        The draws depend only on ``seed`` and the number of images, so runs of different
        training seeds on the same test set share them (their replicates can be averaged).
        A replicate without anomaly (or inlier) pixels gives NaN.
        """
        rng = np.random.default_rng(seed)
        n = self.num_images
        out = {m: np.full(num_samples, np.nan) for m in metrics}
        for b in range(num_samples):
            weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
            counts = self.counts(weights)
            if counts.keys.size == 0 or counts.num_negative == 0:
                continue
            values = metrics_from_counts(counts)
            for m in metrics:
                out[m][b] = values[m]
        return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval ``(q_(1-level)/2, q_(1+level)/2)``, NaNs dropped."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
